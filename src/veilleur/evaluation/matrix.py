"""Every situation on every real clip: the false-alarm matrix (issue 10, item 1).

A real clip may appear in several truth files, each naming what one situation should find there
(`real.yaml` names the falls of UP-Fall, `pets_s2l1.yaml` the zone intrusions of PETS, other
files the fires...). For the matrix the clips that share a video become one camera:

- its truth is the union of their expected signals (the same situation over overlapping times
  in the same zone and box counted once);
- its configuration is theirs merged (zones and lines of all; each situation as the first
  entry that enables it configures it), then **every other situation is enabled with its
  defaults**, so that every signal the truth does not name is a false alarm of its situation;
- `zone_intrusion` and `wrong_way` run only where a truth entry of the clip enables them: a
  forbidden zone or an allowed direction is a site's decision, and there is none to make up;
  the matrix says "no zone" there. `crowd_movement`, which needs a zone too, watches the whole
  image (a zone named `whole_image`) where no entry configures it;
- `excessive_density` needs a limit: on a camera without a ground calibration and without
  `max_people` the matrix gives it `max_people: MATRIX_MAX_PEOPLE` on the whole image (more
  people than any clip of ../shared holds: PETS S2L1 has at most 8 in view), so that an
  over-count on an empty or sparse scene shows as a false alarm.

Synthetic clips (`synthetic: true`) are left as they are: the matrix is about real footage.
`plan_matrix` writes the merged configurations beside the report and returns ordinary `Clip`s,
so `runner.run` analyses them like any other; `matrix_summary` and `matrix_markdown` read the
outcomes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from veilleur.config.common import SITUATION_IDS
from veilleur.config.situations.registry import all_situations
from veilleur.evaluation.metrics import ClipOutcome
from veilleur.evaluation.truth import Clip, ExpectedSignal, TruthFile, expand

#: Persons per camera above which `excessive_density` is a false alarm on a camera with no
#: limit of its own (see the module's docstring).
MATRIX_MAX_PEOPLE = 10
MATRIX_DIR = "matrix_configs"
FORMAT = "veilleur-evaluation-matrix-1"

#: The zone `crowd_movement` watches where no entry of the clip configures it.
WHOLE_IMAGE = "whole_image"
NO_ZONE = "no zone"
"""Why a situation did not run on a clip: it needs a zone and the clip's configuration has
none for it."""


@dataclass
class MatrixClip:
    """One real clip of the matrix: the merged truth entries of one video."""

    clip: Clip
    """The merged clip (its config is the merged configuration file)."""
    sources: list[str]
    """`file:clip` of the truth entries merged into it."""
    not_run: dict[str, str] = field(default_factory=dict)
    """Situation → why it did not run on this clip."""


@dataclass
class MatrixPlan:
    clips: list[MatrixClip]
    base: Path
    """Folder the merged clips' relative paths start from."""

    def truth(self) -> tuple[TruthFile, Path]:
        return TruthFile(clips=[m.clip for m in self.clips]), self.base


def _same_event(a: ExpectedSignal, b: ExpectedSignal) -> bool:
    return (
        a.situation == b.situation
        and a.zone == b.zone
        and a.bbox == b.bbox
        and a.start_s <= b.end_s
        and b.start_s <= a.end_s
    )


def merge_expected(lists: list[list[ExpectedSignal]]) -> list[ExpectedSignal]:
    """The union of several truth entries' expected signals; the same situation named twice
    (same zone and box, overlapping times) becomes one, over the union of the two intervals,
    required if either entry requires it."""
    out: list[ExpectedSignal] = []
    for exp in (e for lst in lists for e in lst):
        twin = next((i for i, o in enumerate(out) if _same_event(o, exp)), None)
        if twin is None:
            out.append(exp)
            continue
        o = out[twin]
        out[twin] = o.model_copy(
            update={
                "start_s": min(o.start_s, exp.start_s),
                "end_s": max(o.end_s, exp.end_s),
                "optional": o.optional and exp.optional,
            }
        )
    return out


