"""The REST API under /api: every route lists the roles that may call it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, Literal, Protocol, cast

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from starlette.concurrency import run_in_threadpool

from veilleur import store
from veilleur.config import SITUATION_IDS, CameraConfig, SituationConfig
from veilleur.http.auth import COOKIE, Db, allow
from veilleur.http.throttle import Throttled, throttled_login
from veilleur.service import cameras, signals, users
from veilleur.service.access import ADMIN, CONTROL, READ, WATCH, Caller
from veilleur.service.bus import StreamEnded
from veilleur.service.cameras import visible_cameras
from veilleur.service.inputs import Cursor, Day, Id, UtcDateTime
from veilleur.service.platform import (
    ConfigInvalid,
    Platform,
    camera_json,
    signal_json,
)
from veilleur.service.scope import (
    camera_in_scope,
    sees_camera_name,
    set_processing_in_scope,
    signal_in_scope,
)
from veilleur.situations import IMPLEMENTED, known_limits
from veilleur.store.auth import UNCHANGED, AccessExpired, expiries

router = APIRouter(prefix="/api")

Reader = Annotated[Caller, Depends(allow(*READ))]
Watcher = Annotated[Caller, Depends(allow(*WATCH))]
Controller = Annotated[Caller, Depends(allow(*CONTROL))]
Admin = Annotated[Caller, Depends(allow(*ADMIN))]

Verdict = Literal["confirmed", "false_alarm", "not_actionable"]
Role = Literal["operator", "supervisor", "administrator", "auditor"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(description="The account name.")
    password: str = Field(description="The account password.")


class SessionOut(BaseModel):
    username: str = Field(description="The logged-in account.")
    role: str = Field(description="Its role.")
    service: str | None = Field(
        default=None, description="Its service; it sees only that service's cameras (S9)."
    )
    may_view_unblurred: StrictBool = Field(
        default=False, description="Whether it may ask for an unblurred picture (S6)."
    )
    csrf_token: str = Field(
        description="Send it back in the X-CSRF-Token header of every POST, PUT and DELETE."
    )


class CameraIn(_In):
    name: str = Field(description="Camera name: letters, digits, '_' and '-'.")
    config: dict[str, Any] = Field(
        description="The camera configuration, as under `cameras.<name>` in the YAML file."
    )
    processing: StrictBool = Field(default=True, description="Start live processing at once.")
    services: list[str] = Field(
        default_factory=list,
        description="The user services whose accounts see this camera (S9); a scoped "
        "administrator's own service is added when left out.",
    )


class CameraPut(_In):
    config: dict[str, Any] = Field(description="The complete new camera configuration.")
    processing: StrictBool | None = Field(
        default=None, description="Turn live processing on or off; empty leaves it as it is."
    )
    services: list[str] | None = Field(
        default=None,
        description="The user services whose accounts see this camera; empty leaves them.",
    )


class ServicesIn(_In):
    services: list[str] = Field(
        description="The user services whose accounts see this camera, its pictures and "
        "signals (S9); accounts without a service see every camera anyway."
    )


class UnblurredIn(_In):
    reason: str = Field(
        min_length=10, max_length=500,
        description="Why the unblurred picture is needed (at least 10 characters); journaled.",
    )  # fmt: skip


class GeometryIn(_In):
    zones: dict[str, Any] = Field(
        description="Every zone of the camera by name: {polygon: [[x, y], ...], direction: "
        "[dx, dy] or null}, in 0..1 image coordinates."
    )
    lines: dict[str, Any] = Field(
        default_factory=dict,
        description="Every line of the camera by name: {points: [[x, y], [x, y]], "
        "forbidden_side: left|right|both}.",
    )


class ProcessingIn(_In):
    camera: str | None = Field(default=None, description="One camera; empty means every one.")
    situation: str | None = Field(
        default=None, description="One situation; empty means the whole processing."
    )


class QualificationIn(_In):
    verdict: Verdict = Field(description="The operator's verdict.")
    comment: str | None = Field(default=None, max_length=2000, description="Optional comment.")


class UserIn(_In):
    username: str = Field(description="Account name: letters, digits, '.', '_', '-', '@'.")
    password: str = Field(description="At least 8 characters.")
    role: Role = Field(description="operator, supervisor, administrator or auditor.")
    service: str | None = Field(
        default=None,
        description="The account's service: it sees only the cameras of that service. "
        "Required for operators and supervisors; administrators and auditors may have none "
        "(they then see every camera).",
    )
    training_expires_on: Day | None = Field(
        default=None, description="Last day of valid training (YYYY-MM-DD); after it the "
        "account cannot log in.",
    )  # fmt: skip
    habilitation_expires_on: Day | None = Field(
        default=None, description="Last day of the habilitation (YYYY-MM-DD); after it the "
        "account cannot log in.",
    )  # fmt: skip
    may_view_unblurred: StrictBool = Field(
        default=False,
        description="May ask for a camera's current picture unblurred, each time with a "
        "reason (never for auditors).",
    )


class UserPatch(_In):
    role: Role | None = Field(default=None, description="New role.")
    active: StrictBool | None = Field(
        default=None, description="False blocks the account and closes its sessions."
    )
    password: str | None = Field(default=None, description="New password (closes its sessions).")
    service: str | None = Field(
        default=None, description="New service; null removes it (administrators and auditors "
        "only); left out keeps it.",
    )  # fmt: skip
    training_expires_on: Day | None = Field(
        default=None, description="New last day of training; null removes the date; left out "
        "keeps it.",
    )  # fmt: skip
    habilitation_expires_on: Day | None = Field(
        default=None, description="New last day of habilitation; null removes the date; left "
        "out keeps it.",
    )  # fmt: skip
    may_view_unblurred: StrictBool | None = Field(
        default=None, description="Grant or withdraw the unblurred-view privilege."
    )


def platform(request: Request) -> Platform:
    plat: Platform = request.app.state.platform
    return plat


Plat = Annotated[Platform, Depends(platform)]


def _invalid(exc: ConfigInvalid) -> HTTPException:
    return HTTPException(422, detail=[p.to_dict() for p in exc.problems])


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _user_json(u: store.User) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "active": u.active,
        "created_at": u.created_at.isoformat(),
        "service": u.service,
        "training_expires_on": _iso(u.training_expires_on),
        "habilitation_expires_on": _iso(u.habilitation_expires_on),
        "may_view_unblurred": u.may_view_unblurred,
        "expired": [e.message for e in expiries(u)],
    }


# --- session -----------------------------------------------------------------------------


@router.post("/session", response_model=SessionOut, tags=["session"])
def login(body: LoginIn, response: Response, request: Request, db: Db) -> SessionOut:
    """Log in; the session cookie is set and the CSRF token returned. 429 with Retry-After
    while the account or the address is locked after repeated failures."""
    try:
        user = throttled_login(request, db, body.username, body.password)
    except AccessExpired as exc:
        raise HTTPException(403, detail=str(exc)) from None
    except Throttled as exc:
        raise HTTPException(
            429, detail=str(exc), headers={"Retry-After": str(exc.retry_after)}
        ) from None
    if user is None:
        raise HTTPException(401, detail="unknown account or wrong password")
    settings = request.app.state.settings
    token, ws = store.open_session(db, user, ttl_s=settings.session_ttl_s)
    set_session_cookie(response, token, settings.session_ttl_s, settings.secure_cookies)
    return SessionOut(
        username=user.username, role=user.role, csrf_token=ws.csrf_token, service=user.service,
        may_view_unblurred=user.may_view_unblurred,
    )  # fmt: skip


def set_session_cookie(response: Response, token: str, ttl_s: int, secure: bool) -> None:
    response.set_cookie(
        COOKIE, token, max_age=ttl_s, httponly=True, samesite="strict", secure=secure, path="/"
    )


@router.get("/session", response_model=SessionOut, tags=["session"])
def whoami(caller: Reader) -> SessionOut:
    """The logged-in account and its CSRF token."""
    return SessionOut(
        username=caller.username, role=caller.role, csrf_token=caller.csrf_token,
        service=caller.service, may_view_unblurred=caller.may_view_unblurred,
    )  # fmt: skip


@router.delete("/session", status_code=204, tags=["session"])
def logout(caller: Reader, request: Request, response: Response, db: Db) -> None:
    """Log out: the session is forgotten."""
    store.close_session(db, request.cookies.get(COOKIE, ""))
    response.delete_cookie(COOKIE, path="/")


# --- cameras -----------------------------------------------------------------------------


@router.get("/cameras", tags=["cameras"])
def list_cameras(caller: Reader, db: Db, plat: Plat) -> list[dict[str, Any]]:
    """Every camera in the caller's scope, its configuration, and its live status when it is
    processing."""
    status = plat.status()
    return [camera_json(r, status.get(r.name)) for r in visible_cameras(db, caller)]


@router.post("/cameras", status_code=201, tags=["cameras"])
def add_camera(body: CameraIn, caller: Admin, db: Db, plat: Plat) -> dict[str, Any]:
    """Add a camera (422 names each wrong configuration key; 409 if the name is taken)."""
    try:
        row = cameras.add_camera(
            plat, db, caller, body.name, body.config, processing=body.processing,
            services=body.services,
        )  # fmt: skip
    except ConfigInvalid as exc:
        raise _invalid(exc) from None
    return camera_json(row)


@router.get("/cameras/{name}", tags=["cameras"])
def get_camera(name: str, caller: Reader, db: Db, plat: Plat) -> dict[str, Any]:
    """One camera (404 when it is out of the caller's scope)."""
    return camera_json(camera_in_scope(db, caller, name), plat.status().get(name))


@router.put("/cameras/{name}", tags=["cameras"])
def put_camera(name: str, body: CameraPut, caller: Admin, db: Db, plat: Plat) -> dict[str, Any]:
    """Replace a camera's configuration (and its services when given); its pipeline restarts
    with it."""
    try:
        row = cameras.replace_camera(
            plat, db, caller, name, body.config, processing=body.processing,
            services=body.services,
        )  # fmt: skip
    except ConfigInvalid as exc:
        raise _invalid(exc) from None
    return camera_json(row)


@router.put("/cameras/{name}/services", tags=["cameras"])
def put_services(name: str, body: ServicesIn, caller: Admin, db: Db, plat: Plat) -> dict[str, Any]:
    """Set the user services that see this camera (journaled as a camera update)."""
    row = cameras.set_services(db, caller, name, body.services)
    return camera_json(row, plat.status().get(name))


@router.delete("/cameras/{name}", status_code=204, tags=["cameras"])
def delete_camera(name: str, caller: Admin, db: Db, plat: Plat) -> None:
    """Stop and remove a camera (its signals stay)."""
    cameras.delete_camera(plat, db, caller, name)


def _update(plat: Platform, db: Db, name: str, change: Any, caller: Caller) -> dict[str, Any]:
    try:
        return camera_json(cameras.change_camera(plat, db, caller, name, change))
    except ConfigInvalid as exc:
        raise _invalid(exc) from None


@router.put("/cameras/{name}/zones", tags=["cameras"])
def put_zones(
    name: str, zones: dict[str, Any], caller: Admin, db: Db, plat: Plat
) -> dict[str, Any]:
    """Replace the camera's zones (polygons and allowed directions)."""
    return _update(plat, db, name, lambda d: d.__setitem__("zones", zones), caller)


@router.put("/cameras/{name}/lines", tags=["cameras"])
def put_lines(
    name: str, lines: dict[str, Any], caller: Admin, db: Db, plat: Plat
) -> dict[str, Any]:
    """Replace the camera's lines."""
    return _update(plat, db, name, lambda d: d.__setitem__("lines", lines), caller)


@router.put("/cameras/{name}/geometry", tags=["cameras"])
def put_geometry(name: str, body: GeometryIn, caller: Admin, db: Db, plat: Plat) -> dict[str, Any]:
    """Replace zones and lines together (what the console's drawing tool saves)."""

    def change(d: dict[str, Any]) -> None:
        d["zones"] = body.zones
        d["lines"] = body.lines

    return _update(plat, db, name, change, caller)


@router.put("/cameras/{name}/situations/{situation}", tags=["cameras"])
def put_situation(
    name: str, situation: str, params: dict[str, Any], caller: Admin, db: Db, plat: Plat
) -> dict[str, Any]:
    """Set one situation's parameters on a camera (`enabled` turns it on or off); fields left
    out take their defaults."""
    if situation not in SITUATION_IDS:
        raise HTTPException(404, detail=f"unknown situation '{situation}'")

    def change(d: dict[str, Any]) -> None:
        d.setdefault("situations", {})[situation] = params

    return _update(plat, db, name, change, caller)


@router.get("/cameras/{name}/live.jpg", tags=["cameras"], response_class=Response)
async def live_image(name: str, caller: Watcher, request: Request) -> Response:
    """The camera's latest image, persons blurred (never for auditors; 404 out of scope)."""
    plat: Platform = request.app.state.platform
    if not await run_in_threadpool(_sees_camera, plat, caller, name):
        raise HTTPException(404, detail=f"no camera named '{name}'")
    jpeg = await run_in_threadpool(plat.still_jpeg, name)
    if jpeg is None:
        raise HTTPException(404, detail=f"no image of camera '{name}' yet")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _sees_camera(plat: Platform, caller: Caller, name: str) -> bool:
    if caller.service is None:
        return True  # unscoped: no query on the wall's hot path
    with plat.sessions() as s:
        return sees_camera_name(s, caller, name)


class UnblurredSource(Protocol):
    """What the unblurred view needs of the supervisor (`runtime.Supervisor` has it)."""

    def unblurred_jpeg(self, camera: str, timeout_s: float = 2.0) -> bytes | None: ...


async def _reason(request: Request) -> str:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            raise HTTPException(422, detail="the body is not valid JSON") from None
    else:
        data = dict(await request.form())
        data.pop("csrf_token", None)
    try:
        return UnblurredIn.model_validate(data).reason.strip()
    except ValidationError:
        raise HTTPException(
            422, detail="state the reason for seeing this camera unblurred (10 to 500 "
            "characters, field `reason`)",
        ) from None  # fmt: skip


@router.post("/cameras/{name}/unblurred", tags=["cameras"], response_class=Response)
async def unblurred_image(name: str, caller: Watcher, request: Request) -> Response:
    """The camera's current frame NOT blurred, as JPEG, for an account holding the
    unblurred-view privilege, with a stated `reason` (JSON or form field, at least 10
    characters). Nothing of it is stored; each view is journaled (`media.viewed_unblurred`
    with camera and reason). 403 without the privilege (and nothing journaled)."""
    if not caller.may_view_unblurred:
        raise HTTPException(
            403, detail="seeing a picture unblurred needs the unblurred-view privilege, "
            "which an administrator grants on the users page",
        )  # fmt: skip
    reason = await _reason(request)
    if len(reason) < 10:
        raise HTTPException(422, detail="state the reason (at least 10 characters)")
    plat: Platform = request.app.state.platform
    if not await run_in_threadpool(cameras.sees_camera, plat, caller, name):
        raise HTTPException(404, detail=f"no camera named '{name}'")
    if plat.supervisor is None:
        raise HTTPException(503, detail="no camera is processing on this server")
    source = cast(UnblurredSource, plat.supervisor)
    jpeg = await run_in_threadpool(source.unblurred_jpeg, name)
    if jpeg is None:
        raise HTTPException(
            404, detail=f"camera '{name}' has no current frame (is its processing running?)"
        )
    await run_in_threadpool(cameras.journal_unblurred_view, plat, caller, name, reason)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store, private"})


# --- situations and processing -----------------------------------------------------------


@router.get("/situations", tags=["situations"])
def situations(caller: Reader) -> list[dict[str, Any]]:
    """The eight situations: whether this version analyses each, its known limits, and the
    JSON Schema of its parameters."""
    out = []
    for sid in SITUATION_IDS:
        model = CameraConfig.model_fields["situations"].annotation.model_fields[sid].annotation  # type: ignore[union-attr]
        schema = model.model_json_schema() if isinstance(model, type) and issubclass(
            model, SituationConfig
        ) else {}  # fmt: skip
        out.append(
            {
                "id": sid,
                "analysed": sid in IMPLEMENTED,
                "known_limits": known_limits(sid),
                "parameters": schema,
            }
        )
    return out


@router.get("/processing", tags=["processing"])
def processing_status(caller: Reader, db: Db, plat: Plat) -> dict[str, Any]:
    """Per camera in the caller's scope: processing on or off, and the live status (state,
    fps, lag, drops)."""
    status = plat.status()
    return {
        r.name: {"processing": r.processing, "status": status.get(r.name)}
        for r in visible_cameras(db, caller)
    }


def _processing(
    plat: Platform, db: Db, body: ProcessingIn, active: bool, caller: Caller
) -> dict[str, Any]:
    try:
        names = set_processing_in_scope(
            plat, db, caller, active, camera=body.camera, situation=body.situation
        )
    except KeyError:
        raise HTTPException(404, detail=f"no camera named '{body.camera}'") from None
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return {"cameras": names, "active": active, "situation": body.situation}


@router.post("/processing/stop", tags=["processing"])
def stop_processing(body: ProcessingIn, caller: Controller, db: Db, plat: Plat) -> dict[str, Any]:
    """Stop processing: everything, one camera, one situation, or one situation of one
    camera; effective within a second."""
    return _processing(plat, db, body, False, caller)


@router.post("/processing/start", tags=["processing"])
def start_processing(body: ProcessingIn, caller: Controller, db: Db, plat: Plat) -> dict[str, Any]:
    """Start processing again (same scopes as stop)."""
    return _processing(plat, db, body, True, caller)


# --- signals -----------------------------------------------------------------------------


@router.get("/signals", tags=["signals"])
def list_signals(
    caller: Reader,
    db: Db,
    camera: str | None = None,
    situation: str | None = None,
    state: Literal["new", "qualified"] | None = None,
    since: UtcDateTime | None = None,
    before_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Signals of the cameras in the caller's scope, newest first, filtered; page with
    `before_id` (the last id received)."""
    rows = signals.visible_signals(
        db, caller, camera=camera, situation=situation, state=state, since=since,
        limit=limit, before_id=before_id,
    )  # fmt: skip
    return [signal_json(r) for r in rows]


@router.get("/signals/stream", tags=["signals"], response_class=StreamingResponse)
async def signal_stream(
    request: Request,
    caller: Reader,
    db: Db,
    last_event_id: Annotated[Cursor | None, Header()] = None,
    after: Annotated[Cursor | None, Query()] = None,
) -> StreamingResponse:
    """Server-sent events: `signal` (a new signal, committed), `further_event` (a further
    event attached to a signal's episode: the updated signal) and `review` (a signal was
    qualified), of the cameras in the caller's scope. A reconnecting browser sends
    Last-Event-ID and first receives the signals it missed; `after` does the same for a console
    that opens a new stream after its browser gave one up (an answer other than 200, e.g.
    while the database was down). The stream ends when the session stops being valid (logged
    out, blocked, training or habilitation passed)."""
    if last_event_id is None:
        last_event_id = after
    # The request's session (the one that found the caller) would otherwise live as long as
    # the stream: one pooled connection held, idle in a transaction, per open console, so the
    # pool's 16th stream waited 30 s for a connection and failed (bench/rehearsal.py).
    # Everything below opens a session of its own when it needs one.
    db.close()
    plat: Platform = request.app.state.platform
    heartbeat = request.app.state.settings.sse_heartbeat_s
    token = request.cookies.get(COOKIE, "")
    sub = plat.bus.subscribe()  # before the catch-up query: nothing falls between the two

    def missed() -> list[dict[str, Any]]:
        with plat.sessions() as s:
            rows = signals.visible_signals(s, caller, limit=200)
            return [signal_json(r) for r in reversed(rows) if r.id > (last_event_id or 0)]

    async def events() -> AsyncIterator[str]:
        sent = last_event_id or 0
        try:
            yield "retry: 2000\n\n"
            if last_event_id is not None:
                for payload in await run_in_threadpool(missed):
                    sent = payload["id"]
                    yield _sse("signal", payload, payload["id"])
            ended = False
            while not plat.bus.closed and not ended:
                try:
                    event = await sub.get(heartbeat)
                except StreamEnded:
                    break
                # With it, whatever else is already queued: under a burst (an incident wave,
                # a backlog stored after an outage) the session is re-read once per wake-up,
                # not once per event, and 200 consoles cost 200 checks, not 200 per signal.
                batch, ended = sub.ready() if event is not None else ([], False)
                if event is not None:
                    batch.insert(0, event)
                # Re-read before anything is sent: a session ended or a scope changed applies
                # at once (the open streams' checks share one database round).
                allowed = await plat.stream_checks.visible(
                    token, {e["signal"]["camera"] for e in batch}
                )
                if allowed is None:
                    break
                if not batch:
                    yield ": keep-alive\n\n"
                    continue
                out = []
                for event in batch:
                    if event["signal"]["camera"] not in allowed:
                        continue
                    if event["type"] == "signal":
                        if event["id"] <= sent:
                            continue
                        sent = event["id"]
                        out.append(_sse_event("signal", event, event["id"]))
                    else:
                        out.append(_sse_event(event["type"], event, None))
                if out:
                    yield "".join(out)
        finally:
            sub.close()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(kind: str, data: dict[str, Any], event_id: int | None) -> str:
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head + f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


def _sse_event(kind: str, event: dict[str, Any], event_id: int | None) -> str:
    """`_sse` of a bus event: every open stream receives the same event object, so its
    signal is encoded once for all of them (200 consoles: one encoding, not 200)."""
    data = event.get("_encoded")
    if data is None:
        data = event["_encoded"] = json.dumps(event["signal"], separators=(",", ":"))
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head + f"data: {data}\n\n"


@router.get("/signals/{signal_id}", tags=["signals"])
def get_signal(signal_id: Id, caller: Reader, db: Db) -> dict[str, Any]:
    """One signal, with its qualification when it has one."""
    return signal_json(signal_in_scope(db, caller, signal_id))


@router.get("/signals/{signal_id}/snapshot.jpg", tags=["signals"], response_class=FileResponse)
def signal_snapshot(signal_id: Id, caller: Watcher, db: Db, plat: Plat) -> FileResponse:
    """The blurred snapshot of the frame that raised the signal."""
    path = plat.media_path(signal_in_scope(db, caller, signal_id).snapshot_path)
    if path is None:
        raise HTTPException(404, detail=f"signal {signal_id} has no snapshot")
    signals.record_media_view(db, caller, signal_id, "snapshot")
    return FileResponse(path, media_type="image/jpeg")


@router.get("/signals/{signal_id}/clip.mp4", tags=["signals"], response_class=FileResponse)
def signal_clip(signal_id: Id, caller: Watcher, db: Db, plat: Plat) -> FileResponse:
    """The blurred clip of the seconds before the signal."""
    path = plat.media_path(signal_in_scope(db, caller, signal_id).clip_path)
    if path is None:
        raise HTTPException(404, detail=f"signal {signal_id} has no clip")
    signals.record_media_view(db, caller, signal_id, "clip")
    return FileResponse(path, media_type="video/mp4")


@router.post("/signals/{signal_id}/qualification", status_code=201, tags=["signals"])
def qualify(
    signal_id: Id, body: QualificationIn, caller: Watcher, db: Db, plat: Plat
) -> dict[str, Any]:
    """Qualify a signal: confirmed, false alarm or not actionable (once; 409 after)."""
    row = signals.qualify(plat, db, caller, signal_id, body.verdict, body.comment)
    return signal_json(row)


@router.get("/stats", tags=["signals"])
def stats(
    caller: Reader, db: Db, since: UtcDateTime | None = None, until: UtcDateTime | None = None
) -> list[dict[str, Any]]:
    """Signals per situation, camera and day, with their qualifications (cameras in the
    caller's scope)."""
    return signals.signal_stats(db, caller, since=since, until=until)


# --- users -------------------------------------------------------------------------------


@router.get("/users", tags=["users"])
def list_users(caller: Admin, db: Db) -> list[dict[str, Any]]:
    """Every account."""
    return [_user_json(u) for u in users.list_users(db)]


@router.post("/users", status_code=201, tags=["users"])
def create_user(body: UserIn, caller: Admin, db: Db) -> dict[str, Any]:
    """Create an account (operators and supervisors need a service)."""
    user = users.create_user(
        db, caller, username=body.username, password=body.password, role=body.role,
        service=body.service, training_expires_on=body.training_expires_on,
        habilitation_expires_on=body.habilitation_expires_on,
        may_view_unblurred=body.may_view_unblurred,
    )  # fmt: skip
    return _user_json(user)


@router.put("/users/{user_id}", tags=["users"])
def update_user(user_id: Id, body: UserPatch, caller: Admin, db: Db) -> dict[str, Any]:
    """Change an account's role, password, active flag, service, training and habilitation
    dates or unblurred-view privilege (fields left out stay as they are)."""
    given = body.model_fields_set
    user = users.update_user(
        db, caller, user_id, role=body.role, active=body.active, password=body.password,
        service=body.service if "service" in given else UNCHANGED,
        training_expires_on=(
            body.training_expires_on if "training_expires_on" in given else UNCHANGED
        ),
        habilitation_expires_on=(
            body.habilitation_expires_on if "habilitation_expires_on" in given else UNCHANGED
        ),
        may_view_unblurred=body.may_view_unblurred,
    )  # fmt: skip
    return _user_json(user)


@router.delete("/users/{user_id}", status_code=204, tags=["users"])
def deactivate_user(user_id: Id, caller: Admin, db: Db) -> None:
    """Deactivate an account (its qualifications stay attributed; it can no longer log in)."""
    users.deactivate_user(db, caller, user_id)
