"""Is any person left sharp in what a camera stores or shows? An audit independent of the
masking: pictures are compared with the original frames inside person boxes the masking did
not produce (a dataset's ground truth, or boxes annotated by hand / by a slower offline pass).

The measure, per person box at least `MIN_HEIGHT_PX` tall: the correlation between the fine
detail (high-pass: the picture minus its Gaussian blur) of the stored picture and of the
original inside the box. Pixelated and blurred, the detail is gone (correlation near 0); left
as it was, it survives JPEG or H.264 (near 1). Above `SHARP_CORRELATION` the person counts as
left sharp.

`audit_video` drives the real `CameraWorker` (its `analyse` and `emit`, in this process, with a
detector built here rather than in the shared pool) over a video and measures every kind of
picture it sends: the live JPEG, signal snapshots (live or calibration records, the same
bytes), and the clips' frames decoded back from the MP4. Used by
tests/integration/test_privacy_masking_real.py and bench/privacy_masking.py.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from veilleur.perception.detector import DetectorFactory

#: Above this correlation of fine detail, a person is left sharp.
SHARP_CORRELATION = 0.5
#: Persons smaller than this (pixels tall, in the original frame) are not measured.
MIN_HEIGHT_PX = 40.0
#: Scale of the Gaussian whose removal leaves the fine detail, pixels.
HIGH_PASS_SIGMA = 1.5

KINDS = ("live", "snapshot", "calibration", "clip")


def high_pass(image: np.ndarray) -> np.ndarray:
    """Fine detail of a BGR or grey picture: grey minus its Gaussian blur (float32)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    g = grey.astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), HIGH_PASS_SIGMA)


def detail_correlation(stored: np.ndarray, original: np.ndarray, box: Iterable[float]) -> float:
    """Correlation of fine detail between `stored` and `original` (same size) inside `box`
    (x1, y1, x2, y2 pixels); 0.0 when either has no detail there at all."""
    h, w = original.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    xa, ya = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    xb, yb = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
    if xb - xa < 2 or yb - ya < 2:
        return 0.0
    a = high_pass(stored)[ya:yb, xa:xb].ravel().astype(np.float64)
    b = high_pass(original)[ya:yb, xa:xb].ravel().astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-9 else 0.0


@dataclass
class Leak:
    kind: str
    where: str
    box: tuple[float, float, float, float]
    correlation: float


@dataclass
class LeakTally:
    """Persons measured and persons left sharp, per kind of picture."""

    persons: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    pictures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    leaks: list[Leak] = field(default_factory=list)
    worst: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KINDS, -1.0))

    def measure(
        self,
        kind: str,
        stored: np.ndarray,
        original: np.ndarray,
        boxes: np.ndarray,
        where: str,
    ) -> None:
        """Measure one stored picture against its original and the person boxes (pixels of the
        original); a smaller stored picture (a clip) is compared at its own size."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        boxes = boxes[boxes[:, 3] - boxes[:, 1] >= MIN_HEIGHT_PX]
        self.pictures[kind] += 1
        if stored.shape[:2] != original.shape[:2]:
            sy = stored.shape[0] / original.shape[0]
            sx = stored.shape[1] / original.shape[1]
            original = cv2.resize(
                original, (stored.shape[1], stored.shape[0]), interpolation=cv2.INTER_AREA
            )
            boxes = boxes * [sx, sy, sx, sy]
        for box in boxes:
            c = detail_correlation(stored, original, box)
            self.persons[kind] += 1
            self.worst[kind] = max(self.worst[kind], c)
            if c > SHARP_CORRELATION:
                b = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
                self.leaks.append(Leak(kind, where, b, c))

    def sharp(self, kind: str | None = None) -> int:
        return sum(1 for x in self.leaks if kind is None or x.kind == kind)

    def lines(self) -> list[str]:
        return [
            f"{k:8s} pictures {self.pictures[k]:4d}  persons >= {MIN_HEIGHT_PX:.0f} px "
            f"{self.persons[k]:5d}  left sharp {self.sharp(k):3d}  "
            f"highest correlation {self.worst[k]:.2f}"
            for k in KINDS
        ]


def decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG")
    return image


def decode_mp4(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as clip:
        return [f.to_ndarray(format="bgr24") for f in clip.decode(video=0)]


def load_box_csv(path: str | Path) -> dict[tuple[str, int], np.ndarray]:
    """Person boxes from a CSV `clip,frame,x1,y1,x2,y2` (`#` comments) → {(clip, frame): xyxy}."""
    out: dict[tuple[str, int], list[list[float]]] = {}
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    for r in rows[1:]:
        out.setdefault((r[0], int(r[1])), []).append([float(v) for v in r[2:6]])
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


class _Events:
    """Stands for the queue to the supervisor: keeps what the worker sends."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []

    def put(self, item: Any) -> None:
        self.items.append((item[0], item[3]))


