"""Decode ahead in a background thread, so decoding overlaps analysis.

PyAV releases the GIL while FFmpeg decodes and scales, and onnxruntime releases it while it
infers, so on two cores the two stages run side by side instead of one after the other.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Yield `items` in order while a background thread produces up to `depth` of them ahead.

    An exception raised by the producer is raised here, at the point it happened in the
    sequence. Abandoning the iterator stops the producer.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, which decides
            q.put(_Failure(exc))
            return
        q.put(_DONE)

    thread = threading.Thread(target=produce, name="veilleur-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        # Unblock a producer waiting on a full queue, then let it finish.
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
