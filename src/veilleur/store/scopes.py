"""Which user services see a camera (SPEC S9): `Camera.services`, set by administrators."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.store.auth import check_service
from veilleur.store.journal import SYSTEM
from veilleur.store.journal import append as journal_append
from veilleur.store.models import Camera, utcnow


def clean_services(services: Iterable[str]) -> list[str]:
    """Service names trimmed, checked (ValueError names the bad one), deduplicated, sorted."""
    out = set()
    for raw in services:
        name = raw.strip()
        if not name:
            continue
        check_service(name)
        out.add(name)
    return sorted(out)


def set_camera_services(
    s: Session, name: str, services: Iterable[str], *, actor: str = SYSTEM
) -> Camera:
    """Set the services whose accounts see camera `name` (LookupError if unknown), journaled
    as a `camera.updated` of `actor`'s naming the new services; nothing when unchanged."""
    camera = s.scalar(select(Camera).where(Camera.name == name))
    if camera is None:
        raise LookupError(f"no camera named {name!r}")
    new = clean_services(services)
    if new == sorted(camera.services or []):
        return camera
    camera.services = new
    camera.updated_at = utcnow()
    s.flush()
    journal_append(
        s, actor, "camera.updated", f"camera:{name}", {"changed": ["services"], "services": new}
    )
    s.commit()
    return camera
