"""What the worker asks of an MQTT or webhook transport."""

from __future__ import annotations

from typing import Any, Protocol


class TransientError(Exception):
    """The attempt failed but may succeed later (receiver down, timeout, 5xx): retried."""


class PermanentError(Exception):
    """The receiver refused this content (a 4xx other than 408/429): dead-lettered at once,
    since sending the same bytes again cannot succeed."""


class Transport(Protocol):
    def send(self, key: str, event: str, payload: dict[str, Any]) -> None:
        """Deliver one message; return only once the receiver acknowledged it. Raises
        TransientError or PermanentError, with a message that holds no secret."""

    def close(self) -> None: ...
