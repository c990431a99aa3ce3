"""REST routes of the documents safeguards (issue 5); see docs/documents.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api")
