"""MQTT delivery (paho-mqtt): one QoS 1 (or 2) message per delivery, to
`<topic>/<camera>/<situation>`, the same JSON body as a webhook's.

A delivery is done when the broker acknowledged it (PUBACK, or PUBCOMP at QoS 2): from then on
the broker holds it for its subscribers (a subscriber that must not miss one while it is away
uses a persistent session, clean_session false, QoS 1, and the broker persistence on; see
docs/delivery.md). A lost connection is not retried inside paho: the client is dropped and the
outbox retries the delivery, with its idempotency key, on a new connection.
"""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from veilleur.config.delivery import MqttRecipient
from veilleur.delivery.payload import body_bytes
from veilleur.delivery.transport import PermanentError, TransientError


def topic_for(recipient: MqttRecipient, payload: dict[str, Any]) -> str:
    return f"{recipient.topic}/{payload.get('camera', '_')}/{payload.get('situation', '_')}"


class MqttTransport:
    def __init__(self, recipient: MqttRecipient) -> None:
        self.recipient = recipient
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._refused: str | None = None

    @property
    def where(self) -> str:
        return f"mqtt://{self.recipient.host}:{self.recipient.port}"

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            self._refused = str(reason)
        else:
            self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def _connect(self) -> mqtt.Client:
        r = self.recipient
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=r.client_id or f"veilleur-{r.name}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.connect_timeout = r.timeout_s
        if r.username is not None:
            password = r.password.get_secret_value() if r.password is not None else None
            client.username_pw_set(r.username, password)
        if r.tls:
            client.tls_set()
        self._connected.clear()
        self._refused = None
        try:
            client.connect(r.host, r.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise TransientError(f"{self.where}: cannot connect ({exc})") from None
        client.loop_start()
        self._client = client
        if not self._connected.wait(r.timeout_s):
            refused = self._refused
            self._drop()
            # A refused login is retried too: the password may be fixed on the broker's side.
            raise TransientError(f"{self.where}: not connected ({refused or 'no CONNACK'})")
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def send(self, key: str, event: str, payload: dict[str, Any]) -> None:
        client = self._client
        if client is None or not self._connected.is_set():
            self._drop()
            client = self._connect()
        body = body_bytes(key, event, payload)
        if len(body) > 256 * 1024 * 1024:
            raise PermanentError("the message is larger than MQTT allows")
        info = client.publish(topic_for(self.recipient, payload), body, qos=self.recipient.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._drop()
            raise TransientError(f"{self.where}: publish failed ({mqtt.error_string(info.rc)})")
        try:
            info.wait_for_publish(self.recipient.timeout_s)
        except (RuntimeError, ValueError) as exc:
            self._drop()
            raise TransientError(f"{self.where}: publish failed ({exc})") from None
        if not info.is_published():
            self._drop()
            raise TransientError(f"{self.where}: no acknowledgement from the broker")

    def close(self) -> None:
        self._drop()
