"""Documents and missed-situation reports through the API and the console, on SQLite and
PostgreSQL: roles, scope, downloads, journal entries."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api_helpers import PLAZA, Env, make_env, password
from argon2 import PasswordHasher
from pypdf import PdfReader

from veilleur import store
from veilleur.compliance import journal
from veilleur.store import auth as store_auth

pytest_plugins = ["db_fixtures"]


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def _setup(env: Env) -> int:
    """Cameras plaza (service 'north') and gare (service 'south'), a scoped operator, an
    authorisation; returns its id."""
    with env.sessions() as s:
        store.upsert_camera(s, "plaza", PLAZA)
        store.upsert_camera(s, "gare", PLAZA)
        for name, services in (("plaza", ["north"]), ("gare", ["south"])):
            cam = store.get_camera(s, name)
            assert cam is not None
            cam.services = services
        s.commit()
        store.create_user(s, "op-south", password("op-south"), "operator", service="south")
        auth = store.Authorisation(
            reference="ARR-2026-031", issuer="Préfet du Rhône", controller="Ville de Lyon",
            rights_contact="dpo@lyon.example", served_kind="cultural_event",
            served_name="Fête des Lumières", perimeter="Presqu'île", cameras=["plaza"],
            situations=["zone_intrusion"], recipient_services=["police-municipale"],
            starts_at=datetime.now(UTC) - timedelta(days=1),
            ends_at=datetime.now(UTC) + timedelta(days=5), created_by="administrator",
        )  # fmt: skip
        s.add(auth)
        s.commit()
        return auth.id


def _generated(env: Env) -> list[tuple[str, str, dict[str, object]]]:
    with env.sessions() as s:
        rows = journal.query(s, action="document.generated", limit=100)
        return [(r.actor, r.target, json.loads(r.details)) for r in reversed(rows)]


def test_documents_are_for_administrators_and_auditors(env: Env) -> None:
    auth_id = _setup(env)
    for role in ("operator", "supervisor"):
        c = env.client(role)
        assert c.get("/documents").status_code == 403
        assert c.get(f"/documents/notice/{auth_id}").status_code == 403
        assert c.get("/api/documents").status_code == 403
        assert c.get("/api/documents/records").status_code == 403
    assert env.client().get("/api/documents").status_code == 401
    assert _generated(env) == []  # nothing generated, nothing journaled

    c = env.client("auditor")
    page = c.get("/documents")
    assert page.status_code == 200
    assert f'href="/documents/notice/{auth_id}.pdf"' in page.text and "ARR-2026-031" in page.text
    listed = c.get("/api/documents").json()
    assert listed["authorisations"][0]["reference"] == "ARR-2026-031"
    assert listed["kinds"]["notice"] == ["html", "pdf"]


def test_notice_html_and_pdf_are_generated_and_journaled(env: Env) -> None:
    auth_id = _setup(env)
    c = env.client("administrator")
    html = c.get(f"/documents/notice/{auth_id}")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Fête des Lumières" in html.text and "<li>plaza</li>" in html.text
    assert "14 days" in html.text  # the server's retention setting
    pdf = c.get(f"/documents/notice/{auth_id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "ARR-2026-031" in text
    api = c.get(f"/api/documents/notice/{auth_id}", params={"format": "pdf"})
    assert api.status_code == 200 and api.content.startswith(b"%PDF")
    assert c.get("/documents/notice/999").status_code == 404
    assert c.get(f"/api/documents/notice/{auth_id}", params={"format": "doc"}).status_code == 422
    assert c.get(f"/documents/notice/{auth_id}.docx").status_code == 404
    target = f"authorisation:{auth_id}"
    assert _generated(env) == [
        ("administrator", target, {"authorisation": auth_id, "format": "html", "kind": "notice"}),
        ("administrator", target, {"authorisation": auth_id, "format": "pdf", "kind": "notice"}),
        ("administrator", target, {"authorisation": auth_id, "format": "pdf", "kind": "notice"}),
    ]


def test_records_technical_and_accountability_downloads(env: Env) -> None:
    _setup(env)
    env.signal(camera="plaza")
    c = env.client("auditor")
    records = c.get("/documents/records.md")
    assert records.status_code == 200 and "Ville de Lyon" in records.text
    assert records.headers["content-type"].startswith("text/markdown")
    technical = c.get("/api/documents/technical")
    assert technical.status_code == 200 and "camera-plaza" in technical.text
    csv_text = c.get("/documents/accountability.csv", params={"by": "month"}).text
    month = datetime.now(UTC).strftime("%Y-%m")
    assert f"{month},zone_intrusion,plaza,1,0,0,0,1,0," in csv_text
    assert c.get("/api/documents/accountability", params={"by": "year"}).status_code == 422
    assert c.get("/documents/minutes").status_code == 404
    kinds = [(d["kind"], d["format"]) for _, _, d in _generated(env)]
    assert kinds == [("records", "md"), ("technical", "html"), ("accountability", "csv")]


def test_accountability_form_with_its_dates_left_empty(env: Env) -> None:
    # The console's form sends empty date inputs as `since=&until=`: no bound, not a 422.
    _setup(env)
    env.signal(camera="plaza")
    c = env.client("auditor")
    empty = {"by": "month", "since": "", "until": ""}
    page = c.get("/documents/accountability", params=empty)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csv_text = c.get("/documents/accountability.csv", params=empty).text
    assert f"{datetime.now(UTC):%Y-%m},zone_intrusion,plaza,1," in csv_text
    bad = c.get("/documents/accountability", params={"since": "04/12/2026"})
    assert bad.status_code == 422 and "since" in bad.json()["detail"]


def test_missed_reports_roles_scope_and_journal(env: Env) -> None:
    _setup(env)
    when = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    body = {"camera": "gare", "situation": "weapon", "occurred_at": when, "comment": "a knife"}
    assert env.client("auditor").post("/api/missed", json=body).status_code == 403

    scoped = env.client("op-south")
    r = scoped.post("/api/missed", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["reported_by"] == "op-south" and r.json()["camera"] == "gare"
    # A camera of another service answers like an unknown one, and nothing is recorded.
    assert scoped.post("/api/missed", json={**body, "camera": "plaza"}).status_code == 404
    assert scoped.post("/api/missed", json={**body, "situation": "loitering"}).status_code == 422
    sup = env.client("supervisor")
    assert sup.post("/api/missed", json={**body, "camera": "plaza"}).status_code == 201

    assert [m["camera"] for m in scoped.get("/api/missed").json()] == ["gare"]
    assert sorted(m["camera"] for m in env.client("auditor").get("/api/missed").json()) == [
        "gare", "plaza",
    ]  # fmt: skip
    with env.sessions() as s:
        entries = journal.query(s, action="missed.reported", limit=10)
        assert sorted(e.actor for e in entries) == ["op-south", "supervisor"]

    # The console form: the scoped operator's camera list holds only its cameras.
    page = scoped.get("/missed")
    assert page.status_code == 200
    assert '<option value="gare">' in page.text and '<option value="plaza">' not in page.text
    form = {"camera": "gare", "situation": "fire_start", "occurred_at": when[:16],
            "comment": "", "csrf_token": scoped.headers["X-CSRF-Token"]}  # fmt: skip
    done = scoped.post("/missed", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/missed?done=1"
    bad = scoped.post("/missed", data={**form, "occurred_at": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    assert env.client("auditor").get("/missed").status_code == 403
    with env.sessions() as s:
        assert len(journal.query(s, action="missed.reported", limit=10)) == 3
