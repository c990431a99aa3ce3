"""Scoring per event beside scoring per episode.

A signal stands for an episode: during its cool-down, further occurrences of the same situation
in the same zone are attached to it (`FurtherEvent`) instead of raising new signals. Two ways
to score that, both reported:

- **per episode** (what `metrics.summarise` reports): only signals count. A truth event is found
  when a signal reports it; with a cool-down, events that follow a signal closely are not
  found this way, although the operator was shown them on the signal's card.
- **per event**: every signal and every attached event is a report, and each report can stand
  for one distinct truth event (an optimal one-to-one assignment, required events first). A
  truth event is found when some report stands for it; a report that matches no truth event
  is a false report (a false alarm when it is a signal); one that matches only events already
  found by others is a repeat.

An attached event is matched like a signal (same situation and zone, its own start and end
times and its own box, `metrics.matches`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from veilleur.evaluation.metrics import TOLERANCE_S, matches
from veilleur.evaluation.truth import ExpectedSignal
from veilleur.types import FurtherEvent, Signal


def as_signal(event: FurtherEvent) -> Signal:
    """An attached event scored as the signal it would have been without the cool-down."""
    return Signal(
        situation=event.situation,
        camera=event.camera,
        zone=event.zone,
        start_s=event.start_s,
        end_s=event.end_s,
        frame=event.frame,
        bbox=event.bbox,
        confidence=event.confidence,
        model="",
        config_version="",
        episode=event.episode,
    )


@dataclass
class EventFigures:
    """One situation's figures, per event and per episode."""

    situation: str
    expected: int = 0
    """Required truth events (borderline ones are neither required nor false)."""
    signals: int = 0
    further: int = 0
    """Further events attached to the signals' episodes."""
    found_by_signals: int = 0
    """Required truth events that a signal stands for (each signal for at most one)."""
    found: int = 0
    """Required truth events that a signal or an attached event stands for."""
    false_signals: int = 0
    false_further: int = 0
    repeats: int = 0
    """Reports matching only truth events that other reports already stand for."""
    missed: list[tuple[str, float, float]] = field(default_factory=list)
    """(clip, start_s, end_s) of the required truth events no report stands for."""

    @property
    def reports(self) -> int:
        return self.signals + self.further

    @property
    def event_recall(self) -> float | None:
        return self.found / self.expected if self.expected else None

    @property
    def episode_recall(self) -> float | None:
        return self.found_by_signals / self.expected if self.expected else None

    @property
    def event_precision(self) -> float | None:
        if not self.reports:
            return None
        return 1.0 - (self.false_signals + self.false_further) / self.reports

    @property
    def signal_precision(self) -> float | None:
        return 1.0 - self.false_signals / self.signals if self.signals else None

    @property
    def events_per_episode(self) -> float | None:
        return self.reports / self.signals if self.signals else None


def assign(
    reports: Sequence[Signal], expected: Sequence[ExpectedSignal], tolerance: float = TOLERANCE_S
) -> tuple[dict[int, int], list[bool]]:
    """The one-to-one assignment of reports to truth events that stands for the most required
    events (then the most borderline ones): report index → expected index, and for each report
    whether it matches any truth event at all."""
    if not reports or not expected:
        return {}, [False] * len(reports)
    ok = np.array([[matches(r, e, tolerance) for e in expected] for r in reports], dtype=bool)
    # A required event is worth more than any number of borderline ones.
    worth = np.array([1.0 if e.optional else float(len(expected) + 1) for e in expected])
    rows, cols = linear_sum_assignment(-(ok * worth[None, :]))
    pairs = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if ok[r, c]}
    return pairs, [bool(v) for v in np.asarray(ok.any(axis=1)).tolist()]


def score_clip(
    clip: str,
    signals: Sequence[Signal],
    further: Sequence[FurtherEvent],
    expected: Sequence[ExpectedSignal],
    figures: dict[str, EventFigures] | None = None,
    tolerance: float = TOLERANCE_S,
) -> dict[str, EventFigures]:
    """Add one clip's signals and attached events to `figures` (per situation); returns it."""
    figs: dict[str, EventFigures] = figures if figures is not None else {}
    situations = {e.situation for e in expected} | {s.situation for s in signals}
    situations |= {f.situation for f in further}
    for sit in sorted(situations):
        f = figs.setdefault(sit, EventFigures(sit))
        exp = [e for e in expected if e.situation == sit]
        sigs = [s for s in signals if s.situation == sit]
        extra = [as_signal(x) for x in further if x.situation == sit]
        required = [i for i, e in enumerate(exp) if not e.optional]
        f.expected += len(required)
        f.signals += len(sigs)
        f.further += len(extra)
        by_signals, _ = assign(sigs, exp, tolerance)
        f.found_by_signals += len(set(by_signals.values()) & set(required))
        reports = [*sigs, *extra]
        pairs, matched = assign(reports, exp, tolerance)
        stood_for = set(pairs.values())
        f.found += len(stood_for & set(required))
        for j, any_match in enumerate(matched):
            if not any_match:
                if j < len(sigs):
                    f.false_signals += 1
                else:
                    f.false_further += 1
            elif j not in pairs:
                f.repeats += 1
        f.missed += [(clip, exp[i].start_s, exp[i].end_s) for i in required if i not in stood_for]
    return figs


def summarise_events(
    outcomes: Sequence[
        tuple[str, Sequence[Signal], Sequence[FurtherEvent], Sequence[ExpectedSignal]]
    ],
) -> dict[str, EventFigures]:
    """Per-situation figures over clips given as (name, signals, further events, truth)."""
    figs: dict[str, EventFigures] = {}
    for clip, signals, further, expected in outcomes:
        score_clip(clip, signals, further, expected, figs)
    return dict(sorted(figs.items()))


def event_rows(figs: dict[str, EventFigures]) -> list[list[str]]:
    """Table rows: situation, expected, found per episode (signals only) and per event,
    signals, attached events, precision per event, false reports, repeats."""

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f}"

    return [
        [
            f.situation,
            str(f.expected),
            f"{f.found_by_signals} ({fmt(f.episode_recall)})",
            f"{f.found} ({fmt(f.event_recall)})",
            str(f.signals),
            str(f.further),
            fmt(f.event_precision),
            f"{f.false_signals}+{f.false_further}",
            str(f.repeats),
        ]
        for f in figs.values()
    ]


EVENT_HEADER = [
    "situation",
    "expected",
    "found by signals (recall/episode)",
    "found per event (recall)",
    "signals",
    "attached",
    "precision/event",
    "false sig.+att.",
    "repeats",
]
