"""Where `veilleur stats` analyses its recordings: here, in local worker processes, or as Ray
tasks on a cluster (the optional `cluster` extra: `pip install veilleur[cluster]`).

Each recording is one job (`StatsJob`), analysed on its own by
`pipeline.statistics.analyse_recording`; the jobs' results come back in the order of the jobs,
whoever ran them, so the merged rows are the same however the work was spread.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from veilleur.config.model import SiteConfig
from veilleur.pipeline.statistics import (
    RecordingPlan,
    RecordingResult,
    StatsSettings,
    analyse_recording,
)

#: Called when a job ends: its index in the list of jobs and its result.
OnDone = Callable[[int, RecordingResult], None]


@dataclass(frozen=True)
class StatsJob:
    """One recording to analyse, with everything a process elsewhere needs to do it."""

    site: SiteConfig
    camera: str
    plan: RecordingPlan
    origin: datetime
    bucket_s: int
    settings: StatsSettings


def run_job(job: StatsJob, on_frame: Callable[[float], None] | None = None) -> RecordingResult:
    return analyse_recording(
        job.site, job.camera, job.plan, job.origin, job.bucket_s, job.settings, on_frame=on_frame
    )


def run_serial(
    jobs: list[StatsJob],
    on_done: OnDone | None = None,
    on_frame: Callable[[float], None] | None = None,
) -> list[RecordingResult]:
    """One recording after the other, in this process."""
    results = []
    for i, job in enumerate(jobs):
        result = run_job(job, on_frame)
        results.append(result)
        if on_done is not None:
            on_done(i, result)
    return results


def run_processes(
    jobs: list[StatsJob], workers: int, on_done: OnDone | None = None
) -> list[RecordingResult]:
    """`workers` local processes, each analysing one recording at a time."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    results: list[RecordingResult | None] = [None] * len(jobs)
    # Spawned, not forked: a fork would copy whatever threads the parent runs (progress bar,
    # onnxruntime pools in tests) into a child that cannot use them.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs) or 1), mp_context=context) as pool:
        pending: dict[Future[RecordingResult], int] = {
            pool.submit(run_job, job): i for i, job in enumerate(jobs)
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    results[i] = future.result()
                    if on_done is not None:
                        on_done(i, results[i])  # type: ignore[arg-type]
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [r for r in results if r is not None]


def run_ray(
    jobs: list[StatsJob], address: str | None = None, on_done: OnDone | None = None
) -> list[RecordingResult]:
    """One Ray task per recording, one CPU each, placed by Ray over the cluster's nodes.

    Uses the Ray connection this process already has (tests start a local one); otherwise
    connects to `address` ('auto': the cluster `ray start` made on this machine, or the one
    RAY_ADDRESS names; 'ray://host:10001': a remote cluster; 'local' or None: a new Ray of this
    machine only, never someone else's cluster). The nodes need Veilleur and its models.
    """
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "Ray is not installed; install the cluster extra: pip install 'veilleur[cluster]'"
        ) from None
    if not ray.is_initialized():
        ray.init(
            # Ray's own default (None) joins any cluster running on the machine: 'local' asks
            # for a private one.
            address=address or "local",
            include_dashboard=False,
            log_to_driver=False,
        )
    task: Any = ray.remote(num_cpus=1)(run_job)
    refs = [task.remote(job) for job in jobs]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[RecordingResult | None] = [None] * len(jobs)
    waiting = list(refs)
    try:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                i = index[ref]
                results[i] = ray.get(ref)
                if on_done is not None:
                    on_done(i, results[i])  # type: ignore[arg-type]
    except BaseException:
        for ref in waiting:
            ray.cancel(ref)
        raise
    return [r for r in results if r is not None]
