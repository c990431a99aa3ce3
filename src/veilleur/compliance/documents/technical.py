"""The technical file (SPEC §5; AI Act art. 11 and annex IV in spirit): models, software
version, each camera's situations and thresholds, the known limits of each situation and the
accuracy measured by `veilleur evaluate`.

Models come from the model registry (the same code path as `veilleur models list`: where each
file resolves and whether its sha256 is the pinned one), cameras from their stored
configurations, known limits from the situation classes, accuracy from the `figures.json` an
evaluation run writes (`veilleur.evaluation.report.FIGURES_FILE`), with its matrix of every
situation on every real clip when the run was made with `--all-situations`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.compliance.documents.common import (
    DocumentError,
    Sources,
    fmt_number,
    markdown_table,
    render_html,
    situation_rows,
    software,
    when,
)
from veilleur.config.situations.registry import situation_ids
from veilleur.store.cameras import camera_config
from veilleur.store.models import Camera

EVALUATION_HEADER = [
    "situation", "clips (synthetic)", "expected", "found", "recall", "signals", "precision",
    "mean delay (s)", "false alarms/h on negatives",
]  # fmt: skip


def load_evaluation(path: Path | None) -> dict[str, Any] | None:
    """The figures of an evaluation run: `path` is its `figures.json` or its output folder."""
    from veilleur.evaluation.report import FIGURES_FILE, FIGURES_FORMAT

    if path is None:
        return None
    file = path / FIGURES_FILE if path.is_dir() else path
    if not file.is_file():
        raise DocumentError(
            f"no evaluation figures at {file}: run `veilleur evaluate --out DIR` and pass "
            f"DIR or DIR/{FIGURES_FILE}"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocumentError(f"{file} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FIGURES_FORMAT:
        raise DocumentError(
            f"{file} is not a {FIGURES_FILE} written by `veilleur evaluate` "
            f"(format {FIGURES_FORMAT})"
        )
    data["path"] = str(file)
    return data


def _models(detectors_in_use: dict[str, list[str]]) -> list[dict[str, Any]]:
    from veilleur.perception import registry

    rows = []
    for spec, found in registry.iter_status():
        ok: bool | None = None
        if found is not None:
            ok, _actual = registry.verify(found.path, name=spec.name)
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "file": spec.filename,
                "sha256": spec.sha256,
                "licence": spec.licence,
                "source": spec.source_url,
                "note": spec.task_note,
                "found": str(found.path) if found else None,
                "verified": ok,
                "cameras": detectors_in_use.get(spec.name, []),
            }
        )
    return rows


def _fingerprint(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def technical_data(
    db: Session, sources: Sources, *, cameras: set[str] | None = None
) -> dict[str, Any]:
    """`cameras`: only these cameras (a caller's scope); None: all."""
    from veilleur.perception import registry
    from veilleur.situations import IMPLEMENTED, known_limits

    default_detector = registry.default_detector_name()
    camera_rows = []
    in_use: dict[str, list[str]] = {}
    for row in db.scalars(select(Camera).order_by(Camera.name)):
        if cameras is not None and row.name not in cameras:
            continue
        cfg = camera_config(row)
        detector = cfg.perception.detector if cfg.perception else "auto"
        resolved = default_detector if detector == "auto" else registry.canonical_name(detector)
        in_use.setdefault(resolved, []).append(row.name)
        situations = []
        for sid, scfg in cfg.situations.items():
            if not scfg.enabled:
                continue
            params = scfg.model_dump(mode="json", exclude={"enabled"})
            situations.append(
                {
                    "id": sid,
                    "params": ", ".join(f"{k}={json.dumps(v)}" for k, v in params.items()),
                }
            )
        camera_rows.append(
            {
                "name": row.name,
                "mode": cfg.mode,
                "processing": row.processing,
                "analysis_fps": cfg.analysis_fps,
                "detector": f"{detector} ({resolved})" if detector == "auto" else detector,
                "config_fingerprint": _fingerprint(row.config),
                "zones": sorted(cfg.zones),
                "lines": sorted(cfg.lines),
                "services": list(row.services or []),
                "situations": situations,
            }
        )
    limits = [
        {
            **label,
            "implemented": label["id"] in IMPLEMENTED,
            "limits": known_limits(label["id"]) or "Not analysed by this version.",
        }
        for label in situation_rows(list(situation_ids()))
    ]
    evaluation = load_evaluation(sources.evaluation)
    eval_rows = []
    if evaluation is not None:
        for name, f in evaluation.get("situations", {}).items():
            eval_rows.append(
                [
                    name,
                    f"{f['clips']} ({f['synthetic_clips']})",
                    str(f["expected"]),
                    str(f["found"]),
                    fmt_number(f["recall"]),
                    str(f["signals"]),
                    fmt_number(f["precision"]),
                    fmt_number(f["mean_delay_s"], 1),
                    fmt_number(f["false_alarms_per_hour"], 1),
                ]
            )
    matrix = _matrix(evaluation)
    return {
        "matrix": matrix,
        "software": software(),
        "generated": when(sources.now),
        "default_detector": default_detector,
        "models": _models(in_use),
        "cameras": camera_rows,
        "situations": limits,
        "evaluation": evaluation,
        "evaluation_header": EVALUATION_HEADER,
        "evaluation_rows": eval_rows,
    }


def _matrix(evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    """The matrix situation × real clip of the run (`veilleur evaluate --all-situations`), as
    tables: per clip, and false alarms per camera-hour per situation."""
    from veilleur.evaluation.matrix import SITUATION_MATRIX_HEADER, matrix_tables

    if evaluation is None or not isinstance(evaluation.get("matrix"), dict):
        return None
    header, rows, per_situation = matrix_tables(evaluation["matrix"])
    return {
        "header": header,
        "rows": [[c.replace("**", "") for c in r] for r in rows],
        "situation_header": SITUATION_MATRIX_HEADER,
        "situation_rows": per_situation,
    }


def technical_html(db: Session, sources: Sources, *, cameras: set[str] | None = None) -> str:
    return render_html("document_technical.html", technical_data(db, sources, cameras=cameras))


def technical_markdown(db: Session, sources: Sources, *, cameras: set[str] | None = None) -> str:
    d = technical_data(db, sources, cameras=cameras)
    out = [
        "# Technical file",
        "",
        f"Generated on {d['generated']} by {d['software']}. Default person detector: "
        f"{d['default_detector']}.",
        "",
        "## Models",
        "",
        markdown_table(
            ["name", "kind", "file", "sha256", "licence", "found", "sha256 checked", "cameras"],
            [
                [
                    m["name"],
                    m["kind"],
                    m["file"],
                    m["sha256"],
                    m["licence"],
                    m["found"] or "missing",
                    {True: "ok", False: "MISMATCH", None: "–"}[m["verified"]],
                    ", ".join(m["cameras"]) or "–",
                ]
                for m in d["models"]
            ],
        ),
        "",
        "## Cameras",
        "",
    ]
    if not d["cameras"]:
        out += ["No camera is configured.", ""]
    for c in d["cameras"]:
        out += [
            f"### {c['name']}",
            "",
            f"Mode {c['mode']}, processing {'on' if c['processing'] else 'off'}, "
            f"{c['analysis_fps']} analysed frames/s, detector {c['detector']}, configuration "
            f"{c['config_fingerprint']}; zones: {', '.join(c['zones']) or '–'}; lines: "
            f"{', '.join(c['lines']) or '–'}; services: {', '.join(c['services']) or '–'}.",
            "",
            markdown_table(
                ["situation", "thresholds"], [[s["id"], s["params"]] for s in c["situations"]]
            )
            if c["situations"]
            else "No situation enabled.",
            "",
        ]
    out += [
        "## Situations and their known limits",
        "",
        markdown_table(
            ["situation", "decree wording", "analysed", "known limits"],
            [
                [s["id"], s["decree"], "yes" if s["implemented"] else "no", s["limits"]]
                for s in d["situations"]
            ],
        ),
        "",
        "## Measured accuracy (`veilleur evaluate`)",
        "",
    ]
    ev = d["evaluation"]
    if ev is None:
        out += ["No evaluation was given: generate with `--evaluation PATH`.", ""]
    else:
        out += [
            f"From `{ev['path']}`, generated {ev['generated']} by `{ev['command']}`: "
            f"{ev['clips']} clips, {ev['synthetic_clips']} of them synthetic, "
            f"{ev['failed_clips']} failed.",
            "",
            markdown_table(d["evaluation_header"], d["evaluation_rows"]),
            "",
        ]
    mx = d["matrix"]
    if mx is not None:
        out += [
            "### Every situation on every real clip",
            "",
            "All eight situations enabled together on each real clip; a signal the truth does "
            "not name is a false alarm. Per situation, false alarms per camera-hour of real "
            "footage it ran on:",
            "",
            markdown_table(mx["situation_header"], mx["situation_rows"]),
            "",
            "Per clip (signals/true/false alarms; found/expected where the truth names some):",
            "",
            markdown_table(mx["header"], mx["rows"]),
            "",
        ]
    return "\n".join(out)
