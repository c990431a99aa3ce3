"""The delivery worker: one thread per recipient takes its due rows from the outbox, sends
them and marks each one; a housekeeping thread refreshes the gauges of /metrics and prunes.

A recipient that fails is held for the back-off of its consecutive failures: its other rows
wait untried (no attempt counted), so an outage of hours dead-letters nothing by itself; each
row's own attempts count only when it was tried. One recipient's outage or slowness never
delays another's deliveries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from veilleur.config.delivery import DeliverySettings, MqttRecipient, WebhookRecipient
from veilleur.delivery import metrics
from veilleur.delivery.payload import further_payload, signal_payload
from veilleur.delivery.transport import PermanentError, TransientError, Transport
from veilleur.store import outbox
from veilleur.store.models import Camera, SignalRow, utcnow

log = logging.getLogger(__name__)

SIGNAL_RECORDED = "signal.recorded"
FURTHER_EVENT = "signal.further_event"
HOUSEKEEPING_S = 5.0
PRUNE_EVERY_S = 300.0


def make_transport(recipient: MqttRecipient | WebhookRecipient) -> Transport:
    if isinstance(recipient, MqttRecipient):
        from veilleur.delivery.mqtt import MqttTransport

        return MqttTransport(recipient)
    from veilleur.delivery.webhook import WebhookTransport

    return WebhookTransport(recipient)


def describe(recipient: MqttRecipient | WebhookRecipient) -> dict[str, Any]:
    """A recipient as the console and the API show it: never a secret nor a URL's query."""
    if isinstance(recipient, MqttRecipient):
        target = f"mqtt://{recipient.host}:{recipient.port}/{recipient.topic}/…"
    else:
        from veilleur.delivery.webhook import shown_url

        target = shown_url(recipient.url)
    return {
        "name": recipient.name,
        "kind": recipient.kind,
        "service": recipient.service,
        "enabled": recipient.enabled,
        "target": target,
    }


