"""Run the core over labelled clips and compare with their truth."""

from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from veilleur.evaluation.metrics import ClipOutcome
from veilleur.evaluation.truth import Clip, TruthFile, expand
from veilleur.perception.detector import DetectorFactory
from veilleur.types import Frame, Signal


def analyse_clip(
    clip: Clip,
    base: Path,
    detector_factory: DetectorFactory | None = None,
    detect_every: int | None = None,
) -> ClipOutcome:
    """Analyse one clip with its configuration; a clip that cannot be analysed is reported with
    its error, never dropped. `detector_factory` builds the detectors (default: local ones);
    `detect_every` > 1 detects on one analysed frame in that many, as `analyze` may
    (`CameraPipeline`; default: the camera's `perception.detect_every`)."""
    from veilleur.config import load_config
    from veilleur.pipeline import CameraPipeline
    from veilleur.sources import open_source

    try:
        video = expand(clip.video, base)
        site = load_config(expand(clip.config, base))
        camera = clip.camera or next(iter(site.cameras))
        if camera not in site.cameras:
            raise ValueError(f"camera '{camera}' is not in {clip.config}")
        cam = site.cameras[camera]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe = CameraPipeline(
                camera, site, detector_factory=detector_factory, detect_every=detect_every
            )
        signals = []
        further = []
        last_t = 0.0

        def on_frame(frame: Frame, _: list[Signal]) -> None:
            nonlocal last_t
            further.extend(pipe.further)
            last_t = frame.t

        with open_source(str(video), analysis_fps=cam.analysis_fps, size=cam.analysis_size) as src:
            signals.extend(pipe.run(src.frames(), on_frame=on_frame))
        enabled = [name for name, s in cam.situations.items() if s.enabled]
        duration = last_t + 1.0 / cam.analysis_fps
        return ClipOutcome(
            clip.name, duration, clip.synthetic, enabled, signals, clip.expected, further=further
        )
    except Exception as exc:  # one bad clip must not stop the evaluation
        return ClipOutcome(clip.name, 0.0, clip.synthetic, [], [], clip.expected, error=str(exc))


def _analyse(args: tuple[Clip, Path, DetectorFactory | None, int | None]) -> ClipOutcome:
    return analyse_clip(*args)


def run(
    truths: Iterable[tuple[TruthFile, Path]],
    jobs: int | None = None,
    on_done: Callable[[ClipOutcome], None] | None = None,
    detector_factory: DetectorFactory | None = None,
    detect_every: int | None = None,
) -> list[ClipOutcome]:
    """Analyse every clip (in `jobs` processes) and match its signals to its truth.

    `detector_factory` builds each clip's detectors (default: local ones); with several
    `jobs` it must be picklable (a module-level function). `detect_every`: see
    `analyse_clip`."""
    work = [
        (clip, base, detector_factory, detect_every)
        for truth, base in truths
        for clip in truth.clips
    ]
    jobs = jobs or os.cpu_count() or 1
    outcomes: list[ClipOutcome] = []
    if jobs == 1:
        for item in work:
            outcome = _analyse(item).match()
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    else:
        # Spawned, never forked: a fork of a process whose other threads hold locks (a server,
        # a test session's console) can leave its children waiting for ever on a copied lock,
        # which hung a CI run here.
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_analyse, item) for item in work]
            for fut in as_completed(futures):
                outcome = fut.result().match()
                outcomes.append(outcome)
                if on_done:
                    on_done(outcome)
    order = {clip.name: i for i, (clip, *_) in enumerate(work)}
    return sorted(outcomes, key=lambda o: order[o.clip])
