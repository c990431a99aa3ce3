"""What an address names: a file, a network stream or a capture device; passwords kept out of
messages and logs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: Schemes read through FFmpeg's network protocols.
NETWORK_SCHEMES: frozenset[str] = frozenset(
    {"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "rtp", "srt", "tcp"}
)
#: Network schemes that always carry a live stream (HTTP may also serve a finite file).
LIVE_SCHEMES = NETWORK_SCHEMES - {"http", "https"}


def redact(uri: str) -> str:
    """The URI with its password (if any) replaced by `***`, for messages and logs."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def scheme_of(uri: str) -> str:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep else ""


def is_device(uri: str) -> bool:
    return uri.startswith("/dev/video") or uri.startswith("v4l2:")


@dataclass(frozen=True)
class Address:
    """A source's address, parsed once. Exactly one of `network`, `device`, `path` holds."""

    uri: str
    """As given (may hold a password: never put it in a message, use `label`)."""
    label: str
    """The URI with its password replaced by `***`."""
    scheme: str
    network: bool
    device: bool
    path: Path | None
    """The file, for a local file (with `file://` removed and `~` expanded)."""

    @property
    def always_live(self) -> bool:
        """A capture device or a live-only network scheme (HTTP may serve a finite file)."""
        return self.device or self.scheme in LIVE_SCHEMES

    def target(self) -> tuple[str, str | None]:
        """What FFmpeg opens, and the input format to force (None: let FFmpeg probe)."""
        if self.path is not None:
            return str(self.path), None
        if self.device:
            return self.uri.removeprefix("v4l2:"), "v4l2"
        return self.uri, None

    def stream_options(self, timeout_s: float, extra: Mapping[str, str]) -> dict[str, str]:
        """FFmpeg options of a network stream or device, the caller's `extra` last."""
        us = str(int(timeout_s * 1_000_000))
        opts: dict[str, str] = {}
        if self.scheme in ("rtsp", "rtsps"):
            # TCP interleaving survives packet loss and NAT; `timeout` is the socket I/O timeout
            # in microseconds (FFmpeg >= 5 renamed the old `stimeout` to it).
            opts.update({"rtsp_transport": "tcp", "timeout": us})
        elif self.scheme in ("http", "https"):
            opts["timeout"] = us
        if self.network:
            # Generic per-read timeout of every FFmpeg protocol, in microseconds.
            opts["rw_timeout"] = us
        opts.update(extra)
        return opts


def parse_address(uri: str) -> Address:
    """A file path (or `file://` URL), a network URL (`NETWORK_SCHEMES`) or a capture device
    (`/dev/videoN`, `v4l2:...`)."""
    scheme = scheme_of(uri)
    network = scheme in NETWORK_SCHEMES
    device = is_device(uri)
    path: Path | None = None
    if not network and not device:
        raw_path = uri[len("file://") :] if uri.startswith("file://") else uri
        path = Path(raw_path).expanduser()
    return Address(
        uri=uri, label=redact(uri), scheme=scheme, network=network, device=device, path=path
    )
