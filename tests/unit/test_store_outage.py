"""Faults of the store while cameras run: the database unreachable, the media disk full.

A signal raised while the database does not answer waits in the server and is stored, in order,
once it answers again (`StoreUnavailable` from the recorder, retried by the supervisor); a
signal whose snapshot finds no room on the media disk is stored without it. Checked end to end
on PostgreSQL behind a TCP proxy that the test cuts, with real camera processes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from tcp_proxy import TcpProxy
from test_runtime_supervisor import blob_factory, site_for, wait_for, write_clip

from veilleur import store
from veilleur.config import CameraConfig
from veilleur.runtime import SignalEvent, Supervisor, hub
from veilleur.runtime.events import StoreUnavailable
from veilleur.runtime.metrics import REGISTRY
from veilleur.service.bus import SignalBus
from veilleur.service.platform import SignalRecorder
from veilleur.store import make_engine, session_factory
from veilleur.types import Signal

pytest_plugins = ["db_fixtures"]

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def event(camera: str = "hall", frame: int = 10) -> SignalEvent:
    sig = Signal(
        situation="zone_intrusion", camera=camera, zone="door", start_s=1.0, end_s=2.0,
        frame=frame, bbox=(0.1, 0.2, 0.3, 0.4), confidence=0.8, model="m", config_version="v",
    )  # fmt: skip
    return SignalEvent(sig, JPEG, None, "limits", datetime(2026, 6, 1, 12, tzinfo=UTC))


def waiting() -> float:
    return REGISTRY.get_sample_value("veilleur_deliveries_waiting") or 0.0


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "STORE_RETRY_FIRST_S", 0.02)
    monkeypatch.setattr(hub, "STORE_RETRY_MAX_S", 0.1)


def test_deliveries_wait_in_order_while_the_store_is_unavailable(
    tmp_path: Path, fast_retries: None
) -> None:
    down = threading.Event()
    down.set()
    got: list[int] = []
    tries: list[int] = []

    def on_signal(ev: SignalEvent) -> None:
        tries.append(ev.signal.frame)
        if down.is_set():
            raise StoreUnavailable("database down")
        got.append(ev.signal.frame)

    site = site_for({"cam": tmp_path / "never-started.mp4"})
    sup = Supervisor(site, on_signal=on_signal)
    worker = threading.Thread(target=sup._deliver)
    worker.start()
    try:
        for frame in (1, 2, 3):
            sup._deliveries.put(event(frame=frame))
        assert wait_for(lambda: len(tries) >= 4, 5)
        # Only the first is tried again and again; the others wait behind it.
        assert set(tries) == {1} and got == []
        assert sup.store_unavailable_since is not None and waiting() == 3
        down.clear()
        assert wait_for(lambda: got == [1, 2, 3], 5)
        assert wait_for(lambda: sup.store_unavailable_since is None and waiting() == 0, 5)
    finally:
        sup._deliveries.put(None)
        worker.join(5)
        sup.close()


def test_other_failures_are_not_retried(tmp_path: Path, fast_retries: None) -> None:
    tries: list[int] = []

    def on_signal(ev: SignalEvent) -> None:
        tries.append(ev.signal.frame)
        raise ValueError("a bug, not an outage")

    sup = Supervisor(site_for({"cam": tmp_path / "x.mp4"}), on_signal=on_signal)
    worker = threading.Thread(target=sup._deliver)
    worker.start()
    try:
        sup._deliveries.put(event(frame=1))
        sup._deliveries.put(event(frame=2))
        assert wait_for(lambda: tries == [1, 2], 5)
        time.sleep(0.2)
        assert tries == [1, 2] and sup.store_unavailable_since is None
    finally:
        sup._deliveries.put(None)
        worker.join(5)
        sup.close()


@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
def test_shutdown_during_an_outage_counts_what_is_lost(
    tmp_path: Path, fast_retries: None, batched: bool
) -> None:
    def on_signal(ev: Any) -> None:
        raise StoreUnavailable("database down")

    lost_before = REGISTRY.get_sample_value("veilleur_deliveries_lost_total") or 0.0
    sup = Supervisor(
        site_for({"cam": tmp_path / "x.mp4"}), on_signal=on_signal,
        on_batch=on_signal if batched else None,
    )  # fmt: skip
    worker = threading.Thread(target=sup._deliver)
    # Queued before the thread runs: in the batched case the first two are one batch.
    sup._deliveries.put(event(frame=1))
    sup._deliveries.put(event(frame=2))
    worker.start()
    assert wait_for(lambda: sup.store_unavailable_since is not None, 5)
    sup._deliveries.put(event(frame=3))
    sup._closing.set()
    sup._deliveries.put(None)  # as close() does
    worker.join(5)
    assert not worker.is_alive()
    lost = REGISTRY.get_sample_value("veilleur_deliveries_lost_total") or 0.0
    assert lost - lost_before == 3 and waiting() == 0
    sup.close()


def test_what_counts_as_unreachable(tmp_path: Path) -> None:
    refused = create_engine("postgresql+psycopg://u@127.0.0.1:9/x?connect_timeout=2")
    with pytest.raises(OperationalError) as caught:
        refused.connect()
    assert store.unreachable(caught.value)
    db = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with db.connect() as conn, pytest.raises(OperationalError) as caught:
        conn.execute(text("SELECT * FROM no_table"))
    assert not store.unreachable(caught.value)  # a broken schema does not heal by waiting
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER UNIQUE)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with db.connect() as conn, pytest.raises(IntegrityError) as caught:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert not store.unreachable(caught.value)
    assert not store.unreachable(ValueError("x"))
    db.dispose()


@pytest.fixture
def proxied_pg(pg_database: str, db_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The test's PostgreSQL database, reached through a proxy the test can cut."""
    url = make_url(db_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    finally:
        proxy.close()


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_recorder_says_when_postgresql_cannot_be_reached(
    proxied_pg: tuple[str, TcpProxy], data_dir: Path
) -> None:
    url, proxy = proxied_pg
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    sessions = session_factory(engine)
    try:
        with sessions() as s:
            store.upsert_camera(s, "hall", CameraConfig(source="x.mp4"))
        rec = SignalRecorder(sessions, data_dir, SignalBus())
        rec(event())
        proxy.cut()
        with pytest.raises(StoreUnavailable):
            rec(event(frame=11))
        assert rec.failures == 0  # not a failure: it will be handed over again
        # Nothing half-written: no media file of the signal that could not be stored.
        assert len(list(data_dir.rglob("*.jpg"))) == 1
        proxy.restore()
        rec(event(frame=11))
        with sessions() as s:
            frames = s.scalars(select(store.SignalRow.frame).order_by(store.SignalRow.id)).all()
        assert frames == [10, 11]
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_backend", ["postgresql"])
@pytest.mark.parametrize("batched", [False, True], ids=["one-by-one", "batched"])
def test_no_signal_is_lost_while_postgresql_is_down(
    proxied_pg: tuple[str, TcpProxy],
    data_dir: Path,
    tmp_path: Path,
    fast_retries: None,
    batched: bool,
) -> None:
    """Real camera processes raise signals before, during and after a database outage; every
    signal they raised is stored once the database is back, and only once; handed over one
    by one, or in batches as the server does."""
    url, proxy = proxied_pg
    clip = write_clip(tmp_path / "walk.mp4", seconds=4)
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    sessions = session_factory(engine)
    camera = "outage"
    with sessions() as s:
        store.upsert_camera(s, camera, CameraConfig(source=str(clip)))
    rec = SignalRecorder(sessions, data_dir, SignalBus())
    handed: dict[int, int] = {}  # id(event) -> tries

    def on_signal(ev: SignalEvent) -> None:
        handed[id(ev)] = handed.get(id(ev), 0) + 1
        rec(ev)

    def on_batch(events: list[Any]) -> None:
        for ev in events:
            handed[id(ev)] = handed.get(id(ev), 0) + 1
        rec.batch(events)

    def raised_in_process() -> float:
        labels = {"camera": camera, "situation": "zone_intrusion"}
        return REGISTRY.get_sample_value("veilleur_signals_total", labels) or 0.0

    earlier = raised_in_process()  # the counter is the process's: an earlier run counted too

    def raised() -> float:
        return raised_in_process() - earlier

    def stored() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count(store.SignalRow.id))) or 0)

    site: Any = site_for({camera: clip})
    sup = Supervisor(
        site, on_signal=on_signal, on_batch=on_batch if batched else None,
        detector_factory=blob_factory, loop_files=True,
    )  # fmt: skip
    try:
        sup.start()
        assert wait_for(lambda: stored() >= 1, 60), "no signal before the outage"
        proxy.cut()
        before = raised()
        assert wait_for(lambda: raised() >= before + 3, 60), "no signal during the outage"
        assert sup.store_unavailable_since is not None and waiting() >= 1
        proxy.restore()
        assert wait_for(lambda: sup.store_unavailable_since is None, 30)
        sup.stop_all()
        assert wait_for(lambda: waiting() == 0 and stored() == raised(), 30), (stored(), raised())
        assert rec.failures == 0 and max(handed.values()) > 1  # some were tried again
        assert len(handed) == stored()
    finally:
        sup.close()
        engine.dispose()


