"""Settings of the delivery of signals to other systems (MQTT brokers, signed webhooks).

A recipient is one endpoint of one recipient service (the organisation a camera belongs to,
`Camera.services`): it receives the signals of that service's cameras only. The file is YAML,
given to `veilleur serve --delivery FILE`; see docs/delivery.md. Secrets are `SecretStr`, so
they never show in a log, a `repr` or an API answer; each may come from the environment instead
(`secret_env`, `password_env`) to keep it out of the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from veilleur.config.loader import ConfigError, ConfigProblem, _explain, _line_index

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _from_env(direct: SecretStr | None, env: str | None, key: str) -> SecretStr | None:
    """The secret given directly or by the name of an environment variable (not both)."""
    if direct is not None and env is not None:
        raise ValueError(f"give {key} or {key}_env, not both")
    if env is None:
        return direct
    value = os.environ.get(env)
    if not value:
        raise ValueError(
            f"{key}_env names the environment variable {env!r}, which is not set or empty; "
            f"export it before starting the server, or write {key}: in the file"
        )
    return SecretStr(value)


class _RecipientBase(_Strict):
    name: str = Field(
        description="The recipient's name (1 to 64 letters, digits, '_' or '-'); shown in the "
        "console and /metrics, and kept with each delivery."
    )
    service: str = Field(
        description="The recipient service whose cameras' signals go to this recipient (a "
        "name of `Camera.services`, set on the Cameras page)."
    )
    enabled: bool = Field(
        default=True,
        description="Off: nothing more is queued for this recipient (what is queued waits).",
    )
    timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds one delivery attempt may take before it counts as failed.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError(f"name {v!r} must be 1 to 64 letters, digits, '_' or '-'")
        return v

    @field_validator("service")
    @classmethod
    def _service(cls, v: str) -> str:
        v = v.strip()
        if not v or len(v) > 64:
            raise ValueError("service is the name of a recipient service (1 to 64 characters)")
        return v


class MqttRecipient(_RecipientBase):
    """Signals published to an MQTT broker, QoS 1 or 2, one message per signal."""

    kind: Literal["mqtt"] = Field(description="`mqtt`: publish to an MQTT broker.")
    host: str = Field(description="The broker's host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="The broker's port.")
    topic: str = Field(
        default="veilleur/signals",
        description="Topic prefix; each signal goes to <topic>/<camera>/<situation>.",
    )
    qos: Literal[1, 2] = Field(
        default=1,
        description="MQTT quality of service: 1 (at least once, the default) or 2. QoS 0 is "
        "not offered: the broker's acknowledgement is what marks a delivery done.",
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client id of the publisher; default `veilleur-<name>`.",
    )
    username: str | None = Field(default=None, description="User name on the broker, if any.")
    password: SecretStr | None = Field(
        default=None, description="Password on the broker; prefer password_env."
    )
    password_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the broker password.",
    )
    tls: bool = Field(
        default=False,
        description="Connect with TLS, checking the broker's certificate against the system's "
        "trusted authorities.",
    )

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        v = v.strip("/")
        if not TOPIC_LEVEL.match(v) or "//" in v:
            raise ValueError(
                f"topic {v!r} must be plain levels separated by '/' (letters, digits, '_', '-', "
                "'.'); no wildcard '+' or '#'"
            )
        return v

    @model_validator(mode="after")
    def _password(self) -> MqttRecipient:
        secret = _from_env(self.password, self.password_env, "password")
        object.__setattr__(self, "password", secret)
        if secret is not None and self.username is None:
            raise ValueError("a broker password needs a username")
        return self


class WebhookRecipient(_RecipientBase):
    """Signals POSTed as JSON to an HTTP(S) URL, signed with HMAC-SHA256."""

    kind: Literal["webhook"] = Field(description="`webhook`: POST to an HTTP(S) URL.")
    url: str = Field(description="The http:// or https:// URL receiving the POSTs.")
    secret: SecretStr | None = Field(
        default=None,
        description="The shared secret of the HMAC-SHA256 signature (at least 16 characters); "
        "prefer secret_env.",
    )
    secret_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the shared secret.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {v!r} must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            # Credentials in a URL end up in logs and answers; the signature authenticates.
            raise ValueError("url must not hold a user or password; the HMAC secret is the key")
        return v

    @model_validator(mode="after")
    def _secret(self) -> WebhookRecipient:
        secret = _from_env(self.secret, self.secret_env, "secret")
        if secret is None:
            raise ValueError("a webhook needs secret_env (or secret): the key of its signature")
        if len(secret.get_secret_value()) < 16:
            raise ValueError("the webhook secret must have at least 16 characters")
        object.__setattr__(self, "secret", secret)
        return self


Recipient = Annotated[MqttRecipient | WebhookRecipient, Field(discriminator="kind")]


class DeliverySettings(_Strict):
    """Who receives signals besides the console, and how the outbox retries."""

    recipients: list[Recipient] = Field(
        default_factory=list,
        description="The MQTT brokers and webhooks signals are delivered to; none by default.",
    )
    max_attempts: int = Field(
        default=20,
        ge=1,
        le=1000,
        description="Attempts of one delivery before it is dead-lettered (kept, shown in the "
        "console and /metrics, retried only by an administrator). Attempts are counted only "
        "for deliveries actually tried: while a recipient is down, its other ones wait.",
    )
    backoff_initial_s: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Wait after a delivery's first failure; it doubles at each failure.",
    )
    backoff_max_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Longest wait between two attempts of one delivery.",
    )
    lease_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a claimed delivery is reserved for the worker that claimed it; "
        "past it (the worker died) it is claimed again.",
    )
    poll_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between two looks at the outbox when nothing woke the worker.",
    )
    batch: int = Field(
        default=100, ge=1, le=10000, description="Deliveries claimed at once by the worker."
    )
    keep_delivered_s: int = Field(
        default=7 * 86400,
        ge=0,
        description="Seconds a delivered row is kept in the outbox (for the console) before "
        "it is deleted; dead-lettered rows stay until retried.",
    )

    @field_validator("recipients")
    @classmethod
    def _unique(cls, v: list[MqttRecipient | WebhookRecipient]) -> list[Any]:
        seen: set[str] = set()
        for r in v:
            if r.name in seen:
                raise ValueError(f"two recipients are named {r.name!r}; names must differ")
            seen.add(r.name)
        return v

    @field_validator("backoff_max_s")
    @classmethod
    def _backoff(cls, v: float, info: ValidationInfo) -> float:
        # A field validator, not a model one: the error then names this key.
        initial = info.data.get("backoff_initial_s")
        if initial is not None and v < initial:
            raise ValueError(f"backoff_max_s must be at least backoff_initial_s ({initial})")
        return v

    def recipient(self, name: str) -> MqttRecipient | WebhookRecipient | None:
        return next((r for r in self.recipients if r.name == name), None)


def parse_delivery(
    data: Any, path: str = "<delivery>", lines: dict[Any, int] | None = None
) -> DeliverySettings:
    """Validate loaded YAML data; ConfigError names every wrong key, its line and the fix."""
    lines = lines or {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [ConfigProblem("", 1, "the file must be a YAML mapping")])
    try:
        return DeliverySettings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"] if p not in ("mqtt", "webhook"))
            message = _explain(dict(err))
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc = (*loc, "kind")
                message = "kind must be `mqtt` or `webhook` (docs/delivery.md shows both)"
            line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
            problems.append(ConfigProblem(".".join(loc), line, message))
        raise ConfigError(path, problems) from None


def load_delivery(path: str | Path) -> DeliverySettings:
    """Read and validate a delivery file (`veilleur serve --delivery FILE`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), [ConfigProblem("", None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), [ConfigProblem("", None, f"cannot read it: {exc}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            str(p),
            [
                ConfigProblem(
                    "", mark.line + 1 if mark else None, "not valid YAML; check indentation"
                )
            ],
        ) from None
    lines: dict[tuple[str, ...], int] = {}
    _line_index(node, (), lines)
    return parse_delivery(data, str(p), lines)
