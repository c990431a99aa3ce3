"""The evaluation report: Markdown and HTML, with a timeline of signals against truth per clip
and a precision/recall bar per situation."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veilleur.config.situations.registry import all_situations
from veilleur.evaluation.metrics import ClipOutcome, SituationFigures

#: Colour of each situation in the timelines, from its record (config/situations/<id>.py).
COLOURS = {info.id: info.colour for info in all_situations()}


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def situation_rows(figs: dict[str, SituationFigures]) -> list[list[str]]:
    rows = []
    for f in figs.values():
        clips = f"{f.clips} ({f.synthetic_clips} synthetic)" if f.synthetic_clips else str(f.clips)
        rows.append(
            [
                f.situation,
                clips,
                str(f.expected),
                str(f.found),
                _fmt(f.recall),
                str(f.signals),
                _fmt(f.precision),
                str(f.repeats),
                _fmt(f.mean_delay_s, 1),
                f"{_fmt(f.false_alarms_per_hour, 1)} ({f.negative_hours * 60:.1f} min)",
            ]
        )
    return rows


SITUATION_HEADER = [
    "situation",
    "clips",
    "expected",
    "found",
    "recall",
    "signals",
    "precision",
    "repeats",
    "mean delay (s)",
    "false alarms/h on negatives (footage)",
]
CLIP_HEADER = ["clip", "kind", "duration (s)", "expected", "found", "signals", "false alarms"]


def clip_rows(outcomes: list[ClipOutcome]) -> list[list[str]]:
    rows = []
    for o in outcomes:
        kind = "synthetic" if o.synthetic else "real"
        if o.error:
            rows.append([o.clip, kind, "–", str(len(o.expected)), "–", "–", f"ERROR: {o.error}"])
            continue
        found = sum(1 for hits in o.matched.values() if hits)
        rows.append(
            [
                o.clip,
                kind,
                f"{o.duration_s:.1f}",
                str(len(o.expected)),
                str(found),
                str(len(o.signals)),
                str(len(o.false_alarms)),
            ]
        )
    return rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r).replace("\n", " ") + " |" for r in rows]
    return "\n".join(out)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def plot_timeline(outcomes: list[ClipOutcome], path: Path) -> None:
    """One row per clip: truth intervals as bars, signals as markers (x: false alarm)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [o for o in outcomes if o.error is None]
    if not ok:
        return
    height = max(2.0, 0.32 * len(ok) + 1.2)
    fig, ax = plt.subplots(figsize=(11, height))
    for row, o in enumerate(reversed(ok)):
        ax.broken_barh([(0, o.duration_s)], (row - 0.4, 0.8), color="#f2f2f2")
        for e in o.expected:
            ax.broken_barh(
                [(e.start_s, max(e.end_s - e.start_s, 0.2))],
                (row - 0.3, 0.6),
                color=COLOURS.get(e.situation, "grey"),
                alpha=0.35,
            )
        false = set(o.false_alarms)
        for j, s in enumerate(o.signals):
            colour = COLOURS.get(s.situation, "black")
            marker = "x" if j in false else "o"
            ax.plot([s.end_s], [row], marker=marker, color=colour, markersize=6)
    ax.set_yticks(range(len(ok)))
    ax.set_yticklabels([o.clip for o in reversed(ok)], fontsize=7)
    ax.set_xlabel("seconds of the clip (bars: truth intervals; o: signal; x: false alarm)")
    handles = [
        plt.Line2D([], [], color=c, marker="s", linestyle="", label=s) for s, c in COLOURS.items()
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper right", ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_precision_recall(figs: dict[str, SituationFigures], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(figs)
    if not names:
        return
    x = np.arange(len(names))
    precision = [figs[n].precision or 0.0 for n in names]
    recall = [figs[n].recall or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names) + 2), 3.6))
    ax.bar(x - 0.2, precision, 0.4, label="precision", color="#4c72b0")
    ax.bar(x + 0.2, recall, 0.4, label="recall", color="#dd8452")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.axhline(0.8, color="grey", linewidth=0.6, linestyle=":")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(
    outcomes: list[ClipOutcome],
    figs: dict[str, SituationFigures],
    out_dir: Path,
    *,
    title: str = "Veilleur evaluation",
    command: str = "",
    matrix: dict[str, Any] | None = None,
) -> Path:
    """Write report.md, report.html, the two plots, outcomes.json and figures.json (the
    per-situation figures, machine-readable: the technical file reads them); returns report.md.

    `matrix`: every situation on every real clip (`evaluation.matrix.matrix_summary`), added
    to the report, to figures.json (key `matrix`) and alone to matrix.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_timeline(outcomes, out_dir / "timeline.png")
    plot_precision_recall(figs, out_dir / "precision_recall.png")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    synthetic = sorted({o.clip for o in outcomes if o.synthetic})
    note = (
        f"{len(synthetic)} of the {len(outcomes)} clips are synthetic (made by scenario "
        "generators, `synthetic: true`); figures of situations marked with synthetic clips come "
        "wholly or partly from them."
    )
    sit_rows = situation_rows(figs)
    c_rows = clip_rows(outcomes)
    md = [
        f"# {title}",
        "",
        f"Generated {when}" + (f" by `{command}`" if command else "") + ".",
        "",
        note,
        "",
        "## Per situation",
        "",
        _markdown_table(SITUATION_HEADER, sit_rows),
        "",
        "Recall: expected situations reported by a signal. Precision: signals that report an "
        "expected situation (repeats of one included). Delay: from the start of the truth "
        "interval to the first signal. False alarms per hour: on clips where the situation is "
        "enabled and none of it is expected.",
        "",
        "![precision and recall per situation](precision_recall.png)",
        "",
        "## Per clip",
        "",
        _markdown_table(CLIP_HEADER, c_rows),
        "",
        "![signals against truth per clip](timeline.png)",
        "",
    ]
    matrix_html = ""
    if matrix is not None:
        from veilleur.evaluation.matrix import (
            SITUATION_MATRIX_HEADER,
            matrix_markdown,
            matrix_tables,
        )

        section = matrix_markdown(matrix)
        md += [section]
        (out_dir / "matrix.md").write_text(section, encoding="utf-8")
        m_header, m_rows, m_sit = matrix_tables(matrix)
        matrix_html = (
            "<h2>Every situation on every real clip</h2>"
            + _html_table(m_header, [[c.replace("**", "") for c in r] for r in m_rows])
            + _html_table(SITUATION_MATRIX_HEADER, m_sit)
        )
    report = out_dir / "report.md"
    report.write_text("\n".join(md), encoding="utf-8")
    by = f" by <code>{html.escape(command)}</code>" if command else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:13px;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right}}
td:first-child,th:first-child{{text-align:left}} img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1><p>Generated {when}{by}.</p>
<p>{html.escape(note)}</p><h2>Per situation</h2>{_html_table(SITUATION_HEADER, sit_rows)}
<img src="precision_recall.png" alt="precision and recall per situation">
<h2>Per clip</h2>{_html_table(CLIP_HEADER, c_rows)}
<img src="timeline.png" alt="signals against truth per clip">{matrix_html}</body></html>
"""
    (out_dir / "report.html").write_text(page, encoding="utf-8")
    dump = [
        {
            "clip": o.clip,
            "synthetic": o.synthetic,
            "duration_s": round(o.duration_s, 2),
            "error": o.error,
            "signals": [s.to_dict() for s in o.signals],
            "false_alarms": o.false_alarms,
            "matched": {str(k): v for k, v in o.matched.items()},
        }
        for o in outcomes
    ]
    (out_dir / "outcomes.json").write_text(json.dumps(dump, indent=1), encoding="utf-8")
    summary = figures_summary(outcomes, figs, when, command)
    if matrix is not None:
        summary["matrix"] = matrix
    (out_dir / FIGURES_FILE).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return report


FIGURES_FILE = "figures.json"
FIGURES_FORMAT = "veilleur-evaluation-figures-1"


def figures_summary(
    outcomes: list[ClipOutcome], figs: dict[str, SituationFigures], when: str, command: str
) -> dict[str, object]:
    """The per-situation figures of a run as plain JSON data (`FIGURES_FORMAT`)."""
    return {
        "format": FIGURES_FORMAT,
        "generated": when,
        "command": command,
        "clips": len(outcomes),
        "synthetic_clips": sum(1 for o in outcomes if o.synthetic),
        "failed_clips": sum(1 for o in outcomes if o.error),
        "situations": {
            name: {
                "clips": f.clips,
                "synthetic_clips": f.synthetic_clips,
                "expected": f.expected,
                "found": f.found,
                "recall": f.recall,
                "signals": f.signals,
                "precision": f.precision,
                "repeats": f.repeats,
                "false_alarms": f.false_alarms,
                "mean_delay_s": f.mean_delay_s,
                "false_alarms_per_hour": f.false_alarms_per_hour,
                "negative_hours": round(f.negative_hours, 4),
            }
            for name, f in figs.items()
        },
    }
