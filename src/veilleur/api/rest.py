"""The REST API under /api: every route lists the roles that may call it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from veilleur import store
from veilleur.api.auth import (
    ADMIN,
    CONTROL,
    COOKIE,
    READ,
    WATCH,
    Caller,
    Db,
    allow,
)
from veilleur.api.bus import StreamEnded
from veilleur.api.platform import (
    ConfigInvalid,
    Platform,
    camera_json,
    signal_json,
    validate_camera,
)
from veilleur.config import SITUATION_IDS, CameraConfig, SituationConfig
from veilleur.situations import IMPLEMENTED, known_limits

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
    csrf_token: str = Field(
        description="Send it back in the X-CSRF-Token header of every POST, PUT and DELETE."
    )


class CameraIn(_In):
    name: str = Field(description="Camera name: letters, digits, '_' and '-'.")
    config: dict[str, Any] = Field(
        description="The camera configuration, as under `cameras.<name>` in the YAML file."
    )
    processing: bool = Field(default=True, description="Start live processing at once.")


class CameraPut(_In):
    config: dict[str, Any] = Field(description="The complete new camera configuration.")
    processing: bool | None = Field(
        default=None, description="Turn live processing on or off; empty leaves it as it is."
    )


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


class UserPatch(_In):
    role: Role | None = Field(default=None, description="New role.")
    active: bool | None = Field(
        default=None, description="False blocks the account and closes its sessions."
    )
    password: str | None = Field(default=None, description="New password (closes its sessions).")


def platform(request: Request) -> Platform:
    plat: Platform = request.app.state.platform
    return plat


Plat = Annotated[Platform, Depends(platform)]


def _invalid(exc: ConfigInvalid) -> HTTPException:
    return HTTPException(422, detail=[p.to_dict() for p in exc.problems])


def _user_json(u: store.User) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "active": u.active,
        "created_at": u.created_at.isoformat(),
    }


# --- session -----------------------------------------------------------------------------


@router.post("/session", response_model=SessionOut, tags=["session"])
def login(body: LoginIn, response: Response, request: Request, db: Db) -> SessionOut:
    """Log in; the session cookie is set and the CSRF token returned."""
    user = store.authenticate(db, body.username, body.password)
    if user is None:
        raise HTTPException(401, detail="unknown account or wrong password")
    settings = request.app.state.settings
    token, ws = store.open_session(db, user, ttl_s=settings.session_ttl_s)
    set_session_cookie(response, token, settings.session_ttl_s, settings.secure_cookies)
    return SessionOut(username=user.username, role=user.role, csrf_token=ws.csrf_token)


def set_session_cookie(response: Response, token: str, ttl_s: int, secure: bool) -> None:
    response.set_cookie(
        COOKIE, token, max_age=ttl_s, httponly=True, samesite="strict", secure=secure, path="/"
    )


@router.get("/session", response_model=SessionOut, tags=["session"])
def whoami(caller: Reader) -> SessionOut:
    """The logged-in account and its CSRF token."""
    return SessionOut(username=caller.username, role=caller.role, csrf_token=caller.csrf_token)


@router.delete("/session", status_code=204, tags=["session"])
def logout(caller: Reader, request: Request, response: Response, db: Db) -> None:
    """Log out: the session is forgotten."""
    store.close_session(db, request.cookies.get(COOKIE, ""))
    response.delete_cookie(COOKIE, path="/")


# --- cameras -----------------------------------------------------------------------------


def _camera_or_404(db: Db, name: str) -> store.Camera:
    row = store.get_camera(db, name)
    if row is None:
        raise HTTPException(404, detail=f"no camera named '{name}'")
    return row


@router.get("/cameras", tags=["cameras"])
def list_cameras(caller: Reader, db: Db, plat: Plat) -> list[dict[str, Any]]:
    """Every camera, its configuration, and its live status when it is processing."""
    status = plat.status()
    return [camera_json(r, status.get(r.name)) for r in store.list_cameras(db)]


@router.post("/cameras", status_code=201, tags=["cameras"])
def add_camera(body: CameraIn, caller: Admin, db: Db, plat: Plat) -> dict[str, Any]:
    """Add a camera (422 names each wrong configuration key; 409 if the name is taken)."""
    if store.get_camera(db, body.name) is not None:
        raise HTTPException(409, detail=f"a camera named '{body.name}' already exists")
    try:
        config = validate_camera(body.config)
        row = plat.save_camera(
            db, body.name, config, processing=body.processing, actor=caller.username
        )
    except ConfigInvalid as exc:
        raise _invalid(exc) from None
    return camera_json(row)


@router.get("/cameras/{name}", tags=["cameras"])
def get_camera(name: str, caller: Reader, db: Db, plat: Plat) -> dict[str, Any]:
    """One camera."""
    return camera_json(_camera_or_404(db, name), plat.status().get(name))


@router.put("/cameras/{name}", tags=["cameras"])
def put_camera(name: str, body: CameraPut, caller: Admin, db: Db, plat: Plat) -> dict[str, Any]:
    """Replace a camera's configuration; its pipeline restarts with it."""
    _camera_or_404(db, name)
    try:
        row = plat.save_camera(
            db, name, validate_camera(body.config), body.processing, actor=caller.username
        )
    except ConfigInvalid as exc:
        raise _invalid(exc) from None
    return camera_json(row)


