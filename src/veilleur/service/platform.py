"""The operations the REST API and the console pages share, on the store and the supervisor.

Routes check who may call; this module does the work, so that the JSON API and the htmx pages
behave the same (same validation messages, same restarts, same live events).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from veilleur import store
from veilleur.compliance.authorisations import (
    AuthorisationInput,
    GateState,
    Grant,
    grants_at,
    is_active,
)
from veilleur.config import SITUATION_IDS, CameraConfig
from veilleur.config.common import NOT_FINITE
from veilleur.runtime.events import SignalEvent as SignalEventType
from veilleur.runtime.events import StoreUnavailable
from veilleur.service.bus import SignalBus
from veilleur.service.stream_checks import StreamChecks
from veilleur.store.journal import SYSTEM
from veilleur.store.models import utcnow

if TYPE_CHECKING:
    from veilleur.delivery import DeliveryWorker
    from veilleur.runtime import AttachedEvent, CameraHub, SignalEvent
    from veilleur.service.gate import AuthorisationGate

log = logging.getLogger(__name__)

NO_AUTHORISATION = "no active authorisation"
"""Why a live camera whose processing is on is not started (SPEC §4)."""
NO_SITUATION = "no situation enabled"

STILL_EVERY_S = 30.0
"""How often the latest blurred frame of a camera is kept on disk, so the camera page still
shows a picture to draw zones on when its processing is stopped."""


@dataclass(frozen=True)
class Problem:
    """One reason a configuration was refused: the dotted key and what to change."""

    key: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "message": self.message}


class ConfigInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.key or '(camera)'}: {p.message}" for p in problems))


def explain(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        return "unknown key; check its spelling (docs/configuration.md lists the keys allowed)"
    if kind == "missing":
        return "this key is required"
    if kind == "finite_number":
        return NOT_FINITE
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if "input" in err:
        shown = json.dumps(err["input"], default=str)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = f"{msg} (got {shown})"
    return msg


def validate_camera(data: Any) -> CameraConfig:
    """A camera configuration from JSON data; ConfigInvalid names every wrong key."""
    if not isinstance(data, dict):
        raise ConfigInvalid([Problem("", "a camera configuration is a JSON object")])
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(".".join(str(p) for p in err["loc"]), explain(dict(err)))
            for err in exc.errors()
        ]
        raise ConfigInvalid(problems) from None


def check_camera_name(name: str) -> None:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "_-" for c in name):
        raise ConfigInvalid(
            [Problem("name", "a camera name is 1 to 64 letters, digits, '_' or '-'")]
        )


def media_url(signal_id: int, kind: str) -> str:
    return f"/api/signals/{signal_id}/{'snapshot.jpg' if kind == 'snapshot' else 'clip.mp4'}"


def signal_fields(row: store.SignalRow | store.CalibrationRecord) -> dict[str, Any]:
    """What a signal, or a would-be one of the calibration mode, says (SPEC S3: what, where,
    when, how sure, which model and configuration; nothing about who)."""
    return {
        "id": row.id,
        "situation": row.situation,
        "camera": row.camera,
        "zone": row.zone,
        "start_s": row.start_s,
        "end_s": row.end_s,
        "frame": row.frame,
        "bbox": list(row.bbox),
        "confidence": row.confidence,
        "model": row.model,
        "config_version": row.config_version,
        "occurred_at": row.occurred_at.isoformat(),
        # What happened during the cool-down, attached to this signal's episode.
        "further_count": row.further_count or 0,
        "further_events": list(row.further_times or []),
    }


def signal_json(row: store.SignalRow) -> dict[str, Any]:
    """A stored signal as the API and the live stream send it (SPEC S3: nothing about who)."""
    review = row.review
    return {
        **signal_fields(row),
        "known_limits": row.known_limits,
        "state": row.state,
        "snapshot_url": media_url(row.id, "snapshot") if row.snapshot_path else None,
        "clip_url": media_url(row.id, "clip") if row.clip_path else None,
        "review": None
        if review is None
        else {
            "verdict": review.verdict,
            "comment": review.comment,
            "by": review.user.username,
            "at": review.created_at.isoformat(),
        },
    }


def camera_json(row: store.Camera, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": row.name,
        "processing": row.processing,
        "config": row.config,
        "services": list(row.services or []),
        "status": status,
        "updated_at": row.updated_at.isoformat(),
    }


def status_json(status: Any) -> dict[str, Any]:
    return {
        "state": status.state,
        "fps": round(float(status.fps), 2),
        "lag_s": round(float(status.lag_s), 3),
        "dropped_frames": int(status.dropped_frames),
        "restarts": int(status.restarts),
        "last_error": status.last_error,
        "active_situations": list(status.active_situations),
    }


class SignalRecorder:
    """The supervisor's `on_signal`: commit the signal, then tell the consoles.

    Called from a supervisor thread; the database work happens there, and the bus hands the
    committed signal to each stream's event loop.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        data_dir: Path,
        bus: SignalBus,
        *,
        authorised: Callable[[str, str, datetime], bool] | None = None,
    ) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.bus = bus
        self.authorised = authorised
        """`Platform.is_authorised`, once the platform exists: a live signal outside every
        active authorisation is dropped (the gate keeps such processing from running at all;
        this is the last defence, SPEC §4)."""
        self.failures = 0
        self.refused = 0
        self.orphans = 0
        """Further events whose signal was not stored (refused, or failed)."""
        self.delivery: DeliveryWorker | None = None
        """Queues each signal's deliveries to other systems in its transaction (the outbox,
        docs/delivery.md), and is woken once it is committed."""

    def __call__(self, event: SignalEvent) -> None:
        try:
            with self.sessions() as s:
                if self.calibrating(s, getattr(event, "mode", "live"), event.signal.camera):
                    # Calibration (SPEC §2): kept for tuning, never a signal, never live.
                    store.record_calibration(s, event, self.data_dir)
                    return
                sig = event.signal
                if not self._authorised(event):
                    self.refused += 1
                    log.warning("dropped a %s signal of camera %s: no active authorisation "
                                "covered it", sig.situation, sig.camera)  # fmt: skip
                    return
                delivery = self.delivery
                row = store.record_signal(
                    s, event, self.data_dir,
                    before_commit=delivery.enqueue if delivery is not None else None,
                )  # fmt: skip
                payload = signal_json(row)
                if delivery is not None:
                    delivery.wake()
        except Exception as exc:
            if store.unreachable(exc):  # the supervisor keeps it and hands it over again
                raise StoreUnavailable(type(exc).__name__) from exc
            # The supervisor must keep running; the failure is counted and logged loudly.
            self.failures += 1
            log.exception("could not store a %s signal of camera %s",
                          event.signal.situation, event.signal.camera)  # fmt: skip
            return
        self.bus.publish({"type": "signal", "id": payload["id"], "signal": payload})

    def further(self, event: AttachedEvent) -> None:
        """The supervisor's `on_further`: add a further event to its signal's episode (count,
        times, journal), then tell the consoles (`further_event`, the whole updated signal)."""
        ev = event.event
        try:
            with self.sessions() as s:
                if self.calibrating(s, event.mode, ev.camera):
                    store.attach_further(s, event, store.CalibrationRecord)
                    return
                if not self._authorised(event):
                    self.refused += 1
                    log.warning("dropped a further %s event of camera %s: no active "
                                "authorisation covered it", ev.situation, ev.camera)  # fmt: skip
                    return
                delivery = self.delivery
                row = store.attach_further(
                    s, event,
                    before_commit=delivery.enqueue_further if delivery is not None else None,
                )  # fmt: skip
                if row is None:
                    # Its signal was refused or could not be stored: nothing to attach it to.
                    self.orphans += 1
                    log.warning("a further %s event of camera %s has no stored signal",
                                ev.situation, ev.camera)  # fmt: skip
                    return
                assert isinstance(row, store.SignalRow)
                payload = signal_json(row)
                if delivery is not None:
                    delivery.wake()
        except Exception as exc:
            if store.unreachable(exc):
                raise StoreUnavailable(type(exc).__name__) from exc
            self.failures += 1
            log.exception("could not attach a further %s event of camera %s",
                          ev.situation, ev.camera)  # fmt: skip
            return
        self.bus.publish({"type": "further_event", "id": payload["id"], "signal": payload})

    def batch(self, events: list[SignalEvent | AttachedEvent]) -> None:
        """The supervisor's `on_batch`: the signals and further events that waited together,
        committed in one transaction (with their journal entries and outbox rows), then told
        to the consoles in their order. One database round trip and one commit for a burst of
        many cameras instead of one each (docs/scaling.md).

        If the transaction fails for another reason than an unreachable store (one malformed
        event), nothing of it is kept and each event is stored alone, as `__call__` and
        `further` do, so that it costs only itself. Events of cameras in the calibration mode
        go that way too, after the others."""
        stored: list[tuple[SignalEvent | AttachedEvent, Any]] = []
        alone: list[SignalEvent | AttachedEvent] = []
        refused = 0
        delivery = self.delivery
        try:
            with self.sessions() as s:
                with store.media_transaction(s) as written:
                    calibrating = store.cameras_in_mode(
                        s, (self._camera_of(e) for e in events), "calibration"
                    )
                    for e in events:
                        camera = self._camera_of(e)
                        if getattr(e, "mode", "live") == "calibration" or camera in calibrating:
                            alone.append(e)
                        elif not self._authorised(e):
                            refused += 1
                        elif isinstance(e, SignalEventType):
                            row = store.add_signal(
                                s, e, self.data_dir, written,
                                before_commit=delivery.enqueue if delivery else None,
                            )  # fmt: skip
                            stored.append((e, row))
                        else:
                            attached, _ = store.add_further(
                                s, e,
                                before_commit=delivery.enqueue_further if delivery else None,
                            )  # fmt: skip
                            stored.append((e, attached))
                # Read while the session is open (its rows are not expired by the commit).
                payloads = [(e, signal_json(row) if row is not None else None)
                            for e, row in stored]  # fmt: skip
        except Exception as exc:
            if store.unreachable(exc):  # the supervisor keeps the batch and hands it over again
                raise StoreUnavailable(type(exc).__name__) from exc
            log.warning("a batch of %d events could not be stored together (%s: %s); "
                        "storing each alone", len(events), type(exc).__name__, exc)  # fmt: skip
            for e in events:
                self._one(e)
            return
        if delivery is not None and stored:
            delivery.wake()
        if refused:
            self.refused += refused
            log.warning("dropped %d signals or further events: no active authorisation "
                        "covered them", refused)  # fmt: skip
        told: list[dict[str, Any]] = []
        for e, payload in payloads:
            if isinstance(e, SignalEventType):
                assert payload is not None
                told.append({"type": "signal", "id": payload["id"], "signal": payload})
            elif payload is None:
                self.orphans += 1
                log.warning("a further %s event of camera %s has no stored signal",
                            e.event.situation, e.event.camera)  # fmt: skip
            else:
                told.append({"type": "further_event", "id": payload["id"], "signal": payload})
        self.bus.publish_many(told)
        for e in alone:
            self._one(e)

    def _one(self, event: SignalEvent | AttachedEvent) -> None:
        if isinstance(event, SignalEventType):
            self(event)
        else:
            self.further(event)

    @staticmethod
    def _camera_of(event: SignalEvent | AttachedEvent) -> str:
        return event.signal.camera if isinstance(event, SignalEventType) else event.event.camera

    def _authorised(self, event: SignalEvent | AttachedEvent) -> bool:
        if self.authorised is None:
            return True
        if isinstance(event, SignalEventType):
            return self.authorised(event.signal.camera, event.signal.situation, event.wall_time)
        return self.authorised(event.event.camera, event.event.situation, event.wall_time)

    @staticmethod
    def calibrating(s: Session, mode: str, camera: str) -> bool:
        """Whether an event comes from a camera in the calibration mode: as its process ran
        it, or as its stored configuration now says (a mode changed while it was on its way)."""
        if mode == "calibration":
            return True
        row = store.get_camera(s, camera)
        return row is not None and (row.config or {}).get("mode") == "calibration"