def _camera(site: dict[str, Any], clip: Clip, path: Path) -> tuple[str, dict[str, Any]]:
    cams = site.get("cameras") or {}
    name = clip.camera or next(iter(cams), None)
    if name is None or name not in cams:
        raise ValueError(f"{path}: camera '{clip.camera}' not found (clip {clip.name})")
    return name, cams[name]


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a site configuration")
    return data


def merge_configs(entries: list[tuple[Clip, Path]]) -> tuple[dict[str, Any], dict[str, str]]:
    """One site configuration (a single camera, `cam`) for the entries of one video, with every
    situation enabled that can run; returns it and the situations that cannot, with why.

    The entry whose camera draws the most zones gives the site-wide settings and the camera's
    own (source, analysis rate, calibration...); zones and lines of the others are added (a
    name drawn differently by two entries keeps the first drawing); each situation is
    configured by the first entry that enables it."""
    loaded = []
    for clip, base in entries:
        path = expand(clip.config, base)
        site = _load(path)
        _, cam = _camera(site, clip, path)
        loaded.append((site, cam))
    order = sorted(range(len(loaded)), key=lambda i: -len(loaded[i][1].get("zones") or {}))
    site0, cam0 = loaded[order[0]]
    merged_cam: dict[str, Any] = {k: v for k, v in cam0.items() if k != "situations"}
    zones: dict[str, Any] = {}
    lines: dict[str, Any] = {}
    situations: dict[str, Any] = {}
    for i in order:
        _, cam = loaded[i]
        for name, zone in (cam.get("zones") or {}).items():
            zones.setdefault(name, zone)
        for name, line in (cam.get("lines") or {}).items():
            lines.setdefault(name, line)
        for sid, scfg in (cam.get("situations") or {}).items():
            if sid not in situations and isinstance(scfg, dict) and scfg.get("enabled"):
                situations[sid] = scfg
    not_run: dict[str, str] = {}
    calibrated = merged_cam.get("calibration") is not None
    for sid in SITUATION_IDS:
        if sid in situations:
            continue
        if sid in ("zone_intrusion", "wrong_way"):
            not_run[sid] = NO_ZONE
            continue
        extra: dict[str, Any] = {"enabled": True}
        if sid == "excessive_density" and not calibrated:
            extra["max_people"] = MATRIX_MAX_PEOPLE
        if sid == "crowd_movement":
            zones.setdefault(WHOLE_IMAGE, {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]})
            extra["zones"] = [WHOLE_IMAGE]
        situations[sid] = extra
    merged_cam["zones"] = zones
    merged_cam["lines"] = lines
    merged_cam["situations"] = {sid: situations[sid] for sid in SITUATION_IDS if sid in situations}
    site = {k: v for k, v in site0.items() if k != "cameras"}
    site["cameras"] = {"cam": merged_cam}
    return site, not_run


def plan_matrix(truths: list[tuple[TruthFile, Path]], out_dir: Path) -> MatrixPlan:
    """Group the real clips of the truth files by video, merge each group (truth and
    configuration, see the module's docstring) and write the merged configurations under
    `out_dir/matrix_configs/`."""
    groups: dict[Path, list[tuple[Clip, Path, str]]] = {}
    for i, (truth, base) in enumerate(truths):
        for clip in truth.clips:
            if clip.synthetic:
                continue
            video = expand(clip.video, base)
            groups.setdefault(video, []).append((clip, base, f"{i}:{clip.name}"))
    folder = out_dir / MATRIX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    clips: list[MatrixClip] = []
    names: set[str] = set()
    for video, entries in groups.items():
        # Named after the entry that names the most (the clip's main truth), else the first.
        name = max(entries, key=lambda e: len(e[0].expected))[0].name
        while name in names:  # two videos whose first entries share a name
            name += "_"
        names.add(name)
        site, not_run = merge_configs([(c, b) for c, b, _ in entries])
        config = folder / f"{name}.yaml"
        config.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
        notes = [c.note for c, _, _ in entries if c.note]
        merged = Clip(
            name=name,
            video=str(video),
            config=str(config.resolve()),
            camera="cam",
            synthetic=False,
            note=max(notes, key=len) if notes else "",
            expected=merge_expected([c.expected for c, _, _ in entries]),
        )
        clips.append(MatrixClip(merged, [s for _, _, s in entries], not_run))
    return MatrixPlan(clips, out_dir.resolve())


