"""Revocation against the real supervisor (camera processes, detector pool): once an
authorisation is revoked, no signal of it is delivered after a second (SPEC §4)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from test_runtime_supervisor import blob_factory, site_for, wait_for, write_clip

from veilleur import store
from veilleur.compliance.authorisations import AuthorisationInput
from veilleur.runtime import SignalEvent, Supervisor
from veilleur.service.bus import SignalBus
from veilleur.service.platform import Platform


class Arrivals:
    """Each delivered signal with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, event: SignalEvent) -> None:
        with self.lock:
            self.times.append(time.monotonic())

    def count(self) -> int:
        with self.lock:
            return len(self.times)

    def after(self, t: float) -> list[float]:
        with self.lock:
            return [x for x in self.times if x > t]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "walk.mp4", seconds=4)


@pytest.fixture
def platform_and_inbox(tmp_path: Path, clip: Path) -> Iterator[tuple[Platform, Arrivals]]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    site = site_for({"a": clip})
    with sessions() as s:
        store.upsert_camera(s, "a", site.cameras["a"])
    inbox = Arrivals()
    sup = Supervisor(site, on_signal=inbox, loop_files=True, detector_factory=blob_factory)
    plat = Platform(sessions, tmp_path, SignalBus(), sup)
    try:
        yield plat, inbox
    finally:
        plat.close()
        sup.close()
        engine.dispose()


def test_signals_stop_within_a_second_of_revocation(
    platform_and_inbox: tuple[Platform, Arrivals],
) -> None:
    plat, inbox = platform_and_inbox
    plat.start_gate()
    assert plat.supervisor is not None
    assert plat.supervisor.status()["a"].state == "stopped"  # nothing authorised yet
    time.sleep(1.0)
    assert inbox.count() == 0
    start = datetime.now(UTC) - timedelta(minutes=1)
    data = AuthorisationInput(
        reference="T-1", issuer="prefect", controller="tests", rights_contact="dpo@example.org",
        served_kind="transport_network", served_name="Line 1", perimeter="the test clip",
        cameras=["a"], situations=["zone_intrusion"], recipient_services=["control room"],
        starts_at=start, ends_at=start + timedelta(days=1),
    )  # fmt: skip
    with plat.sessions() as s:
        row = plat.create_authorisation(s, data, actor="admin")
        aid = row.id
    # The looping clip's walker enters the watched half every 4 s: signals keep coming.
    deadline = time.monotonic() + 40
    while inbox.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert inbox.count() >= 2, plat.supervisor.status()
    t0 = time.monotonic()
    with plat.sessions() as s:
        plat.revoke_authorisation(s, aid, "the event was cancelled", actor="admin")
    took = time.monotonic() - t0
    assert took < 1.0, f"revocation took {took:.2f} s"
    time.sleep(5.0)  # longer than the clip's loop: a signal would have come in this time
    late = inbox.after(t0 + 1.0)
    assert late == [], f"{len(late)} signals more than 1 s after the revocation"
    assert plat.supervisor.status()["a"].state == "stopped"
    assert not plat.is_authorised("a", "zone_intrusion")


