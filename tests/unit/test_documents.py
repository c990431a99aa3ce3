"""Generated documents (SPEC §4, §5): their content comes from the data, on SQLite and
PostgreSQL; the PDF notice is a valid PDF; the accountability figures are computed right."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from veilleur import store
from veilleur.compliance import documents
from veilleur.compliance.documents.accountability import percentile
from veilleur.config.server import RetentionSettings
from veilleur.store import missed as missed_store

pytest_plugins = ["db_fixtures"]

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)

CAMERA = {
    "source": "/videos/gare.mp4",
    "analysis_fps": 5,
    "zones": {"quai": {"polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}},
    "situations": {
        "zone_intrusion": {"enabled": True, "zones": ["quai"], "min_duration_s": 1.5},
        "fire_start": {"enabled": True},
    },
}


def sources(**kw: object) -> documents.Sources:
    return documents.Sources(retention=RetentionSettings(**kw), now=NOW)  # type: ignore[arg-type]


def authorisation(s: Session, **kw: object) -> store.Authorisation:
    values: dict[str, object] = {
        "reference": "2026-PP-0142",
        "issuer": "Préfet de police de Paris",
        "controller": "Direction de l'ordre public",
        "rights_contact": "dpo@interieur.example, 1 place Beauvau, Paris",
        "served_kind": "sporting_event",
        "served_name": "Marathon de Paris 2026",
        "perimeter": "Avenue des Champs-Élysées and its approaches",
        "cameras": ["gare-nord", "parvis"],
        "situations": ["fire_start", "zone_intrusion"],
        "recipient_services": ["police-nationale", "pompiers"],
        "starts_at": datetime(2026, 3, 10, 6, 0, tzinfo=UTC),
        "ends_at": datetime(2026, 4, 6, 22, 0, tzinfo=UTC),
        "created_by": "admin",
    }
    values.update(kw)
    row = store.Authorisation(**values)
    s.add(row)
    s.commit()
    return row


def test_notice_states_the_authorisation_and_follows_its_changes(db_session: Session) -> None:
    store.upsert_camera(db_session, "gare-nord", CAMERA)
    auth = authorisation(db_session)
    html = documents.notice_html(db_session, auth.id, sources(images_days=9, signals_days=200))
    for text in (
        "2026-PP-0142", "Préfet de police de Paris", "Direction de l&#39;ordre public",
        "dpo@interieur.example", "Marathon de Paris 2026", "sporting event",
        "Champs-Élysées", "<li>gare-nord</li>", "<li>parvis</li>", "police-nationale, pompiers",
        "2026-03-10 06:00 UTC", "2026-04-06 22:00 UTC", "Flames or smoke appearing",
        "départs de feux", "Entry into or presence in a forbidden zone", "9 days", "200 days",
        "loi n° 2023-380", "décret n° 2023-828", "No biometric identification",
    ):  # fmt: skip
        assert text in html, text
    # Situations not authorised are not announced; an active authorisation has no status line.
    assert "Weapon" not in html and "A weapon held" not in html
    assert 'id="notice-status"' not in html

    auth.cameras = ["quai-3"]
    auth.situations = ["weapon"]
    auth.rights_contact = "droits@prefecture.example"
    auth.revoked_at = NOW - timedelta(days=1)
    db_session.commit()
    html = documents.notice_html(db_session, auth.id, sources(images_days=3))
    assert "<li>quai-3</li>" in html and "gare-nord" not in html
    assert "A weapon held or visible" in html and "Flames" not in html
    assert "droits@prefecture.example" in html and "3 days" in html and "9 days" not in html
    assert 'id="notice-status"' in html and "revoked" in html


def test_notice_pdf_is_a_pdf_with_the_reference(db_session: Session) -> None:
    auth = authorisation(db_session, reference="ARR-77-2026-555")
    pdf = documents.notice_pdf(db_session, auth.id, sources(images_days=11))
    assert pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for expected in (
        "ARR-77-2026-555", "Marathon de Paris 2026", "gare-nord", "11 days",
        "dpo@interieur.example", "présence", "No biometric identification",
    ):  # fmt: skip
        assert expected in text, expected


def test_unknown_authorisation_and_bad_requests_are_refused(db_session: Session) -> None:
    with pytest.raises(documents.DocumentError, match="no authorisation 99"):
        documents.generate(db_session, "notice", "html", sources(), authorisation_id=99)
    with pytest.raises(documents.DocumentError, match="give its id"):
        documents.generate(db_session, "notice", None, sources())
    with pytest.raises(documents.DocumentError, match="html or md, not 'pdf'"):
        documents.generate(db_session, "records", "pdf", sources())
    with pytest.raises(documents.DocumentError, match="unknown document"):
        documents.generate(db_session, "minutes", None, sources())


def test_records_have_the_art30_fields_from_the_data(db_session: Session) -> None:
    empty = documents.records_markdown(db_session, sources())
    assert "No authorisation is recorded" in empty
    store.create_user(db_session, "op", "password-123", "operator")
    auth = authorisation(db_session)
    authorisation(db_session, reference="2026-PP-0200", controller="RATP sûreté",
                  served_kind="transport_network", served_name="Ligne 13",
                  recipient_services=["gpsr"])  # fmt: skip
    md = documents.records_markdown(db_session, sources(journal_days=400, statistics_days=30))
    html = documents.records_html(db_session, sources())
    assert md.count("## Record ") == 2 and html.count('id="record-') == 2
    for text in (
        f"## Record {auth.id}: authorisation 2026-PP-0142 (active)",
        "Direction de l'ordre public", "dpo@interieur.example", "Marathon de Paris 2026",
        "RATP sûreté", "transport network", "Ligne 13", "gpsr", "police-nationale, pompiers",
        "Journal of actions (tamper-evident): 400 days", "Anonymous statistics: 30 days",
        "(e) Transfers | None", "départs de feux",
        # Categories of data from the schema itself; security measures from the code.
        "situation, camera, zone", "verdict, comment", "argon2id (memory 65536 KiB",
        "verified when this record was generated: intact", "Persons are blurred",
    ):  # fmt: skip
        assert text in md, text
    assert "track" not in md.lower()


def test_technical_file_models_cameras_limits_and_evaluation(
    db_session: Session, tmp_path: Path
) -> None:
    from veilleur.evaluation.metrics import ClipOutcome, SituationFigures
    from veilleur.evaluation.report import write_report
    from veilleur.perception import registry
    from veilleur.situations import known_limits

    store.upsert_camera(db_session, "gare-nord", CAMERA)
    md = documents.technical_markdown(db_session, sources())
    assert "veilleur evaluate" in md and "--evaluation PATH" in md
    for spec in registry.MODELS.values():
        assert spec.sha256 in md and spec.filename in md
    assert "### gare-nord" in md and "min_duration_s=1.5" in md and 'zones=["quai"]' in md
    assert known_limits("fire_start") and known_limits("fire_start") in md  # type: ignore[operator]

    # A real evaluation run's figures.json goes in as it was measured.
    fire = SituationFigures(
        "fire_start", expected=4, found=3, signals=5, true_signals=4, clips=2,
        delays_s=[1.0, 2.0],
    )  # fmt: skip
    figs = {"fire_start": fire}
    outcome = ClipOutcome("c1", 10.0, False, ["fire_start"], [], [])
    write_report([outcome], figs, tmp_path / "eval", command="veilleur evaluate -t x.yaml")
    summary = json.loads((tmp_path / "eval" / "figures.json").read_text())
    assert summary["situations"]["fire_start"]["recall"] == 0.75
    src = documents.Sources(retention=RetentionSettings(), evaluation=tmp_path / "eval", now=NOW)
    md = documents.technical_markdown(db_session, src)
    assert "| fire_start | 2 (0) | 4 | 3 | 0.75 | 5 | 0.80 | 1.5 |" in md
    assert "veilleur evaluate -t x.yaml" in md
    html = documents.technical_html(db_session, src, cameras=set())
    assert 'id="technical-evaluation"' in html and "gare-nord" not in html  # out of scope

    bad = tmp_path / "other.json"
    bad.write_text("{}")
    with pytest.raises(documents.DocumentError, match=r"not a figures\.json"):
        documents.load_evaluation(bad)
    with pytest.raises(documents.DocumentError, match="no evaluation figures"):
        documents.load_evaluation(tmp_path / "nothing")


def _signal(
    s: Session, camera: str, situation: str, at: datetime, stored_s: float,
    verdict: str | None = None, review_s: float = 0.0, user: store.User | None = None,
) -> store.SignalRow:  # fmt: skip
    row = store.SignalRow(
        situation=situation, camera=camera, zone=None, start_s=0.0, end_s=1.0, frame=1,
        bbox=[0.1, 0.1, 0.2, 0.2], confidence=0.9, model="yolox-nano", config_version="v1",
        known_limits="", occurred_at=at, created_at=at + timedelta(seconds=stored_s),
        state="new" if verdict is None else "qualified",
    )  # fmt: skip
    s.add(row)
    s.flush()
    if verdict is not None:
        assert user is not None
        s.add(store.Review(signal_id=row.id, user_id=user.id, verdict=verdict,
                           created_at=at + timedelta(seconds=review_s)))  # fmt: skip
    s.commit()
    return row


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0
    values = [float(v) for v in range(1, 21)]  # 1..20: rank ceil(0.95*20) = 19
    assert percentile(values, 95) == 19.0
    assert percentile(values, 50) == 10.0


def test_accountability_figures_are_exact(db_session: Session) -> None:
    op = store.create_user(db_session, "op", "password-123", "operator")
    store.upsert_camera(db_session, "gare-nord", CAMERA)
    day1, day2 = T0, T0 + timedelta(days=1)
    # Day 1, gare-nord, fire_start: 3 signals (confirmed, false alarm, pending).
    _signal(db_session, "gare-nord", "fire_start", day1, 0.2, "confirmed", 30, op)
    _signal(db_session, "gare-nord", "fire_start", day1 + timedelta(hours=1), 0.4,
            "false_alarm", 90, op)  # fmt: skip
    _signal(db_session, "gare-nord", "fire_start", day1 + timedelta(hours=2), 0.3)
    # Day 2, parvis, zone_intrusion: one not actionable.
    _signal(db_session, "parvis", "zone_intrusion", day2, 1.0, "not_actionable", 600, op)
    # Outside the period asked: not counted.
    _signal(db_session, "gare-nord", "fire_start", T0 + timedelta(days=10), 0.1, "confirmed",
            5, op)  # fmt: skip
    missed_store.report_missed(db_session, op, "gare-nord", "fire_start", day1 + timedelta(hours=5))
    missed_store.report_missed(db_session, op, "gare-nord", "weapon", day2, "knife seen")

    until = T0 + timedelta(days=7)
    d = documents.accountability_data(db_session, sources(), by="day", since=T0, until=until)
    rows = {(r["period"], r["situation"], r["camera"]): r for r in d["rows"]}
    assert set(rows) == {
        ("2026-03-02", "fire_start", "gare-nord"),
        ("2026-03-03", "zone_intrusion", "parvis"),
        ("2026-03-03", "weapon", "gare-nord"),
    }
    fire = rows[("2026-03-02", "fire_start", "gare-nord")]
    assert (fire["signals"], fire["confirmed"], fire["false_alarm"], fire["not_actionable"],
            fire["pending"], fire["missed"]) == (3, 1, 1, 0, 1, 1)  # fmt: skip
    assert fire["stored_delay_median_s"] == pytest.approx(0.3)
    assert fire["stored_delay_p95_s"] == pytest.approx(0.4)
    assert fire["qualification_delay_median_s"] == pytest.approx(60.0)
    assert fire["qualification_delay_p95_s"] == pytest.approx(90.0)
    weapon = rows[("2026-03-03", "weapon", "gare-nord")]
    assert weapon["signals"] == 0 and weapon["missed"] == 1
    assert weapon["stored_delay_median_s"] is None
    total = d["total"]
    assert (total["signals"], total["confirmed"], total["pending"], total["missed"]) == (4, 1, 1, 2)
    assert total["qualification_delay_p95_s"] == pytest.approx(600.0)

    # Per week: both days fall in ISO week 10; a camera scope keeps only its camera.
    week = documents.accountability_data(
        db_session, sources(), by="week", since=T0, until=until, cameras={"parvis"}
    )
    assert [(r["period"], r["camera"], r["signals"]) for r in week["rows"]] == [
        ("2026-W10", "parvis", 1)
    ]
    month = documents.accountability_data(db_session, sources(), by="month")
    assert sum(r["signals"] for r in month["rows"]) == 5 and month["rows"][0]["period"] == "2026-03"

    csv_text = documents.accountability_csv(db_session, sources(), since=T0, until=until)
    lines = csv_text.splitlines()
    assert lines[0].startswith("period,situation,camera,signals,confirmed,false_alarm")
    assert "2026-03-02,fire_start,gare-nord,3,1,1,0,1,1,0.300,0.400,60.000,90.000" in lines
    assert "2026-03-03,weapon,gare-nord,0,0,0,0,0,1,,,," in lines
    with pytest.raises(documents.DocumentError, match="period 'year'"):
        documents.accountability_data(db_session, sources(), by="year")


def test_missed_reports_are_checked_and_journaled(db_session: Session) -> None:
    op = store.create_user(db_session, "op", "password-123", "operator")
    store.upsert_camera(db_session, "gare-nord", CAMERA)
    with pytest.raises(ValueError, match="not one of"):
        missed_store.report_missed(db_session, op, "gare-nord", "loitering", T0)
    with pytest.raises(ValueError, match="no camera named 'nowhere'"):
        missed_store.report_missed(db_session, op, "nowhere", "weapon", T0)
    with pytest.raises(ValueError, match="future"):
        missed_store.report_missed(db_session, op, "gare-nord", "weapon",
                                   datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    with pytest.raises(ValueError, match="time zone"):
        missed_store.report_missed(db_session, op, "gare-nord", "weapon", datetime(2026, 1, 1))
    assert missed_store.list_missed(db_session) == []
    row = missed_store.report_missed(db_session, op, "gare-nord", "weapon", T0, "  a knife ")
    assert row.comment == "a knife"
    entry = db_session.scalars(
        select(store.JournalEntry).where(store.JournalEntry.action == "missed.reported")
    ).one()
    assert entry.actor == "op" and entry.target == f"missed:{row.id}"
    details = json.loads(entry.details)
    assert details == {"camera": "gare-nord", "comment": True, "occurred_at": T0.isoformat(),
                       "situation": "weapon"}  # fmt: skip
    assert [r.id for r in missed_store.list_missed(db_session, camera="gare-nord")] == [row.id]
    assert missed_store.list_missed(db_session, situation="fire_start") == []


def test_generation_is_journaled(db_session: Session) -> None:
    auth = authorisation(db_session)
    doc = documents.generate(db_session, "notice", "pdf", sources(), authorisation_id=auth.id)
    assert doc.filename.endswith(".pdf") and doc.media_type == "application/pdf"
    documents.record_generation(db_session, "admin", doc)
    doc = documents.generate(db_session, "accountability", "csv", sources(), by="week")
    documents.record_generation(db_session, "auditor", doc)
    entries = db_session.scalars(
        select(store.JournalEntry)
        .where(store.JournalEntry.action == "document.generated")
        .order_by(store.JournalEntry.id)
    ).all()
    assert [(e.actor, e.target, json.loads(e.details)) for e in entries] == [
        ("admin", f"authorisation:{auth.id}",
         {"authorisation": auth.id, "format": "pdf", "kind": "notice"}),
        ("auditor", "document:accountability", {"format": "csv", "kind": "accountability"}),
    ]  # fmt: skip


def test_cli_writes_every_format_and_journals(db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from veilleur.cli import app

    engine = store.make_engine(db_url)
    try:
        with store.session_factory(engine)() as s:
            auth_id = authorisation(s).id
        runner = CliRunner()
        out = tmp_path / "docs"
        base = ["--out", str(out), "--database", db_url, "--actor", "dpo"]
        r = runner.invoke(app, ["documents", "notice", str(auth_id), *base, "--images-days", "5"])
        assert r.exit_code == 0, r.output
        html = next(out.glob("notice-*.html")).read_text()
        assert "5 days" in html and "2026-PP-0142" in html
        assert next(out.glob("notice-*.pdf")).read_bytes().startswith(b"%PDF")
        r = runner.invoke(app, ["documents", "accountability", *base, "--period", "week",
                                "--format", "csv"])  # fmt: skip
        assert r.exit_code == 0, r.output
        assert next(out.glob("accountability-week-*.csv")).read_text().startswith("period,")
        # Bad input: a clear error, nothing written, nothing journaled.
        r = runner.invoke(app, ["documents", "notice", "77", *base])
        assert r.exit_code == 2 and "no authorisation 77" in r.output
        r = runner.invoke(app, ["documents", "records", *base, "--journal-days", "10"])
        assert r.exit_code == 2 and "--journal-days" in r.output
        r = runner.invoke(app, ["documents", "accountability", *base, "--period", "year"])
        assert r.exit_code == 2 and "--period" in r.output
        with store.session_factory(engine)() as s:
            entries = s.scalars(
                select(store.JournalEntry).where(store.JournalEntry.action == "document.generated")
            ).all()
            assert sorted((e.actor, json.loads(e.details)["format"]) for e in entries) == [
                ("dpo", "csv"), ("dpo", "html"), ("dpo", "pdf"),
            ]  # fmt: skip
    finally:
        engine.dispose()
