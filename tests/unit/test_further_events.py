"""Nothing is lost by grouping: what happens during a signal's cool-down is attached to its
episode as a further event, never dropped (`situations.base`).

Each test runs a situation on scripted input where several events happen within one cool-down
and checks that every event is either a signal or a further event of one, through the real
pipeline (`CameraPipeline.further`); with `cooldown_s: 0` the same events are all signals.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import test_excessive_density as density_tests
import test_fire_start as fire_tests
import test_person_on_ground as ground_tests
import test_situations as geo
from test_situations import Box, person_at

from veilleur.evaluation.scenarios.fire import Flame
from veilleur.pipeline import CameraPipeline
from veilleur.types import Frame, FurtherEvent, Signal


@pytest.fixture
def further(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FurtherEvent]]:
    """Every further event the pipelines of the test produce, in order."""
    seen: list[FurtherEvent] = []
    process = CameraPipeline.process

    def recording(self: CameraPipeline, frame: Frame) -> list[Signal]:
        out = process(self, frame)
        seen.extend(self.further)
        return out

    monkeypatch.setattr(CameraPipeline, "process", recording)
    yield seen


def attached_to(sig: Signal, further: list[FurtherEvent]) -> list[FurtherEvent]:
    return [f for f in further if f.episode == sig.episode]


# --- wrong way: each person against the flow is one event ------------------------------


def three_against(t: float) -> list[tuple[Box, int]]:
    """Three people walking against the direction, starting 0, 3 and 6 s, on three rows."""
    rows = ((0, 80), (3, 170), (6, 260))
    return [(person_at(350 - 40 * (t - t0), y), 0) for t0, y in rows if t >= t0]


def test_wrong_way_people_during_the_cooldown_are_attached(further: list[FurtherEvent]) -> None:
    sigs = geo.run(geo.wrong_way(cooldown_s=30), three_against, 12)
    assert len(sigs) == 1
    sig = sigs[0]
    assert sig.episode.startswith("wrong_way:")
    assert len(further) == 2
    assert attached_to(sig, further) == further
    # Their own times: each person's movement, in order, after the signal's.
    starts = [f.start_s for f in further]
    assert sig.start_s < starts[0] < starts[1]
    assert starts[0] == pytest.approx(3.0, abs=0.6) and starts[1] == pytest.approx(6.0, abs=0.6)
    assert all(f.situation == "wrong_way" and f.zone == "corridor" for f in further)
    assert all(f.end_s >= f.start_s and 0 <= f.bbox[0] <= f.bbox[2] <= 1 for f in further)
    # Each box is the person's row: not the first person's.
    assert further[0].bbox[3] == pytest.approx(170 / geo.H, abs=0.02)


def test_wrong_way_without_cooldown_each_person_is_a_signal(further: list[FurtherEvent]) -> None:
    sigs = geo.run(geo.wrong_way(cooldown_s=0), three_against, 12)
    assert len(sigs) == 3 and further == []
    assert len({s.episode for s in sigs}) == 3


def test_after_the_cooldown_the_next_event_is_a_new_signal(further: list[FurtherEvent]) -> None:
    sigs = geo.run(geo.wrong_way(cooldown_s=4), three_against, 12)
    # 0 s signalled; 3 s within 4 s of it: attached; 6 s: past the cool-down, a new signal.
    assert len(sigs) == 2 and len(further) == 1
    assert further[0].episode == sigs[0].episode


# --- zone intrusion: entries, new episodes and line crossings ----------------------------


def test_people_walking_into_a_signalled_zone_are_attached(further: list[FurtherEvent]) -> None:
    def script(t: float) -> list[tuple[Box, int]]:
        items = [(person_at(300, 150), 0)] if 1 <= t < 12 else []
        if t >= 4:  # walks in from the left half, in at about 5 s
            items.append((person_at(min(160 + 40 * (t - 4), 320), 250), 0))
        if 7 <= t < 12:  # first seen inside the zone: not told from a track changing id
            items.append((person_at(360, 120), 0))
        if t >= 8:  # comes into the picture at its border, inside the zone: an entry
            items.append((person_at(390, 290), 0))
        return items

    sigs = geo.run(geo.intrusion(min_duration_s=0.5, cooldown_s=30), script, 12)
    assert [round(s.start_s) for s in sigs] == [1]
    assert len(further) == 2
    entry, at_border = further
    assert entry.episode == sigs[0].episode and entry.zone == "right"
    assert entry.start_s == pytest.approx(5.0, abs=0.5)
    assert entry.end_s == pytest.approx(entry.start_s + 0.5, abs=0.3)
    assert at_border.episode == sigs[0].episode
    assert at_border.start_s == pytest.approx(8.0, abs=0.5) and at_border.bbox[3] > 0.95


def test_a_new_episode_during_the_cooldown_is_attached_then_signalled_if_it_lasts(
    further: list[FurtherEvent],
) -> None:
    def script(t: float) -> list[tuple[Box, int]]:
        items = []
        if 1 <= t < 3:
            items.append((person_at(300, 150), 0))
        if 6 <= t < 8 or t >= 13:
            items.append((person_at(300, 150), 0))
        return items

    # Episodes: 1-3 s (signal), 6-8 s (within the 10 s cool-down: attached), 13 s on (past
    # it: a signal). Before, the 6-8 s episode left no trace.
    sigs = geo.run(geo.intrusion(min_duration_s=0.5, cooldown_s=10), script, 16)
    assert [round(s.start_s) for s in sigs] == [1, 13]
    assert [round(f.start_s) for f in further] == [6]
    assert further[0].episode == sigs[0].episode

    further.clear()

    def lasting(t: float) -> list[tuple[Box, int]]:
        return [(person_at(300, 150), 0)] if 1 <= t < 3 or t >= 6 else []

    # The 6 s episode lasts past the cool-down: attached at once, then signalled when the
    # cool-down ends, as before.
    sigs = geo.run(geo.intrusion(min_duration_s=0.5, cooldown_s=10), lasting, 16)
    assert [round(s.start_s) for s in sigs] == [1, 6]
    assert sigs[1].end_s == pytest.approx(sigs[0].end_s + 10, abs=0.3)
    assert [round(f.start_s) for f in further] == [6]


def test_line_crossings_during_the_cooldown_are_attached(further: list[FurtherEvent]) -> None:
    cam = {
        "lines": {"gate": {"points": [[0.5, 0.0], [0.5, 1.0]], "forbidden_side": "left"}},
        "situations": {"zone_intrusion": {"enabled": True, "lines": ["gate"]}},
    }

    def two(t: float) -> list[tuple[Box, int]]:
        items = [(person_at(100 + 40 * t, 100), 0)]
        if t >= 4:
            items.append((person_at(100 + 40 * (t - 4), 250), 0))
        return items

    sigs = geo.run(cam, two, 10)
    assert len(sigs) == 1 and sigs[0].zone == "gate"
    assert [round(f.start_s, 1) for f in further] == [pytest.approx(6.6, abs=0.21)]
    assert further[0].episode == sigs[0].episode and further[0].zone == "gate"


# --- person on the ground ----------------------------------------------------------------


def test_a_second_person_down_during_the_cooldown_is_attached(
    further: list[FurtherEvent],
) -> None:
    left = ground_tests.fall(
        lambda t: ground_tests.standing(120, 400), ground_tests.lying_across(60, 420), at=2.0
    )
    right = ground_tests.fall(
        lambda t: ground_tests.standing(480, 400), ground_tests.lying_across(420, 420), at=5.0
    )

    def two(t: float) -> list[ground_tests.Body]:
        return left(t) + right(t)

    sigs = ground_tests.run(two, 12)
    assert len(sigs) == 1 and len(further) == 1
    f = further[0]
    assert f.episode == sigs[0].episode and f.situation == "person_on_ground"
    assert 4.5 <= f.start_s <= 5.3 and f.bbox[0] > 0.5  # the second fall, on the right
    further.clear()
    assert len(ground_tests.run(two, 12, cooldown_s=0)) == 2 and further == []


# --- fire: a continuous state; an event is a new onset after the fire was out ------------


def test_a_fire_starting_again_during_the_cooldown_is_attached(
    further: list[FurtherEvent],
) -> None:
    a = Flame(x=160.0, base_y=150.0, start_s=1.0, width=10.0, smoke=False, seed=3)
    b = Flame(x=160.0, base_y=150.0, start_s=11.0, width=10.0, smoke=False, seed=4)

    def draw(img: np.ndarray, t: float) -> None:
        if t < 5.0:
            a.draw(img, t)
        b.draw(img, t)

    images = fire_tests.frames(draw, 15)
    sigs = fire_tests.run(images, cooldown_s=60, grace_s=3)
    assert [round(s.start_s) for s in sigs] == [1]
    # The second fire, out of the first one's grace, once (not on every frame it burns).
    assert [round(f.start_s) for f in further] == [11]
    assert further[0].episode == sigs[0].episode


# --- excessive density: a new period above the limit ----------------------------------------


def test_a_new_crowding_during_the_cooldown_is_attached(further: list[FurtherEvent]) -> None:
    crowd = density_tests.arrivals(0.0, 0.05, 14)

    def twice(t: float) -> list[Box]:
        # Above the limit of 8 from 1 to 6 s and from 14 to 20 s; 4 people in between.
        return crowd(t) if 1 <= t < 6 or 14 <= t < 20 else crowd(t)[:4]

    cfg = density_tests.density(max_people=8, min_duration_s=2.0, grace_s=2.0, cooldown_s=60)
    sigs, _ = density_tests.run(cfg, twice, 22.0)
    assert len(sigs) == 1 and len(further) == 1
    assert further[0].episode == sigs[0].episode
    assert 14.0 <= further[0].start_s <= 16.0
    further.clear()
    cfg = density_tests.density(max_people=8, min_duration_s=2.0, grace_s=2.0, cooldown_s=0)
    assert len(density_tests.run(cfg, twice, 22.0)[0]) == 2 and further == []


def test_further_events_say_nothing_about_who(further: list[FurtherEvent]) -> None:
    geo.run(geo.wrong_way(cooldown_s=30), three_against, 12)
    assert further
    assert set(further[0].to_dict()) == {
        "type", "situation", "camera", "zone", "episode", "start_s", "end_s", "frame", "bbox",
        "confidence",
    }  # fmt: skip