def test_a_full_media_disk_keeps_the_signal(
    db_session: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veilleur.store import signals

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(signals, "_write_atomic", full)
    store.upsert_camera(db_session, "hall", CameraConfig(source="x.mp4"))
    row = store.record_signal(db_session, event(), data_dir)
    assert row.id is not None and row.snapshot_path is None
    entry = db_session.scalars(
        select(store.JournalEntry).where(store.JournalEntry.action == "signal.recorded")
    ).one()
    detail = json.loads(entry.details)
    assert detail["snapshot"] is False
    assert detail["media_not_stored"] == "No space left on device"
    assert not list(data_dir.rglob("*.jpg"))


def test_other_media_write_errors_still_fail(
    db_session: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veilleur.store import signals

    def broken(path: Path, data: bytes) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(signals, "_write_atomic", broken)
    store.upsert_camera(db_session, "hall", CameraConfig(source="x.mp4"))
    with pytest.raises(PermissionError):
        store.record_signal(db_session, event(), data_dir)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs the right to mount, e.g. root; skipped otherwise)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):  # then the last bytes
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_a_really_full_disk(full_disk: Path, tmp_path: Path) -> None:
    """Media on a full disk: the signal is stored without them. The database on a full disk
    too: the recorder says the store is unavailable (the supervisor keeps the signal), and it
    is stored once space is freed (e.g. by the retention purge)."""
    media = full_disk / "media-root"
    media.mkdir()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        store.upsert_camera(s, "hall", CameraConfig(source="x.mp4"))
    filler = fill(full_disk)
    rec = SignalRecorder(sessions, media, SignalBus())
    rec(event())
    with sessions() as s:
        row = s.scalars(select(store.SignalRow)).one()
    assert row.snapshot_path is None and rec.failures == 0
    engine.dispose()

    filler.unlink()
    url = f"sqlite:///{full_disk / 'db.sqlite'}"
    store.upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as s:
        store.upsert_camera(s, "hall", CameraConfig(source="x.mp4"))
    filler = fill(full_disk)
    rec = SignalRecorder(sessions, media, SignalBus())
    try:
        with pytest.raises(StoreUnavailable):
            for frame in range(20, 200):  # until the database's pages are all used
                rec(event(frame=frame))
        filler.unlink()
        rec(event(frame=999))
        with sessions() as s:
            frames = s.scalars(select(store.SignalRow.frame)).all()
        assert 999 in frames and rec.failures == 0
    finally:
        engine.dispose()


