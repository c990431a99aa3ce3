"""`veilleur stats VIDEO...`: the statistics mode over recorded files (SPEC §2), offline.

Detection, tracking and the scene run on each file as fast as the machine allows (no situation,
no real-time pacing); only anonymous aggregates per time bucket come out, as CSV, Parquet, SVG
charts and a small index.html. No image, track or signal is written, and no database is used.
"""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime, timedelta
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
    videos: Annotated[list[Path], typer.Argument(help="Recorded video files, in time order.")],
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
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Count entries, crossings, occupancy and density over recorded videos, as fast as the
    machine allows, and write CSV, Parquet and charts. No image, track or signal is written."""
    from veilleur.pipeline import CameraPipeline, prefetch
    from veilleur.scene.statistics import StatisticsAggregator, statistics_site
    from veilleur.sources import SourceError, open_source

    site, name = load_site(config, camera)
    origin = _parse_start(start)
    cam = site.cameras[name]
    quiet = statistics_site(site, name)
    for v in videos:
        if not v.is_file():
            raise _fail(f"{v}: file not found")
    aggregator = StatisticsAggregator(name, cam, bucket_s)
    rows: list[Any] = []
    frames = 0
    began = time.perf_counter()
    offset = 0.0  # seconds of the videos before this one
    scene = None
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames"),
        TextColumn("{task.fields[rows]} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not progress,
    ) as bar:
        for video in videos:
            try:
                source = open_source(
                    str(video), analysis_fps=cam.analysis_fps, size=cam.analysis_size
                )
            except SourceError as exc:
                raise _fail(f"{video}: {exc}") from None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    pipeline = CameraPipeline(name, quiet)
                except Exception as exc:  # model missing or broken: say it plainly
                    source.close()
                    raise _fail(f"cannot start the analysis: {exc}") from None
            duration = source.info.duration_s
            total = int(duration * cam.analysis_fps) + 1 if duration else None
            task = bar.add_task(video.name, total=total, rows=len(rows))
            aggregator.new_scene()
            last_t = 0.0
            try:
                for frame in prefetch(source.frames()):
                    pipeline.process(frame)
                    at = origin + timedelta(seconds=offset + frame.t)
                    rows += aggregator.update(pipeline.scene, at)
                    frames += 1
                    last_t = frame.t
                    bar.update(task, advance=1, rows=len(rows))
            except KeyboardInterrupt:
                source.close()
                raise typer.Exit(130) from None
            finally:
                source.close()
            offset += max(duration or 0.0, last_t + 1.0 / cam.analysis_fps)
            scene = pipeline.scene
        rows += aggregator.flush(scene)
    wall = time.perf_counter() - began
    plain = [r.as_dict() for r in rows]
    summary = {
        "camera": name,
        "videos": ", ".join(v.name for v in videos),
        "analysed frames": frames,
        "bucket (s)": bucket_s,
        "rows": len(plain),
        "first bucket": min((r.bucket_start for r in rows), default=origin).isoformat(),
        "analysis time (s)": round(wall, 1),
    }
    write_report(plain, out_dir, summary)
    out.print(
        f"{name}: {frames} frames in {wall:.1f} s ({frames / wall if wall else 0:.1f} fps), "
        f"{len(plain)} rows → {out_dir}/statistics.csv, statistics.parquet, index.html",
        highlight=False,
    )
