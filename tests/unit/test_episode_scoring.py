"""Scoring per event beside per episode (`veilleur.evaluation.episodes`)."""

from __future__ import annotations

import pytest

from veilleur.evaluation.episodes import assign, event_rows, score_clip, summarise_events
from veilleur.evaluation.truth import ExpectedSignal
from veilleur.types import FurtherEvent, Signal

BOX = (0.1, 0.1, 0.2, 0.2)
ELSEWHERE = (0.7, 0.7, 0.8, 0.8)


def sig(start: float, end: float, episode: str = "e1", bbox: tuple = BOX) -> Signal:
    return Signal("wrong_way", "cam", "path", start, end, int(end * 5), bbox, 0.9, "m", "v",
                  episode=episode)  # fmt: skip


def further(start: float, end: float, episode: str = "e1", bbox: tuple = BOX) -> FurtherEvent:
    return FurtherEvent("wrong_way", "cam", "path", episode, start, end, int(end * 5), bbox, 0.8)


def exp(start: float, end: float, bbox: tuple | None = None, **kw: object) -> ExpectedSignal:
    return ExpectedSignal(
        situation="wrong_way", zone="path", start_s=start, end_s=end,
        bbox=list(bbox) if bbox else None, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_attached_events_count_per_event_not_per_episode() -> None:
    truth = [exp(0, 5), exp(6, 11), exp(12, 17)]
    figs = score_clip("c", [sig(1, 2)], [further(7, 8), further(13, 14)], truth)
    f = figs["wrong_way"]
    assert (f.expected, f.signals, f.further) == (3, 1, 2)
    assert f.found_by_signals == 1 and f.episode_recall == pytest.approx(1 / 3)
    assert f.found == 3 and f.event_recall == 1.0
    assert f.event_precision == 1.0 and f.events_per_episode == 3.0 and f.missed == []


def test_each_report_stands_for_one_distinct_truth_event() -> None:
    # Two people in the same seconds, told apart by their boxes; two reports of the first
    # person's box find one of them, the other is a repeat, and the second person is missed.
    truth = [exp(0, 10, BOX), exp(0, 10, ELSEWHERE)]
    f = score_clip("c", [sig(1, 3)], [further(2, 4)], truth)["wrong_way"]
    assert f.found == 1 and f.repeats == 1 and f.missed == [("c", 0.0, 10.0)]
    f = score_clip("c", [sig(1, 3)], [further(2, 4, bbox=ELSEWHERE)], truth)["wrong_way"]
    assert f.found == 2 and f.repeats == 0
    # The assignment is optimal, not first come: the signal matches both truth events, the
    # attached event only the first; both are found.
    wide = (0.0, 0.0, 1.0, 1.0)
    pairs, matched = assign([sig(1, 3, bbox=wide), further(2, 4)], truth)  # type: ignore[list-item]
    assert matched == [True, True] and pairs == {0: 1, 1: 0}


def test_false_reports_and_borderline_events() -> None:
    truth = [exp(0, 5), exp(20, 25, optional=True)]
    f = score_clip("c", [sig(1, 2)], [further(40, 41), further(21, 22)], truth)["wrong_way"]
    assert f.expected == 1 and f.found == 1
    assert f.false_signals == 0 and f.false_further == 1  # 40 s reports nothing
    assert f.event_precision == pytest.approx(2 / 3)


def test_summary_over_clips_and_rows() -> None:
    figs = summarise_events(
        [("a", [sig(1, 2)], [further(7, 8)], [exp(0, 5), exp(6, 11)]), ("b", [], [], [exp(0, 5)])]
    )
    f = figs["wrong_way"]
    assert (f.expected, f.found, f.found_by_signals) == (3, 2, 1)
    assert f.missed == [("b", 0.0, 5.0)]
    assert event_rows(figs) == [["wrong_way", "3", "1 (0.33)", "2 (0.67)", "1", "1", "1.00",
                                 "0+0", "0"]]  # fmt: skip
