"""Documents the deployer needs, generated from the platform's own data (SPEC §4, §5):

- `notice`: the public information notice of an authorisation (HTML, PDF);
- `records`: the records of processing activities, GDPR art. 30 (HTML, Markdown);
- `technical`: the technical file: models, versions, thresholds, known limits, measured
  accuracy (HTML, Markdown);
- `accountability`: figures from the operators' qualifications (HTML, CSV).

`generate` makes one; `record_generation` journals that it was made (`document.generated`).
The CLI (`veilleur documents`), the REST API and the console all go through these two.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from veilleur.compliance.documents.accountability import (
    BUCKETS,
    accountability_csv,
    accountability_data,
    accountability_html,
)
from veilleur.compliance.documents.common import (
    FORMATS,
    KINDS,
    Document,
    DocumentError,
    Sources,
)
from veilleur.compliance.documents.notice import notice_data, notice_html, notice_pdf
from veilleur.compliance.documents.records import records_data, records_html, records_markdown
from veilleur.compliance.documents.technical import (
    load_evaluation,
    technical_data,
    technical_html,
    technical_markdown,
)
from veilleur.store.journal import append as journal_append


def check_request(kind: str, fmt: str | None, authorisation_id: int | None) -> str:
    """The format to use; DocumentError naming what is wrong."""
    if kind not in KINDS:
        raise DocumentError(f"unknown document {kind!r}; one of: {', '.join(KINDS)}")
    fmt = fmt or FORMATS[kind][0]
    if fmt not in FORMATS[kind]:
        raise DocumentError(
            f"the {kind} document comes as {' or '.join(FORMATS[kind])}, not {fmt!r}"
        )
    if kind == "notice" and authorisation_id is None:
        raise DocumentError("the notice is made for one authorisation: give its id")
    return fmt


def generate(
    db: Session,
    kind: str,
    fmt: str | None,
    sources: Sources,
    *,
    authorisation_id: int | None = None,
    by: str = "day",
    since: datetime | None = None,
    until: datetime | None = None,
    cameras: set[str] | None = None,
) -> Document:
    """Make one document. `cameras` limits camera-specific content (technical file,
    accountability report) to a caller's scope; None: every camera."""
    fmt = check_request(kind, fmt, authorisation_id)
    stamp = sources.now.strftime("%Y%m%d-%H%M%S")
    content: bytes
    if kind == "notice":
        assert authorisation_id is not None
        if fmt == "pdf":
            content = notice_pdf(db, authorisation_id, sources)
        else:
            content = notice_html(db, authorisation_id, sources).encode()
        name = f"notice-{authorisation_id}"
    elif kind == "records":
        text = records_html(db, sources) if fmt == "html" else records_markdown(db, sources)
        content, name = text.encode(), "records"
    elif kind == "technical":
        text = (
            technical_html(db, sources, cameras=cameras)
            if fmt == "html"
            else technical_markdown(db, sources, cameras=cameras)
        )
        content, name = text.encode(), "technical-file"
    else:
        render = accountability_html if fmt == "html" else accountability_csv
        text = render(db, sources, by=by, since=since, until=until, cameras=cameras)
        content, name = text.encode(), f"accountability-{by}"
    return Document(
        kind=kind,
        fmt=fmt,
        filename=f"{name}-{stamp}.{fmt}",
        content=content,
        authorisation_id=authorisation_id if kind == "notice" else None,
    )


def record_generation(db: Session, actor: str, document: Document) -> None:
    """Journal that `actor` generated `document` (kind, format, authorisation), and commit."""
    details: dict[str, object] = {"kind": document.kind, "format": document.fmt}
    if document.authorisation_id is not None:
        details["authorisation"] = document.authorisation_id
    target = (
        f"authorisation:{document.authorisation_id}"
        if document.authorisation_id is not None
        else f"document:{document.kind}"
    )
    try:
        journal_append(db, actor, "document.generated", target, details)
        db.commit()
    except BaseException:
        db.rollback()
        raise


__all__ = [
    "BUCKETS",
    "FORMATS",
    "KINDS",
    "Document",
    "DocumentError",
    "Sources",
    "accountability_csv",
    "accountability_data",
    "accountability_html",
    "check_request",
    "generate",
    "load_evaluation",
    "notice_data",
    "notice_html",
    "notice_pdf",
    "record_generation",
    "records_data",
    "records_html",
    "records_markdown",
    "technical_data",
    "technical_html",
    "technical_markdown",
]
