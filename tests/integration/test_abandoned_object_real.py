"""`abandoned_object` on real footage, and on scenarios composed on it.

Real footage here has no abandoned object, so it measures false alarms: PETS 2009 S2L1 (people
walking and stopping on a plaza, a tripod, cones, cloths on the lawn, a barrier tape flapping in
the wind) and two UP-Fall clips (a person walking about, then standing, in a hall where another
sits still for the whole clip). Each is analysed with the product default
(`min_duration_s: 60`) and with the 15 s of the scenarios, the harder test.

Then a few of the composed scenarios (`evaluation/scenarios/abandoned.py`: objects painted into
the PETS footage) are generated and evaluated with the matching rule of `veilleur evaluate`.
The whole generated set, over several seeds, is measured by running this file as a script:

    python tests/integration/test_abandoned_object_real.py [--seeds 0 1 2 3] [--out DIR]

Real left objects outside ../shared (`VEILLEUR_EXTRA`): the two clips the rules were tuned on
(evaluation/extra_abandoned.yaml) and three held aside from that tuning
(evaluation/extra_abandoned_heldout.yaml); skipped when the footage is not there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from veilleur.config import load_config, parse_config
from veilleur.config.situations import AbandonedObjectConfig
from veilleur.evaluation import runner
from veilleur.evaluation.metrics import summarise
from veilleur.evaluation.scenarios import abandoned
from veilleur.evaluation.truth import (
    Clip,
    ExpectedSignal,
    TruthFile,
    dump_truth,
    expand,
    load_truth,
)
from veilleur.pipeline import CameraPipeline
from veilleur.scene.state import Scene
from veilleur.situations.abandoned_object import AbandonedObject
from veilleur.sources import VideoSource
from veilleur.types import Signal

pytestmark = pytest.mark.integration

SHORT_S = abandoned.MIN_DURATION_S


def false_alarms(
    video: Path, model: Path, size: tuple[int, int] | None = None
) -> tuple[dict[str, list[Signal]], float]:
    """Signals raised on a clip, with the product default and with the scenarios' minimum
    duration (two instances fed the same scenes), and the situations' ms per analysed frame."""
    site = parse_config(
        {
            "perception": {"detector": "yolox-nano", "model_path": str(model)},
            "cameras": {
                "cam": {
                    "source": str(video),
                    "analysis_fps": 5,
                    "analysis_size": list(size) if size else None,
                    "situations": {"abandoned_object": {"enabled": True}},
                }
            },
        }
    )
    pipe = CameraPipeline("cam", site)
    default = pipe.situations[0]
    short = AbandonedObject(
        AbandonedObjectConfig(enabled=True, min_duration_s=SHORT_S), default.context
    )
    pipe.situations.append(short)
    found: dict[str, list[Signal]] = {"default": [], f"{SHORT_S:g} s": []}

    def recording(sit: AbandonedObject, key: str) -> Callable[[Scene], list[Signal]]:
        update = sit.update

        def wrapped(scene: Scene) -> list[Signal]:
            sigs = update(scene)
            found[key] += sigs
            return sigs

        return wrapped

    for sit, key in zip((default, short), found, strict=True):
        sit.update = recording(sit, key)  # type: ignore[method-assign]
    with VideoSource(str(video), analysis_fps=5, size=size) as src:
        for frame in src.frames():
            pipe.process(frame)
    # Two instances ran: half the situations' time is the cost of one.
    return found, pipe.clock.ms_per_frame()["situations"] / 2


def test_no_false_alarm_on_pets(pets_dir: Path, yolox_path: Path) -> None:
    video = pets_dir / "vtest_PETS2009_S2L1_View001.avi"
    found, ms = false_alarms(video, yolox_path)
    print(f"\nPETS S2L1 768x576, 80 s: signals { ({k: len(v) for k, v in found.items()}) }")
    print(f" abandoned_object costs {ms:.2f} ms per analysed frame")
    for k, sigs in found.items():
        assert sigs == [], f"{k}: {[s.to_dict() for s in sigs]}"


def test_no_false_alarm_on_upfall_hall(shared_data: Path, yolox_path: Path) -> None:
    folder = shared_data / "upfall_falls"
    for name in ("Activity6_S1_Trial1Cam2.mp4", "Activity7_S1_Trial1Cam2.mp4"):
        found, _ = false_alarms(folder / name, yolox_path)
        print(f"\nUP-Fall {name} (45 s): signals { ({k: len(v) for k, v in found.items()}) }")
        for k, sigs in found.items():
            assert sigs == [], f"{name} {k}: {[s.to_dict() for s in sigs]}"


# --- composed scenarios --------------------------------------------------------------------


