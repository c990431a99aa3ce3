"""`veilleur analyze` and `veilleur evaluate`: the pipeline run on video files, offline."""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

err = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _pick_camera(site: Any, camera: str | None, config: Path) -> str:
    if camera is not None:
        if camera not in site.cameras:
            known = ", ".join(site.cameras)
            raise _fail(f"{config}: no camera named '{camera}' (cameras: {known})")
        return camera
    if len(site.cameras) == 1:
        return next(iter(site.cameras))
    known = ", ".join(site.cameras)
    raise _fail(f"{config} has several cameras ({known}); choose one with --camera NAME")


def analyze(
    video: Annotated[str, typer.Argument(help="Video file or stream URL to analyse.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The YAML configuration file.")],
    camera: Annotated[
        str | None,
        typer.Option(
            help="Camera of the configuration whose zones and situations apply "
            "(needed when there are several)."
        ),
    ] = None,
    output: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write the signals, one JSON object a line."),
    ] = Path("signals.jsonl"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    detect_every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Run the detector on one analysed frame in N; the frames between get the "
            "tracks found on both sides, interpolated (two thirds of the CPU at 2 on PETS, the "
            "same zone intrusions; a fall or a wrong way seen over few frames may be missed: "
            "docs/pipeline.md). Default: the camera's perception.detect_every (1: every frame).",
        ),
    ] = None,
) -> None:
    """Analyse a video as fast as the machine allows and write the signals it raises, and the
    further events attached to them during their cool-down."""
    from veilleur.config import ConfigError, load_config
    from veilleur.pipeline import CameraPipeline, prefetch
    from veilleur.situations import BridgingCaveat, SituationNotAvailable
    from veilleur.sources import SourceError, SourceEvent, open_source

    try:
        site = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    name = _pick_camera(site, camera, config)
    cam = site.cameras[name]

    events: list[SourceEvent] = []

    def on_event(ev: SourceEvent) -> None:
        events.append(ev)
        if ev.kind != "end_of_stream":
            err.print(
                f"[yellow]source:[/] {ev.kind} at {ev.t:.2f} s: {ev.message}", highlight=False
            )

    try:
        source = open_source(
            video, analysis_fps=cam.analysis_fps, size=cam.analysis_size, on_event=on_event
        )
    except SourceError as exc:
        raise _fail(str(exc)) from None

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SituationNotAvailable)
        warnings.simplefilter("always", BridgingCaveat)
        try:
            # Nothing is blurred here: no privacy cues (docs/pipeline.md, Cost).
            pipeline = CameraPipeline(name, site, privacy_cues=False, detect_every=detect_every)
        except Exception as exc:  # model not found, bad model file: say it plainly
            source.close()
            raise _fail(f"cannot start the analysis: {exc}") from None
    for w in caught:
        err.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    _print_models(pipeline, site.perception_for(name).detector)

    info = source.info
    expected = None
    if info.duration_s:
        expected = int(info.duration_s * cam.analysis_fps) + 1
    counts: Counter[str] = Counter()
    attached: Counter[str] = Counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    last_t = 0.0
    interrupted = False
    with (
        output.open("w", encoding="utf-8") as sink,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} frames"),
            TextColumn("{task.fields[signals]} signals"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not progress,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task(f"{name}", total=expected, signals=0)

        def on_frame(frame: Any, signals: list[Any]) -> None:
            nonlocal last_t
            last_t = frame.t
            # One line per signal, then per further event attached to a signal's episode
            # during its cool-down (`"type": "further_event"`, its signal's `episode`), flushed
            # at once: a crash later loses none of them.
            for sig in signals:
                sink.write(json.dumps({"type": "signal", **sig.to_dict()}) + "\n")
                counts[sig.situation] += 1
            for further in pipeline.further:
                sink.write(json.dumps(further.to_dict()) + "\n")
                attached[further.situation] += 1
            if signals or pipeline.further:
                sink.flush()
            bar.update(task, advance=1, signals=sum(counts.values()))

        try:
            for _ in pipeline.run(prefetch(source.frames()), on_frame=on_frame):
                pass  # written by on_frame, with the frame's further events
        except KeyboardInterrupt:
            interrupted = True
        finally:
            source.close()
    wall = time.perf_counter() - started
    _print_summary(
        name, video, output, pipeline, counts, events, wall, last_t, interrupted, attached
    )
    if interrupted:
        raise typer.Exit(130)


def _print_models(pipeline: Any, configured: str) -> None:
    """Say which detector (and pose model) runs and on what, and warn plainly when `auto`
    fell back to the pose model because YOLOX-nano's file was not found: the figures of a
    run depend on it (persons only, about twice the CPU), and it used to happen silently."""
    from veilleur.perception import registry

    def describe(detector: Any) -> str:
        inner = getattr(detector, "inner", detector)  # a TiledDetector wraps the model
        backend = getattr(inner, "backend", type(inner).__name__)
        threads = getattr(pipeline.perception, "threads", 0)
        tiles = " in tiles" if inner is not detector else ""
        return f"{getattr(inner, 'name', '?')} ({backend}, {threads or 'all'} thread(s){tiles})"

    line = f"detector: {describe(pipeline.detector)}"
    if pipeline.pose is not None:
        line += f"; pose model: {describe(pipeline.pose)}"
    if pipeline.detect_every > 1:
        line += f"; on one frame in {pipeline.detect_every}, the others bridged by the tracks"
    err.print(line, highlight=False)
    fell_back = (
        configured.strip().lower() == "auto"
        and registry.canonical_name(getattr(pipeline.detector, "name", "")) != "yolox-nano"
    )
    if fell_back:
        dirs = registry.models_dirs()
        where = (
            f"VEILLEUR_MODELS_DIR={':'.join(map(str, dirs))} does not hold it"
            if dirs
            else "VEILLEUR_MODELS_DIR is not set"
        )
        spec = registry.get_spec("yolox-nano")
        err.print(
            f"[bold yellow]WARNING:[/] yolox-nano was not found ({where}, nor "
            f"{registry.env_var(spec.name)} nor the user cache): falling back to the pose model "
            f"{getattr(pipeline.detector, 'name', '?')}, which finds persons only (no vehicles "
            "or objects) for about twice the CPU. Fix: point VEILLEUR_MODELS_DIR at the "
            f"folder holding {spec.filename}, or run `veilleur models pull yolox-nano`.",
            highlight=False,
        )


def evaluate(
    truth: Annotated[
        list[Path] | None,
        typer.Option("--truth", "-t", help="Ground-truth file(s) (docs/evaluation.md)."),
    ] = None,
    scenarios: Annotated[
        Path | None,
        typer.Option(
            help="Also generate every synthetic scenario into this folder (with its truth.yaml) "
            "and evaluate it."
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for report.md, report.html and plots.")
    ] = Path("out/evaluation"),
    jobs: Annotated[int, typer.Option(help="Clips analysed in parallel (0: one per core).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the scenario generators.")] = 0,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Only these scenario generators (by module name), with --scenarios."),
    ] = None,
    all_situations: Annotated[
        bool,
        typer.Option(
            "--all-situations",
            help="Run all eight situations on every real clip of the truth files (clips "
            "sharing a video merged into one), so that every signal the truth does not name "
            "is a false alarm; adds the matrix situation x clip to the report "
            "(docs/evaluation.md).",
        ),
    ] = False,
    detect_every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Detect on one analysed frame in N, the frames between bridged by the tracks "
            "(as `analyze --detect-every`); default: each camera's perception.detect_every.",
        ),
    ] = None,
) -> None:
    """Run the detectors on labelled clips and report precision, recall, delay and false
    alarms per situation."""
    from veilleur.evaluation.metrics import summarise
    from veilleur.evaluation.report import write_report
    from veilleur.evaluation.runner import run
    from veilleur.evaluation.truth import TruthError, TruthFile, dump_truth, load_truth

    if not truth and scenarios is None:
        raise _fail("nothing to evaluate: give --truth FILE and/or --scenarios DIR")
    loaded: list[tuple[TruthFile, Path]] = []
    try:
        for t in truth or []:
            loaded.append(load_truth(t))
    except TruthError as exc:
        raise _fail(str(exc)) from None
    plan = None
    if all_situations:
        from veilleur.evaluation.matrix import plan_matrix

        try:
            plan = plan_matrix(loaded, output)
        except (ValueError, OSError) as exc:
            raise _fail(f"cannot build the matrix: {exc}") from None
        synthetic = [
            (TruthFile(clips=[c for c in t.clips if c.synthetic]), base) for t, base in loaded
        ]
        loaded = [(t, base) for t, base in synthetic if t.clips] + [plan.truth()]
    if scenarios is not None:
        from veilleur.evaluation.scenarios import generators

        gens = generators()
        unknown = set(only or []) - set(gens)
        if unknown:
            known = ", ".join(sorted(gens))
            raise _fail(
                f"unknown scenario generator(s) {', '.join(sorted(unknown))}; known: {known}"
            )
        scenarios.mkdir(parents=True, exist_ok=True)
        clips = []
        for name, gen in gens.items():
            if only and name not in only:
                continue
            err.print(f"generating scenarios: {name} ...")
            clips.extend(gen(scenarios, seed))
        generated = TruthFile(clips=clips)
        dump_truth(generated, scenarios / "truth.yaml")
        loaded.append((generated, scenarios.resolve()))
    total = sum(len(t.clips) for t, _ in loaded)
    with Progress(
        TextColumn("[bold]evaluate"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} clips"),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("clips", total=total)
        outcomes = run(
            loaded,
            jobs=jobs or None,
            on_done=lambda o: bar.update(task, advance=1),
            detect_every=detect_every,
        )
    for o in outcomes:
        if o.error:
            err.print(f"[red]clip {o.clip} could not be analysed:[/] {o.error}", highlight=False)
    figs = summarise(outcomes)
    command = "veilleur " + " ".join(sys.argv[1:])
    matrix = None
    if plan is not None:
        from veilleur.evaluation.matrix import matrix_summary

        matrix = matrix_summary(plan, outcomes)
    report = write_report(outcomes, figs, output, command=command, matrix=matrix)
    from veilleur.evaluation.report import situation_rows

    table = Table(title=f"{total} clips (full table in the report)")
    for col in ("situation", "clips", "exp.", "found", "recall", "sig.", "prec.", "rep.",
                "delay s", "FA/h (neg.)"):  # fmt: skip
        table.add_column(col)
    for row in situation_rows(figs):
        table.add_row(*row)
    out.print(table)
    _print_per_event(outcomes)
    out.print(f"report: {report} and {report.with_suffix('.html')}")
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


def _print_per_event(outcomes: list[Any]) -> None:
    """Per event beside per episode: what the signals alone found, and what the signals and
    the further events attached to them during their cool-down found (docs/evaluation.md)."""
    from veilleur.evaluation.episodes import EVENT_HEADER, event_rows, summarise_events

    figs = summarise_events(
        [(o.clip, o.signals, o.further, o.expected) for o in outcomes if o.error is None]
    )
    if not any(f.further for f in figs.values()):
        return  # no cool-down grouped anything: the table above says it all
    table = Table(title="per event: signals and the further events attached to them")
    for col in EVENT_HEADER:
        table.add_column(col)
    for row in event_rows(figs):
        table.add_row(*row)
    out.print(table)


def _print_summary(
    camera: str,
    video: str,
    output: Path,
    pipeline: Any,
    counts: Counter[str],
    events: list[Any],
    wall: float,
    video_s: float,
    interrupted: bool,
    attached: Counter[str] | None = None,
) -> None:
    clock = pipeline.clock
    speed = video_s / wall if wall > 0 else 0.0
    table = Table(title=f"{video} — camera {camera}" + (" (interrupted)" if interrupted else ""))
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("video analysed", f"{video_s:.1f} s")
    table.add_row("frames analysed", str(clock.frames))
    table.add_row("wall time", f"{wall:.1f} s ({speed:.1f}× real time)")
    table.add_row(
        "detector runs (on a motion crop) / skipped (no motion)",
        f"{clock.detector_runs} ({clock.detector_cropped}) / {clock.detector_skipped}",
    )
    for stage, ms in clock.ms_per_frame().items():
        table.add_row(f"  {stage}", f"{ms:.1f} ms/frame")
    table.add_row("source problems", str(len([e for e in events if e.kind != "end_of_stream"])))
    for situation, n in sorted(counts.items()):
        table.add_row(f"signals: {situation}", str(n))
    for situation, n in sorted((attached or {}).items()):
        table.add_row(f"further events attached: {situation}", str(n))
    table.add_row("signals written to", str(output))
    out.print(table)
