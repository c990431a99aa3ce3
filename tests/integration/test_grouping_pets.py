"""Nothing is lost by grouping, on real footage: PETS 2009 S2L1 with a walkway direction, where
about 14 people walk the wrong way within 80 s.

The clip is analysed twice, with the default cool-down (30 s) and with none. Without a
cool-down every wrong-way movement is its own signal; with it, most of them fall within the
cool-down of an earlier signal. Every one must still be there, as a signal or as a further
event attached to one, with the same times; scored against the truth derived from the
ground-truth tracks (`veilleur.evaluation.pets`), per event and per episode
(`veilleur.evaluation.episodes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from veilleur.config import parse_config
from veilleur.evaluation import pets
from veilleur.evaluation.episodes import EventFigures, summarise_events
from veilleur.pipeline import CameraPipeline
from veilleur.sources import VideoSource
from veilleur.types import FurtherEvent, Signal

pytestmark = pytest.mark.integration

VIDEO = "vtest_PETS2009_S2L1_View001.avi"


@dataclass
class Run:
    signals: list[Signal]
    further: list[FurtherEvent]
    figures: dict[str, EventFigures]


def analyse(pets_dir: Path, yolox_path: Path, cooldown_s: float | None) -> Run:
    config = pets.site_config(yolox_path)
    if cooldown_s is None:
        config = pets.with_default_cooldown(config)  # the product's defaults (30 s)
    else:
        for situation in config["cameras"]["pets"]["situations"].values():
            situation["cooldown_s"] = cooldown_s
    pipe = CameraPipeline("pets", parse_config(config))
    signals: list[Signal] = []
    further: list[FurtherEvent] = []
    with VideoSource(str(pets_dir / VIDEO), analysis_fps=5) as src:
        for frame in src.frames():
            signals += pipe.process(frame)
            further += pipe.further
    truth = pets.truth_clip(pets_dir, "configs/pets_s2l1.yaml").expected
    return Run(signals, further, summarise_events([("pets_s2l1", signals, further, truth)]))


@pytest.fixture(scope="module")
def grouped(pets_dir: Path, yolox_path: Path) -> Run:
    return analyse(pets_dir, yolox_path, None)


@pytest.fixture(scope="module")
def ungrouped(pets_dir: Path, yolox_path: Path) -> Run:
    return analyse(pets_dir, yolox_path, 0.0)


def times(items: list[Signal] | list[FurtherEvent]) -> list[tuple[float, float]]:
    return sorted((round(x.start_s, 2), round(x.end_s, 2)) for x in items)


def test_every_wrong_way_movement_is_a_signal_or_attached_to_one(
    grouped: Run, ungrouped: Run
) -> None:
    alone = [s for s in ungrouped.signals if s.situation == "wrong_way"]
    sigs = [s for s in grouped.signals if s.situation == "wrong_way"]
    attached = [f for f in grouped.further if f.situation == "wrong_way"]
    print(
        f"\nwrong_way, default cool-down: {len(sigs)} signals + {len(attached)} attached events"
        f"; without cool-down: {len(alone)} signals"
    )
    assert len(sigs) < len(alone)  # the cool-down does group them
    # The same movements, at the same times: none dropped, none invented.
    assert times(sigs + attached) == times(alone)  # type: ignore[operator]
    episodes = {s.episode for s in sigs}
    assert all(f.episode in episodes for f in attached)
    for f in attached:
        opened = next(s for s in sigs if s.episode == f.episode)
        assert opened.end_s <= f.end_s < opened.end_s + 30.0  # within its cool-down


def test_per_event_recall_equals_the_recall_without_cooldown(grouped: Run, ungrouped: Run) -> None:
    g, u = grouped.figures["wrong_way"], ungrouped.figures["wrong_way"]
    print(
        f"\nwrong_way on PETS S2L1, {g.expected} people walking the wrong way"
        f"\n default cool-down: {g.signals} signals, {g.further} attached events; recall per "
        f"episode {g.found_by_signals}/{g.expected}, per event {g.found}/{g.expected}, "
        f"precision per event {g.event_precision:.2f}, missed {g.missed}"
        f"\n no cool-down: {u.signals} signals; recall {u.found}/{u.expected}"
    )
    assert g.expected >= 13
    # Measured 13 of 14 per event (5 of 14 by the 6 signals alone), the same 13 as with no
    # cool-down; the one missed is missed by detection either way.
    assert g.found == u.found
    assert g.found >= g.expected - 1
    assert g.found_by_signals < g.found
    assert g.false_further == 0 and g.false_signals <= 1


def test_zone_entries_are_attached_without_false_reports(grouped: Run) -> None:
    z = grouped.figures["zone_intrusion"]
    print(
        f"\nzone_intrusion, default cool-down: {z.signals} signals, {z.further} attached "
        f"events; episodes found by signals {z.found_by_signals}/{z.expected}, per event "
        f"{z.found}/{z.expected}, false {z.false_signals}+{z.false_further}"
    )
    assert z.found == z.expected
    assert z.false_signals == 0 and z.false_further == 0


ENTRY_TOLERANCE_S = 1.5
"""An entry is reported when a further event starts this close to it (the truth's foot and the
detector's differ near a zone's edge)."""


def test_each_person_walking_into_a_signalled_zone_is_attached(
    grouped: Run, pets_dir: Path
) -> None:
    # Per person entering, from the ground-truth tracks: an entry is covered by a signal (it
    # happened while the signal's episode began: the signal's box covers it) or by a further
    # event starting within the tolerance (one further event per entry).
    tracks = pets.gt_tracks(pets_dir)
    entries = covered = further = matched = 0
    report = []
    for zone in pets.FORBIDDEN:
        truth = pets.entry_truth(tracks, zone)
        sigs = [s for s in grouped.signals if s.situation == "zone_intrusion" and s.zone == zone]
        attached = [
            f for f in grouped.further if f.situation == "zone_intrusion" and f.zone == zone
        ]
        left = [
            e for e in truth if not any(s.start_s - ENTRY_TOLERANCE_S <= e <= s.end_s for s in sigs)
        ]
        ok = np.array(
            [[abs(f.start_s - e) <= ENTRY_TOLERANCE_S for e in left] for f in attached], bool
        ).reshape(len(attached), len(left))
        rows, cols = linear_sum_assignment(-ok.astype(float)) if ok.size else ([], [])
        pairs = sum(bool(ok[r, c]) for r, c in zip(rows, cols, strict=True))
        entries += len(truth)
        covered += len(truth) - len(left) + pairs
        further += len(attached)
        matched += pairs
        report.append(f"{zone}: {len(truth)} entries, {len(attached)} attached, {pairs} matched")
    print(
        f"\nzone entries (truth from the tracks): {'; '.join(report)}"
        f"\n covered {covered}/{entries}, attached events matching an entry {matched}/{further}"
    )
    # Measured 31/36 covered (the misses: people inside groups the detector merges, and a person
    # coming back into the same episode, counted once), 22/25 attached events matching an entry.
    assert covered >= 0.8 * entries
    assert matched >= 0.8 * further
