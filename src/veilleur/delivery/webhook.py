"""Signed webhooks: one JSON POST per delivery, HMAC-SHA256 over the timestamp and the body.

Headers: `X-Veilleur-Timestamp` (Unix seconds), `X-Veilleur-Signature: sha256=<hex of
HMAC(secret, "<timestamp>." + body)>`, `Idempotency-Key` (the same on every attempt of a
delivery), `X-Veilleur-Event`. A receiver checks the signature (`verify`), refuses an old
timestamp (replays), and keeps the keys it has seen (at-least-once: a key may come twice).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from veilleur.config.delivery import WebhookRecipient
from veilleur.delivery.payload import body_bytes
from veilleur.delivery.transport import PermanentError, TransientError

SIGNATURE = "X-Veilleur-Signature"
TIMESTAMP = "X-Veilleur-Timestamp"
IDEMPOTENCY = "Idempotency-Key"
EVENT = "X-Veilleur-Event"
RETRYABLE_4XX = (408, 425, 429)


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    timestamp = headers.get(TIMESTAMP, "")
    sent = headers.get(SIGNATURE, "")
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    expected = signature(secret, timestamp, body)
    return age <= tolerance_s and hmac.compare_digest(expected.encode(), sent.encode())


def shown_url(url: str) -> str:
    """The URL without its query string (which may hold a token), for logs and answers."""
    return url.split("?", 1)[0].split("#", 1)[0]


class WebhookTransport:
    def __init__(self, recipient: WebhookRecipient) -> None:
        assert recipient.secret is not None  # the settings refuse a webhook without one
        self.recipient = recipient
        self._secret = recipient.secret.get_secret_value().encode("utf-8")
        # No proxy from the environment: signals go to the configured address only.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send(self, key: str, event: str, payload: dict[str, Any]) -> None:
        body = body_bytes(key, event, payload)
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.recipient.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "veilleur-delivery",
                TIMESTAMP: timestamp,
                SIGNATURE: signature(self._secret, timestamp, body),
                IDEMPOTENCY: key,
                EVENT: event,
            },
        )
        try:
            with self._opener.open(request, timeout=self.recipient.timeout_s) as response:
                response.read(65536)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            exc.close()
        except (OSError, ValueError) as exc:  # refused, unreachable, timeout, TLS
            raise TransientError(f"{shown_url(self.recipient.url)}: {_reason(exc)}") from None
        if 200 <= status < 300:
            return
        message = f"{shown_url(self.recipient.url)} answered HTTP {status}"
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            raise PermanentError(message)
        raise TransientError(message)

    def close(self) -> None:
        return None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__
