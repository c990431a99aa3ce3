"""Console pages of the authorisations safeguards (issue 5); see docs/authorisations.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
