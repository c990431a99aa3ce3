"""Console pages of the documents safeguards (issue 5); see docs/documents.md."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
