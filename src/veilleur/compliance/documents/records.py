"""Records of processing activities (GDPR art. 30(1)): one record per authorisation.

Each record carries the fields art. 30(1) requires: (a) controller and contact, (b) purposes,
(c) categories of data subjects and of personal data, (d) recipients, (e) transfers, (f)
retention periods, (g) security measures. They come from the authorisations, the database's
own schema (which columns a signal or a review holds), the accounts, the journal's state and
the settings; the security measures are read from what the running code does (the password
hasher's parameters, the journal verified now, the pinned models).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from veilleur.compliance import journal
from veilleur.compliance.documents.common import (
    DECREE,
    GDPR,
    LAW,
    SERVED_LABELS,
    Sources,
    markdown_table,
    render_html,
    retention_rows,
    situation_rows,
    software,
    when,
)
from veilleur.compliance.documents.notice import status
from veilleur.store.models import Authorisation, Review, SignalRow, User

# Columns that are bookkeeping, not data about the situation or the reviewer.
_BOOKKEEPING = {"id", "signal_id", "state", "created_at", "known_limits"}


def _columns(model: Any) -> list[str]:
    return [c.name for c in model.__table__.columns if c.name not in _BOOKKEEPING]


def security_measures(db: Session, sources: Sources) -> list[str]:
    """The measures the platform applies, each stated from the code or data that does it."""
    from veilleur.perception import registry
    from veilleur.privacy import masking
    from veilleur.store import auth as store_auth

    hasher = store_auth._hasher
    chain = journal.verify(db)
    accounts = db.execute(
        select(
            func.count(User.id),
            func.count(User.service),
            func.count(User.training_expires_on),
            func.count(User.habilitation_expires_on),
        ).where(User.active.is_(True))
    ).one()
    unblurred = db.scalar(
        select(func.count(User.id)).where(User.active.is_(True), User.may_view_unblurred)
    )
    measures = [
        "Persons are blurred in every stored or shown image, wherever anything says a person "
        "may be, not only where one was detected: person detections down to a low score "
        "(widened by a margin and visible limbs), persons the detector lost a moment ago, and "
        "everything that moves or differs from a background each camera learns ('persons' "
        "mode); or only the learnt background is shown, everything that differs from it "
        "blurred ('background' mode). Hidden areas are averaged into blocks "
        f"({masking.BLOCKS_PER_SIDE} per side) spread back smoothly; a frame on which "
        "detection did not run is neither stored nor shown (docs/privacy.md gives the "
        "measured result).",
        f"An unblurred view needs a specific privilege ({unblurred} active account(s) hold "
        "it), a stated reason, and is journaled; nothing unblurred is ever stored.",
        "Tamper-evident journal: each entry holds the sha256 of the previous one; verified "
        "when this record was generated: "
        + (f"intact, {chain.entries} entries." if chain.ok else f"BROKEN: {chain.summary()}"),
        f"Passwords hashed with argon2id (memory {hasher.memory_cost} KiB, {hasher.time_cost} "
        f"passes, parallelism {hasher.parallelism}); only the sha256 of session tokens is kept.",
        "Named accounts with roles (operator, supervisor, administrator, auditor); "
        f"{accounts[1]} of {accounts[0]} active accounts are scoped to the cameras of their "
        "service.",
        f"Training and habilitation expiry dates block login once passed ({accounts[2]} "
        f"accounts have a training date, {accounts[3]} a habilitation date).",
        "Cross-site request forgery tokens on every change; session cookies HttpOnly and "
        "SameSite=Strict"
        + (
            f"; sessions expire after {sources.session_ttl_s // 3600} h"
            f"{(sources.session_ttl_s % 3600) // 60:02d}."
            if sources.session_ttl_s
            else "."
        ),
        "Live processing runs only inside an active, unrevoked authorisation, for its cameras "
        "and situations; a supervisor can stop it at once.",
        f"Retention enforced by a purge every {sources.retention.purge_every_s} s that "
        "journals what it deleted.",
        f"Models are local files pinned by sha256 ({len(registry.MODELS)} known); no "
        "telemetry, no cloud call: no data leaves the deployment.",
    ]
    return measures


def records_data(db: Session, sources: Sources) -> dict[str, Any]:
    auths = list(db.scalars(select(Authorisation).order_by(Authorisation.id)))
    signal_data = _columns(SignalRow)
    review_data = _columns(Review)
    records = []
    for a in auths:
        served = SERVED_LABELS.get(a.served_kind, a.served_kind)
        situations = situation_rows(list(a.situations))
        records.append(
            {
                "id": a.id,
                "reference": a.reference,
                "status": status(a, sources),
                "controller": a.controller,
                "contact": a.rights_contact,
                "purpose": (
                    f"Detect in real time, and signal to the recipient services, the "
                    f"predetermined events listed below on the images of the cameras "
                    f"{', '.join(a.cameras)}, to secure the {served} \u201c{a.served_name}\u201d "
                    f"within: {a.perimeter}."
                ),
                "legal_basis": f"{LAW}; {DECREE}; decision {a.reference} of {a.issuer}.",
                "situations": situations,
                "period": f"{when(a.starts_at)} to {when(a.ends_at)}",
                "revoked": when(a.revoked_at),
                "subjects": [
                    "Persons present within the perimeter filmed by the cameras listed "
                    "(members of the public, staff).",
                    "Users of the platform (operators, supervisors, administrators, auditors "
                    "of the recipient services).",
                ],
                "data": [
                    "Images of persons in public spaces, analysed in memory; persons blurred "
                    "in every stored snapshot and clip. No biometric data.",
                    "Signals: " + ", ".join(signal_data) + ".",
                    "Qualifications of signals by operators: " + ", ".join(review_data) + ".",
                    "Missed-situation reports by operators: situation, camera, time, account, "
                    "optional comment.",
                    "Journal of actions: time, account, action, target, details, hash chain.",
                    "User accounts: name, role, service, training and habilitation dates.",
                ],
                "recipients": list(a.recipient_services),
                "cameras": list(a.cameras),
            }
        )
    return {
        "records": records,
        "transfers": "None. No data leaves the deployment: no telemetry, no cloud call, "
        "models loaded from local files; no transfer to a third country or an international "
        "organisation.",
        "retention": retention_rows(sources.retention),
        "security": security_measures(db, sources),
        "gdpr": GDPR,
        "generated": when(sources.now),
        "software": software(),
    }


def records_html(db: Session, sources: Sources) -> str:
    return render_html("document_records.html", records_data(db, sources))


def records_markdown(db: Session, sources: Sources) -> str:
    d = records_data(db, sources)
    out = [
        "# Records of processing activities (GDPR art. 30)",
        "",
        f"Generated on {d['generated']} by {d['software']} from the platform's database.",
        "",
    ]
    if not d["records"]:
        out += ["No authorisation is recorded: no live processing can run.", ""]
    for r in d["records"]:
        situations = "; ".join(f"{s['label']} ({s['decree']})" for s in r["situations"])
        rows = [
            ["(a) Controller", r["controller"]],
            ["(a) Contact (rights, DPO)", r["contact"]],
            ["(b) Purpose", r["purpose"]],
            ["Predetermined events", situations],
            ["Legal basis", r["legal_basis"]],
            ["Period", r["period"] + (f" (revoked {r['revoked']})" if r["revoked"] else "")],
            ["(c) Data subjects", " ".join(r["subjects"])],
            ["(c) Personal data", " ".join(r["data"])],
            ["(d) Recipients", ", ".join(r["recipients"])],
            ["(e) Transfers", d["transfers"]],
            ["(f) Retention", "; ".join(f"{k}: {v}" for k, v in d["retention"])],
        ]
        out += [
            f"## Record {r['id']}: authorisation {r['reference']} ({r['status']})",
            "",
            markdown_table(["field", "value"], rows),
            "",
        ]
    out += ["## (g) Security measures (all records)", ""]
    out += [f"- {m}" for m in d["security"]]
    out.append("")
    return "\n".join(out)