class _Lane:
    """What the worker knows of one recipient between two rounds."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.held_until: datetime | None = None
        self.failures = 0
        self.last_error: str | None = None
        self.last_delivered_at: datetime | None = None


class DeliveryWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: DeliverySettings,
        *,
        transports: Mapping[str, Transport] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.transports: dict[str, Transport] = (
            dict(transports)
            if transports is not None
            else {r.name: make_transport(r) for r in settings.recipients}
        )
        self.lanes = {name: _Lane() for name in self.transports}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_prune = 0.0

    # -- the write path -------------------------------------------------------------------

    def routes(self, s: Session, camera: str) -> list[str]:
        """The enabled recipients of the services camera `camera` belongs to."""
        services = s.scalar(select(Camera.services).where(Camera.name == camera)) or []
        return [r.name for r in self.settings.recipients if r.enabled and r.service in services]

    def enqueue(self, s: Session, row: SignalRow) -> None:
        """`record_signal`'s `before_commit`: the signal's deliveries, in its transaction."""
        payload = signal_payload(row)
        for name in self.routes(s, row.camera):
            outbox.enqueue(
                s, recipient=name, event=SIGNAL_RECORDED, signal_id=row.id, payload=payload,
                now=row.created_at or self.clock(),
            )  # fmt: skip

    def enqueue_further(self, s: Session, row: SignalRow) -> None:
        """`attach_further`'s `before_commit`: a further event of the signal's episode goes to
        the same recipients, as its own delivery (its own key)."""
        payload = further_payload(row)
        for name in self.routes(s, row.camera):
            outbox.enqueue(
                s, recipient=name, event=FURTHER_EVENT, signal_id=row.id, payload=payload,
                now=self.clock(),
            )  # fmt: skip

    def wake(self) -> None:
        """A signal was committed: look at the outbox now rather than at the next poll."""
        for lane in self.lanes.values():
            lane.wake.set()

    # -- the delivery loop ----------------------------------------------------------------

    def run_once(self, name: str) -> int:
        """One round for recipient `name`: claim its due rows, send them in order, mark each.
        Returns how many were tried."""
        lane = self.lanes[name]
        now = self.clock()
        if lane.held_until is not None and lane.held_until > now:
            return 0
        cfg = self.settings
        with self.sessions() as s:
            rows = outbox.claim(s, [name], now=now, lease_s=cfg.lease_s, limit=cfg.batch)
            transport = self.transports[name]
            for i, row in enumerate(rows):
                if self._stop.is_set():
                    outbox.release(s, [r.id for r in rows[i:]])
                    return i
                try:
                    transport.send(row.key, row.event, dict(row.payload))
                except PermanentError as exc:
                    self._failed(s, name, row, str(exc), permanent=True)
                except Exception as exc:
                    # Down, slow, or an unexpected error: the row waits its back-off, the
                    # recipient is held, and its other rows go back untried.
                    reason = str(exc) if isinstance(exc, TransientError) else repr(exc)
                    self._failed(s, name, row, reason, permanent=False)
                    lane.failures += 1
                    lane.held_until = self.clock() + timedelta(
                        seconds=outbox.backoff_s(
                            lane.failures, cfg.backoff_initial_s, cfg.backoff_max_s
                        )
                    )
                    outbox.release(s, [r.id for r in rows[i + 1 :]])
                    return i + 1
                else:
                    done = self.clock()
                    if outbox.mark_delivered(s, row.id, now=done):
                        metrics.DELIVERED.labels(name).inc()
                        metrics.LATENCY.labels(name).observe(
                            max(0.0, (done - row.created_at).total_seconds())
                        )
                    lane.failures = 0
                    lane.held_until = None
                    lane.last_delivered_at = done
            return len(rows)

    def _failed(self, s: Session, name: str, row: outbox.OutboxRow, reason: str,
                *, permanent: bool) -> None:  # fmt: skip
        cfg = self.settings
        self.lanes[name].last_error = reason
        metrics.FAILED.labels(name).inc()
        state = outbox.mark_failed(
            s, row.id, reason, now=self.clock(), max_attempts=cfg.max_attempts,
            initial_s=cfg.backoff_initial_s, max_s=cfg.backoff_max_s, permanent=permanent,
        )  # fmt: skip
        if state == "dead":
            metrics.DEAD.labels(name).inc()
            log.error("delivery %d of signal %d to %s dead-lettered after %s: %s",
                      row.id, row.signal_id, name, "a refusal" if permanent else "its attempts",
                      reason)  # fmt: skip
        else:
            log.warning("delivery %d to %s failed, retried later: %s", row.id, name, reason)

    def _lane_loop(self, name: str) -> None:
        lane = self.lanes[name]
        broken = False
        while not self._stop.is_set():
            try:
                tried = self.run_once(name)
                if broken:
                    log.info("delivery rounds for %s work again", name)
                broken = False
            except Exception as exc:
                # The database is unreachable, most likely: the rows stay in the outbox. The
                # traceback once, then one line per round until it works again.
                if broken:
                    log.warning("delivery round for %s failed again: %s", name, exc)
                else:
                    log.exception("delivery round for %s failed; trying again", name)
                broken = True
                tried = 0
            if tried == 0:
                wait = self.settings.poll_s
                if lane.held_until is not None:
                    wait = max(0.0, min(wait, (lane.held_until - self.clock()).total_seconds()))
                lane.wake.wait(wait)
                lane.wake.clear()

    def refresh_metrics(self) -> dict[str, dict[str, Any]]:
        """Set the outbox gauges from the database; returns the per-recipient summary."""
        with self.sessions() as s:
            found = outbox.summary(s, now=self.clock())
        for name in {*self.transports, *found}:
            entry = found.get(name, {})
            metrics.PENDING.labels(name).set(entry.get("pending", 0))
            metrics.DEAD_NOW.labels(name).set(entry.get("dead", 0))
            metrics.OLDEST.labels(name).set(entry.get("oldest_pending_s") or 0.0)
        return found

    def prune(self) -> int:
        """Delete delivered rows older than `keep_delivered_s`, and every row whose signal the
        retention purge deleted (a delivery must not keep a signal past its period)."""
        now = self.clock()
        with self.sessions() as s:
            count = outbox.prune_delivered(
                s, now - timedelta(seconds=self.settings.keep_delivered_s)
            )
            count += outbox.prune_orphans(s)
        return count

    def _housekeeping(self) -> None:
        elapsed = PRUNE_EVERY_S  # prune at start too
        while not self._stop.is_set():
            try:
                self.refresh_metrics()
                if elapsed >= PRUNE_EVERY_S:
                    elapsed = 0.0
                    self.prune()
            except Exception:
                log.exception("delivery housekeeping failed; trying again")
            self._stop.wait(HOUSEKEEPING_S)
            elapsed += HOUSEKEEPING_S

    # -- life -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._lane_loop, args=(n,), name=f"delivery-{n}", daemon=True)
            for n in self.transports
        ]
        self._threads.append(
            threading.Thread(target=self._housekeeping, name="delivery-metrics", daemon=True)
        )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the threads (an attempt in progress ends within its timeout); what is not
        delivered stays in the outbox for the next start. Idempotent."""
        self._stop.set()
        for lane in self.lanes.values():
            lane.wake.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads = []
        for transport in self.transports.values():
            try:
                transport.close()
            except Exception:
                log.exception("closing a delivery transport failed")

    def state(self) -> dict[str, dict[str, Any]]:
        """Per recipient: its description, whether it is held and why, its last delivery."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.settings.recipients:
            lane = self.lanes.get(r.name)
            out[r.name] = {
                **describe(r),
                "held_until": lane.held_until if lane else None,
                "last_error": lane.last_error if lane else None,
                "last_delivered_at": lane.last_delivered_at if lane else None,
            }
        return out
