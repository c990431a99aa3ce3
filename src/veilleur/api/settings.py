"""Settings of the web server (`veilleur serve`, `veilleur demo`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


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
    live_refresh_ms: int = Field(
        default=1000,
        ge=200,
        description="How often the live wall reloads each camera's image, in milliseconds.",
    )