def test_handing_over_again_stores_once(db_session: Any, data_dir: Path) -> None:
    """A commit may go through while its acknowledgement is lost with the connection: the
    supervisor then hands the same event over again; it must not be stored twice."""
    from dataclasses import replace

    from veilleur.runtime.events import AttachedEvent
    from veilleur.types import FurtherEvent

    store.upsert_camera(db_session, "hall", CameraConfig(source="x.mp4"))
    ev = event()
    ev = replace(ev, signal=replace(ev.signal, episode="run1:zone_intrusion:10:1"))
    first = store.record_signal(db_session, ev, data_dir)
    again = store.record_signal(db_session, ev, data_dir)
    assert again.id == first.id
    assert db_session.scalar(select(func.count(store.SignalRow.id))) == 1
    assert len(list(data_dir.rglob("*.jpg"))) == 1
    further = AttachedEvent(
        FurtherEvent("zone_intrusion", "hall", "door", ev.signal.episode, 3.0, 4.0, 40,
                     (0.1, 0.2, 0.3, 0.4), 0.7),
        datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC),
    )  # fmt: skip
    store.attach_further(db_session, further)
    row = store.attach_further(db_session, further)
    assert row is not None and row.further_count == 1 and len(row.further_times) == 1
    other = replace(further, wall_time=datetime(2026, 6, 1, 12, 0, 9, tzinfo=UTC))
    row = store.attach_further(db_session, other)
    assert row is not None and row.further_count == 2