@dataclass
class Cell:
    """One situation on one clip."""

    ran: bool
    why_not: str = ""
    signals: int = 0
    true_signals: int = 0
    """Signals that report something the truth names (repeats included)."""
    false_alarms: int = 0
    expected: int = 0
    found: int = 0


def cells(outcome: ClipOutcome, not_run: dict[str, str]) -> dict[str, Cell]:
    out: dict[str, Cell] = {}
    false = set(outcome.false_alarms)
    for sid in SITUATION_IDS:
        if sid in not_run or sid not in outcome.enabled:
            out[sid] = Cell(False, not_run.get(sid, "not enabled"))
            continue
        sig = [j for j, s in enumerate(outcome.signals) if s.situation == sid]
        exp = [i for i, e in enumerate(outcome.expected) if e.situation == sid and not e.optional]
        fa = sum(1 for j in sig if j in false)
        out[sid] = Cell(
            True,
            signals=len(sig),
            true_signals=len(sig) - fa,
            false_alarms=fa,
            expected=len(exp),
            found=sum(1 for i in exp if outcome.matched.get(i)),
        )
    return out


def matrix_summary(plan: MatrixPlan, outcomes: list[ClipOutcome]) -> dict[str, Any]:
    """The matrix as plain JSON data: per clip and situation (signals, true, false alarms,
    expected, found, or why it did not run) and per situation the false alarms per hour of
    footage it ran on (every real clip where it ran, positives included)."""
    by_name = {o.clip: o for o in outcomes}
    rows = []
    totals: dict[str, dict[str, float]] = {
        sid: {
            "clips": 0,
            "hours": 0.0,
            "signals": 0,
            "true_signals": 0,
            "false_alarms": 0,
            "expected": 0,
            "found": 0,
        }
        for sid in SITUATION_IDS
    }
    for m in plan.clips:
        o = by_name.get(m.clip.name)
        if o is None:
            continue
        row: dict[str, Any] = {
            "clip": m.clip.name,
            "note": m.clip.note,
            "sources": m.sources,
            "duration_s": round(o.duration_s, 2),
            "error": o.error,
            "cells": {},
        }
        if o.error is None:
            for sid, c in cells(o, m.not_run).items():
                row["cells"][sid] = (
                    {
                        "signals": c.signals,
                        "true_signals": c.true_signals,
                        "false_alarms": c.false_alarms,
                        "expected": c.expected,
                        "found": c.found,
                    }
                    if c.ran
                    else {"not_run": c.why_not}
                )
                if c.ran:
                    t = totals[sid]
                    t["clips"] += 1
                    t["hours"] += o.duration_s / 3600.0
                    for key in ("signals", "true_signals", "false_alarms", "expected", "found"):
                        t[key] += getattr(c, key)
        rows.append(row)
    situations = {}
    for sid, t in totals.items():
        situations[sid] = {
            "clips": int(t["clips"]),
            "hours": round(t["hours"], 4),
            "signals": int(t["signals"]),
            "true_signals": int(t["true_signals"]),
            "false_alarms": int(t["false_alarms"]),
            "expected": int(t["expected"]),
            "found": int(t["found"]),
            "false_alarms_per_camera_hour": (
                t["false_alarms"] / t["hours"] if t["hours"] > 0 else None
            ),
        }
    return {
        "format": FORMAT,
        "max_people_default": MATRIX_MAX_PEOPLE,
        "clips": rows,
        "situations": situations,
    }


