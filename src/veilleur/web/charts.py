"""Small SVG charts drawn on the server (no script, no CDN): the dashboard's figures."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

#: Verdict colours, also used by the legend in the stylesheet.
COLOURS = {
    "confirmed": "#2f7d4f",
    "false_alarm": "#c0392b",
    "not_actionable": "#8e7cc3",
    "pending": "#9aa5b1",
}
LABELS = {
    "confirmed": "confirmed",
    "false_alarm": "false alarm",
    "not_actionable": "not actionable",
    "pending": "not yet qualified",
}
KEYS = tuple(COLOURS)


def stacked_bars(rows: Sequence[tuple[str, dict[str, int]]], *, title: str) -> Markup:
    """Horizontal bars, one per row label, stacked by verdict."""
    if not rows:
        return Markup('<p class="muted">No signal in this period.</p>')
    label_w, bar_w, row_h = 170, 420, 26
    top = 8
    height = top + row_h * len(rows) + 8
    biggest = max(sum(counts.get(k, 0) for k in KEYS) for _, counts in rows) or 1
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 '
        f'{label_w + bar_w + 60} {height}" width="100%">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, counts) in enumerate(rows):
        y = top + i * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="chart-label">'
            f"{escape(label)}</text>"
        )
        x = float(label_w)
        total = 0
        for key in KEYS:
            n = counts.get(key, 0)
            if n <= 0:
                continue
            w = bar_w * n / biggest
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                f'fill="{COLOURS[key]}"><title>{escape(label)}: {n} {LABELS[key]}</title></rect>'
            )
            x += w
            total += n
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 17}" class="chart-value">{total}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def day_columns(days: Sequence[tuple[str, dict[str, int]]], *, title: str) -> Markup:
    """Vertical columns, one per day, stacked by verdict."""
    if not days:
        return Markup('<p class="muted">No day to show.</p>')
    width, height, left, bottom = 1000, 220, 40, 36
    plot_h = height - bottom - 10
    biggest = max(sum(c.get(k, 0) for k in KEYS) for _, c in days) or 1
    col = (width - left) / len(days)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" width="100%"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{10 + plot_h}" x2="{width}" y2="{10 + plot_h}" class="axis"/>',
        f'<text x="{left - 4}" y="16" text-anchor="end" class="chart-value">{biggest}</text>',
        f'<text x="{left - 4}" y="{10 + plot_h}" text-anchor="end" class="chart-value">0</text>',
    ]
    every = max(1, len(days) // 10)  # at most ~10 date labels
    for i, (day, counts) in enumerate(days):
        x = left + i * col + col * 0.15
        w = col * 0.7
        y = 10.0 + plot_h
        for key in KEYS:
            n = counts.get(key, 0)
            if n <= 0:
                continue
            h = plot_h * n / biggest
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[key]}"><title>{escape(day)}: {n} {LABELS[key]}</title></rect>'
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + w / 2:.1f}" y="{height - 18}" text-anchor="middle" '
                f'class="chart-label">{escape(day[5:])}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
