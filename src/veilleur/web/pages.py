"""The operator console: server-rendered pages (Jinja2), htmx fragments, role-checked like the
API. State-changing forms carry the session's CSRF token (hidden field, and the X-CSRF-Token
header htmx adds from the page's `hx-headers`)."""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from veilleur import store
from veilleur.compliance import journal
from veilleur.config import SITUATION_IDS
from veilleur.config.situations import all_situations
from veilleur.http.auth import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    Db,
    allow,
    csrf_ok,
    current_caller,
    safe_next,
)
from veilleur.http.throttle import Throttled, throttled_login
from veilleur.service import cameras, signals, users
from veilleur.service.access import (
    ADMIN,
    AUDITOR,
    CONTROL,
    JOURNAL,
    READ,
    ROLE_HELP,
    ROLES,
    WATCH,
    Caller,
)
from veilleur.service.cameras import visible_cameras
from veilleur.service.errors import Conflict, Invalid, NotFound
from veilleur.service.inputs import Id, in_range
from veilleur.service.platform import (
    ConfigInvalid,
    Platform,
    Problem,
    camera_json,
    signal_json,
)
from veilleur.service.scope import (
    camera_in_scope,
    set_processing_in_scope,
    signal_in_scope,
)
from veilleur.situations import IMPLEMENTED, known_limits
from veilleur.store.auth import UNCHANGED, AccessExpired, Unchanged, expiries
from veilleur.web import charts
from veilleur.web.forms import FormError, parse_situation_form, situation_fields

#: Console label of each situation, from its record (config/situations/<id>.py).
SITUATION_LABELS = {info.id: info.label for info in all_situations()}
VERDICT_LABELS = {
    "confirmed": "Confirmed",
    "false_alarm": "False alarm",
    "not_actionable": "Not actionable",
}

_env = Environment(
    loader=PackageLoader("veilleur.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)
router = APIRouter(include_in_schema=False)

Reader = Annotated[Caller, Depends(allow(*READ))]
Watcher = Annotated[Caller, Depends(allow(*WATCH))]
Controller = Annotated[Caller, Depends(allow(*CONTROL))]
Admin = Annotated[Caller, Depends(allow(*ADMIN))]
JournalReader = Annotated[Caller, Depends(allow(*JOURNAL))]
JOURNAL_PAGE = 100


def _local_time(value: str | datetime | None) -> str:
    if value is None:
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["when"] = _local_time
_env.filters["situation"] = lambda s: SITUATION_LABELS.get(s, s)
_env.filters["verdict"] = lambda v: VERDICT_LABELS.get(v, v)
_env.filters["pct"] = lambda x: f"{100 * x:.0f} %"
# What console.js says of each situation (`data-situations` on <body>; the CSP runs no inline
# script, so data reaches the page's script as an attribute).
_env.globals["situation_meta"] = {
    info.id: {"label": info.label, "colour": info.colour} for info in all_situations()
}


def render(
    request: Request,
    name: str,
    caller: Caller | None,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "caller": caller,
        "can_watch": caller is not None and caller.may(WATCH),
        "can_control": caller is not None and caller.may(CONTROL),
        "can_admin": caller is not None and caller.may(ADMIN),
        "can_journal": caller is not None and caller.may(JOURNAL),
        "csrf_field": CSRF_FIELD,
        "situation_ids": SITUATION_IDS,
        "situation_labels": SITUATION_LABELS,
        "verdicts": VERDICT_LABELS,
        "path": request.url.path,
        "settings": request.app.state.settings,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _plat(request: Request) -> Platform:
    plat: Platform = request.app.state.platform
    return plat


def _is_htmx(request: Request) -> bool:
    return "HX-Request" in request.headers


# --- login -------------------------------------------------------------------------------


def _login_page(
    request: Request, next_url: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    # Login CSRF: a double-submit token (cookie + hidden field), since there is no session yet.
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", None, {"login_csrf": token, "next": next_url, "error": error},
        status,
    )  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=1800, httponly=True, samesite="strict", path="/login"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _login_page(request, safe_next(next))


@router.post("/login", response_model=None)
def login(
    request: Request,
    db: Db,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token or None):
        return _login_page(request, safe_next(next), "The form expired; please log in again.", 403)
    try:
        user = throttled_login(request, db, username.strip(), password)
    except AccessExpired as exc:
        return _login_page(request, safe_next(next), str(exc), 403)
    except Throttled as exc:
        page = _login_page(request, safe_next(next), f"Too many failed logins: {exc}.", 429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    if user is None:
        return _login_page(request, safe_next(next), "Unknown account or wrong password.", 401)
    settings = request.app.state.settings
    token, _ = store.open_session(db, user, ttl_s=settings.session_ttl_s)
    default = "/dashboard" if user.role == AUDITOR else "/wall"
    response = RedirectResponse(safe_next(next, default) if next != "/" else default, 303)
    response.set_cookie(
        COOKIE, token, max_age=settings.session_ttl_s, httponly=True, samesite="strict",
        secure=settings.secure_cookies, path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, caller: Reader, db: Db) -> RedirectResponse:
    store.close_session(db, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_model=None)
def home(caller: Annotated[Caller | None, Depends(current_caller)]) -> RedirectResponse:
    if caller is None:
        return RedirectResponse("/login", 303)
    return RedirectResponse("/dashboard" if caller.role == AUDITOR else "/wall", 303)


# --- live wall ---------------------------------------------------------------------------


def _geometry(config: dict[str, Any]) -> dict[str, Any]:
    return {"zones": config.get("zones", {}), "lines": config.get("lines", {})}


@router.get("/wall", response_class=HTMLResponse)
def wall(request: Request, caller: Watcher, db: Db) -> HTMLResponse:
    plat = _plat(request)
    status = plat.status()
    tiles = [
        {**camera_json(r, status.get(r.name)), "geometry": _geometry(r.config)}
        for r in visible_cameras(db, caller)
    ]
    return render(request, "wall.html", caller, {"tiles": tiles})


@router.get("/wall/status/{name}", response_class=HTMLResponse)
def tile_status(name: str, request: Request, caller: Watcher, db: Db) -> HTMLResponse:
    row = camera_in_scope(db, caller, name)
    tile = camera_json(row, _plat(request).status().get(name))
    return render(request, "_tile_status.html", caller, {"tile": tile})


# --- signals -----------------------------------------------------------------------------


@router.get("/signals", response_class=HTMLResponse)
def signals_page(
    request: Request,
    caller: Reader,
    db: Db,
    camera: str = "",
    situation: str = "",
    state: str = "",
    before_id: Id | None = None,
) -> HTMLResponse:
    rows = signals.visible_signals(
        db, caller, camera=camera or None, situation=situation or None,
        state=state if state in ("new", "qualified") else None, limit=50, before_id=before_id,
    )  # fmt: skip
    return render(
        request,
        "signals.html",
        caller,
        {
            "signals": [signal_json(r) for r in rows],
            "cameras": [c.name for c in visible_cameras(db, caller)],
            "filters": {"camera": camera, "situation": situation, "state": state},
            "older": rows[-1].id if len(rows) == 50 else None,
            "paged": before_id is not None,
        },
    )


def _signal(db: Db, caller: Caller, signal_id: Id) -> dict[str, Any]:
    return signal_json(signal_in_scope(db, caller, signal_id))


@router.get("/signals/{signal_id}/card", response_class=HTMLResponse)
def signal_card(signal_id: Id, request: Request, caller: Reader, db: Db) -> HTMLResponse:
    return render(
        request, "_signal_card.html", caller, {"s": _signal(db, caller, signal_id), "fresh": True}
    )


@router.get("/signals/{signal_id}", response_class=HTMLResponse)
def signal_page(signal_id: Id, request: Request, caller: Reader, db: Db) -> HTMLResponse:
    return render(request, "signal.html", caller, {"s": _signal(db, caller, signal_id)})


@router.post("/signals/{signal_id}/qualify", response_model=None)
def qualify(
    signal_id: Id,
    request: Request,
    caller: Watcher,
    db: Db,
    verdict: Annotated[str, Form()],
    comment: Annotated[str, Form()] = "",
) -> Response:
    s = _signal(db, caller, signal_id)
    error = None
    if verdict not in VERDICT_LABELS:
        error = "Choose confirmed, false alarm or not actionable."
    else:
        try:
            s = signal_json(
                signals.qualify(_plat(request), db, caller, signal_id, verdict, comment)
            )
        except signals.AlreadyQualified:
            error = "This signal was already qualified."
        except Conflict as exc:
            error = exc.message
            s = _signal(db, caller, signal_id)
    if not _is_htmx(request):
        return RedirectResponse(f"/signals/{signal_id}", 303)
    return render(request, "_signal_card.html", caller, {"s": s, "error": error})


# --- dashboards --------------------------------------------------------------------------


def _bucket(rows: list[dict[str, Any]], key: str) -> list[tuple[str, dict[str, int]]]:
    acc: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for k in charts.KEYS:
            acc[str(r[key])][k] += int(r.get(k, 0))
    return sorted(((name, dict(c)) for name, c in acc.items()), key=lambda t: t[0])


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request,
    caller: Reader,
    db: Db,
    days: Annotated[int, Query(ge=1, le=3660, description="The period, in days.")] = 30,
) -> HTMLResponse:
    days = min(max(days, 1), 366)
    since = datetime.now(UTC) - timedelta(days=days)
    rows = signals.signal_stats(db, caller, since=since)
    by_situation = [(SITUATION_LABELS.get(n, n), c) for n, c in _bucket(rows, "situation")]
    by_camera = _bucket(rows, "camera")
    counted = dict(_bucket(rows, "day"))
    today = datetime.now(UTC).date()
    # Every day of the period, quiet ones included, so the chart's time axis is regular.
    by_day = []
    for n in range(days - 1, -1, -1):
        day = (today - timedelta(days=n)).isoformat()
        by_day.append((day, counted.get(day, {})))
    table = []
    for label, c in by_situation:
        qualified = c.get("confirmed", 0) + c.get("false_alarm", 0) + c.get("not_actionable", 0)
        table.append(
            {
                "label": label,
                "signals": sum(c.get(k, 0) for k in charts.KEYS),
                **{k: c.get(k, 0) for k in charts.KEYS},
                "false_share": c.get("false_alarm", 0) / qualified if qualified else None,
            }
        )
    total = {k: sum(int(r.get(k, 0)) for r in rows) for k in charts.KEYS}
    qualified = total["confirmed"] + total["false_alarm"] + total["not_actionable"]
    return render(
        request,
        "dashboard.html",
        caller,
        {
            "days": days,
            "total": total,
            "signals": sum(total.values()),
            "false_share": total["false_alarm"] / qualified if qualified else None,
            "table": table,
            "chart_situation": charts.stacked_bars(by_situation, title="Signals per situation"),
            "chart_camera": charts.stacked_bars(by_camera, title="Signals per camera"),
            "chart_day": charts.day_columns(by_day, title="Signals per day"),
            "legend": [(charts.COLOURS[k], charts.LABELS[k]) for k in charts.KEYS],
        },
    )


# --- processing (supervisors) ------------------------------------------------------------


def _processing_rows(request: Request, db: Db, caller: Caller) -> list[dict[str, Any]]:
    status = _plat(request).status()
    out = []
    for r in visible_cameras(db, caller):
        st = status.get(r.name)
        enabled = [sid for sid, c in r.config.get("situations", {}).items() if c.get("enabled")]
        active = set(st["active_situations"]) if st else set()
        out.append(
            {
                "name": r.name,
                "processing": r.processing,
                "status": st,
                "situations": [(sid, sid in active) for sid in enabled],
            }
        )
    return out


@router.get("/processing", response_class=HTMLResponse)
def processing_page(request: Request, caller: Controller, db: Db) -> HTMLResponse:
    return render(
        request, "processing.html", caller, {"rows": _processing_rows(request, db, caller)}
    )


@router.get("/processing/table", response_class=HTMLResponse)
def processing_table(request: Request, caller: Controller, db: Db) -> HTMLResponse:
    return render(
        request, "_processing_table.html", caller, {"rows": _processing_rows(request, db, caller)}
    )


@router.post("/processing/{action}", response_model=None)
def processing_action(
    action: str,
    request: Request,
    caller: Controller,
    db: Db,
    camera: Annotated[str, Form()] = "",
    situation: Annotated[str, Form()] = "",
) -> Response:
    if action not in ("start", "stop"):
        raise HTTPException(404)
    message = None
    try:
        set_processing_in_scope(
            _plat(request), db, caller, action == "start", camera=camera or None,
            situation=situation or None,
        )  # fmt: skip
    except KeyError:
        message = f"no camera named '{camera}'"
    except ValueError as exc:
        message = str(exc)
    if not _is_htmx(request):
        return RedirectResponse("/processing", 303)
    return render(
        request,
        "_processing_table.html",
        caller,
        {"rows": _processing_rows(request, db, caller), "message": message},
    )


# --- cameras (administrators) ------------------------------------------------------------


@router.get("/cameras", response_class=HTMLResponse)
def cameras_page(request: Request, caller: Admin, db: Db) -> HTMLResponse:
    return _cameras(request, caller, db)


def _cameras(
    request: Request,
    caller: Caller,
    db: Db,
    problems: list[Problem] | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    status = _plat(request).status()
    rows = [camera_json(r, status.get(r.name)) for r in visible_cameras(db, caller)]
    return render(
        request,
        "cameras.html",
        caller,
        {"cameras": rows, "problems": problems or [], "form": form or {}},
        422 if problems else 200,
    )


@router.post("/cameras", response_model=None)
def add_camera(
    request: Request,
    caller: Admin,
    db: Db,
    name: Annotated[str, Form()],
    source: Annotated[str, Form()],
    analysis_fps: Annotated[str, Form()] = "5",
    services: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "source": source, "analysis_fps": analysis_fps, "services": services}
    name = name.strip()
    try:
        cameras.add_camera(
            _plat(request), db, caller, name,
            {"source": source.strip(), "analysis_fps": analysis_fps},
            processing=True, services=services.split(","),
        )  # fmt: skip
    except Conflict as exc:
        return _cameras(request, caller, db, [Problem("name", exc.message)], form)
    except Invalid as exc:
        return _cameras(request, caller, db, [Problem(exc.key, exc.message)], form)
    except ConfigInvalid as exc:
        return _cameras(request, caller, db, exc.problems, form)
    return RedirectResponse(f"/cameras/{name}", 303)


def _camera_page(
    request: Request,
    caller: Caller,
    db: Db,
    name: str,
    problems: list[Problem] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    row = camera_in_scope(db, caller, name)
    config = store.camera_config(row)
    zones, lines = list(config.zones), list(config.lines)
    forms = []
    for sid, sit in config.situations.items():
        forms.append(
            {
                "id": sid,
                "analysed": sid in IMPLEMENTED,
                "known_limits": known_limits(sid),
                "enabled": sit.enabled,
                "fields": situation_fields(sid, sit, zones, lines),
            }
        )
    return render(
        request,
        "camera.html",
        caller,
        {
            "camera": camera_json(row, _plat(request).status().get(name)),
            "geometry": _geometry(row.config),
            "situations": forms,
            "problems": problems or [],
        },
        status_code,
    )


@router.get("/cameras/{name}", response_class=HTMLResponse)
def camera_page(name: str, request: Request, caller: Admin, db: Db) -> HTMLResponse:
    return _camera_page(request, caller, db, name)


@router.post("/cameras/{name}/source", response_model=None)
def camera_source(
    name: str,
    request: Request,
    caller: Admin,
    db: Db,
    source: Annotated[str, Form()],
    analysis_fps: Annotated[str, Form()],
    mode: Annotated[str | None, Form()] = None,
) -> Response:
    def change(d: dict[str, Any]) -> None:
        d["source"] = source.strip()
        d["analysis_fps"] = analysis_fps
        if mode is not None:  # live, calibration or statistics (docs/modes.md)
            d["mode"] = mode

    try:
        cameras.change_camera(_plat(request), db, caller, name, change)
    except ConfigInvalid as exc:
        return _camera_page(request, caller, db, name, exc.problems, 422)
    return RedirectResponse(f"/cameras/{name}", 303)


@router.post("/cameras/{name}/situations/{situation}", response_model=None)
async def camera_situation(
    name: str, situation: str, request: Request, caller: Admin, db: Db
) -> Response:
    if situation not in SITUATION_IDS:
        raise HTTPException(404)
    await run_in_threadpool(camera_in_scope, db, caller, name)
    form = await request.form()
    try:
        params = parse_situation_form(situation, form, form.getlist)
    except FormError as exc:
        problems = [Problem(exc.key, exc.message)]
    else:

        def change(d: dict[str, Any]) -> None:
            d.setdefault("situations", {})[situation] = params

        try:
            cameras.change_camera(_plat(request), db, caller, name, change)
            problems = []
        except ConfigInvalid as exc:
            problems = exc.problems
    if not problems:
        return RedirectResponse(f"/cameras/{name}#situation-{situation}", 303)
    return _camera_page(request, caller, db, name, problems, 422)


@router.post("/cameras/{name}/delete", response_model=None)
def camera_delete(name: str, request: Request, caller: Admin, db: Db) -> Response:
    cameras.delete_camera(_plat(request), db, caller, name)
    return RedirectResponse("/cameras", 303)


@router.post("/cameras/{name}/services", response_model=None)
def camera_services(
    name: str,
    request: Request,
    caller: Admin,
    db: Db,
    services: Annotated[str, Form()] = "",
) -> Response:
    try:
        cameras.set_services(db, caller, name, services.split(","))
    except Invalid as exc:
        return _camera_page(request, caller, db, name, [Problem(exc.key, exc.message)], 422)
    return RedirectResponse(f"/cameras/{name}", 303)


# --- users (administrators) --------------------------------------------------------------


def _users(
    request: Request, caller: Caller, db: Db, error: str | None = None, ok: str | None = None
) -> HTMLResponse:
    accounts = users.list_users(db)
    expired = {u.id: [e.message for e in expiries(u)] for u in accounts}
    return render(
        request,
        "users.html",
        caller,
        {
            "users": accounts, "roles": ROLES, "role_help": ROLE_HELP, "error": error, "ok": ok,
            "expired": expired,
        },
        422 if error else 200,
    )  # fmt: skip


def _form_day(value: str, label: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{label}: a date as YYYY-MM-DD (got {value!r})") from None


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, caller: Admin, db: Db) -> HTMLResponse:
    return _users(request, caller, db)


@router.post("/users", response_class=HTMLResponse)
def users_create(
    request: Request,
    caller: Admin,
    db: Db,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    service: Annotated[str, Form()] = "",
    training_expires_on: Annotated[str, Form()] = "",
    habilitation_expires_on: Annotated[str, Form()] = "",
    may_view_unblurred: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        training = _form_day(training_expires_on, "training valid until")
        habilitation = _form_day(habilitation_expires_on, "habilitation valid until")
        users.create_user(
            db, caller, username=username.strip(), password=password, role=role,
            service=service, training_expires_on=training, habilitation_expires_on=habilitation,
            may_view_unblurred=may_view_unblurred == "on",
        )  # fmt: skip
    except (ValueError, Invalid) as exc:
        return _users(request, caller, db, error=str(exc))
    return _users(request, caller, db, ok=f"Account '{username.strip()}' created.")


@router.post("/users/{user_id}", response_class=HTMLResponse)
def users_update(
    user_id: Id,
    request: Request,
    caller: Admin,
    db: Db,
    role: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    service: Annotated[str | None, Form()] = None,
    training_expires_on: Annotated[str | None, Form()] = None,
    habilitation_expires_on: Annotated[str | None, Form()] = None,
    may_view_unblurred: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    """Fields absent from the form stay as they are; an empty service or date clears it."""
    new_active = None if active == "" else active == "on"
    try:
        training: date | Unchanged | None = (
            UNCHANGED if training_expires_on is None
            else _form_day(training_expires_on, "training valid until")
        )  # fmt: skip
        habilitation: date | Unchanged | None = (
            UNCHANGED if habilitation_expires_on is None
            else _form_day(habilitation_expires_on, "habilitation valid until")
        )  # fmt: skip
        user = users.update_user(
            db, caller, user_id, role=role or None, active=new_active,
            password=password or None, service=UNCHANGED if service is None else service,
            training_expires_on=training, habilitation_expires_on=habilitation,
            may_view_unblurred=None if may_view_unblurred is None
            else may_view_unblurred == "on",
        )  # fmt: skip
    except NotFound:
        raise HTTPException(404) from None
    except users.SelfLockout:
        return _users(request, caller, db, error="You cannot lock yourself out.")
    except (ValueError, Invalid) as exc:
        return _users(request, caller, db, error=str(exc))
    return _users(request, caller, db, ok=f"Account '{user.username}' updated.")


# --- journal (auditors, administrators) --------------------------------------------------


def _day(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(in_range(date.fromisoformat(value)), time(), tzinfo=UTC)
    except ValueError:
        raise HTTPException(422, detail=f"{name}: a date as YYYY-MM-DD") from None


@router.get("/journal", response_class=HTMLResponse)
def journal_page(
    request: Request,
    caller: JournalReader,
    db: Db,
    action: str = "",
    actor: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    before_id: Id | None = None,
) -> HTMLResponse:
    """The journal, newest first, filtered, with the state of the whole chain at the top (it
    is verified on every visit: a change made behind the application's back shows here)."""
    start, end = _day(since, "from"), _day(until, "to")
    rows = journal.query(
        db, action=action or None, actor=actor.strip() or None, target=target.strip() or None,
        since=start, until=end + timedelta(days=1) if end else None, before_id=before_id,
        limit=JOURNAL_PAGE,
    )  # fmt: skip
    filters = {"action": action, "actor": actor, "target": target, "since": since, "until": until}
    return render(
        request,
        "journal.html",
        caller,
        {
            "chain": journal.verify(db),
            "entries": rows,
            "actions": journal.ACTIONS,
            "filters": filters,
            "older": rows[-1].id if len(rows) == JOURNAL_PAGE else None,
            "paged": before_id is not None,
        },
    )


__all__ = ["render", "router", "templates"]
