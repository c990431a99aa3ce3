"""Two live cameras on PETS 2009 S2L1 with YOLOX-nano in the shared detector pool: signals reach
`on_signal` with blurred images, and nothing in them can tell who anyone is."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from veilleur.config import parse_config
from veilleur.evaluation import pets
from veilleur.runtime import SignalEvent, Supervisor
from veilleur.sources import VideoSource

pytestmark = pytest.mark.integration

VIDEO = "vtest_PETS2009_S2L1_View001.avi"


def _detail(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_two_cameras_share_the_pool_and_send_blurred_signals(
    pets_dir: Path, yolox_path: Path
) -> None:
    config = pets.site_config(yolox_path)
    camera = config["cameras"]["pets"]
    camera["source"] = str(pets_dir / VIDEO)
    config["cameras"] = {"left": camera, "right": dict(camera)}
    site = parse_config(config)
    events: list[SignalEvent] = []
    cond = threading.Condition()

    def on_signal(event: SignalEvent) -> None:
        with cond:
            events.append(event)
            cond.notify_all()

    def both() -> bool:
        return {e.signal.camera for e in events} == {"left", "right"}

    # As fast as the machine goes (not paced): the first signals come within the first minute.
    with Supervisor(site, on_signal=on_signal, realtime_files=False) as sup:
        sup.start()
        with cond:
            cond.wait_for(both, timeout=240)
        status = sup.status()
        assert sup.latest_jpeg("left") is not None
        t0 = time.monotonic()
        sup.stop_all()
        assert time.monotonic() - t0 < 1.0
    assert both(), status
    assert all(s.restarts == 0 for s in status.values()), status

    ev = events[0]
    sig = ev.signal
    assert sig.situation in ("zone_intrusion", "wrong_way")
    assert sig.model == "yolox-nano+bytetrack"
    # Nothing but the signal's fields: no track id anywhere.
    assert {f.name for f in dataclasses.fields(ev)} == {
        "signal", "snapshot_jpeg", "clip_mp4", "known_limits", "wall_time", "mode",
    }  # fmt: skip
    assert set(sig.to_dict()) == {
        "situation", "camera", "zone", "start_s", "end_s", "frame", "bbox", "confidence",
        "model", "config_version", "episode",
    }  # fmt: skip
    assert not any("track" in f.name for f in dataclasses.fields(sig))
    assert ev.known_limits

    snap = cv2.imdecode(np.frombuffer(ev.snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snap.shape == (576, 768, 3)
    with VideoSource(str(pets_dir / VIDEO), analysis_fps=5) as src:
        original = next(f.image for f in src.frames() if f.index == sig.frame)
    # Inside the signal's box (the persons in the zone), the detail is gone.
    x1, y1, x2, y2 = (np.array(sig.bbox) * [768, 576, 768, 576]).round().astype(int)
    pad = 4  # keep the drawn box's outline out of the comparison
    crop = (slice(y1 + pad, y2 - pad), slice(x1 + pad, x2 - pad))
    assert _detail(snap[crop]) < 0.25 * _detail(original[crop])
    # Away from any person (the top-left corner of the plaza's building), the picture is intact.
    assert np.abs(snap[:40, :60].astype(int) - original[:40, :60].astype(int)).mean() < 6

    assert ev.clip_mp4 is not None
    with av.open(io.BytesIO(ev.clip_mp4)) as clip:
        frames = list(clip.decode(video=0))
    assert 5 <= len(frames) <= 21  # about four seconds at 5 fps
