"""`veilleur stats VIDEO...`: the statistics mode over recorded files (SPEC §2), offline.

Detection, tracking and the scene run on each file as fast as the machine allows (no situation,
no real-time pacing); only anonymous aggregates per time bucket come out, as CSV, Parquet, SVG
charts and a small index.html. No image, track or signal is written, and no database is used.
Files are analysed one by one here, by `--workers N` local processes or as Ray tasks (`--ray`),
with the same rows either way (`cli.stats_batch`, `pipeline.statistics`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from veilleur.config.model import SiteConfig

err = Console(stderr=True)
out = Console()


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def load_site(path: Path, camera: str | None) -> tuple[SiteConfig, str]:
    """A site file (with `cameras:`) or one camera's configuration (the camera page's, with
    `source:`); returns the site and the camera whose zones and lines apply."""
    import yaml

    from veilleur.config import ConfigError, load_config, parse_config

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise _fail(f"{path}: not valid YAML: {exc}") from None
    try:
        if isinstance(data, dict) and "cameras" not in data and "source" in data:
            name = camera or path.stem
            site = parse_config({"cameras": {name: data}}, str(path))
        else:
            site = load_config(path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    names = list(site.cameras)
    if camera is None:
        if len(names) != 1:
            raise _fail(
                f"{path} has {len(names)} cameras ({', '.join(names)}); choose one with --camera"
            )
        camera = names[0]
    if camera not in site.cameras:
        raise _fail(f"no camera '{camera}' in {path} (cameras: {', '.join(names)})")
    return site, camera


def _parse_start(start: str | None) -> datetime:
    if start is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    try:
        at = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(
            f"--start {start!r} is not an ISO date and time, e.g. 2026-05-04T08:00Z"
        ) from None
    if at.tzinfo is None:
        raise _fail(f"--start {start!r} has no time zone; add Z (UTC) or +02:00")
    return at.astimezone(UTC)


def write_report(rows: list[dict[str, Any]], out_dir: Path, summary: dict[str, Any]) -> None:
    """statistics.csv, statistics.parquet, one SVG per camera and metric, and index.html."""
    from veilleur.service.modes import statistics_csv, statistics_parquet
    from veilleur.web.stats_charts import charts_by_metric

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "statistics.csv").write_bytes(statistics_csv(rows))
    statistics_parquet(rows, out_dir / "statistics.parquet")
    sections = []
    for i, (camera, title, svg) in enumerate(charts_by_metric(rows)):
        name = f"chart-{i + 1}.svg"
        (out_dir / name).write_text(
            str(svg).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1),
            encoding="utf-8",
        )
        sections.append(f"<h2>{escape(camera)}: {escape(title)}</h2>\n{svg}")
    facts = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in summary.items()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Veilleur statistics</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}th{{text-align:left;
padding-right:1em}}.muted{{color:#666}}</style></head><body>
<h1>Veilleur statistics</h1>
<p>Anonymous aggregates per time bucket: entries into zones, line crossings per direction,
persons present and, on a calibrated camera, density. No image, no track and no signal was
kept. Data: <a href="statistics.csv">statistics.csv</a>,
<a href="statistics.parquet">statistics.parquet</a>.</p>
<table>{facts}</table>
{"".join(sections)}
</body></html>
"""
    (out_dir / "index.html").write_text(page, encoding="utf-8")


