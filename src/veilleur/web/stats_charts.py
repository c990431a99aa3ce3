"""SVG line charts of the statistics mode's aggregates (no script, no CDN): used by the
/statistics page and by `veilleur stats` for its offline report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from markupsafe import Markup

PALETTE = ("#1f6fb2", "#d9822b", "#2f7d4f", "#8e7cc3", "#c0392b", "#6b7a8f", "#b8860b")

METRIC_TITLES = {
    "zone_entries": "Entries into each zone",
    "line_crossings": "Line crossings",
    "occupancy_mean": "Persons present (mean per bucket)",
    "occupancy_max": "Persons present (largest per bucket)",
    "density": "Density (persons per m², mean per bucket)",
}


def series_label(metric: str, subject: str, direction: str) -> str:
    label = subject or "whole picture"
    return f"{label} {direction}" if direction else label


def series_svg(series: Mapping[str, Sequence[tuple[datetime, float]]], *, title: str) -> Markup:
    """One line per named series over time, with a legend; values at their bucket's start."""
    points = [p for s in series.values() for p in s]
    if not points:
        return Markup('<p class="muted">No figure in this period.</p>')
    width, height, left, right, top, bottom = 900, 240, 52, 10, 12, 52
    t0 = min(t for t, _ in points).timestamp()
    t1 = max(t for t, _ in points).timestamp()
    span = (t1 - t0) or 1.0
    top_v = max(v for _, v in points)
    top_v = top_v if top_v > 0 else 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(t: datetime, v: float) -> tuple[float, float]:
        x = left + plot_w * ((t.timestamp() - t0) / span if t1 > t0 else 0.5)
        return x, top + plot_h * (1 - v / top_v)

    shown = f"{top_v:.3g}"
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" width="100%"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'class="axis" stroke="#888"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" class="chart-value" '
        f'font-size="11">{shown}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" class="chart-value" '
        'font-size="11">0</text>',
    ]
    first = min(t for t, _ in points)
    last = max(t for t, _ in points)
    for t, anchor in ((first, "start"), (last, "end")):
        x, _ = xy(t, 0)
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="{anchor}" '
            f'class="chart-label" font-size="11">{escape(t.strftime("%Y-%m-%d %H:%M"))}</text>'
        )
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        ordered = sorted(pts)
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in ordered))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if len(ordered) == 1:
            x, y = xy(*ordered[0])
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
        lx = left + (i % 4) * 210
        ly = height - 18 + (i // 4) * 14
        parts.append(
            f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{ly}" class="chart-label" font-size="11">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def charts_by_metric(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, Markup]]:
    """(camera, metric title, chart) for each camera and metric present in `rows`."""
    grouped: dict[tuple[str, str], dict[str, list[tuple[datetime, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        label = series_label(r["metric"], r["subject"], r["direction"])
        grouped[(r["camera"], r["metric"])][label].append((r["bucket_start"], float(r["value"])))
    order = list(METRIC_TITLES)
    out = []
    for camera, metric in sorted(grouped, key=lambda k: (k[0], order.index(k[1]))):
        title = f"{camera}: {METRIC_TITLES[metric]}"
        out.append((camera, METRIC_TITLES[metric], series_svg(grouped[(camera, metric)],
                                                              title=title)))  # fmt: skip
    return out