class _NoControl:
    def get_nowait(self) -> Any:
        from queue import Empty

        raise Empty


@dataclass
class AuditCost:
    frames: int = 0
    mask_s: float = 0.0
    """Seconds spent in `PrivacyMasker.update`."""
    apply_s: float = 0.0
    """Seconds spent in `apply_privacy` for the live picture (one per frame here)."""
    cover_sum: float = 0.0


def audit_video(
    site: Any,
    camera: str,
    truth: Callable[[int], np.ndarray | None],
    tally: LeakTally,
    *,
    every: int = 1,
    clip_every: int = 0,
    max_frames: int | None = None,
    label: str = "",
    cost: AuditCost | None = None,
    detector_factory: DetectorFactory | None = None,
) -> None:
    """Run `camera` of `site` through a real `CameraWorker` and measure what it sends.

    `truth(index)` gives the person boxes (pixels) of a source frame, or None when that frame
    is not annotated. Every `every`-th analysed frame the live picture and a snapshot (a signal
    emitted on it) are measured; every `clip_every`-th, the clip too (every frame of it).
    Signals the situations raise by themselves are measured as well. `detector_factory`
    builds the camera's detectors (default: local ones)."""
    from veilleur.pipeline import CameraPipeline
    from veilleur.privacy.masking import apply_privacy
    from veilleur.runtime.worker import CameraWorker, WorkerSpec
    from veilleur.sources import open_source
    from veilleur.types import Frame, Signal

    cfg = site.cameras[camera]
    spec = WorkerSpec(
        camera=camera, site=site, generation=0, inactive=frozenset(), pool_address="",
        authkey=b"", realtime=False, loop=False, jpeg_interval_s=0.0,
    )  # fmt: skip
    events = _Events()
    worker = CameraWorker(spec, _NoControl(), events, stop=None)  # type: ignore[arg-type]
    worker.pipeline = CameraPipeline(camera, site, detector_factory=detector_factory)
    masker = worker.masker
    update = masker.update
    if cost is not None:

        def timed_update(*args: Any) -> Any:
            t0 = time.perf_counter()
            out = update(*args)
            cost.mask_s += time.perf_counter() - t0
            cost.frames += 1
            if out is not None:
                cost.cover_sum += out.cover
            return out

        masker.update = timed_update  # type: ignore[method-assign]
    size = tuple(cfg.analysis_size) if cfg.analysis_size else None
    n = 0
    index_of: dict[float, int] = {}
    concluded = worker._analysed

    def measured(frame: Frame, signals: list[Signal]) -> None:
        """Each frame as the worker concludes it (with `perception.detect_every`, a bridged
        frame comes with the next detected one): what it sent for that frame is measured
        against that frame."""
        nonlocal n
        events.items.clear()
        concluded(frame, signals)
        boxes = truth(frame.index)
        sampled = boxes is not None and n % every == 0
        with_clip = sampled and clip_every > 0 and n % clip_every == 0
        n += 1
        if sampled and not any(k == "signal" for k, _ in events.items):
            # A signal on this frame, as a situation would raise it (its box in a corner,
            # away from the persons, so that its outline does not count as their detail).
            worker.emit(
                Signal("audit", camera, None, frame.t, frame.t, frame.index,
                       (0.0, 0.0, 0.01, 0.01), 1.0, "", ""),
                frame, worker.ring[-1][2],
            )  # fmt: skip
        if cost is not None:
            t0 = time.perf_counter()
            apply_privacy(frame.image, worker.ring[-1][2])
            cost.apply_s += time.perf_counter() - t0
        if boxes is None:
            return
        where = f"{label}#{frame.index}"
        ring = list(worker.ring)
        for kind, payload in events.items:
            if kind == "jpeg" and sampled:
                tally.measure("live", decode_jpeg(payload), frame.image, boxes, where)
            elif kind == "signal":
                snap = decode_jpeg(payload.snapshot_jpeg)
                # A calibration record keeps the event's snapshot as it is.
                what = "calibration" if payload.mode == "calibration" else "snapshot"
                tally.measure(what, snap, frame.image, boxes, where)
                if with_clip:
                    _measure_clip(tally, payload.clip_mp4, ring, index_of, truth, label)

    worker._analysed = measured  # type: ignore[method-assign]
    fed = 0
    with open_source(cfg.source, analysis_fps=cfg.analysis_fps, size=size) as src:
        for frame in src.frames():
            if max_frames is not None and fed >= max_frames:
                break
            fed += 1
            index_of[frame.t] = frame.index
            worker.analyse(frame, time.monotonic())
        worker._finish()


