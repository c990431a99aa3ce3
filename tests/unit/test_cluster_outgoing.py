"""A camera actor's messages for the server are bounded for what a later message replaces
(figures, pictures, notes) and never for signals, further events, statistics or states: a
server that stops polling (a partition) does not make the actor's memory grow without end,
and loses nothing that nothing replaces."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")  # the `cluster` extra, which the test extras include

from veilleur.cluster.actors import OutgoingMessages


def test_replaceable_messages_stop_piling_up_and_the_rest_is_kept() -> None:
    out = OutgoingMessages(limit=5)
    for i in range(8):
        out.put(("report", "cam", 1, {"frames": i}))
    assert out.qsize() == 5 and out.dropped == 3
    for kind in ("signal", "further", "statistics", "state"):
        out.put((kind, "cam", 1, kind))
    out.put(("jpeg", "cam", 1, b"..."))  # still over the limit: dropped
    assert out.qsize() == 9 and out.dropped == 4
    taken = [out.get_nowait() for _ in range(9)]
    assert [m[0] for m in taken[5:]] == ["signal", "further", "statistics", "state"]
    # Drained by the server's poll: figures are kept again.
    out.put(("report", "cam", 1, {"frames": 9}))
    assert out.qsize() == 1 and out.dropped == 4
