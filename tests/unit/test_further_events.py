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
import test_abandoned_object as abandoned_tests
import test_crowd_movement as crowd_tests
import test_excessive_density as density_tests
import test_fire_start as fire_tests
import test_person_on_ground as ground_tests
import test_situations as geo
import test_weapon as weapon_tests
from test_situations import Box, person_at

from veilleur.config import parse_config
from veilleur.evaluation.scenarios.fire import Flame
from veilleur.pipeline import CameraPipeline
from veilleur.types import Detections, Frame, FurtherEvent, Signal


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


# --- crowd movement: a new sudden change after the previous one ended ---------------------


def test_a_second_rush_during_the_cooldown_is_attached(further: list[FurtherEvent]) -> None:
    n = 14
    start = crowd_tests._grid(n, 1)
    start[:, 0] = np.clip(start[:, 0], 140, crowd_tests.W - 140)
    speed = np.linspace(0.8, 1.2, n)[:, None] * np.array([2.0 * crowd_tests.BODY, 0.0])
    onset, second, run_s = crowd_tests.ONSET, crowd_tests.ONSET + 9.0, 2.0

    def path(t: float) -> np.ndarray:
        # Standing; a rush to the right for 2 s; standing again; a rush back to the left.
        first_leg = speed * float(np.clip(t - onset, 0.0, run_s))
        second_leg = speed * float(np.clip(t - second, 0.0, run_s))
        return start + first_leg - second_leg

    crowd = crowd_tests.Crowd(path, n)
    sigs, _ = crowd_tests.run(crowd, second + 3.0, cooldown_s=60)
    assert len(sigs) == 1 and onset - 0.5 <= sigs[0].start_s <= onset + 1.0
    assert len(further) == 1 and further[0].episode == sigs[0].episode
    assert second - 0.5 <= further[0].start_s <= second + 1.0
    further.clear()
    assert len(crowd_tests.run(crowd, second + 3.0, cooldown_s=0)[0]) == 2 and further == []


# --- weapon: another person holding one ------------------------------------------------------


def test_a_second_person_with_a_knife_during_the_cooldown_is_attached(
    further: list[FurtherEvent],
) -> None:
    shift = 140.0  # the second person stands to the right of the first

    def moved(box: tuple[float, ...], dx: float) -> tuple[float, ...]:
        return (box[0] + dx, box[1], box[2] + dx, box[3])

    wrists = [(weapon_tests.LEFT_WRIST, weapon_tests.RIGHT_WRIST)]
    wrists.append(tuple((x + shift, y) for x, y in wrists[0]))  # type: ignore[arg-type]
    knife = weapon_tests.knife_at(weapon_tests.RIGHT_WRIST[0] + 6, weapon_tests.RIGHT_WRIST[1] + 2)
    persons = [weapon_tests.PERSON_BOX, moved(weapon_tests.PERSON_BOX, shift)]

    def scene(t: float) -> Detections:
        items = [(p, 0, 0.9) for p in persons]
        if t >= 1.0:
            items.append((knife, weapon_tests.KNIFE, 0.8))
        if t >= 5.0:
            items.append((moved(knife, shift), weapon_tests.KNIFE, 0.8))
        return Detections(
            xyxy=[b for b, _, _ in items],
            confidence=[s for _, _, s in items],
            class_id=[c for _, c, _ in items],
        )

    def poses(t: float) -> Detections:
        return Detections(
            xyxy=persons, confidence=[0.8, 0.8], class_id=[0, 0],
            keypoints=np.stack([weapon_tests.keypoints(w, 0.8) for w in wrists]),  # type: ignore[arg-type]
        )  # fmt: skip

    def analyse(cooldown_s: float) -> list[Signal]:
        site = parse_config({
            "perception": {"motion_gating": False},
            "cameras": {"cam": {"source": "synthetic", "situations": {
                "weapon": {"enabled": True, "cooldown_s": cooldown_s}}}},
        })  # fmt: skip
        det, pose = weapon_tests.Scripted(scene), weapon_tests.Scripted(poses)
        pipe = CameraPipeline("cam", site, detector=det, pose=pose)
        black = np.zeros((weapon_tests.H, weapon_tests.W, 3), np.uint8)
        out: list[Signal] = []
        for i in range(50):
            det.t = pose.t = i / 5.0
            out += pipe.process(Frame(black, i / 5.0, i))
        return out

    sigs = analyse(30)
    assert len(sigs) == 1 and sigs[0].bbox[0] < 0.5  # the first person, on the left
    assert len(further) == 1 and further[0].episode == sigs[0].episode
    assert further[0].start_s == pytest.approx(5.0, abs=0.5) and further[0].bbox[2] > 0.75
    further.clear()
    assert len(analyse(0)) == 2 and further == []


# --- abandoned object: another object left at a place already signalled ----------------------


def test_another_bag_left_at_a_signalled_place_is_attached(further: list[FurtherEvent]) -> None:
    bag = abandoned_tests.BAG
    # The second bag, another one, stands mostly where the first stood.
    beside = (bag[0] + 6, bag[1] - 2, bag[2] + 6, bag[3] - 2)
    first = abandoned_tests.Thing(abandoned_tests.during(bag, 6.0, 18.0), 30)
    second = abandoned_tests.Thing(abandoned_tests.during(beside, 22.0), 90)
    people = [abandoned_tests.dropper(6.0), abandoned_tests.dropper(22.0)]

    def world() -> abandoned_tests.World:
        return abandoned_tests.World([*people, first, second])

    sigs, _ = abandoned_tests.run(world(), 36.0)
    # Unattended from when their dropper walked out of reach.
    assert len(sigs) == 1
    assert sigs[0].start_s == pytest.approx(abandoned_tests.out_of_reach(6.0), abs=1.0)
    assert len(further) == 1 and further[0].episode == sigs[0].episode
    assert further[0].start_s == pytest.approx(abandoned_tests.out_of_reach(22.0), abs=1.0)
    further.clear()
    # A place forgotten (nothing seen there for its cool-down): the second bag is a new signal.
    sigs, _ = abandoned_tests.run(world(), 36.0, cooldown_s=2.0)
    assert len(sigs) == 2 and further == []