def _measure_clip(
    tally: LeakTally,
    clip: bytes | None,
    ring: list[tuple[float, np.ndarray, Any]],
    index_of: dict[float, int],
    truth: Callable[[int], np.ndarray | None],
    label: str,
) -> None:
    if clip is None:
        raise AssertionError("a signal came without its clip")
    frames = decode_mp4(clip)
    shown = [(t, image) for t, image, mask in ring if mask is not None]
    if len(frames) != len(shown):
        raise AssertionError(f"the clip has {len(frames)} frames for {len(shown)} analysed")
    for stored, (t, original) in zip(frames, shown, strict=True):
        index = index_of.get(t)
        boxes = truth(index) if index is not None else None
        if boxes is not None:
            tally.measure("clip", stored, original, boxes, f"{label}#clip@{t:.2f}s")


# ----------------------------------------------------------------------- real clips

#: The UP-Fall clips audited, and their person boxes (tests/data/upfall_person_boxes.csv).
UPFALL_CLIPS = (
    "Activity1_S1_Trial1Cam2",
    "Activity3_S1_Trial2Cam2",
    "Activity4_S1_Trial1Cam1",
    "Activity5_S1_Trial1Cam2",
)
#: Clips kept aside while the masking was tuned (never looked at before its figures were
#: taken); annotated the same way.
UPFALL_HELD_ASIDE = ("Activity2_S1_Trial2Cam2", "Activity3_S1_Trial1Cam1")


def audit_site(
    source: str | Path,
    *,
    model_path: str | Path | None,
    mode: str = "persons",
    camera_mode: str = "live",
    situations: dict[str, Any] | None = None,
    zones: dict[str, Any] | None = None,
    detect_every: int = 1,
) -> Any:
    """One camera on `source`: YOLOX-nano from `model_path`, or MoveNet MultiPose (the
    offline default) when it is None; the detector on one frame in `detect_every`."""
    from veilleur.config import parse_config

    perception: dict[str, Any] = (
        {"detector": "yolox-nano", "model_path": str(model_path)}
        if model_path is not None
        else {"detector": "movenet-multipose"}
    )
    perception["detect_every"] = detect_every
    return parse_config(
        {
            "perception": perception,
            "cameras": {
                "cam": {
                    "source": str(source),
                    "mode": camera_mode,
                    "analysis_fps": 5,
                    "zones": zones or {},
                    "situations": situations or {},
                    "privacy": {"mode": mode},
                }
            },
        }
    )


def pets_truth(pets_dir: Path) -> Callable[[int], np.ndarray | None]:
    """PETS 2009 S2L1 ground truth (every frame annotated) by 0-based frame index."""
    from veilleur.evaluation.mot import load_mot

    gt = load_mot(pets_dir / "gt_mot_format.txt")
    empty = np.zeros((0, 4))

    def truth(index: int) -> np.ndarray | None:
        entry = gt.get(index)
        return entry[1] if entry is not None else empty

    return truth


def audit_pets(
    pets_dir: Path, model_path: Path | None, tally: LeakTally, *, mode: str = "persons",
    every: int = 5, clip_every: int = 50, cost: AuditCost | None = None,
    situations: bool = True, detect_every: int = 1,
) -> None:  # fmt: skip
    """PETS in the live mode, with its zone-intrusion and wrong-way situations (their own
    signals are measured too) unless `situations` is False."""
    from veilleur.evaluation import pets

    cam = pets.site_config()["cameras"]["pets"]
    site = audit_site(
        pets_dir / "vtest_PETS2009_S2L1_View001.avi", model_path=model_path, mode=mode,
        situations=cam["situations"] if situations else None, zones=cam["zones"],
        detect_every=detect_every,
    )  # fmt: skip
    audit_video(site, "cam", pets_truth(pets_dir), tally, every=every, clip_every=clip_every,
                label="pets", cost=cost)  # fmt: skip


def audit_upfall(
    upfall_dir: Path, boxes_csv: Path, model_path: Path | None, tally: LeakTally, *,
    mode: str = "persons", clips: Iterable[str] = UPFALL_CLIPS, every: int = 1,
    clip_every: int = 10, cost: AuditCost | None = None, detect_every: int = 1,
) -> None:  # fmt: skip
    """UP-Fall clips with person_on_ground, in the calibration mode (its records' snapshots)."""
    boxes = load_box_csv(boxes_csv)
    for clip in clips:

        def truth(index: int, clip: str = clip) -> np.ndarray | None:
            return boxes.get((clip, index))

        site = audit_site(
            upfall_dir / f"{clip}.mp4", model_path=model_path, mode=mode,
            camera_mode="calibration", situations={"person_on_ground": {"enabled": True}},
            detect_every=detect_every,
        )  # fmt: skip
        audit_video(site, "cam", truth, tally, every=every, clip_every=clip_every, label=clip,
                    cost=cost)  # fmt: skip
