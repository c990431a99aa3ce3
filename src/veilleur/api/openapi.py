"""The OpenAPI document, made true (issue 12): every answer a route can give is described.

FastAPI describes the 200 of each route and a 422 of its own shape; the routes also answer 401
(no session), 403 (role, CSRF), 404 (absent or out of scope), 409, 413 (body too large), 429
(login throttled) and 503, and 422 bodies whose `detail` is a list, a sentence or the
configuration's problems; and several routes answer pictures, video, CSV, Parquet, HTML, PDF,
Markdown or an event stream rather than JSON. `describe_answers` adds all that to the document
FastAPI builds, once; `tests/unit/test_api_fuzz.py` checks the answers against it.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "description": "What is wrong: a sentence, a list of {type, loc, msg} (validation), "
            "or {message, problems: [{key, message}]} (a configuration)."
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}

#: Routes anyone may call.
PUBLIC = {("post", "/api/session"), ("get", "/healthz")}
#: Routes without a role check (a session is enough, or a token).
ANY_SESSION = {("get", "/metrics")}

#: What a route answers with 200/201 when it is not JSON.
MEDIA: dict[tuple[str, str], list[str]] = {
    ("get", "/api/cameras/{name}/live.jpg"): ["image/jpeg"],
    ("post", "/api/cameras/{name}/unblurred"): ["image/jpeg"],
    ("get", "/api/signals/stream"): ["text/event-stream"],
    ("get", "/api/signals/{signal_id}/snapshot.jpg"): ["image/jpeg"],
    ("get", "/api/signals/{signal_id}/clip.mp4"): ["video/mp4"],
    ("get", "/api/calibration/{record_id}/snapshot.jpg"): ["image/jpeg"],
    ("get", "/api/statistics.csv"): ["text/csv"],
    ("get", "/api/statistics.parquet"): ["application/vnd.apache.parquet"],
    ("get", "/api/documents/notice/{authorisation_id}"): ["text/html", "application/pdf"],
    ("get", "/api/documents/{kind}"): ["text/html", "text/markdown", "text/csv"],
    ("get", "/metrics"): ["text/plain"],
}
#: Routes that answer 409 (a conflict with the current state).
CONFLICT = {
    ("post", "/api/cameras"): "a camera of that name exists",
    ("post", "/api/signals/{signal_id}/qualification"): "the signal is already qualified",
    ("post", "/api/deliveries/{delivery_id}/retry"): "the delivery is not dead-lettered",
}
#: Routes without a path parameter that answer 404: a camera named in their body or query.
NAMED_IN_BODY = {
    ("post", "/api/processing/stop"),
    ("post", "/api/processing/start"),
    ("post", "/api/missed"),
}

#: Routes that answer 503 (something the server depends on is not there).
UNAVAILABLE = {
    ("get", "/healthz"): "the database does not answer",
    ("post", "/api/cameras/{name}/unblurred"): "no camera processing, or no picture in time",
    ("post", "/api/retention/purge"): "the purge failed; nothing was deleted",
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def describe_answers(schema: dict[str, Any]) -> dict[str, Any]:
    """Add every answer each operation can give to `schema` (FastAPI's document); returns it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            key = (method, path)
            answers: dict[str, Any] = op.setdefault("responses", {})
            if key in MEDIA:
                ok = next((c for c in ("200", "201") if c in answers), "200")
                answers.setdefault(ok, {"description": "Successful Response"})
                answers[ok]["content"] = {media: {} for media in MEDIA[key]}
            if key not in PUBLIC:
                answers["401"] = _error("Not logged in (POST /api/session first).")
            if key not in PUBLIC and key not in ANY_SESSION:
                answers["403"] = _error(
                    "The caller's role may not do this, or the X-CSRF-Token header is missing "
                    "on a POST, PUT or DELETE."
                )
            elif key in ANY_SESSION:
                answers["403"] = _error("An account with a service may not read this.")
            by_query = any(p.get("name") == "camera" for p in op.get("parameters", []))
            if "{" in path or key in NAMED_IN_BODY or by_query:
                answers["404"] = _error("No such resource, or it is outside the caller's scope.")
            if key in CONFLICT:
                answers["409"] = _error(f"Conflict: {CONFLICT[key]}.")
            if method in ("post", "put", "patch", "delete"):
                answers["413"] = _error("The request body is larger than the server's limit.")
            # Every route can answer 422: a parameter, a body, or text with NUL (limits.py).
            answers["422"] = _error(
                "A parameter or the body is not valid: `detail` says which and why."
            )
            if key == ("post", "/api/session"):
                answers["401"] = _error("Unknown account or wrong password.")
                answers["403"] = _error("Training or habilitation expired (the reason says).")
                answers["429"] = {
                    **_error("Too many failed logins: try again after Retry-After seconds."),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                }
            if key in UNAVAILABLE:
                answers["503"] = _error(f"Unavailable: {UNAVAILABLE[key]}.")
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema
