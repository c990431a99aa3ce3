"""Documents (SPEC §5) and missed-situation reports, as the API and the console ask for them:
what a document is generated from, generation within the caller's scope (journaled), and the
reports of the caller's cameras."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.compliance import documents
from veilleur.config.common import SITUATION_IDS
from veilleur.config.server import ServerSettings
from veilleur.service.access import Caller
from veilleur.service.errors import Invalid, NotFound
from veilleur.service.inputs import UtcDateTime
from veilleur.service.scope import camera_in_scope, visible_camera_names
from veilleur.store import missed as missed_store
from veilleur.store.models import Authorisation, Camera, MissedReport, User

EVALUATION_DIR = "evaluation"
"""The console's technical file reads `<data_dir>/evaluation/figures.json` (run
`veilleur evaluate --out <data_dir>/evaluation`)."""


def sources(settings: ServerSettings) -> documents.Sources:
    evaluation = Path(settings.data_dir) / EVALUATION_DIR
    return documents.Sources(
        retention=settings.retention,
        session_ttl_s=settings.session_ttl_s,
        evaluation=evaluation if (evaluation / "figures.json").is_file() else None,
    )


def day_bound(value: date | None, *, end: bool = False) -> datetime | None:
    """Midnight UTC of `value`; of the next day for an inclusive end date."""
    if value is None:
        return None
    start = datetime.combine(value, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def generate(
    db: Session,
    settings: ServerSettings,
    caller: Caller,
    kind: str,
    fmt: str | None,
    *,
    authorisation_id: int | None = None,
    by: str = "day",
    since: date | None = None,
    until: date | None = None,
) -> documents.Document:
    """Generate one document over the caller's cameras and journal it; NotFound for an
    unknown authorisation, Invalid for any other refusal."""
    try:
        doc = documents.generate(
            db, kind, fmt, sources(settings), authorisation_id=authorisation_id, by=by,
            since=day_bound(since), until=day_bound(until, end=True),
            cameras=visible_camera_names(db, caller),
        )  # fmt: skip
    except documents.DocumentError as exc:
        if str(exc).startswith("no authorisation"):
            raise NotFound(str(exc)) from None
        raise Invalid(str(exc)) from None
    documents.record_generation(db, caller.username, doc)
    return doc


class MissedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: str = Field(description="The camera where the situation was seen.")
    situation: Literal[SITUATION_IDS] = Field(  # type: ignore[valid-type]
        description="Which of the eight situations no signal raised."
    )
    occurred_at: UtcDateTime = Field(description="When it happened (ISO 8601 with a time zone).")
    comment: str | None = Field(default=None, description="What was seen (optional).")


def record_missed(db: Session, caller: Caller, body: MissedIn) -> MissedReport:
    """Record a situation no signal raised (journaled); NotFound for a camera out of scope
    (answered like an unknown one), Invalid for what the store refuses."""
    camera_in_scope(db, caller, body.camera)
    user = db.get(User, caller.user_id)
    assert user is not None  # the session's own account
    try:
        return missed_store.report_missed(
            db, user, body.camera, body.situation, body.occurred_at, body.comment
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def missed_reports(
    db: Session,
    caller: Caller,
    *,
    camera: str | None = None,
    situation: str | None = None,
    limit: int = 100,
) -> list[tuple[MissedReport, str]]:
    """The newest `limit` reports of the caller's cameras, with who made each."""
    seen = visible_camera_names(db, caller)
    # Scoped callers: filter the newest reports by scope first, then keep `limit` of them.
    fetch = limit if seen is None else missed_store.MAX_LIST_LIMIT
    rows = missed_store.list_missed(db, camera=camera, situation=situation, limit=fetch)
    rows = [r for r in rows if seen is None or r.camera in seen][:limit]
    names = {uid: name for uid, name in db.execute(select(User.id, User.username))}
    return [(r, names.get(r.user_id, "?")) for r in rows]


def camera_names(db: Session, caller: Caller) -> list[str]:
    """The names of the caller's cameras, in order."""
    seen = visible_camera_names(db, caller)
    return [n for n in db.scalars(select(Camera.name).order_by(Camera.name))
            if seen is None or n in seen]  # fmt: skip


def notice_authorisations(db: Session) -> list[Authorisation]:
    """Every authorisation a public notice can be generated for, newest first."""
    return list(db.scalars(select(Authorisation).order_by(Authorisation.id.desc())))
