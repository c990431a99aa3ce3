"""Delivery of signals to other systems: MQTT brokers and signed webhooks, fed from the
database's outbox (`veilleur.store.outbox`); see docs/delivery.md."""

from veilleur.delivery.payload import body_bytes, signal_payload
from veilleur.delivery.transport import PermanentError, TransientError, Transport
from veilleur.delivery.worker import DeliveryWorker

__all__ = [
    "DeliveryWorker",
    "PermanentError",
    "TransientError",
    "Transport",
    "body_bytes",
    "signal_payload",
]
