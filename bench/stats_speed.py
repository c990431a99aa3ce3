"""`veilleur stats` on recorded footage: CPU per second of video, and what lighter settings do to
the figures. Prints figures; asserts nothing.

    python bench/stats_speed.py                      # every variant on both clip sets, then scaling
    python bench/stats_speed.py --variants full,r2.5 --sets tune --no-scaling
    python bench/stats_speed.py --out bench-stats.json
    python bench/stats_speed.py --sets "" --no-scaling --tracks   # PETS' tracks at 5 and 2.5 fps

Clips (real footage from ../shared/data): the *tune* set is what the settings were chosen on
(PETS 2009 S2L1 with examples/pets_s2l1.yaml; UP-Fall activities 1-3, trials 1-2, both cameras,
and activity 6 (45 s of walking), with bench/stats_halves.yaml: two half-picture zones and a
line down the middle); the *held* set was left aside while tuning (UP-Fall activities 4-5,
trials 1-2, both cameras, activities 7 and 9, and the FIRESENSE ground fire with a firefighter
walking off).

For each variant of `StatsSettings` and each clip: the analysis CPU (user + system, every
thread, model loading excluded: `RecordingResult.cpu_s`) per second of video and × real time per
core, then each figure against the full analysis (the defaults: the camera's own rate and
detector input). Figures per clip, from 10 s buckets: zone entries and line crossings per
direction summed over the clip, occupancy mean and max averaged over its buckets, per subject.
Deviation of a figure family over a set: Σ|variant − full| / Σ full over the set's clips and
subjects (a pooled relative error, so a clip with 1 entry does not weigh like PETS' 31).

Scaling: the held set analysed by `veilleur stats`' own runners with 1 and 2 local workers, and
with Ray (2 CPUs) when it is installed: wall time, CPU of every process, and whether the rows
are identical to the serial run's. CPU figures hold on a shared machine; wall times do not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEILLEUR_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
PETS_CFG = REPO / "examples" / "pets_s2l1.yaml"
HALVES_CFG = REPO / "bench" / "stats_halves.yaml"
BUCKET_S = 10


def upfall(activities: list[int], trials: list[int], cams: list[int]) -> list[Path]:
    return [
        DATA / "upfall_falls" / f"Activity{a}_S1_Trial{t}Cam{c}.mp4"
        for a in activities
        for t in trials
        for c in cams
    ]


SETS: dict[str, list[tuple[Path, Path]]] = {
    "tune": [(DATA / "pets2009_s2l1" / "vtest_PETS2009_S2L1_View001.avi", PETS_CFG)]
    + [(p, HALVES_CFG) for p in upfall([1, 2, 3], [1, 2], [1, 2]) + upfall([6], [1], [2])],
    "held": [
        (p, HALVES_CFG)
        for p in upfall([4, 5], [1, 2], [1, 2])
        + upfall([7, 9], [1], [2])
        + [DATA / "firesense_ground_fire" / "ground_fire.mp4"]
    ],
}

#: name → StatsSettings fields. 'full' is the reference: the camera's own analysis.
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "full-ffthreads": {"decoder_threads": 0},
    # The pictures resized by the decoder to the detector's 416 px (4:3 clips keep their shape)
    # instead of by the detector: no lighter analysis, a perturbation the figures should not
    # feel; how much they do is the analysis's own noise.
    "dec416": {"analysis_size": (416, 312)},
    "i320": {"input_size": 320},
    "r2.5": {"analysis_fps": 2.5},
    "r2.5-i256": {"analysis_fps": 2.5, "input_size": 256, "skip_loop_filter": True},
    "r2-i256": {"analysis_fps": 2.0, "input_size": 256, "skip_loop_filter": True},
    "r1-i256": {"analysis_fps": 1.0, "input_size": 256, "skip_loop_filter": True},
    # The detector on every other frame, the frames between bridged by the tracks.
    "b2": {"detect_every": 2},
    # Tracks linked by the nearness of their centres, which hold at lower rates.
    "centre": {"association": "centre"},
    "r2.5-centre": {"analysis_fps": 2.5, "association": "centre"},
    "r2-centre": {"analysis_fps": 2.0, "association": "centre"},
    "r2.5-b2": {"analysis_fps": 2.5, "detect_every": 2},
}


def figures(rows: list[Any]) -> dict[tuple[str, str, str], float]:
    """Per clip: counts summed over buckets, occupancies averaged over buckets."""
    total: dict[tuple[str, str, str], float] = defaultdict(float)
    n: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in rows:
        key = (r.metric, r.subject, r.direction)
        total[key] += r.value
        n[key] += 1
    return {
        k: (v / n[k] if k[0] in ("occupancy_mean", "occupancy_max", "density") else v)
        for k, v in total.items()
    }


def analyse(video: Path, cfg: Path, settings: Any) -> tuple[dict[Any, float], float, float, int]:
    from veilleur.cli.stats import load_site
    from veilleur.pipeline.statistics import analyse_recording, merge_results, plan_recordings

    site, name = load_site(cfg, None)
    plan = plan_recordings([str(video)])[0]
    origin = datetime(1970, 1, 1, tzinfo=UTC)
    result = analyse_recording(site, name, plan, origin, BUCKET_S, settings)
    rows = merge_results(site, name, [result], BUCKET_S)
    return figures(rows), result.cpu_s, result.duration_s, result.frames


def deviation(ref: list[dict[Any, float]], got: list[dict[Any, float]]) -> dict[str, float]:
    """Pooled relative deviation per metric family (see the module's docstring)."""
    diff: dict[str, float] = defaultdict(float)
    base: dict[str, float] = defaultdict(float)
    for r, g in zip(ref, got, strict=True):
        for key, v in r.items():
            diff[key[0]] += abs(g.get(key, 0.0) - v)
            base[key[0]] += abs(v)
    return {m: diff[m] / base[m] if base[m] else float(diff[m] > 0) for m in sorted(base)}


def cpu_all() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def scaling(clips: list[tuple[Path, Path]], ray_ok: bool) -> list[dict[str, Any]]:
    from veilleur.cli.stats import load_site
    from veilleur.cli.stats_batch import StatsJob, run_processes, run_ray, run_serial
    from veilleur.pipeline.statistics import StatsSettings, merge_results, plan_recordings

    site, name = load_site(HALVES_CFG, None)
    plans = plan_recordings([str(v) for v, _ in clips])
    origin = datetime(1970, 1, 1, tzinfo=UTC)
    jobs = [StatsJob(site, name, p, origin, BUCKET_S, StatsSettings()) for p in plans]
    video_s = sum(p.duration_s for p in plans)
    out: list[dict[str, Any]] = []
    reference = None
    runs: list[tuple[str, Any]] = [
        ("serial", lambda: run_serial(jobs)),
        ("workers=1", lambda: run_processes(jobs, 1)),
        ("workers=2", lambda: run_processes(jobs, 2)),
    ]
    if ray_ok:
        runs.append(("ray (2 CPUs)", lambda: run_ray(jobs)))
    for label, go in runs:
        if label.startswith("ray"):
            import ray

            ray.init(
                address="local",  # our own Ray, never a cluster already running here
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                object_store_memory=80 * 1024 * 1024,
            )
        c0, w0 = cpu_all(), time.perf_counter()
        results = go()
        wall = time.perf_counter() - w0
        process_cpu = cpu_all() - c0  # Ray's workers are not our children: not in here
        rows = [r.as_dict() for r in merge_results(site, name, results, BUCKET_S)]
        reference = rows if reference is None else reference
        analysis_cpu = sum(r.cpu_s for r in results)
        out.append(
            {
                "run": label,
                "files": len(jobs),
                "video_s": round(video_s, 1),
                "wall_s": round(wall, 1),
                "analysis_cpu_s": round(analysis_cpu, 2),
                "process_cpu_s": round(process_cpu, 2) if not label.startswith("ray") else None,
                "x_realtime_wall": round(video_s / wall, 1),
                "x_realtime_per_core": round(video_s / analysis_cpu, 1),
                "identical_to_serial": rows == reference,
            }
        )
        print(json.dumps(out[-1]), flush=True)
        if label.startswith("ray"):
            ray.shutdown()
    return out


def track_lives(fps_list: list[float]) -> list[dict[str, Any]]:
    """Why a lower rate moves the counts: confirmed tracks on PETS at each rate, and how long
    they live (a broken track comes back as a new one, hence a new entry)."""
    from veilleur.cli.stats import load_site
    from veilleur.pipeline import CameraPipeline
    from veilleur.pipeline.statistics import StatsSettings, stats_site
    from veilleur.sources import open_source

    video, cfg = SETS["tune"][0]
    site, name = load_site(cfg, None)
    out = []
    for fps in fps_list:
        pipeline = CameraPipeline(name, stats_site(site, name, StatsSettings(analysis_fps=fps)))
        life: dict[int, list[float]] = {}
        with open_source(str(video), analysis_fps=fps) as source:
            for frame in source.frames():
                pipeline.process(frame)
                for st in pipeline.scene.visible:
                    life.setdefault(st.track_id, [frame.t, frame.t])[1] = frame.t
        spans = [b - a for a, b in life.values()]
        out.append(
            {
                "fps": fps,
                "confirmed_tracks": len(life),
                "mean_life_s": round(sum(spans) / max(len(spans), 1), 1),
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    ap.add_argument("--sets", default="tune,held", help="comma-separated: tune, held")
    ap.add_argument("--no-scaling", action="store_true", help="skip the workers/Ray runs")
    ap.add_argument("--out", type=Path, help="write every figure as JSON here")
    ap.add_argument(
        "--tracks", action="store_true", help="also count PETS' confirmed tracks at 5 and 2.5 fps"
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("VEILLEUR_MODELS_DIR", str(SHARED / "models"))
    warnings.simplefilter("ignore")
    from veilleur.pipeline.statistics import StatsSettings

    names = [v for v in args.variants.split(",") if v]
    if "full" not in names:
        names.insert(0, "full")  # the reference every deviation is measured against
    report: dict[str, Any] = {"sets": {}, "scaling": None}
    for set_name in [s for s in args.sets.split(",") if s]:
        clips = [(v, c) for v, c in SETS[set_name] if v.exists()]
        if not clips:
            print(f"{set_name}: no clip found under {DATA}", file=sys.stderr)
            continue
        figs: dict[str, list[dict[Any, float]]] = {}
        table: dict[str, Any] = {}
        for variant in names:
            settings = StatsSettings(**VARIANTS[variant])
            cpu = video = 0.0
            frames = 0
            figs[variant] = []
            per_clip = []
            for video_path, cfg in clips:
                f, c, d, n = analyse(video_path, cfg, settings)
                figs[variant].append(f)
                cpu, video, frames = cpu + c, video + d, frames + n
                per_clip.append(
                    {
                        "clip": video_path.name,
                        "cpu_s": round(c, 3),
                        "video_s": round(d, 1),
                        "cpu_per_video_s": round(c / d, 4),
                    }
                )
            dev = deviation(figs["full"], figs[variant])
            table[variant] = {
                "settings": VARIANTS[variant],
                "clips": len(clips),
                "video_s": round(video, 1),
                "frames": frames,
                "cpu_s": round(cpu, 2),
                "cpu_per_video_s": round(cpu / video, 4),
                "x_realtime_per_core": round(video / cpu, 1),
                "deviation": {m: round(v, 4) for m, v in dev.items()},
                "worst_deviation": round(max(dev.values(), default=0.0), 4),
                "per_clip": per_clip,
            }
            t = table[variant]
            print(
                f"{set_name:5} {variant:15} {t['cpu_per_video_s']:.4f} CPU s/s "
                f"({t['x_realtime_per_core']:5.1f}× per core)  worst dev "
                f"{100 * t['worst_deviation']:5.1f} %  "
                + "  ".join(f"{m} {100 * v:.1f}%" for m, v in dev.items()),
                flush=True,
            )
        # Every clip's figures, per variant, for the JSON report.
        report["sets"][set_name] = {
            "variants": table,
            "clips": [v.name for v, _ in clips],
            "figures": {
                k: [{"|".join(key): val for key, val in f.items()} for f in v]
                for k, v in figs.items()
            },
        }
    if args.tracks:
        report["tracks"] = track_lives([5.0, 2.5])
    if not args.no_scaling:
        try:
            import ray  # noqa: F401

            ray_ok = True
        except ImportError:
            ray_ok = False
        clips = [(v, c) for v, c in SETS["held"] if v.exists() and c == HALVES_CFG]
        report["scaling"] = scaling(clips, ray_ok)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
