"""REST routes of the retention safeguards (issue 5); see docs/retention.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api")
