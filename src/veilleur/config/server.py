"""Settings of the web server (`veilleur serve`, `veilleur demo`) and of retention: plain
models, so that compliance, the CLI and the server read them without importing the web layer."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from veilleur.config.delivery import DeliverySettings

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted by default: generous for a camera's zones and
configuration (a zone of a thousand points is about 30 kB), far below what would hurt the
server; `veilleur.http.limits.BodyLimit` enforces it."""


class RetentionSettings(BaseModel):
    """How long each kind of data is kept before the scheduled purge deletes it (SPEC S8)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images_days: int = Field(
        default=14,
        ge=1,
        description="Days the blurred snapshots and clips of signals and calibration records "
        "are kept; the signal rows stay (their media links are cleared).",
    )
    signals_days: int = Field(
        default=365,
        ge=1,
        description="Days signals, their qualifications, calibration records and operators' "
        "missed-situation reports are kept.",
    )
    journal_days: int = Field(
        default=365,
        ge=183,
        description="Days journal entries are kept; at least 6 months (183 days). A purge "
        "leaves a checkpoint so that the rest of the chain still verifies.",
    )
    statistics_days: int = Field(
        default=365,
        ge=1,
        description="Days the statistics mode's aggregates are kept.",
    )
    purge_every_s: int = Field(
        default=3600,
        ge=60,
        description="Seconds between two runs of the scheduled purge.",
    )


class ServerSettings(BaseModel):
    """Where the server keeps its data and how it is reached."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(
        description="Folder holding the embedded database (when no URL is given) and the "
        "blurred snapshots and clips of signals.",
    )
    database_url: str = Field(
        description="SQLAlchemy URL of the database: sqlite:///<data_dir>/veilleur.db by "
        "default, postgresql+psycopg://user@host/db in production.",
    )
    config_path: Path | None = Field(
        default=None,
        description="The site configuration file whose cameras were imported at start, if any "
        "(site-wide perception and tracking settings come from it).",
    )
    cluster_address: str | None = Field(
        default=None,
        description="Address of a Ray cluster (e.g. 10.0.0.5:6379, or 'auto' on a node of it) "
        "whose nodes run the cameras (veilleur.cluster, docs/cluster.md); empty: the cameras "
        "run as processes of this machine.",
    )
    host: str = Field(default="127.0.0.1", description="Address the server listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port the server listens on.")
    session_ttl_s: int = Field(
        default=8 * 3600,
        ge=60,
        description="How long a console session lasts after login, in seconds; the operator "
        "logs in again after it.",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark the session cookie Secure (only sent over HTTPS). Turn on behind a "
        "TLS-terminating proxy; off for the local demo over plain HTTP.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="Bearer token that lets a Prometheus scraper read /metrics without a "
        "console session; empty means /metrics needs a logged-in user.",
    )
    sse_heartbeat_s: float = Field(
        default=15.0,
        gt=0,
        description="Seconds between keep-alive comments on the live signal stream, so "
        "proxies do not close an idle connection.",
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings,
        description="Retention period of each kind of data and the purge's schedule (S8).",
    )
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Largest request body accepted, in bytes; a larger one is answered 413 "
        "before it is read (1 MiB: ample for a camera's zones and configuration).",
    )
    delivery: DeliverySettings = Field(
        default_factory=DeliverySettings,
        description="Recipients of signals besides the console (MQTT, webhooks) and the "
        "outbox's retries (`veilleur serve --delivery FILE`, docs/delivery.md).",
    )
    live_refresh_ms: int = Field(
        default=1000,
        ge=200,
        description="How often the live wall reloads each camera's image, in milliseconds.",
    )