#: Short column names of the situations in the Markdown matrix, from their records.
SHORT = {info.id: info.short for info in all_situations()}


def cell_text(cell: dict[str, Any]) -> str:
    """`signals/true/false`, bold when there is a false alarm, `found/expected` beside it when
    the truth names some; `–` with the reason when the situation did not run."""
    if "not_run" in cell:
        return f"– ({cell['not_run']})"
    text = f"{cell['signals']}/{cell['true_signals']}/{cell['false_alarms']}"
    if cell["false_alarms"]:
        text = f"**{text}**"
    if cell["expected"]:
        text += f" ({cell['found']}/{cell['expected']} found)"
    return text


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def matrix_tables(summary: dict[str, Any]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """(header, clip rows, per-situation rows) of the matrix for Markdown or HTML."""
    header = ["clip", "s"] + [SHORT[s] for s in SITUATION_IDS]
    rows = []
    for r in summary["clips"]:
        if r["error"]:
            rows.append([r["clip"], "–", f"ERROR: {r['error']}"] + [""] * (len(SITUATION_IDS) - 1))
            continue
        rows.append(
            [r["clip"], f"{r['duration_s']:.0f}"]
            + [cell_text(r["cells"][s]) for s in SITUATION_IDS]
        )
    per_sit = []
    for sid in SITUATION_IDS:
        s = summary["situations"][sid]
        per_sit.append(
            [
                sid,
                str(s["clips"]),
                f"{s['hours'] * 60:.1f}",
                str(s["signals"]),
                str(s["true_signals"]),
                str(s["false_alarms"]),
                f"{s['found']}/{s['expected']}" if s["expected"] else "–",
                _fmt(s["false_alarms_per_camera_hour"]),
            ]
        )
    return header, rows, per_sit


SITUATION_MATRIX_HEADER = [
    "situation",
    "clips run",
    "footage (min)",
    "signals",
    "true",
    "false alarms",
    "found/expected",
    "false alarms per camera-hour",
]


def matrix_markdown(summary: dict[str, Any]) -> str:
    """The matrix section of the report (also pasted into docs/evaluation.md)."""
    header, rows, per_sit = matrix_tables(summary)

    def table(h: list[str], rs: list[list[str]]) -> str:
        out = ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rs])

    return "\n".join(
        [
            "## Every situation on every real clip",
            "",
            "All eight situations enabled together on each real clip, with their defaults on "
            "top of the clip's own configuration; every signal the truth does not name is a "
            "false alarm of its situation. Cells: signals/true/false alarms (bold when a false "
            "alarm), with found/expected where the truth names something; s: seconds of "
            "footage. `– (no zone)`: the situation needs a zone and the clip's configuration "
            "draws none for it. `excessive_density` without a calibration or limit of the "
            f"clip's own uses `max_people: {summary['max_people_default']}` on the whole image.",
            "",
            table(header, rows),
            "",
            "False alarms per camera-hour: false alarms over the hours of real footage the "
            "situation ran on (positives included).",
            "",
            table(SITUATION_MATRIX_HEADER, per_sit),
            "",
        ]
    )


DOC_BEGIN = "<!-- matrix:begin"
DOC_END = "<!-- matrix:end -->"


def paste_into(doc: str, matrix_md: str) -> str:
    """`doc` (docs/evaluation.md) with the lines between its matrix markers replaced by the
    body of `matrix_md` (a matrix.md written by `veilleur evaluate --all-situations`, its
    heading dropped)."""
    begin, end = doc.find(DOC_BEGIN), doc.find(DOC_END)
    if begin < 0 or end < begin:
        raise ValueError(f"no '{DOC_BEGIN} ...' and '{DOC_END}' markers in the document")
    body = matrix_md.strip().split("\n")
    if body and body[0].startswith("## "):
        body = body[1:]
    start = doc.index("\n", begin) + 1
    return doc[:start] + "\n".join(body).strip() + "\n" + doc[end:]
