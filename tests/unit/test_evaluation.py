"""Matching signals to truth, the per-situation figures, the truth file and the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from veilleur.evaluation.metrics import ClipOutcome, matches, summarise
from veilleur.evaluation.report import write_report
from veilleur.evaluation.truth import (
    Clip,
    ExpectedSignal,
    TruthError,
    TruthFile,
    dump_truth,
    expand,
    load_truth,
)
from veilleur.types import Signal


def sig(
    situation: str,
    start: float,
    end: float,
    zone: str | None = "z",
    bbox: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2),
) -> Signal:
    return Signal(situation, "cam", zone, start, end, int(end * 5), bbox, 0.9, "m", "v")


def exp(situation: str, start: float, end: float, zone: str | None = "z", **kw) -> ExpectedSignal:
    return ExpectedSignal(situation=situation, zone=zone, start_s=start, end_s=end, **kw)


def test_matching_rules() -> None:
    e = exp("zone_intrusion", 10, 20)
    assert matches(sig("zone_intrusion", 10.5, 11.5), e)
    assert matches(sig("zone_intrusion", 8.5, 11.5), e)  # started a little early
    assert not matches(sig("zone_intrusion", 7.0, 11.5), e)  # far too early
    assert not matches(sig("zone_intrusion", 19.0, 23.0), e)  # raised far too late
    assert not matches(sig("wrong_way", 10.5, 11.5), e)
    assert not matches(sig("zone_intrusion", 10.5, 11.5, zone="other"), e)
    assert matches(
        sig("zone_intrusion", 10.5, 11.5, zone="other"), exp("zone_intrusion", 10, 20, zone=None)
    )
    boxed = exp("zone_intrusion", 10, 20, bbox=[0.5, 0.5, 0.9, 0.9])
    assert not matches(sig("zone_intrusion", 10.5, 11.5), boxed)
    assert matches(sig("zone_intrusion", 10.5, 11.5, bbox=(0.4, 0.4, 0.6, 0.6)), boxed)


def outcome(
    name: str,
    signals: list[Signal],
    expected: list[ExpectedSignal],
    enabled: list[str],
    duration: float = 60.0,
    synthetic: bool = False,
) -> ClipOutcome:
    return ClipOutcome(name, duration, synthetic, enabled, signals, expected).match()


def test_figures_per_situation() -> None:
    outcomes = [
        # Two expected, one found twice (a repeat), one missed, one false alarm.
        outcome(
            "a",
            [
                sig("zone_intrusion", 1, 2),
                sig("zone_intrusion", 1.5, 3),
                sig("zone_intrusion", 40, 41),
            ],
            [exp("zone_intrusion", 1, 10), exp("zone_intrusion", 20, 30)],
            ["zone_intrusion"],
        ),
        # A negative clip of 30 minutes with one false alarm.
        outcome("b", [sig("zone_intrusion", 5, 6)], [], ["zone_intrusion"], duration=1800),
        # A borderline case signalled: neither a miss nor a false alarm.
        outcome(
            "c",
            [sig("zone_intrusion", 5, 6)],
            [exp("zone_intrusion", 5, 8, optional=True)],
            ["zone_intrusion"],
        ),
    ]
    f = summarise(outcomes)["zone_intrusion"]
    assert (f.expected, f.found, f.signals, f.repeats) == (2, 1, 5, 1)
    assert f.false_alarms == 2
    assert f.recall == pytest.approx(0.5)
    assert f.precision == pytest.approx(3 / 5)
    assert f.mean_delay_s == pytest.approx(1.0)  # first signal raised at 2 s, truth from 1 s
    assert f.negative_hours == pytest.approx(0.5)
    assert f.false_alarms_per_hour == pytest.approx(2.0)


def test_failed_clip_is_reported_not_counted(tmp_path: Path) -> None:
    bad = ClipOutcome(
        "broken", 0, False, [], [], [exp("fire_start", 0, 5, zone=None)], error="cannot open"
    ).match()
    good = outcome(
        "ok",
        [sig("fire_start", 1, 3, zone=None)],
        [exp("fire_start", 0, 5, zone=None)],
        ["fire_start"],
        synthetic=True,
    )
    figs = summarise([bad, good])
    assert figs["fire_start"].expected == 1 and figs["fire_start"].found == 1
    report = write_report([bad, good], figs, tmp_path / "r", command="veilleur evaluate")
    text = report.read_text()
    assert "ERROR: cannot open" in text and "1 of the 2 clips are synthetic" in text
    assert (tmp_path / "r" / "report.html").read_text().count("<table>") == 2
    assert (tmp_path / "r" / "timeline.png").stat().st_size > 1000
    assert (tmp_path / "r" / "precision_recall.png").stat().st_size > 1000


def test_truth_file_round_trip_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = TruthFile(
        clips=[Clip(name="c", video="v.mp4", config="c.yaml", expected=[exp("weapon", 1, 2)])]
    )
    path = tmp_path / "t.yaml"
    dump_truth(truth, path)
    loaded, base = load_truth(path)
    assert loaded == truth and base == tmp_path
    monkeypatch.setenv("VEILLEUR_SHARED", "/data/shared")
    assert expand("${VEILLEUR_SHARED}/x.mp4", base) == Path("/data/shared/x.mp4")
    assert expand("rel/x.mp4", base) == tmp_path / "rel" / "x.mp4"
    with pytest.raises(TruthError, match="NOPE is not set"):
        expand("${NOPE}/x", base)
    path.write_text(
        "clips:\n- {name: a, video: v, config: c,\n"
        "   expected: [{situation: faces, start_s: 0, end_s: 1}]}\n"
    )
    with pytest.raises(TruthError, match="unknown situation 'faces'"):
        load_truth(path)
    path.write_text("clips:\n- {name: a, video: v, config: c}\n- {name: a, video: v, config: c}\n")
    with pytest.raises(TruthError, match="two clips are named 'a'"):
        load_truth(path)
    with pytest.raises(TruthError, match="file not found"):
        load_truth(tmp_path / "missing.yaml")


def test_clips_are_analysed_in_spawned_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forked workers of a process whose other threads hold locks (the browser tests' console
    # server lives for the whole test session) once waited for ever on a copied lock and hung
    # CI: the runner spawns them.
    from veilleur.evaluation import runner

    contexts: list[object] = []
    real = runner.ProcessPoolExecutor

    def capture(*args: object, **kwargs: object) -> object:
        contexts.append(kwargs.get("mp_context"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "ProcessPoolExecutor", capture)
    truth = TruthFile(clips=[
        Clip(name=name, video=f"{name}.mp4", config="none.yaml", expected=[exp("weapon", 1, 2)])
        for name in ("a", "b")
    ])  # fmt: skip
    outcomes = runner.run([(truth, tmp_path)], jobs=2)
    assert [o.clip for o in outcomes] == ["a", "b"]
    assert all(o.error for o in outcomes)  # no such files: reported, not dropped
    assert [getattr(c, "get_start_method", lambda: None)() for c in contexts] == ["spawn"]
