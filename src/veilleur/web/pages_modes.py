"""Console pages of the modes safeguards (issue 5); see docs/modes.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
