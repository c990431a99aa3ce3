"""What a delivery carries: what a signal says (what, where, when, how sure, which episode),
by an allow-list, so a column added to signals later is not sent by accident. Nothing about
who: a signal has no person in it, and no operator's name is ever added (SPEC S1, S3)."""

from __future__ import annotations

import json
from typing import Any

from veilleur.store.models import SignalRow

SCHEMA = "veilleur.delivery/1"
"""Names the body's layout; a receiver checks it before reading the rest."""


def signal_payload(row: SignalRow) -> dict[str, Any]:
    """The signal as delivered (stored in the outbox row, sent unchanged on every attempt)."""
    return {
        "id": row.id,
        "situation": row.situation,
        "camera": row.camera,
        "zone": row.zone,
        "occurred_at": row.occurred_at.isoformat(),
        "start_s": round(float(row.start_s), 3),
        "end_s": round(float(row.end_s), 3),
        "confidence": round(float(row.confidence), 4),
        "bbox": [round(float(v), 4) for v in row.bbox],
        "episode": row.episode,
        "model": row.model,
        "config_version": row.config_version,
        "further_count": int(row.further_count or 0),
    }


def further_payload(row: SignalRow) -> dict[str, Any]:
    """A further event of the signal's episode: the signal as it now is, and the event's times
    (the latest kept; `further_count` goes on counting past the times a row keeps)."""
    times = list(row.further_times or [])
    # Past the times a row keeps, the last kept one is not this event's: say nothing.
    latest = dict(times[-1]) if times and len(times) == (row.further_count or 0) else None
    return {**signal_payload(row), "further": latest}


def body(key: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"schema": SCHEMA, "idempotency_key": key, "event": event, "signal": payload}


def body_bytes(key: str, event: str, payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, sorted keys, UTF-8."""
    return json.dumps(
        body(key, event, payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")  # fmt: skip