class Platform:
    """What the routes act on: database sessions, the supervisor, the live bus."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        data_dir: Path,
        bus: SignalBus,
        supervisor: CameraHub | None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.data_dir = data_dir
        self.bus = bus
        self.supervisor = supervisor
        self.clock = clock
        self.stream_checks = StreamChecks(sessions)
        """The live streams' session and scope checks, one database round for all of them."""
        self._still_lock = threading.Lock()
        self._still_saved: dict[str, float] = {}
        self._stills: dict[str, bytes] = {}
        # The authorisation gate's state: what is authorised (active and upcoming records),
        # and what each camera was last started with (None: not running).
        self._gate_lock = threading.RLock()
        self._grants: dict[int, Grant] | None = None
        self._active_ids: frozenset[int] = frozenset()
        self._applied: dict[str, CameraConfig | None] = {}
        self._waiting: dict[str, str] = {}
        """Cameras whose processing is on but that may not run now, with the reason."""
        self._gate_off: dict[str, set[str]] = {}
        self.gate: AuthorisationGate | None = None

    # --- cameras -------------------------------------------------------------------------

    def status(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if self.supervisor is not None:
            out = {name: status_json(st) for name, st in self.supervisor.status().items()}
        with self._gate_lock:
            waiting = dict(self._waiting)
        for name, why in waiting.items():
            # Processing is on but nothing may run: the camera is not started (SPEC §4).
            out[name] = {
                "state": "waiting", "fps": 0.0, "lag_s": 0.0, "dropped_frames": 0,
                "restarts": int(out.get(name, {}).get("restarts", 0)),
                "last_error": None, "active_situations": [], "waiting_for": why,
            }  # fmt: skip
        return out

    def save_camera(
        self,
        db: Session,
        name: str,
        config: CameraConfig,
        processing: bool | None = None,
        *,
        actor: str,
    ) -> store.Camera:
        """Store a camera's configuration (journaled as `actor`'s change) and (re)start its
        pipeline with it when it is processing: new zones and situations apply at once."""
        check_camera_name(name)
        row = store.upsert_camera(db, name, config, processing=processing, actor=actor)
        with self._gate_lock:
            state = self._gate_state(db)
            self._converge(name, self._desired(store.CameraState.of(row), state), restart=True)
        return row

    def update_camera(
        self, db: Session, name: str, change: Callable[[dict[str, Any]], None], *, actor: str
    ) -> store.Camera:
        """Apply `change` to a copy of the camera's JSON configuration, validate, save."""
        row = store.get_camera(db, name)
        if row is None:
            raise KeyError(name)
        data = json.loads(json.dumps(row.config))
        change(data)
        return self.save_camera(db, name, validate_camera(data), actor=actor)

    def delete_camera(self, db: Session, name: str, *, actor: str) -> None:
        with self._gate_lock:
            self._applied.pop(name, None)
            self._waiting.pop(name, None)
            if self.supervisor is not None:
                with contextlib.suppress(KeyError):
                    self.supervisor.stop_camera(name)
        store.delete_camera(db, name, actor=actor)
        with self._still_lock:
            self._stills.pop(name, None)
        self._still_path(name).unlink(missing_ok=True)

    # --- processing (SPEC S5) ------------------------------------------------------------

    def set_processing(
        self,
        db: Session,
        active: bool,
        camera: str | None = None,
        situation: str | None = None,
        *,
        actor: str,
    ) -> list[str]:
        """Start or stop processing: everything, one camera, one situation everywhere, or one
        situation on one camera; journaled as one entry of `actor`'s. Returns the cameras
        affected."""
        if situation is not None and situation not in SITUATION_IDS:
            raise ValueError(f"unknown situation '{situation}'; one of {', '.join(SITUATION_IDS)}")
        rows = store.list_cameras(db)
        if camera is not None:
            rows = [r for r in rows if r.name == camera]
            if not rows:
                raise KeyError(camera)
        names = [r.name for r in rows]
        sup = self.supervisor
        with self._gate_lock:
            state = self._gate_state(db)
            if situation is not None:
                done = []
                for row in rows:
                    enabled = row.config.get("situations", {}).get(situation, {}).get("enabled")
                    if not enabled:
                        if camera is not None:
                            raise ValueError(
                                f"situation '{situation}' is not enabled on camera '{row.name}'; "
                                "an administrator enables it on the camera's page"
                            )
                        continue
                    live = row.config.get("mode", "live") == "live"
                    if active and live and not state.allows(row.name, situation):
                        if camera is not None:
                            raise ValueError(
                                f"situation '{situation}' on camera '{row.name}' has no active "
                                "authorisation; live processing runs only inside one (see "
                                "the Authorisations page)"
                            )
                        continue
                    if sup is not None:
                        with contextlib.suppress(KeyError):  # a camera the supervisor never ran
                            sup.set_situation(row.name, situation, active)
                    done.append(row.name)
                self._journal_processing(db, actor, active, camera, situation, done)
                return done
            if not active and camera is None and sup is not None:
                sup.stop_all()  # one call: every camera within the second
                self._applied = dict.fromkeys(self._applied)
            for row in rows:
                store.set_processing(db, row.name, active, actor=None)
                # Started only as far as an authorisation allows (SPEC §4).
                self._converge(
                    row.name, self._desired(store.CameraState.of(row), state), restart=active
                )
            self._journal_processing(db, actor, active, camera, None, names)
        return names

    # --- authorisations (SPEC §4) ---------------------------------------------------------

    def effective_config(
        self, config: CameraConfig, name: str, now: datetime | None = None
    ) -> CameraConfig:
        """`config` with every situation not authorised for camera `name` at `now` disabled.
        Only live mode is gated: calibration and statistics send no signal to operators."""
        if config.mode != "live":
            return config
        with self._gate_lock:
            allowed = self._gate_state(None, now).situations.get(name, frozenset())
        return _only_situations(config, allowed)

    def is_authorised(self, camera: str, situation: str, at: datetime | None = None) -> bool:
        """Whether an active authorisation covered `situation` on `camera` at `at` (default:
        now). A last defence for the signal path: the gate already keeps the rest from running."""
        at = at or self.clock()
        with self._gate_lock:
            grants = self._load_grants(None)
            return any(
                camera in g.cameras and situation in g.situations and is_active(g, at)
                for g in grants.values()
            )

    def waiting_cameras(self) -> dict[str, str]:
        """Cameras whose processing is on but that may not run now, with the reason."""
        with self._gate_lock:
            return dict(self._waiting)

    def start_gate(self, *, recheck_s: float = 30.0) -> AuthorisationGate:
        """Apply the authorisations now and start the thread that applies them at each bound."""
        from veilleur.service.gate import AuthorisationGate

        self.apply_authorisations()
        gate = self.gate = AuthorisationGate(self, recheck_s=recheck_s)
        gate.start()
        return gate

    def close(self) -> None:
        if self.gate is not None:
            self.gate.close()
            self.gate = None

    def apply_authorisations(self, db: Session | None = None) -> GateState:
        """Bring every camera to what the authorisations allow now: withdrawn situations are
        switched off at once, then the camera restarts on its new configuration or stops; one
        journal entry (actor "system") per authorisation that started or stopped applying."""
        known = self._grants
        try:
            return self._apply_authorisations(db)
        except Exception:
            with self._gate_lock:
                self._hold_to_known_grants(self._grants if self._grants is not None else known)
            raise

    def _apply_authorisations(self, db: Session | None) -> GateState:
        with self._gate_lock, _session(self.sessions, db) as s:
            previous = dict(self._grants or {})
            self._grants = None
            state = self._gate_state(s)
            stops: list[str] = []
            for camera in store.camera_states(s):
                self._converge(camera.name, self._desired(camera, state), stops=stops)
            if stops and self.supervisor is not None:
                # All at once: a revocation ends every camera's process in parallel.
                self.supervisor.stop_cameras(stops)
            known = {**previous, **(self._grants or {})}
            for aid in sorted(self._active_ids - state.active_ids):
                self._journal_bound(s, "processing.stopped", known.get(aid), aid, state)
            for aid in sorted(state.active_ids - self._active_ids):
                self._journal_bound(s, "processing.started", known.get(aid), aid, state)
            s.commit()
            self._active_ids = state.active_ids
        return state

    def _hold_to_known_grants(self, known: dict[int, Grant] | None) -> None:
        """The database cannot be read: keep the authorisations known in memory (the signal
        path's last defence goes on using them) and withdraw at once, without the database,
        what they no longer allow now (one that ended or was bounded meanwhile), so that no
        processing outlives its authorisation during an outage. The journal entries follow
        when the database answers again (`apply_authorisations` sees the change then)."""
        self._grants = known
        if known is None or self.supervisor is None:
            return
        state = grants_at(known.values(), self.clock())
        stops: list[str] = []
        # What each camera last ran on, narrowed to what is allowed now; the gate's own
        # convergence then withdraws the rest, exactly as when the database answers.
        for name, applied in list(self._applied.items()):
            if applied is None or applied.mode != "live":
                continue
            desired = _only_situations(applied, state.situations.get(name, frozenset()))
            self._converge(name, desired if _enabled(desired) else None, stops=stops)
        if stops:
            self.supervisor.stop_cameras(stops)
            log.warning("database unreachable: cameras %s stopped, no authorisation covers "
                        "them any more", stops)  # fmt: skip

    def create_authorisation(
        self, db: Session, data: AuthorisationInput, *, actor: str
    ) -> store.Authorisation:
        """Record an authorisation (its cameras must exist) and apply it at once."""
        self._check_cameras(db, data.cameras)
        row = store.create_authorisation(db, data, actor=actor)
        self._authorisations_changed(db)
        return row

    def renew_authorisation(
        self, db: Session, old_id: int, data: AuthorisationInput, *, actor: str
    ) -> store.Authorisation:
        self._check_cameras(db, data.cameras)
        row = store.renew_authorisation(db, old_id, data, actor=actor)
        self._authorisations_changed(db)
        return row

    def revoke_authorisation(
        self, db: Session, authorisation_id: int, reason: str, *, actor: str
    ) -> store.Authorisation:
        """Revoke an authorisation; what it allowed stops before this returns (SPEC §4)."""
        row = store.revoke_authorisation(db, authorisation_id, reason, actor=actor)
        self._authorisations_changed(db)
        return row

    def _authorisations_changed(self, db: Session) -> None:
        self.apply_authorisations(db)
        if self.gate is not None:
            self.gate.poke()

    @staticmethod
    def _check_cameras(db: Session, cameras: list[str]) -> None:
        known = {r.name for r in store.list_cameras(db)}
        missing = [c for c in cameras if c not in known]
        if missing:
            raise ValueError(
                f"cameras: no camera named {', '.join(repr(c) for c in missing)}; add the "
                f"camera first (cameras: {', '.join(sorted(known)) or 'none yet'})"
            )

    def _load_grants(self, db: Session | None) -> dict[int, Grant]:
        if self._grants is None:
            with _session(self.sessions, db) as s:
                rows = store.list_authorisations(s, current_from=self.clock())
                self._grants = {r.id: Grant.of(r) for r in rows}
        return self._grants

    def _gate_state(self, db: Session | None, now: datetime | None = None) -> GateState:
        return grants_at(self._load_grants(db).values(), now or self.clock())

    def _desired(self, camera: store.CameraState, state: GateState) -> CameraConfig | None:
        """What `camera` should run on now, or None when it must not run."""
        self._waiting.pop(camera.name, None)
        if not camera.processing:
            return None
        config = camera.config
        if config.mode != "live":
            return config
        if not _enabled(config):
            self._waiting[camera.name] = NO_SITUATION
            return None
        config = _only_situations(config, state.situations.get(camera.name, frozenset()))
        if not _enabled(config):
            self._waiting[camera.name] = NO_AUTHORISATION
            return None
        return config

    def _converge(
        self,
        name: str,
        desired: CameraConfig | None,
        *,
        restart: bool = False,
        stops: list[str] | None = None,
    ) -> None:
        """Run camera `name` on `desired` (None: stopped) unless it already does; `restart`
        restarts it even so (a configuration saved, a start asked for). With `stops`, a camera
        to stop is added there for the caller to stop with the others, once its withdrawn
        situations are off."""
        before = self._applied.get(name)
        known = name in self._applied
        self._applied[name] = desired
        sup = self.supervisor
        if sup is None or (not restart and known and before == desired):
            return
        if desired is None and before is None:
            return  # not started by this platform (or stopped already): nothing to stop
        # Withdrawn situations first: delivery of their signals stops at once, before the
        # (slower) restart or stop of the camera's process. Only those running: one a
        # supervisor stopped by hand stays stopped when it is authorised again.
        withdrawn = _enabled(before) - _enabled(desired)
        if withdrawn:
            status = sup.status().get(name)
            running = set(status.active_situations) if status is not None else set()
            for situation in sorted(withdrawn & running):
                with contextlib.suppress(KeyError, ValueError):
                    sup.set_situation(name, situation, False)
                    self._gate_off.setdefault(name, set()).add(situation)
        if desired is not None:
            sup.start_camera(name, desired)
            # The supervisor keeps a situation switched off across restarts: switch back on
            # those the gate switched off and that are authorised again.
            for situation in sorted(self._gate_off.pop(name, set()) & _enabled(desired)):
                with contextlib.suppress(KeyError, ValueError):
                    sup.set_situation(name, situation, True)
        elif stops is not None:
            stops.append(name)
        else:
            with contextlib.suppress(KeyError):
                sup.stop_camera(name)

    def _journal_bound(
        self, db: Session, action: str, grant: Grant | None, aid: int, state: GateState
    ) -> None:
        details: dict[str, Any] = {"scope": "authorisation", "authorisation": aid}
        if grant is not None:
            details["cameras"] = [c for c in grant.cameras if c in self._applied]
            details["situations"] = list(grant.situations)
            if action == "processing.stopped":
                details["because"] = "ended" if grant.ends_at <= state.at else "revoked"
        store.journal_append(db, SYSTEM, action, f"authorisation:{aid}", details)

    @staticmethod
    def _journal_processing(
        db: Session,
        actor: str,
        active: bool,
        camera: str | None,
        situation: str | None,
        cameras: list[str],
    ) -> None:
        # One entry per operation (a global stop is one act), committed with the flags.
        scope = "situation" if situation else ("camera" if camera else "all")
        details: dict[str, Any] = {"scope": scope, "cameras": cameras}
        if situation:
            details["situation"] = situation
        action = "processing.started" if active else "processing.stopped"
        store.journal_append(db, actor, action, f"camera:{camera}" if camera else "all", details)
        db.commit()

    # --- live images ---------------------------------------------------------------------

    def _still_path(self, name: str) -> Path:
        return self.data_dir / "stills" / f"{name}.jpg"

    def live_jpeg(self, name: str) -> bytes | None:
        """The camera's latest blurred frame from the supervisor, or None."""
        if self.supervisor is None:
            return None
        jpeg = self.supervisor.latest_jpeg(name)
        if jpeg is None:
            return None
        now = time.monotonic()
        with self._still_lock:
            self._stills[name] = jpeg
            due = now - self._still_saved.get(name, -1e9) >= STILL_EVERY_S
            if due:
                self._still_saved[name] = now
        if due:
            path = self._still_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(jpeg)
            tmp.replace(path)
        return jpeg

    def still_jpeg(self, name: str) -> bytes | None:
        """The live frame when there is one, else the last kept (blurred) still."""
        jpeg = self.live_jpeg(name)
        if jpeg is not None:
            return jpeg
        with self._still_lock:
            if name in self._stills:
                return self._stills[name]
        path = self._still_path(name)
        return path.read_bytes() if path.is_file() else None

    # --- signals -------------------------------------------------------------------------

    def qualify(
        self, db: Session, signal_id: int, user_id: int, verdict: str, comment: str | None
    ) -> store.SignalRow:
        """Record an operator's verdict (once) and tell the other consoles."""
        user = store.get_user(db, user_id)
        if user is None:
            raise KeyError(user_id)
        store.qualify(db, signal_id, user, verdict, (comment or "").strip() or None)
        row = store.get_signal(db, signal_id)
        assert row is not None
        db.refresh(row)
        payload = signal_json(row)
        self.bus.publish({"type": "review", "signal": payload})
        return row

    def media_path(self, relative: str | None) -> Path | None:
        """A stored media file, only if it lies in the data directory's media folder."""
        if not relative:
            return None
        try:
            path = store.media_file(self.data_dir, relative)
        except ValueError:
            return None
        return path if path.is_file() else None


def _enabled(config: CameraConfig | None) -> set[str]:
    if config is None:
        return set()
    return {sid for sid, sit in config.situations.items() if sit.enabled}


def _only_situations(config: CameraConfig, allowed: frozenset[str]) -> CameraConfig:
    """`config` with its enabled situations outside `allowed` disabled."""
    off = {
        sid: sit.model_copy(update={"enabled": False})
        for sid, sit in config.situations.items()
        if sit.enabled and sid not in allowed
    }
    if not off:
        return config
    return config.model_copy(update={"situations": config.situations.model_copy(update=off)})


@contextlib.contextmanager
def _session(sessions: sessionmaker[Session], db: Session | None) -> Iterator[Session]:
    """`db` when given, else a new session closed after."""
    if db is not None:
        yield db
        return
    with sessions() as s:
        yield s