def test_demo_authorises_its_camera_and_serve_authorises_nothing(
    tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veilleur import runtime
    from veilleur.cli import server as cli_server
    from veilleur.compliance.authorisations import month_after
    from veilleur.config.server import ServerSettings

    light = functools.partial(Supervisor, detector_factory=blob_factory)
    monkeypatch.setattr(runtime, "Supervisor", light)
    site = site_for({"plaza": clip})

    def build(folder: str, demo: str | None) -> cli_server.Server:
        data_dir = tmp_path / folder
        data_dir.mkdir(exist_ok=True)
        settings = ServerSettings(data_dir=data_dir, database_url=store.default_url(data_dir))
        return cli_server.build_server(settings, site, loop_files=True, demo_authorisation=demo)

    server = build("serve", None)
    try:
        with server.app.state.sessions() as s:
            assert store.list_authorisations(s) == []
        status = server.app.state.platform.status()["plaza"]
        assert status["waiting_for"] == "no active authorisation"
        assert server.supervisor.status()["plaza"].state == "stopped"
    finally:
        server.close()

    for _ in range(2):  # a restart keeps the demo's authorisation, without a second one
        server = build("demo", "plaza")
        try:
            with server.app.state.sessions() as s:
                (a,) = store.list_authorisations(s)
                assert a.reference == cli_server.DEMO_AUTHORISATION
                assert "not a real decision" in a.reference
                assert a.cameras == ["plaza"] and a.situations == ["zone_intrusion"]
                assert a.ends_at == month_after(a.starts_at)
            assert "plaza" not in server.app.state.platform.waiting_cameras()
            assert server.supervisor.status()["plaza"].state in ("starting", "running")
        finally:
            server.close()


class FlakySessions:
    """A session factory whose database can be made unreachable (every use raises what
    SQLAlchemy raises when the server is down)."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.down = False

    def __call__(self) -> Any:
        if self.down:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))
        return self.sessions()


def test_an_authorisation_ending_during_a_database_outage_still_stops_processing(
    tmp_path: Path, clip: Path
) -> None:
    """The gate cannot read the database when the authorisation ends: it withdraws what the
    authorisations it knows no longer allow, at once, and journals it once the database is
    back (SPEC §4: nothing processed outside an authorisation, outage or not)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    flaky = FlakySessions(store.session_factory(engine))
    site = site_for({"a": clip})
    with flaky() as s:
        store.upsert_camera(s, "a", site.cameras["a"])
    inbox = Arrivals()
    sup = Supervisor(site, on_signal=inbox, loop_files=True, detector_factory=blob_factory)
    plat = Platform(flaky, tmp_path, SignalBus(), sup)  # type: ignore[arg-type]
    try:
        plat.start_gate()
        now = datetime.now(UTC)
        data = AuthorisationInput(
            reference="T-2", issuer="prefect", controller="tests", rights_contact="dpo@example.org",
            served_kind="transport_network", served_name="Line 1", perimeter="the test clip",
            cameras=["a"], situations=["zone_intrusion"], recipient_services=["control room"],
            starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(seconds=12),
        )  # fmt: skip
        with flaky() as s:
            plat.create_authorisation(s, data, actor="admin")
        deadline = time.monotonic() + 40
        while inbox.count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert inbox.count() >= 1, sup.status()
        flaky.down = True  # the database goes away before the authorisation ends
        end = data.ends_at
        while datetime.now(UTC) < end:
            time.sleep(0.05)
        t_end = time.monotonic()
        assert wait_for(lambda: sup.status()["a"].state == "stopped", 5), sup.status()
        time.sleep(5.0)  # longer than the clip's loop
        late = inbox.after(t_end + 2.0)
        assert late == [], f"{len(late)} signals after the authorisation ended"
        assert not plat.is_authorised("a", "zone_intrusion")  # from memory, no database
        flaky.down = False
        plat.gate.poke()  # type: ignore[union-attr]

        def journaled() -> bool:
            with flaky() as s:
                actions = s.scalars(select(store.JournalEntry.action)).all()
            return "processing.stopped" in actions

        assert wait_for(journaled, 10)
        assert sup.status()["a"].state == "stopped"
    finally:
        plat.close()
        sup.close()
        engine.dispose()


def test_a_wall_clock_step_past_the_end_stops_processing_at_once(
    tmp_path: Path, clip: Path
) -> None:
    """The gate sleeps on the monotonic clock until the next bound, computed on the wall clock;
    when the wall clock steps forward past an authorisation's end (NTP, an operator), the
    camera stops within seconds, not at the gate's next scheduled check (30 s)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    site = site_for({"a": clip})
    with sessions() as s:
        store.upsert_camera(s, "a", site.cameras["a"])
    step = [timedelta(0)]
    inbox = Arrivals()
    sup = Supervisor(site, on_signal=inbox, loop_files=True, detector_factory=blob_factory)
    plat = Platform(sessions, tmp_path, SignalBus(), sup, clock=lambda: datetime.now(UTC) + step[0])
    try:
        plat.start_gate()
        now = datetime.now(UTC)
        data = AuthorisationInput(
            reference="T-3", issuer="prefect", controller="tests", rights_contact="dpo@example.org",
            served_kind="transport_network", served_name="Line 1", perimeter="the test clip",
            cameras=["a"], situations=["zone_intrusion"], recipient_services=["control room"],
            starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1),
        )  # fmt: skip
        with sessions() as s:
            plat.create_authorisation(s, data, actor="admin")
        assert wait_for(lambda: sup.status()["a"].state == "running", 40), sup.status()
        time.sleep(1.5)  # the gate is asleep until its next check
        step[0] = timedelta(hours=1, minutes=1)
        t0 = time.monotonic()
        assert wait_for(lambda: sup.status()["a"].state == "stopped", 10), sup.status()
        took = time.monotonic() - t0
        assert took < 4.0, f"stopped {took:.1f} s after the clock step"
    finally:
        plat.close()
        sup.close()
        engine.dispose()
