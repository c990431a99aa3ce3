"""What every generated document shares: where its facts come from, the legal references it
cites, situation wording, tables, templates and the document value itself."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape

from veilleur import __version__
from veilleur.config.situations.registry import all_situations, find, situation_ids

if TYPE_CHECKING:
    from veilleur.config.server import RetentionSettings

Kind = Literal["notice", "records", "technical", "accountability"]
KINDS: tuple[str, ...] = ("notice", "records", "technical", "accountability")
FORMATS: dict[str, tuple[str, ...]] = {
    "notice": ("html", "pdf"),
    "records": ("html", "md"),
    "technical": ("html", "md"),
    "accountability": ("html", "csv"),
}
"""The formats each kind of document is generated in; the first is the default."""
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}

# Legal references the documents cite. They are the texts the product implements (SPEC, top),
# not facts of a deployment, so they are constants here.
LAW = "loi n° 2023-380 du 19 mai 2023, article 10"
DECREE = "décret n° 2023-828 du 28 août 2023"
GDPR = "règlement (UE) 2016/679 (RGPD)"

DECREE_WORDING: dict[str, str] = {info.id: info.decree_wording for info in all_situations()}
"""The eight predetermined events as the decree (art. 3) words them (from each situation's
record, config/situations/<id>.py)."""

SERVED_LABELS = {
    "sporting_event": "sporting event",
    "recreational_event": "recreational event",
    "cultural_event": "cultural event",
    "transport_network": "transport network",
}


class DocumentError(ValueError):
    """A document cannot be generated as asked (unknown authorisation, kind or format); the
    message says what to change."""


def situation_label(situation: str) -> str:
    """Plain-language wording of a situation: its record's description (which is also that of
    its configuration field)."""
    info = find(situation)
    return situation if info is None else info.description.rstrip(".")


def situation_rows(situations: list[str]) -> list[dict[str, str]]:
    """id, plain-language label and decree wording of each situation, in the decree's order."""
    known = situation_ids()
    ordered = [s for s in known if s in situations] + [s for s in situations if s not in known]
    return [
        {"id": s, "label": situation_label(s), "decree": DECREE_WORDING.get(s, "")} for s in ordered
    ]


@dataclass(frozen=True)
class Sources:
    """The settings a document reads besides the database."""

    retention: RetentionSettings
    session_ttl_s: int | None = None
    """How long a console session lasts (a security measure); None: not known here."""
    evaluation: Path | None = None
    """`figures.json` of a `veilleur evaluate` run, or the folder holding it."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Document:
    """A generated document, ready to be written or served."""

    kind: str
    fmt: str
    filename: str
    content: bytes
    authorisation_id: int | None = None

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]

    def text(self) -> str:
        return self.content.decode("utf-8")


def retention_rows(retention: RetentionSettings) -> list[tuple[str, str]]:
    """(kind of data, period) of every retention setting, in words."""
    return [
        ("Blurred snapshots and clips of signals", f"{retention.images_days} days"),
        (
            "Signals, their qualifications, calibration records and missed-situation reports",
            f"{retention.signals_days} days",
        ),
        ("Journal of actions (tamper-evident)", f"{retention.journal_days} days"),
        ("Anonymous statistics", f"{retention.statistics_days} days"),
    ]


def when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def software() -> str:
    return f"Veilleur {__version__}"


def fmt_number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def escape(text: str) -> str:
    return html.escape(text)


_env = Environment(
    loader=PackageLoader("veilleur.compliance.documents", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = when
_env.filters["num"] = fmt_number


def render_html(template: str, context: dict[str, Any]) -> str:
    return _env.get_template(template).render(**context)
