"""Images that leave a camera worker: blurred JPEGs and short blurred H.264 clips.

Everything here takes pictures that are already masked
(`veilleur.privacy.masking.apply_privacy`); the worker never hands an unmasked one to these
functions' callers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from fractions import Fraction

import av
import cv2
import numpy as np

from veilleur.types import Signal

#: Clips are scaled down to at most this width: they show what happened, not details.
CLIP_MAX_WIDTH = 480
JPEG_QUALITY = 80
BOX_COLOUR = (0, 140, 255)  # BGR orange: visible on most scenes, not an alarm red


def jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    return bytes(data.tobytes())


def draw_signal(image: np.ndarray, signal: Signal) -> np.ndarray:
    """A copy of `image` with the signal's box and its situation (and zone) written above it."""
    out = image.copy()
    h, w = out.shape[:2]
    x1, y1, x2, y2 = signal.bbox
    p1 = (round(x1 * w), round(y1 * h))
    p2 = (round(x2 * w), round(y2 * h))
    thickness = max(2, round(min(w, h) / 240))
    cv2.rectangle(out, p1, p2, BOX_COLOUR, thickness)
    label = signal.situation + (f" / {signal.zone}" if signal.zone else "")
    scale = max(0.4, min(w, h) / 720)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    ty = p1[1] - 4 if p1[1] - th - base - 4 >= 0 else p2[1] + th + 4
    tx = min(max(0, p1[0]), max(0, w - tw))
    cv2.rectangle(out, (tx, ty - th - base), (tx + tw, ty + base), BOX_COLOUR, -1)
    cv2.putText(out, label, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def clip_mp4(frames: Sequence[tuple[float, np.ndarray]], *, crf: int = 28) -> bytes | None:
    """An H.264 MP4 (moov first, so that it plays while downloading) of `(t, BGR image)` frames
    shown at their own times; None when there is nothing to encode."""
    if not frames:
        return None
    h, w = frames[-1][1].shape[:2]
    scale = min(1.0, CLIP_MAX_WIDTH / w)
    # H.264 in 4:2:0 needs even sizes.
    cw, ch = max(2, round(w * scale) // 2 * 2), max(2, round(h * scale) // 2 * 2)
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="veilleur-clip-")
    os.close(fd)
    try:
        # `+faststart` rewrites the file with its index first; it needs a real file to do so.
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", options={"preset": "veryfast", "crf": str(crf)})
            stream.width, stream.height, stream.pix_fmt = cw, ch, "yuv420p"
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.thread_count = 1  # many cameras share few cores
            t0 = frames[0][0]
            last_pts = -1
            for t, image in frames:
                if image.shape[:2] != (ch, cw):
                    image = cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
                pts = max(round(1000 * (t - t0)), last_pts + 1)
                frame.pts, frame.time_base, last_pts = pts, Fraction(1, 1000), pts
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        with open(path, "rb") as f:
            return f.read()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
