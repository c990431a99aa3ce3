"""Prometheus metrics of delivery, in the runtime's registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from veilleur.runtime.metrics import REGISTRY

DELIVERED = Counter(
    "veilleur_delivery_delivered",
    "Deliveries acknowledged by their recipient",
    ["recipient"],
    registry=REGISTRY,
)
FAILED = Counter(
    "veilleur_delivery_failed_attempts",
    "Delivery attempts that failed (each is retried after its back-off, or dead-lettered)",
    ["recipient"],
    registry=REGISTRY,
)
DEAD = Counter(
    "veilleur_delivery_dead_lettered",
    "Deliveries dead-lettered (attempts spent, or refused by the recipient)",
    ["recipient"],
    registry=REGISTRY,
)
PENDING = Gauge(
    "veilleur_delivery_pending",
    "Deliveries waiting in the outbox",
    ["recipient"],
    registry=REGISTRY,
)
DEAD_NOW = Gauge(
    "veilleur_delivery_dead",
    "Dead-lettered deliveries in the outbox, waiting for an administrator",
    ["recipient"],
    registry=REGISTRY,
)
OLDEST = Gauge(
    "veilleur_delivery_oldest_pending_seconds",
    "Age of the oldest delivery still waiting (0 when none)",
    ["recipient"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "veilleur_delivery_latency_seconds",
    "From the signal's commit to its recipient's acknowledgement",
    ["recipient"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
    registry=REGISTRY,
)