@router.delete("/cameras/{name}", status_code=204, tags=["cameras"])
def delete_camera(name: str, caller: Admin, db: Db, plat: Plat) -> None:
    """Stop and remove a camera (its signals stay)."""
    _camera_or_404(db, name)
    plat.delete_camera(db, name, actor=caller.username)


def _update(plat: Platform, db: Db, name: str, change: Any, caller: Caller) -> dict[str, Any]:
    _camera_or_404(db, name)
    try:
        return camera_json(plat.update_camera(db, name, change, actor=caller.username))
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
    """The camera's latest image, persons blurred (never for auditors)."""
    plat: Platform = request.app.state.platform
    jpeg = await run_in_threadpool(plat.still_jpeg, name)
    if jpeg is None:
        raise HTTPException(404, detail=f"no image of camera '{name}' yet")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


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
    """Per camera: processing on or off, and the live status (state, fps, lag, drops)."""
    status = plat.status()
    return {
        r.name: {"processing": r.processing, "status": status.get(r.name)}
        for r in store.list_cameras(db)
    }


def _processing(
    plat: Platform, db: Db, body: ProcessingIn, active: bool, caller: Caller
) -> dict[str, Any]:
    try:
        names = plat.set_processing(
            db, active, camera=body.camera, situation=body.situation, actor=caller.username
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
    since: datetime | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Signals, newest first, filtered; page with `before_id` (the last id received)."""
    rows = store.list_signals(
        db, camera=camera, situation=situation, state=state, since=since,
        limit=limit, before_id=before_id,
    )  # fmt: skip
    return [signal_json(r) for r in rows]


@router.get("/signals/stream", tags=["signals"], response_class=StreamingResponse)
async def signal_stream(
    request: Request,
    caller: Reader,
    last_event_id: Annotated[int | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: `signal` (a new signal, committed) and `review` (a signal was
    qualified). A reconnecting browser sends Last-Event-ID and first receives the signals it
    missed."""
    plat: Platform = request.app.state.platform
    heartbeat = request.app.state.settings.sse_heartbeat_s
    sub = plat.bus.subscribe()  # before the catch-up query: nothing falls between the two

    def missed() -> list[dict[str, Any]]:
        with plat.sessions() as s:
            rows = store.list_signals(s, limit=200)
            return [signal_json(r) for r in reversed(rows) if r.id > (last_event_id or 0)]

    async def events() -> AsyncIterator[str]:
        sent = last_event_id or 0
        try:
            yield "retry: 2000\n\n"
            if last_event_id is not None:
                for payload in await run_in_threadpool(missed):
                    sent = payload["id"]
                    yield _sse("signal", payload, payload["id"])
            while not plat.bus.closed:
                try:
                    event = await sub.get(heartbeat)
                except StreamEnded:
                    break
                if event is None:
                    yield ": keep-alive\n\n"
                    continue
                if event["type"] == "signal":
                    if event["id"] <= sent:
                        continue
                    sent = event["id"]
                    yield _sse("signal", event["signal"], event["id"])
                else:
                    yield _sse(event["type"], event["signal"], None)
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


def _signal_or_404(db: Db, signal_id: int) -> store.SignalRow:
    row = store.get_signal(db, signal_id)
    if row is None:
        raise HTTPException(404, detail=f"no signal {signal_id}")
    return row


@router.get("/signals/{signal_id}", tags=["signals"])
def get_signal(signal_id: int, caller: Reader, db: Db) -> dict[str, Any]:
    """One signal, with its qualification when it has one."""
    return signal_json(_signal_or_404(db, signal_id))


@router.get("/signals/{signal_id}/snapshot.jpg", tags=["signals"], response_class=FileResponse)
def signal_snapshot(signal_id: int, caller: Watcher, db: Db, plat: Plat) -> FileResponse:
    """The blurred snapshot of the frame that raised the signal."""
    path = plat.media_path(_signal_or_404(db, signal_id).snapshot_path)
    if path is None:
        raise HTTPException(404, detail=f"signal {signal_id} has no snapshot")
    _viewed(db, caller, signal_id, "snapshot")
    return FileResponse(path, media_type="image/jpeg")


@router.get("/signals/{signal_id}/clip.mp4", tags=["signals"], response_class=FileResponse)
def signal_clip(signal_id: int, caller: Watcher, db: Db, plat: Plat) -> FileResponse:
    """The blurred clip of the seconds before the signal."""
    path = plat.media_path(_signal_or_404(db, signal_id).clip_path)
    if path is None:
        raise HTTPException(404, detail=f"signal {signal_id} has no clip")
    _viewed(db, caller, signal_id, "clip")
    return FileResponse(path, media_type="video/mp4")


def _viewed(db: Db, caller: Caller, signal_id: int, kind: str) -> None:
    # Every access to a signal's images is journaled (SPEC S7), before the file is sent.
    store.journal_append(db, caller.username, "media.viewed", f"signal:{signal_id}", {"kind": kind})
    db.commit()


@router.post("/signals/{signal_id}/qualification", status_code=201, tags=["signals"])
def qualify(
    signal_id: int, body: QualificationIn, caller: Watcher, db: Db, plat: Plat
) -> dict[str, Any]:
    """Qualify a signal: confirmed, false alarm or not actionable (once; 409 after)."""
    row = _signal_or_404(db, signal_id)
    if row.state == "qualified":
        raise HTTPException(409, detail=f"signal {signal_id} is already qualified")
    try:
        row = plat.qualify(db, signal_id, caller.user_id, body.verdict, body.comment)
    except ValueError as exc:
        raise HTTPException(409, detail=str(exc)) from None
    return signal_json(row)


@router.get("/stats", tags=["signals"])
def stats(
    caller: Reader, db: Db, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Signals per situation, camera and day, with their qualifications."""
    return store.signal_stats(db, since=since, until=until)


# --- users -------------------------------------------------------------------------------


@router.get("/users", tags=["users"])
def list_users(caller: Admin, db: Db) -> list[dict[str, Any]]:
    """Every account."""
    return [_user_json(u) for u in store.list_users(db)]


@router.post("/users", status_code=201, tags=["users"])
def create_user(body: UserIn, caller: Admin, db: Db) -> dict[str, Any]:
    """Create an account."""
    try:
        user = store.create_user(db, body.username, body.password, body.role, actor=caller.username)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return _user_json(user)


@router.put("/users/{user_id}", tags=["users"])
def update_user(user_id: int, body: UserPatch, caller: Admin, db: Db) -> dict[str, Any]:
    """Change an account's role, password or active flag."""
    user = store.get_user(db, user_id)
    if user is None:
        raise HTTPException(404, detail=f"no user {user_id}")
    demoted = body.role not in (None, "administrator")
    if user_id == caller.user_id and (body.active is False or demoted):
        raise HTTPException(422, detail="you cannot lock yourself out; ask another administrator")
    try:
        user = store.update_user(
            db, user, role=body.role, active=body.active, password=body.password,
            actor=caller.username,
        )  # fmt: skip
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    return _user_json(user)


@router.delete("/users/{user_id}", status_code=204, tags=["users"])
def deactivate_user(user_id: int, caller: Admin, db: Db) -> None:
    """Deactivate an account (its qualifications stay attributed; it can no longer log in)."""
    user = store.get_user(db, user_id)
    if user is None:
        raise HTTPException(404, detail=f"no user {user_id}")
    if user_id == caller.user_id:
        raise HTTPException(422, detail="you cannot deactivate your own account")
    store.update_user(db, user, active=False, actor=caller.username)
