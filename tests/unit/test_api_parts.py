"""The API's pieces without a database: the live bus, the situation forms, the charts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from starlette.datastructures import FormData

from veilleur.config import SITUATION_IDS, CameraConfig
from veilleur.http.auth import allow, safe_next
from veilleur.service.bus import SignalBus, StreamEnded
from veilleur.service.platform import ConfigInvalid, validate_camera
from veilleur.web import charts
from veilleur.web.forms import FormError, parse_situation_form, situation_fields

T = TypeVar("T")


def run_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(main())` in a thread of its own, so that it works whatever loop the test
    session's main thread may already be running (Playwright's sync API runs one)."""
    out: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(asyncio.run(main()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return out[0]


def test_bus_delivers_events_published_from_another_thread() -> None:
    async def main() -> list[dict[str, int]]:
        bus = SignalBus()
        sub = bus.subscribe()
        threads = [
            threading.Thread(target=bus.publish, args=({"type": "signal", "id": i},))
            for i in range(3)
        ]
        for t in threads:
            t.start()
        got = []
        for _ in range(3):
            event = await sub.get(timeout=2)
            assert event is not None
            got.append(event)
        for t in threads:
            t.join()
        assert await sub.get(timeout=0.05) is None  # nothing more: a heartbeat is due
        sub.close()
        assert bus.subscribers == 0
        return got

    got = run_loop(main)
    assert sorted(e["id"] for e in got) == [0, 1, 2]


def test_bus_ends_a_reader_that_falls_behind_without_blocking_others() -> None:
    async def main() -> None:
        bus = SignalBus(queue_size=2)
        slow, fast = bus.subscribe(), bus.subscribe()
        for i in range(2):
            bus.publish({"type": "signal", "id": i})
            assert (await fast.get(timeout=1)) == {"type": "signal", "id": i}
        bus.publish({"type": "signal", "id": 2})  # the slow one's queue is full: it is ended
        assert (await fast.get(timeout=1)) == {"type": "signal", "id": 2}
        with pytest.raises(StreamEnded):
            for _ in range(3):
                await slow.get(timeout=1)
        assert bus.subscribers == 1

    run_loop(main)


def test_a_batch_is_published_in_order_with_one_wake_up_per_stream() -> None:
    async def main() -> None:
        bus = SignalBus(queue_size=3)
        sub, small = bus.subscribe(), bus.subscribe()
        loop = asyncio.get_running_loop()
        wake_ups: list[object] = []
        real = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any) -> Any:
            if getattr(callback, "__self__", None) in (sub, small):  # not to_thread's own
                wake_ups.append(callback)
            return real(callback, *args)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        events = [{"type": "signal", "id": i} for i in range(3)]
        await asyncio.to_thread(bus.publish_many, events)  # from another thread, as the recorder
        assert len(wake_ups) == 2  # one per stream, not one per event
        assert [await sub.get(timeout=1) for _ in range(3)] == events
        bus.publish_many([])  # nothing to tell: no wake-up
        assert len(wake_ups) == 2
        await asyncio.to_thread(bus.publish_many, [{"type": "signal", "id": 3}])
        assert (await sub.get(timeout=1)) == {"type": "signal", "id": 3}
        # The queue of 3 overflowed for the stream that read nothing: it is ended.
        with pytest.raises(StreamEnded):
            for _ in range(5):
                await small.get(timeout=1)
        loop.call_soon_threadsafe = real  # type: ignore[method-assign]

    run_loop(main)


def test_closing_the_bus_ends_every_stream() -> None:
    async def main() -> None:
        bus = SignalBus()
        sub = bus.subscribe()
        bus.close()
        with pytest.raises(StreamEnded):
            await sub.get(timeout=1)
        late = bus.subscribe()
        with pytest.raises(StreamEnded):
            await late.get(timeout=1)

    run_loop(main)


def test_roles_must_exist() -> None:
    with pytest.raises(ValueError):
        allow("operator", "boss")
    with pytest.raises(ValueError):
        allow()


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/signals", "/signals"), ("//evil.example", "/"), ("https://evil.example", "/"),
     ("/\\evil", "/"), (None, "/"), ("", "/")],
)  # fmt: skip
def test_only_local_paths_are_followed_after_login(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_validation_problems_name_each_key() -> None:
    with pytest.raises(ConfigInvalid) as info:
        validate_camera(
            {"source": "a.mp4", "analysis_fps": 0, "zones": {"z": {"polygon": [[0, 0]]}}}
        )
    keys = {p.key for p in info.value.problems}
    assert keys == {"analysis_fps", "zones.z.polygon"}
    with pytest.raises(ConfigInvalid):
        validate_camera(["not", "a", "mapping"])


def _camera() -> CameraConfig:
    return validate_camera(
        {
            "source": "a.mp4",
            "zones": {"lawn": {"polygon": [[0, 0.5], [1, 0.5], [1, 1]]}},
            "lines": {"post": {"points": [[0.5, 0], [0.5, 1]]}},
        }
    )


@pytest.mark.parametrize("situation", SITUATION_IDS)
def test_every_situation_gets_a_form_that_round_trips(situation: str) -> None:
    cam = _camera()
    current = cam.situations.items()[SITUATION_IDS.index(situation)][1]
    fields = situation_fields(situation, current, ["lawn"], ["post"])
    assert [f.name for f in fields][:1] == ["enabled"]
    assert all(f.help for f in fields)  # every parameter explains itself
    zones = next(f for f in fields if f.name == "zones")
    assert zones.kind == "choices" and zones.choices == ["lawn"]
    # Submitting the form as rendered gives back the same parameters.
    form: list[tuple[str, str]] = []
    for f in fields:
        if f.kind == "bool":
            if f.value:
                form.append((f.name, "on"))
        elif f.kind == "choices":
            form += [(f.name, v) for v in f.value]
        else:
            form.append((f.name, f.text))
    data = FormData(form)
    params = parse_situation_form(situation, data, data.getlist)
    assert type(current).model_validate(params) == current


def test_situation_form_parses_types_and_reports_bad_numbers() -> None:
    data = FormData(
        [("enabled", "on"), ("zones", "lawn"), ("lines", "post"), ("classes", "person"),
         ("min_duration_s", "2.5"), ("grace_s", "")]
    )  # fmt: skip
    params = parse_situation_form("zone_intrusion", data, data.getlist)
    assert params["enabled"] is True
    assert params["zones"] == ["lawn"] and params["lines"] == ["post"]
    assert params["classes"] == ["person"]
    assert params["min_duration_s"] == 2.5
    assert "grace_s" not in params  # left empty: the default applies
    data = FormData([("min_duration_s", "soon")])
    with pytest.raises(FormError) as info:
        parse_situation_form("zone_intrusion", data, data.getlist)
    assert info.value.key == "situations.zone_intrusion.min_duration_s"
    data = FormData([("max_people", "{bad json")])
    with pytest.raises(FormError):
        parse_situation_form("excessive_density", data, data.getlist)
    data = FormData([("max_people", '{"lawn": 12}')])
    assert parse_situation_form("excessive_density", data, data.getlist)["max_people"] == {
        "lawn": 12
    }


def test_charts_are_svg_with_one_bar_segment_per_verdict() -> None:
    rows = [("Zone intrusion", {"confirmed": 2, "false_alarm": 1, "pending": 3}),
            ("Wrong way", {"not_actionable": 1})]  # fmt: skip
    svg = str(charts.stacked_bars(rows, title="per situation"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 4
    assert "Zone intrusion: 1 false alarm" in svg
    assert ">6</text>" in svg  # the total after the bar
    days = str(charts.day_columns([("2026-01-02", {"confirmed": 1})], title="per day"))
    assert "01-02" in days and days.count("<rect") == 1
    assert "No signal" in str(charts.stacked_bars([], title="x"))
    # Labels are escaped.
    assert "&lt;b&gt;" in str(charts.stacked_bars([("<b>", {"pending": 1})], title="t"))