def stats(
    videos: Annotated[
        list[Path],
        typer.Argument(
            help="Recorded video files in time order, or folders (their video files, sorted "
            "by name)."
        ),
    ],
    config: Annotated[
        Path,
        typer.Option("--config", "-c", help="A site configuration or one camera's (YAML)."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report.")],
    camera: Annotated[
        str | None,
        typer.Option(help="Camera whose zones and lines apply (needed when there are several)."),
    ] = None,
    bucket_s: Annotated[
        int, typer.Option("--bucket-s", min=1, help="Length of a time bucket, in seconds.")
    ] = 60,
    start: Annotated[
        str | None,
        typer.Option(
            help="When the first video starts (ISO, with a time zone); default 1970-01-01T00:00Z, "
            "so buckets read as time from the start of the recording."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Recordings analysed at once, each in a local process of its own."
        ),
    ] = 1,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Analyse the recordings as Ray tasks: 'auto' (the cluster started with "
            "`ray start` on this machine), a cluster address (ray://host:10001), or 'local' "
            "(a Ray of this machine only). Needs the cluster extra.",
        ),
    ] = None,
    analysis_fps: Annotated[
        float | None,
        typer.Option(
            help="Frames analysed per second (default: the camera's analysis_fps). Lower is "
            "cheaper but breaks tracks: see docs/modes.md for what it does to the counts."
        ),
    ] = None,
    input_size: Annotated[
        int | None,
        typer.Option(
            help="Long side of the detector's input, a multiple of 32 (default: the camera's). "
            "Smaller is cheaper and misses small, distant persons."
        ),
    ] = None,
    skip_loop_filter: Annotated[
        bool,
        typer.Option(help="Skip the H.264/H.265 deblocking filter: cheaper decoding."),
    ] = False,
    detect_every: Annotated[
        int | None,
        typer.Option(
            help="Run the detector on one analysed frame in N, the frames between bridged by "
            "the tracks (docs/modes.md for what it does to the counts); default: the camera's "
            "perception.detect_every."
        ),
    ] = None,
    association: Annotated[
        str | None,
        typer.Option(
            help="Track linking: 'iou' or 'centre' (default: the configuration's "
            "tracking.association); 'centre' holds tracks at lower --analysis-fps."
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Count entries, crossings, occupancy and density over recorded videos, as fast as the
    machine allows, and write CSV, Parquet and charts. No image, track or signal is written."""
    from pydantic import ValidationError

    from veilleur.cli.stats_batch import StatsJob, run_processes, run_ray, run_serial
    from veilleur.pipeline.statistics import (
        RecordingResult,
        StatsError,
        StatsSettings,
        merge_results,
        plan_recordings,
        recordings_in,
    )

    site, name = load_site(config, camera)
    origin = _parse_start(start)
    if workers > 1 and ray_address is not None:
        raise _fail("choose --workers or --ray, not both")
    try:
        # Validated as a mapping: the CLI's strings are checked against the typed choices.
        settings = StatsSettings.model_validate(
            {
                "analysis_fps": analysis_fps,
                "input_size": input_size,
                "skip_loop_filter": skip_loop_filter,
                "detect_every": detect_every,
                "association": association,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                             for e in exc.errors())  # fmt: skip
        raise _fail(problems) from None
    files = recordings_in(videos)
    for v in files:
        if not v.is_file():
            raise _fail(f"{v}: file not found")
    if not files:
        raise _fail("no video file in " + ", ".join(str(v) for v in videos))
    try:
        plans = plan_recordings([str(v) for v in files])
    except StatsError as exc:
        raise _fail(str(exc)) from None
    jobs = [StatsJob(site, name, plan, origin, bucket_s, settings) for plan in plans]
    total_s = sum(p.duration_s for p in plans)
    began = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s of video"),
        TextColumn("{task.fields[files]}/" + str(len(jobs)) + " files"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not progress,
    ) as bar:
        task = bar.add_task(name, total=total_s or None, files=0)
        finished = 0
        seen = 0.0  # seconds of the file in progress already counted (serial only)

        def on_done(i: int, result: RecordingResult) -> None:
            nonlocal finished, seen
            finished += 1
            bar.update(task, advance=result.duration_s - seen, files=finished)
            seen = 0.0

        def on_frame(t: float) -> None:
            nonlocal seen
            bar.update(task, advance=t - seen)
            seen = t

        try:
            if ray_address is not None:
                results = run_ray(jobs, ray_address, on_done)
            elif workers > 1:
                results = run_processes(jobs, workers, on_done)
            else:
                results = run_serial(jobs, on_done, on_frame)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except StatsError as exc:
            raise _fail(str(exc)) from None
        except RuntimeError as exc:  # Ray missing or unreachable
            raise _fail(str(exc)) from None
    wall = time.perf_counter() - began
    rows = merge_results(site, name, results, bucket_s)
    plain = [r.as_dict() for r in rows]
    frames = sum(r.frames for r in results)
    cpu = sum(r.cpu_s for r in results)
    summary = {
        "camera": name,
        "videos": ", ".join(v.name for v in files),
        "seconds of video": round(total_s, 1),
        "analysed frames": frames,
        "bucket (s)": bucket_s,
        "rows": len(plain),
        "first bucket": min((r.bucket_start for r in rows), default=origin).isoformat(),
        "analysis time (s)": round(wall, 1),
        "analysis CPU (s)": round(cpu, 1),
        "settings": settings.model_dump_json(exclude_defaults=True),
    }
    write_report(plain, out_dir, summary)
    for r in results:
        for problem in r.source_problems:
            err.print(f"[yellow]warning:[/] {problem}", highlight=False)
    speed = f"{total_s / cpu:.0f}× real time per core" if cpu > 0 else "no CPU time measured"
    out.print(
        f"{name}: {len(files)} file(s), {total_s:.1f} s of video, {frames} frames in "
        f"{wall:.1f} s; analysis {cpu:.1f} CPU s ({speed}), {len(plain)} rows → "
        f"{out_dir}/statistics.csv, statistics.parquet, index.html",
        highlight=False,
    )
