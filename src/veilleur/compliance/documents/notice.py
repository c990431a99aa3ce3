"""The public information notice of an authorisation (SPEC §4; law 2023-380 art. 10: the public
is informed beforehand of the algorithmic processing of images).

Everything it says about the processing comes from the authorisation's row, the cameras it
lists and the retention settings; only the legal references and the product's safeguards are
fixed text. HTML for a web page or a printed poster, PDF (reportlab) for posting.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur.compliance.documents.common import (
    DECREE,
    GDPR,
    LAW,
    SERVED_LABELS,
    DocumentError,
    Sources,
    render_html,
    retention_rows,
    situation_rows,
    software,
    when,
)
from veilleur.store.models import Authorisation, Camera

SAFEGUARDS: tuple[str, ...] = (
    "No biometric identification and no facial recognition: the processing never tells who "
    "a person is, and uses no biometric data.",
    "It detects situations, not people: it raises an attention signal for one of the "
    "predetermined events listed above, and nothing else.",
    "A person reviews every signal: nothing is confirmed and no action is taken "
    "automatically; the services named above decide what to do.",
    "People are blurred in every image the system stores or shows.",
    "No interconnection with other files, no data sent outside the deployment.",
    "Every signal, review, image view and change is written to a tamper-evident journal.",
)
"""What the product guarantees by construction (SPEC §3 S1–S7, S10)."""


def status(auth: Authorisation, sources: Sources) -> str:
    """'revoked', 'ended', 'upcoming' or 'active' at `sources.now`."""
    if auth.revoked_at is not None:
        return "revoked"
    if sources.now >= auth.ends_at:
        return "ended"
    if sources.now < auth.starts_at:
        return "upcoming"
    return "active"


def load(db: Session, authorisation_id: int) -> Authorisation:
    auth = db.get(Authorisation, authorisation_id)
    if auth is None:
        raise DocumentError(
            f"no authorisation {authorisation_id}; see the list on /authorisations or "
            "GET /api/authorisations"
        )
    return auth


def notice_data(db: Session, authorisation_id: int, sources: Sources) -> dict[str, Any]:
    """The facts the notice states, as plain data."""
    auth = load(db, authorisation_id)
    known = set(db.scalars(select(Camera.name).where(Camera.name.in_(auth.cameras))))
    return {
        "id": auth.id,
        "reference": auth.reference,
        "issuer": auth.issuer,
        "controller": auth.controller,
        "rights_contact": auth.rights_contact,
        "served_kind": SERVED_LABELS.get(auth.served_kind, auth.served_kind),
        "served_name": auth.served_name,
        "perimeter": auth.perimeter,
        "cameras": [{"name": c, "configured": c in known} for c in auth.cameras],
        "situations": situation_rows(list(auth.situations)),
        "recipient_services": list(auth.recipient_services),
        "starts_at": when(auth.starts_at),
        "ends_at": when(auth.ends_at),
        "renews_id": auth.renews_id,
        "status": status(auth, sources),
        "revoked_at": when(auth.revoked_at),
        "retention": retention_rows(sources.retention),
        "safeguards": list(SAFEGUARDS),
        "law": LAW,
        "decree": DECREE,
        "gdpr": GDPR,
        "generated": when(sources.now),
        "software": software(),
    }


def notice_html(db: Session, authorisation_id: int, sources: Sources) -> str:
    return render_html("document_notice.html", notice_data(db, authorisation_id, sources))


def notice_pdf(db: Session, authorisation_id: int, sources: Sources) -> bytes:
    """The notice as an A4 PDF (reportlab, pure Python)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )
    from reportlab.platypus.flowables import Flowable

    d = notice_data(db, authorisation_id, sources)
    styles = getSampleStyleSheet()
    body, h1, h2 = styles["BodyText"], styles["Title"], styles["Heading2"]

    def p(text: str, style: Any = body) -> Paragraph:
        # Paragraph reads a small markup language: escape what comes from the data.
        from xml.sax.saxutils import escape

        return Paragraph(escape(text), style)

    def bullets(items: list[str]) -> ListFlowable:
        return ListFlowable(
            [ListItem(p(i), leftIndent=10) for i in items], bulletType="bullet", start="•"
        )

    story: list[Flowable] = [
        p("Public information: algorithmic processing of video images", h1),
        p(
            f"Under the {d['law']} and the {d['decree']}, the images of the cameras listed "
            "below are analysed by an algorithm that detects, in real time, the predetermined "
            "events listed below and signals them to the services named below. It only draws "
            "an operator's attention; it takes no decision by itself."
        ),
    ]
    if d["status"] != "active":
        story.append(p(f"Status of this authorisation on {d['generated']}: {d['status']}.", h2))
    story += [
        p("Why and for what", h2),
        p(f"To secure the {d['served_kind']} \u201c{d['served_name']}\u201d."),
        p("Where", h2),
        p(d["perimeter"]),
        p("Cameras: " + ", ".join(c["name"] for c in d["cameras"]) + "."),
        p("When", h2),
        p(f"From {d['starts_at']} to {d['ends_at']}."),
        p("Which situations are detected", h2),
        bullets([f"{s['label']} ({s['decree']})" for s in d["situations"]]),
        p("Decision", h2),
        p(f"Authorised by {d['issuer']}, decision {d['reference']}."),
        p("Controller and recipients", h2),
        p(f"Controller: {d['controller']}."),
        p("Signals are sent to: " + ", ".join(d["recipient_services"]) + "."),
        p("How long data is kept", h2),
    ]
    table = Table(
        [[p(k), p(v)] for k, v in d["retention"]], colWidths=[120 * mm, 45 * mm], hAlign="LEFT"
    )
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
    story += [
        table,
        p("Your rights", h2),
        p(
            "You may ask for access to images of you, and for their rectification, erasure or "
            f"the restriction of their processing ({d['gdpr']}, articles 15 to 18), at: "
            f"{d['rights_contact']}. You may also lodge a complaint with the CNIL (cnil.fr)."
        ),
        p("Safeguards", h2),
        bullets(d["safeguards"]),
        Spacer(1, 6 * mm),
        p(f"Generated on {d['generated']} by {d['software']} from authorisation {d['id']}."),
    ]
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Public information notice {d['reference']}",
        author=d["controller"],
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    )
    doc.build(story)
    return buffer.getvalue()
