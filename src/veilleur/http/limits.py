"""What every request and answer goes through, before any route: body size, JSON text, and
the security headers (issue 12).

`BodyLimit` (pure ASGI, so live streams pass untouched):

- a body announced larger than `max_bytes` (Content-Length) is answered 413 without reading a
  byte of it, before authentication; one sent without a length (chunked) is counted as it comes
  and answered 413 as soon as it passes the limit. Bodies are read here, at most `max_bytes`,
  then handed to the route: an anonymous client can no longer make the server hold 52 MB;
- a JSON body must be I-JSON (RFC 7493): no lone surrogate in a string (`"\\ud800"` is not
  Unicode text, and failed later when written to the database or the journal), and no NaN or
  Infinity (not JSON at all; Python's parser accepts them). Either is answered 422, naming it;
- no text anywhere (path, query, JSON or form body) may hold the NUL character: PostgreSQL
  cannot store it, and no name, comment or filter needs it (422).

`SecurityHeaders` adds to every answer: a Content-Security-Policy allowing only the server's
own scripts (the console has no inline script or handler), `X-Frame-Options: DENY` and
`frame-ancestors 'none'` (no framing: clickjacking), `X-Content-Type-Options: nosniff`,
`Referrer-Policy: same-origin`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from veilleur.config.server import DEFAULT_MAX_BODY_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: A \\uD800-\\uDFFF or \\u0000 escape: only then is the slower, exact check needed.
_SUSPECT_ESCAPE = re.compile(rb"\\u([dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
NUL_REFUSED = "text may not hold the NUL character (\\u0000, %00)"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # Style attributes (chart legends) and htmx's own indicator style: no script runs there.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


async def _answer(send: Send, status: int, detail: Any) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, the server's limit"


def json_problem(body: bytes) -> str | None:
    """Why a JSON body is not I-JSON (a lone surrogate, NaN or Infinity), or None. A body that
    is not JSON at all is left to the route (its own 422)."""

    def constant(name: str) -> Any:
        raise _NotJson(f"{name} is not a JSON number; send a finite number or null")

    try:
        value = json.loads(body, parse_constant=constant)
    except _NotJson as exc:
        return str(exc)
    except ValueError:  # not JSON, or not UTF-8: the route says so
        return None
    if _SUSPECT_ESCAPE.search(body):
        for text in _strings(value):
            if "\x00" in text:
                return NUL_REFUSED
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return (
                    "a string holds a lone surrogate (\\ud800-\\udfff without its pair): "
                    "not Unicode text"
                )
    return None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class _NotJson(ValueError):
    pass


class BodyLimit:
    """See the module's docstring."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            where = "path" if "\x00" in scope.get("path", "") else "query"
            await _answer(send, 422, [{"type": "string_nul", "loc": [where], "msg": NUL_REFUSED}])
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(send, 400, "Content-Length is not a number")
                return
            if length > self.max_bytes:
                await _answer(send, 413, _too_large(self.max_bytes))
                return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _answer(send, 413, _too_large(self.max_bytes))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        problem = None
        if body and (ctype == b"application/json" or ctype.endswith(b"+json")):
            problem = json_problem(body)
        elif ctype == b"application/x-www-form-urlencoded" and b"%00" in body:
            problem = NUL_REFUSED
        if problem is not None:
            await _answer(send, 422, [{"type": "json_invalid", "loc": ["body"], "msg": problem}])
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as before

        await self.app(scope, replay, send)


class SecurityHeaders:
    """See the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
