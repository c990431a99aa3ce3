"""The platform's web server: REST API, live signal stream, console (SPEC §3 S3–S5, S9, S11)."""

from veilleur.api.app import create_app
from veilleur.api.bus import SignalBus
from veilleur.api.platform import SignalRecorder

__all__ = ["SignalBus", "SignalRecorder", "create_app"]
