"""The in-process broadcast of live events (new signals, qualifications) to console streams.

`publish` may be called from any thread (the supervisor calls `on_signal` from its own thread);
each subscriber lives on an event loop and receives the event through that loop, so nothing is
shared between threads but the subscriber set, under a lock. A subscriber that falls too far
behind is ended instead of blocking the others: its browser reconnects with `Last-Event-ID` and
catches up from the database, where every signal already is (it is committed before it is
published).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

_END: dict[str, Any] = {"type": "_end"}


class Subscription:
    """One live stream's queue; read it with `await get(timeout)` on the loop that made it."""

    def __init__(self, bus: SignalBus, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._bus = bus
        self._loop = loop
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=size)
        self.ended = False

    def _put(self, event: dict[str, Any]) -> None:
        # Runs on the subscriber's own loop.
        if self.ended:
            return
        if event is _END:
            self._end()
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # Too slow a reader: end its stream; the browser reconnects and catches up.
            self._bus.unsubscribe(self)
            self._end()

    def _put_many(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._put(event)

    def _end(self) -> None:
        self.ended = True
        while True:
            try:
                self._queue.put_nowait(_END)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    def deliver(self, event: dict[str, Any]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._put(event)
        else:
            try:
                self._loop.call_soon_threadsafe(self._put, event)
            except RuntimeError:  # its loop has closed: the stream is gone
                self._bus.unsubscribe(self)

    def deliver_many(self, events: list[dict[str, Any]]) -> None:
        # One wake-up of the subscriber's loop for the whole list, not one per event.
        try:
            self._loop.call_soon_threadsafe(self._put_many, events)
        except RuntimeError:  # its loop has closed: the stream is gone
            self._bus.unsubscribe(self)

    async def get(self, timeout: float) -> dict[str, Any] | None:
        """The next event; None when `timeout` seconds passed without one. Raises
        `StreamEnded` once the stream is over (server closing, or the reader fell behind)."""
        try:
            event = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if event is _END:
            raise StreamEnded
        return event

    def ready(self) -> tuple[list[dict[str, Any]], bool]:
        """The events already queued, taken without waiting, and whether the stream ended
        after them. A stream reads them together so that what it does per wake-up (re-reading
        its session, one write) is done once for a burst, not once per event."""
        events: list[dict[str, Any]] = []
        while True:
            try:
                event = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return events, False
            if event is _END:
                return events, True
            events.append(event)

    def close(self) -> None:
        self.ended = True
        self._bus.unsubscribe(self)


class StreamEnded(Exception):
    """The subscription will deliver nothing more."""


class SignalBus:
    """Broadcasts JSON-able event dicts to every live subscriber."""

    def __init__(self, queue_size: int = 512) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._queue_size = queue_size
        self.closed = False

    def subscribe(self) -> Subscription:
        """A new subscription bound to the running event loop."""
        sub = Subscription(self, asyncio.get_running_loop(), self._queue_size)
        with self._lock:
            closed = self.closed
            if not closed:
                self._subs.add(sub)
        if closed:
            sub._end()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, event: dict[str, Any]) -> None:
        """Hand `event` to every subscriber; safe to call from any thread."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.deliver(event)

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        """Hand these events, in order, to every subscriber, with one wake-up of each
        subscriber's loop (a batch of signals stored together, `SignalRecorder.batch`)."""
        if not events:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.deliver_many(events)

    def close(self) -> None:
        """End every stream (server shutting down)."""
        with self._lock:
            self.closed = True
            subs = list(self._subs)
            self._subs.clear()
        for sub in subs:
            sub.deliver(_END)
