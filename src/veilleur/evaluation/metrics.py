"""Signals against expected situations: matching and per-situation figures."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from veilleur.evaluation.truth import ExpectedSignal
from veilleur.types import FurtherEvent, Signal

#: A signal may start this long before the truth interval (the situation's own start is
#: estimated from a few frames) and end this long after it (it is raised after a minimum
#: duration); seconds.
TOLERANCE_S = 2.0


def _overlap(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def matches(sig: Signal, exp: ExpectedSignal, tolerance: float = TOLERANCE_S) -> bool:
    """Whether a signal reports this expected situation."""
    if sig.situation != exp.situation:
        return False
    if exp.zone is not None and sig.zone != exp.zone:
        return False
    if not exp.start_s - tolerance <= sig.start_s <= exp.end_s:
        return False
    if sig.end_s > exp.end_s + tolerance or sig.end_s < exp.start_s:
        return False
    return exp.bbox is None or _overlap(sig.bbox, exp.bbox)


@dataclass
class ClipOutcome:
    """How one clip's signals compare with its truth."""

    clip: str
    duration_s: float
    synthetic: bool
    enabled: list[str]
    """Situations enabled on the clip's camera."""
    signals: list[Signal]
    expected: list[ExpectedSignal]
    matched: dict[int, list[int]] = field(default_factory=dict)
    """Expected index → indices of the signals that report it."""
    false_alarms: list[int] = field(default_factory=list)
    """Indices of signals that report nothing expected."""
    error: str | None = None
    """Why the clip could not be analysed, when it could not."""
    further: list[FurtherEvent] = field(default_factory=list)
    """Events attached to the signals' episodes during their cool-down (scored per event by
    `evaluation.episodes`)."""

    def match(self, tolerance: float = TOLERANCE_S) -> ClipOutcome:
        self.matched = {i: [] for i in range(len(self.expected))}
        self.false_alarms = []
        for j, sig in enumerate(self.signals):
            # A signal counts for the earliest expected situation it reports that is still
            # unreported, else for one already reported (a repeat, not a false alarm).
            candidates = [i for i, e in enumerate(self.expected) if matches(sig, e, tolerance)]
            if not candidates:
                self.false_alarms.append(j)
                continue
            # Required situations first, then borderline ones.
            candidates.sort(key=lambda i: self.expected[i].optional)
            fresh = [i for i in candidates if not self.matched[i]]
            self.matched[(fresh or candidates)[0]].append(j)
        return self


@dataclass
class SituationFigures:
    situation: str
    expected: int = 0
    found: int = 0
    signals: int = 0
    true_signals: int = 0
    repeats: int = 0
    false_alarms: int = 0
    delays_s: list[float] = field(default_factory=list)
    negative_hours: float = 0.0
    negative_false_alarms: int = 0
    clips: int = 0
    synthetic_clips: int = 0

    @property
    def precision(self) -> float | None:
        return self.true_signals / self.signals if self.signals else None

    @property
    def recall(self) -> float | None:
        return self.found / self.expected if self.expected else None

    @property
    def mean_delay_s(self) -> float | None:
        return sum(self.delays_s) / len(self.delays_s) if self.delays_s else None

    @property
    def false_alarms_per_hour(self) -> float | None:
        if self.negative_hours <= 0:
            return None
        return self.negative_false_alarms / self.negative_hours


def summarise(outcomes: list[ClipOutcome]) -> dict[str, SituationFigures]:
    """Per-situation figures over all clips.

    - recall: expected situations (not the optional, borderline ones) reported by a signal;
    - precision: signals that report an expected situation, optional ones and repeats included;
    - delay: from the start of the truth interval to the end (raising) of the first signal;
    - false alarms per hour: signals on clips where this situation is enabled and nothing of
      it is expected, per hour of such negative footage.
    """
    figs: dict[str, SituationFigures] = defaultdict(lambda: SituationFigures(""))
    for o in outcomes:
        if o.error is not None:
            continue
        situations = set(o.enabled) | {e.situation for e in o.expected}
        situations |= {s.situation for s in o.signals}
        for sit in situations:
            f = figs[sit]
            f.situation = sit
            f.clips += 1
            f.synthetic_clips += o.synthetic
            exp_idx = [i for i, e in enumerate(o.expected) if e.situation == sit and not e.optional]
            any_expected = any(e.situation == sit for e in o.expected)
            sig_idx = [j for j, s in enumerate(o.signals) if s.situation == sit]
            f.expected += len(exp_idx)
            f.signals += len(sig_idx)
            false = [j for j in o.false_alarms if o.signals[j].situation == sit]
            f.false_alarms += len(false)
            f.true_signals += len(sig_idx) - len(false)
            for i in exp_idx:
                hits = o.matched.get(i, [])
                if hits:
                    f.found += 1
                    f.repeats += len(hits) - 1
                    first = min(o.signals[j].end_s for j in hits)
                    f.delays_s.append(max(0.0, first - o.expected[i].start_s))
            if not any_expected and sit in o.enabled:
                f.negative_hours += o.duration_s / 3600.0
                f.negative_false_alarms += len(false)
    return dict(sorted(figs.items()))