def matches(signal: Signal, truth: ExpectedSignal) -> bool:
    """The rule of `veilleur evaluate`: same situation (and zone unless the truth's is null),
    start within [start - 2 s, end], end before end + 2 s, boxes overlapping if given."""
    if signal.situation != truth.situation:
        return False
    if truth.zone is not None and signal.zone != truth.zone:
        return False
    if not truth.start_s - 2.0 <= signal.start_s <= truth.end_s or signal.end_s > truth.end_s + 2:
        return False
    if truth.bbox is not None:
        a, b = signal.bbox, truth.bbox
        return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
    return True


def score(clips: list[Clip], base: Path, log: Callable[[str], None] = print) -> dict[str, float]:
    """Precision, recall and delay of abandoned_object signals over labelled clips."""
    true_pos = false_pos = found = expected = 0
    delays: list[float] = []
    for clip in clips:
        site = load_config(base / clip.config)
        camera = clip.camera or next(iter(site.cameras))
        pipe = CameraPipeline(camera, site)
        signals: list[Signal] = []
        fps = site.cameras[camera].analysis_fps
        with VideoSource(str(base / clip.video), analysis_fps=fps) as src:
            for frame in src.frames():
                signals += pipe.process(frame)
        hit: set[int] = set()
        for s in signals:
            ok = [i for i, e in enumerate(clip.expected) if matches(s, e)]
            true_pos += bool(ok)
            false_pos += not ok
            for i in ok[:1]:
                if i not in hit:
                    delays.append(s.end_s - clip.expected[i].start_s)
                hit.add(i)
        found += len(hit)
        expected += len(clip.expected)
        log(
            f"{clip.name:30s} expected {[(e.start_s, e.end_s) for e in clip.expected]} "
            f"signals {[(round(s.start_s, 1), round(s.end_s, 1)) for s in signals]}"
        )
    n = true_pos + false_pos
    return {
        "clips": len(clips),
        "expected": expected,
        "signals": n,
        "found": found,
        "precision": true_pos / n if n else 1.0,
        "recall": found / expected if expected else 1.0,
        "false alarms": false_pos,
        "mean delay s": sum(delays) / len(delays) if delays else float("nan"),
    }


#: A hard positive of each kind and the hardest negatives, to fit the test's time.
SUBSET = (
    "abandoned_drop_0_handbag",
    "abandoned_owner_leaves",
    "attended_bag",
    "person_lying_still",
)


def test_composed_scenarios(tmp_path: Path, shared_data: Path, yolox_path: Path) -> None:
    os.environ.setdefault("VEILLEUR_MODEL_YOLOX_NANO", str(yolox_path))
    pets = abandoned.Pets(shared_data.parent)
    scenes = [s for s in abandoned.scenes(pets, seed=0) if s.name in SUBSET]
    assert len(scenes) == len(SUBSET)
    clips = abandoned.write_scenes(pets, scenes, tmp_path, seed=0)
    figures = score(clips, tmp_path)
    print(f"\ncomposed scenarios (subset, seed 0): {figures}")
    # Measured 1.00 / 1.00 on this subset (see docs/situations/abandoned_object.md for the
    # whole set over four seeds).
    assert figures["precision"] >= 0.99
    assert figures["recall"] >= 0.99


# --- real footage with truth files (evaluation/abandoned_real.yaml, extra_abandoned.yaml) ------

EVALUATION = Path(__file__).resolve().parents[2] / "evaluation"


def real_clips(name: str) -> tuple[list[Clip], Path]:
    """The clips of a truth file of `evaluation/`, video paths expanded."""
    truth, base = load_truth(EVALUATION / name)
    return [c.model_copy(update={"video": str(expand(c.video, base))}) for c in truth.clips], base


def test_no_false_alarm_on_the_2024_traps_in_shared(shared_data: Path, yolox_path: Path) -> None:
    # People lying or sitting still after a fall (frontal and elevated cameras), a person
    # picking something up, a car park with reflections on wet ground: never an object.
    os.environ.setdefault("VEILLEUR_MODEL_YOLOX_NANO", str(yolox_path))
    clips, base = real_clips("abandoned_real.yaml")
    # PETS and UP-Fall activities 6-7 run above with two durations; the others here.
    clips = [c for c in clips if not c.name.startswith(("pets", "upfall_A6", "upfall_A7"))]
    assert len(clips) == 12
    figures = score(clips, base)
    print(f"\nreal negatives of abandoned_real.yaml: {figures}")
    assert figures["false alarms"] == 0


def test_real_left_luggage(yolox_path: Path) -> None:
    """ABODA video4 (the pavement of issue 10) and the i-LIDS AVSS 2007 platform: footage
    that is not in ../shared (see evaluation/extra_abandoned.yaml to fetch it). Skips when
    VEILLEUR_EXTRA does not point at it, under CI too."""
    extra = os.environ.get("VEILLEUR_EXTRA")
    if not extra:
        pytest.skip("VEILLEUR_EXTRA not set: real left-luggage footage not available")
    clips, base = real_clips("extra_abandoned.yaml")
    missing = [c.video for c in clips if not Path(c.video).exists()]
    if missing:
        pytest.skip(f"real left-luggage footage missing: {missing}")
    os.environ.setdefault("VEILLEUR_MODEL_YOLOX_NANO", str(yolox_path))
    figures = score(clips, base)
    print(f"\nreal left luggage: {figures}")
    # Measured 1.00 / 1.00 on both clips (docs/evaluation.md).
    assert figures["precision"] >= 0.8 and figures["recall"] >= 0.8


def test_real_left_objects_held_aside(yolox_path: Path) -> None:
    """Real left objects held aside from the tuning (evaluation/extra_abandoned_heldout.yaml:
    a PETS 2006 excerpt, a plaza where a passer-by drops cups, an ABODA video1 window), scored
    as `veilleur evaluate` does (optional objects neither required nor false alarms). Skips
    when VEILLEUR_EXTRA does not point at the footage, under CI too."""
    extra = os.environ.get("VEILLEUR_EXTRA")
    if not extra:
        pytest.skip("VEILLEUR_EXTRA not set: held-aside left-object footage not available")
    truth, base = load_truth(EVALUATION / "extra_abandoned_heldout.yaml")
    missing = [c.video for c in truth.clips if not expand(c.video, base).exists()]
    if missing:
        pytest.skip(f"held-aside left-object footage missing: {missing}")
    os.environ.setdefault("VEILLEUR_MODEL_YOLOX_NANO", str(yolox_path))
    outcomes = runner.run([(truth, base)], jobs=1)
    assert [o.error for o in outcomes if o.error] == []
    f = summarise(outcomes)["abandoned_object"]
    optional = sum(e.optional for o in outcomes for e in o.expected)
    found_optional = sum(
        bool(o.matched[i]) for o in outcomes for i, e in enumerate(o.expected) if e.optional
    )
    print(
        f"\nheld-aside real left objects: {f.clips} clips, {f.expected} required, {f.found} found, "
        f"{f.signals} signals, {f.false_alarms} false alarms, precision {f.precision}, "
        f"recall {f.recall}, mean delay {f.mean_delay_s}, optional {found_optional}/{optional}"
    )
    # Measured (docs/evaluation.md): precision 1.00 (4 of 4 signals), recall 1.00 (1 of 1),
    # 3 of the 5 optional objects (3 of the 4 cups; the cup put down while the scene was
    # learnt and the ABODA bag, alone 8 s, under the minimum duration, are not), delay 10.3 s
    # with the 10 s minimum duration of the clips' configuration. Before the carrier was
    # traced back: precision 0.50 (two cups signalled from before their dropper walked on).
    assert f.expected >= 1 and f.recall is not None and f.precision is not None
    assert f.recall >= 0.8 and f.precision >= 0.8
    assert f.mean_delay_s is not None and f.mean_delay_s <= 10.0 + 5.0
    assert found_optional >= 2


def main() -> None:
    ap = argparse.ArgumentParser(description="Evaluate abandoned_object on generated scenarios.")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--out", type=Path, default=Path("/tmp/veilleur-abandoned-scenarios"))
    args = ap.parse_args()
    shared = abandoned.shared_dir()
    os.environ.setdefault("VEILLEUR_MODELS_DIR", str(shared / "models"))
    all_clips: list[tuple[Clip, Path]] = []
    for seed in args.seeds:
        out = args.out / f"seed{seed}"
        truth = out / "truth.yaml"
        if truth.exists():
            clips = TruthFile.model_validate(yaml.safe_load(truth.read_text())).clips
        else:
            t0 = time.perf_counter()
            clips = abandoned.generate(out, seed)
            dump_truth(TruthFile(clips=clips), truth)
            print(f"seed {seed}: generated {len(clips)} clips in {time.perf_counter() - t0:.0f} s")
        all_clips += [(c, out) for c in clips]
    totals: dict[str, float] = {}
    for seed in args.seeds:
        base = args.out / f"seed{seed}"
        clips = [c for c, b in all_clips if b == base]
        figures = score(clips, base)
        print(f"seed {seed}: {figures}", flush=True)
        for k, v in figures.items():
            totals[k] = totals.get(k, 0.0) + (v if k != "mean delay s" else 0.0)
    n_sig, fp = totals["signals"], totals["false alarms"]
    print(
        f"all seeds: {int(totals['clips'])} clips, {int(totals['expected'])} expected, "
        f"{int(n_sig)} signals, precision {(n_sig - fp) / n_sig if n_sig else 1:.3f}, "
        f"recall {totals['found'] / totals['expected']:.3f}, false alarms {int(fp)}"
    )


if __name__ == "__main__":
    sys.exit(main())
