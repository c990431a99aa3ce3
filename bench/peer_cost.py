"""CPU per analysed frame: `veilleur analyze`'s pipeline against the pipeline a user writes from
the supervision tutorials, side by side, on PETS 2009 S2L1. Prints figures; asserts nothing.

    python bench/peer_cost.py                      # peer, Veilleur (each runtime), the CLI
    python bench/peer_cost.py --runs 3             # three rounds, interleaved
    python bench/peer_cost.py --micro              # per-inference CPU: onnxruntime vs OpenVINO
    python bench/peer_cost.py --detection --int8   # detection alone over the clip, per runtime,
                                                   # and int8 by NNCF (pip install nncf)

Every pipeline runs in a subprocess of its own, one after the other; its cost is that
process's user + system CPU (`resource.getrusage(RUSAGE_CHILDREN)` before and after), which
counts every thread (decoding, inference) and stays right on a machine shared with other work,
where wall time does not. The figures given are:

- `process CPU s`: the whole process, interpreter start and imports included;
- `loop CPU s`: only the loop over the frames (`time.process_time()` inside the process), the
  cost that grows with the video.

The peer (`peer` role): OpenCV decodes every picture (`sv.get_video_frames_generator` with
`stride=2`, 10 → 5 fps), YOLOX-nano runs on every analysed frame through onnxruntime with the
YOLOX demo's square 416×416 letterbox and decode, boxes go through `sv.Detections.with_nms`,
then `trackers.ByteTrackTracker` and one `sv.PolygonZone` per forbidden zone (bottom centre).
Its onnxruntime session is the tutorial's, left at its defaults (every core); `peer-1t` is the
same with one inference thread, the fairer and cheaper peer, which the ratio is taken against.

Veilleur (`veilleur` role) is what `veilleur analyze` runs (the source, decoding ahead in a
thread, `CameraPipeline`) with the PETS site configuration of `veilleur.evaluation.pets`, zone
intrusion only, at 5 fps; the `cli` role runs `veilleur analyze` itself (process CPU only).

Recall, the same for both: the share of the ground-truth person boxes at the analysed frames
(outside the unannotated far path, `tests/integration/_pets.py`) matched one-to-one at
IoU ≥ 0.5 by the boxes the zone logic is given on that frame: the tracked boxes (Veilleur:
`pipeline.tracked`; the peer: the tracker's output, that its zones are triggered with). The
detection recall (the detector's boxes above the detection score) is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEILLEUR_SHARED", REPO.parent / "shared"))
PETS_DIR = SHARED / "data" / "pets2009_s2l1"
PETS = PETS_DIR / "vtest_PETS2009_S2L1_View001.avi"
MODELS = SHARED / "models"
YOLOX = MODELS / "yolox-nano" / "yolox_nano_416x416.onnx"
UNANNOTATED_FOOT_Y = 150.0  # as tests/integration/_pets.py
FPS = 5.0


# --------------------------------------------------------------------------- the peer


def peer(video: Path, model: Path, threads: int, out: Path) -> None:
    """The tutorial pipeline. Written as a user would, from the supervision and YOLOX docs."""
    import cv2
    import onnxruntime as ort
    import supervision as sv
    from trackers import ByteTrackTracker

    from veilleur.evaluation.pets import FORBIDDEN, H, W

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    size = 416
    # The YOLOX demo's decode grid (demo_postprocess), computed once.
    grids, strides = [], []
    for s in (8, 16, 32):
        n = size // s
        xv, yv = np.meshgrid(np.arange(n), np.arange(n))
        grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)

    tracker = ByteTrackTracker(frame_rate=FPS)
    zones = {
        name: sv.PolygonZone(
            polygon=(np.array(poly) * [W, H]).astype(int),
            triggering_anchors=(sv.Position.BOTTOM_CENTER,),
        )
        for name, poly in FORBIDDEN.items()
    }
    frames_dets: list[np.ndarray] = []
    frames_tracked: list[np.ndarray] = []
    occupied: list[list[int]] = []
    cpu0 = time.process_time()
    for frame in sv.get_video_frames_generator(str(video), stride=2):
        # YOLOX preproc: letterbox into a 416×416 square padded with 114, BGR, float32 CHW.
        r = min(size / frame.shape[0], size / frame.shape[1])
        resized = cv2.resize(
            frame, (int(frame.shape[1] * r), int(frame.shape[0] * r)),
            interpolation=cv2.INTER_LINEAR,
        )  # fmt: skip
        padded = np.full((size, size, 3), 114, dtype=np.uint8)
        padded[: resized.shape[0], : resized.shape[1]] = resized
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32)[None]
        pred = session.run(None, {input_name: blob})[0][0]
        pred[:, :2] = (pred[:, :2] + grid) * stride
        pred[:, 2:4] = np.exp(pred[:, 2:4]) * stride
        scores = pred[:, 4:5] * pred[:, 5:]
        class_id = scores.argmax(1)
        confidence = scores[np.arange(len(scores)), class_id]
        keep = confidence > 0.3
        cxcywh = pred[keep, :4]
        xyxy = np.concatenate(
            [cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1
        )
        detections = sv.Detections(
            xyxy=xyxy / r, confidence=confidence[keep], class_id=class_id[keep]
        ).with_nms(threshold=0.45)
        detections = detections[detections.class_id == 0]
        tracked = tracker.update(detections)
        tracked = tracked[tracked.tracker_id >= 0] if tracked.tracker_id is not None else tracked
        occupied.append([int(zone.trigger(tracked).sum()) for zone in zones.values()])
        frames_dets.append(detections.xyxy.astype(np.float32))
        frames_tracked.append(tracked.xyxy.astype(np.float32))
    cpu = time.process_time() - cpu0
    _save(out, cpu, frames_dets, frames_tracked, {"zones": occupied})


# --------------------------------------------------------------------------- Veilleur


def veilleur_config(
    model: Path, runtime: str, precision: str, input_size: int | None = None
) -> dict[str, Any]:
    from veilleur.evaluation import pets

    config = pets.site_config(model)
    config["perception"].update({"runtime": runtime, "precision": precision})
    if input_size:
        config["perception"]["input_size"] = input_size
    del config["cameras"]["pets"]["situations"]["wrong_way"]
    return config


def veilleur(
    video: Path,
    model: Path,
    runtime: str,
    precision: str,
    input_size: int,
    out: Path,
    detect_every: int = 1,
) -> None:
    """What `veilleur analyze` runs, with the boxes of each frame kept for scoring."""
    from veilleur.config import parse_config
    from veilleur.pipeline import CameraPipeline, prefetch
    from veilleur.sources import open_source
    from veilleur.types import Frame, Signal

    site = parse_config(veilleur_config(model, runtime, precision, input_size))
    # As `veilleur analyze`.
    pipe = CameraPipeline("pets", site, privacy_cues=False, detect_every=detect_every)
    frames_dets: list[np.ndarray] = []
    frames_tracked: list[np.ndarray] = []
    indices: list[int] = []

    def keep(frame: Frame, _: list[Signal]) -> None:
        dets, tracked = pipe.scene.detections, pipe.tracked
        frames_dets.append(dets.xyxy[dets.class_id == 0].copy())
        frames_tracked.append(tracked.xyxy[tracked.class_id == 0].copy())
        indices.append(frame.index)

    signals: list[dict[str, Any]] = []
    cpu0 = time.process_time()
    with open_source(str(video), analysis_fps=FPS) as source:
        for sig in pipe.run(prefetch(source.frames()), on_frame=keep):
            signals.append({"zone": sig.zone, "start_s": sig.start_s, "end_s": sig.end_s})
    cpu = time.process_time() - cpu0
    backend = getattr(pipe.detector, "backend", "?")
    extra = {"signals": signals, "backend": backend, "indices": indices}
    _save(out, cpu, frames_dets, frames_tracked, extra)


def _save(
    out: Path, cpu: float, dets: list[np.ndarray], tracked: list[np.ndarray], extra: dict[str, Any]
) -> None:
    np.savez(
        out.with_suffix(".npz"),
        **{f"d{i}": d for i, d in enumerate(dets)},
        **{f"t{i}": t for i, t in enumerate(tracked)},
    )
    out.with_suffix(".json").write_text(json.dumps({"loop_cpu": cpu, "frames": len(dets), **extra}))


# --------------------------------------------------------------------------- scoring


def recall(path: Path, key: str) -> float:
    """Person recall of the boxes `key` (`d` detections, `t` tracked) at the analysed frames:
    the picture indices the source reported, else picture 2i for analysed frame i (the peer's
    stride of 2); the truth's (0-based) frame is the picture index."""
    from veilleur.evaluation.mot import DetectionScore, load_mot

    truth = load_mot(PETS_DIR / "gt_mot_format.txt")
    score = DetectionScore()
    data = np.load(path.with_suffix(".npz"))
    n = len([k for k in data.files if k.startswith("d")])
    info = json.loads(path.with_suffix(".json").read_text())
    indices = info.get("indices") or [2 * i for i in range(n)]
    for i in range(n):
        _, boxes = truth.get(indices[i], (None, np.zeros((0, 4))))
        pred = data[f"{key}{i}"].reshape(-1, 4)
        pred = pred[pred[:, 3] >= UNANNOTATED_FOOT_Y]
        score.add(boxes, pred)
    return score.recall


# --------------------------------------------------------------------------- the harness


def child_cpu(args: list[str]) -> float:
    """Run this script (or a command) in a subprocess; its user + system CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def micro(model: Path, frames: int = 40, rounds: int = 3) -> None:
    """Per-inference CPU (one thread) on real PETS frames, and how far each backend's
    detections are from onnxruntime's."""
    import cv2

    from veilleur.perception.factory import build_detector
    from veilleur.perception.nms import iou_matrix

    cap = cv2.VideoCapture(str(PETS))
    pictures, i = [], 0
    while len(pictures) < frames:
        ok, picture = cap.read()
        if not ok:
            break
        if i % 19 == 0:
            pictures.append(picture)
        i += 1
    reference = None
    print(f"{len(pictures)} PETS frames, one thread, CPU ms per frame (inference + decode + NMS)")
    for runtime, precision in (("onnxruntime", "auto"), ("openvino", "f32"), ("openvino", "bf16")):
        det = build_detector(
            "yolox-nano", path=model, runtime=runtime, precision=precision, threads=1,
            confidence=0.3, classes=[0],
        )  # fmt: skip
        for p in pictures[:3]:
            det.detect(p)
        cpu0 = time.process_time()
        for _ in range(rounds):
            found = [det.detect(p) for p in pictures]
        ms = 1000 * (time.process_time() - cpu0) / (rounds * len(pictures))
        if reference is None:
            reference = found
        matched = total = 0
        ious: list[float] = []
        for a, b in zip(reference, found, strict=True):
            total += len(a)
            if len(a) and len(b):
                best = iou_matrix(a.xyxy, b.xyxy).max(1)
                matched += int((best >= 0.5).sum())
                ious += best[best >= 0.5].tolist()
        print(
            f"  {det.backend:<18} {ms:6.2f} ms   onnxruntime's boxes matched {matched}/{total} "
            f"(mean IoU {np.mean(ious):.3f}), boxes {sum(len(f) for f in found)}"
        )


def detection(model: Path, int8: bool) -> None:
    """Person detection alone over the whole clip at 5 fps (398 frames), one thread, per
    runtime: CPU ms per frame and precision / recall against the truth (IoU ≥ 0.5, the far
    path ignored); with `int8`, also YOLOX-nano quantised to int8 by NNCF on PETS frames."""
    import cv2

    from veilleur.evaluation.mot import DetectionScore, load_mot
    from veilleur.perception.factory import build_detector

    truth = load_mot(PETS_DIR / "gt_mot_format.txt")
    cap = cv2.VideoCapture(str(PETS))
    pictures: list[tuple[int, np.ndarray]] = []
    index = 0
    while True:
        ok, picture = cap.read()
        if not ok:
            break
        if index % 2 == 0:
            pictures.append((index, picture))
        index += 1
    variants: list[tuple[str, Any]] = []
    for runtime, precision in (("onnxruntime", "auto"), ("openvino", "f32"), ("openvino", "bf16")):
        det = build_detector(
            "yolox-nano", path=model, runtime=runtime, precision=precision, threads=1,
            confidence=0.3, classes=[0],
        )  # fmt: skip
        variants.append((det.backend, det))  # type: ignore[attr-defined]
    if int8:
        det = build_detector(
            "yolox-nano", path=model, runtime="openvino", precision="f32", threads=1,
            confidence=0.3, classes=[0],
        )  # fmt: skip
        det.session = Int8Session(model, [det.preprocess(p)[0] for _, p in pictures[1::3]])  # type: ignore[attr-defined]
        variants.append(("openvino int8 (NNCF)", det))
    print(f"{len(pictures)} PETS frames at 5 fps, one thread, persons at 0.3")
    for label, det in variants:
        for _, p in pictures[:3]:
            det.detect(p)
        score = DetectionScore()
        cpu0 = time.process_time()
        found = [det.detect(p) for _, p in pictures]
        ms = 1000 * (time.process_time() - cpu0) / len(pictures)
        for (i, _), d in zip(pictures, found, strict=True):
            _, boxes = truth.get(i, (None, np.zeros((0, 4))))
            score.add(boxes, d.xyxy[d.xyxy[:, 3] >= UNANNOTATED_FOOT_Y])
        print(
            f"  {label:<22} {ms:6.2f} ms/frame   precision {score.precision:.3f} "
            f"recall {score.recall:.3f}"
        )


class Int8Session:
    """YOLOX-nano quantised to int8 by NNCF (mixed preset: symmetric weights, asymmetric
    activations) on `calibration` tensors, compiled by OpenVINO for their shape; used like an
    onnxruntime session. Bench only: `pip install nncf`."""

    def __init__(self, model: Path, calibration: list[np.ndarray]) -> None:
        import nncf
        import openvino as ov

        core = ov.Core()
        network = core.read_model(str(model))
        network.reshape({network.inputs[0]: list(calibration[0].shape)})
        quantised = nncf.quantize(
            network, nncf.Dataset(calibration), preset=nncf.QuantizationPreset.MIXED,
            subset_size=len(calibration),
        )  # fmt: skip
        config = {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "ENABLE_CPU_PINNING": False}  # fmt: skip
        self.request = core.compile_model(quantised, "CPU", config).create_infer_request()

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        (tensor,) = feeds.values()
        self.request.infer({0: tensor})
        return [np.array(self.request.get_output_tensor(0).data)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--role", choices=["peer", "veilleur"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--runtime", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--input-size", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--detect-every", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--video", type=Path, default=PETS)
    ap.add_argument("--model", type=Path, default=YOLOX)
    ap.add_argument("--runs", type=int, default=1, help="rounds of every pipeline, interleaved")
    ap.add_argument(
        "--veilleur", default="onnxruntime/f32,openvino/f32,openvino/bf16,auto/auto",
        help="Veilleur's runtime/precision[/input size][@N] to measure (input size: the default "
        "416 unless given; @N: detect on one frame in N, `analyze --detect-every N`)",
    )  # fmt: skip
    ap.add_argument("--no-cli", action="store_true", help="skip `veilleur analyze` itself")
    ap.add_argument("--micro", action="store_true", help="per-inference CPU only")
    ap.add_argument(
        "--detection", action="store_true",
        help="person detection alone over the clip per runtime: CPU and precision / recall",
    )  # fmt: skip
    ap.add_argument("--int8", action="store_true", help="with --detection: NNCF int8 too")
    args = ap.parse_args()
    os.environ.setdefault("VEILLEUR_MODELS_DIR", str(MODELS))
    if args.role == "peer":
        return peer(args.video, args.model, args.threads, args.out)
    if args.role == "veilleur":
        return veilleur(
            args.video, args.model, args.runtime, args.precision, args.input_size, args.out,
            args.detect_every,
        )  # fmt: skip
    if not args.video.exists() or not args.model.exists():
        sys.exit(f"{args.video} or {args.model} not found: set VEILLEUR_SHARED")
    if args.micro:
        return micro(args.model)
    if args.detection:
        return detection(args.model, args.int8)

    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--video", str(args.video), "--model", str(args.model)]
    cases: list[tuple[str, list[str]]] = [
        ("peer (ort default threads)", ["--role", "peer", "--threads", "0"]),
        ("peer-1t (ort 1 thread)", ["--role", "peer", "--threads", "1"]),
    ]
    for variant in args.veilleur.split(","):
        settings, _, every = variant.partition("@")
        runtime, precision, *size = settings.split("/")
        cases.append(
            (f"veilleur {variant}",
             ["--role", "veilleur", "--runtime", runtime, "--precision", precision,
              "--input-size", size[0] if size else "0", "--detect-every", every or "1"])
        )  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="peer_cost_"))
    config = tmp / "pets.yaml"
    import yaml

    config.write_text(yaml.safe_dump(veilleur_config(args.model, "auto", "auto")))
    veilleur_bin = Path(sys.executable).with_name("veilleur")
    results: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in cases}
    for run in range(args.runs):
        for k, (label, role) in enumerate(cases):
            out = tmp / f"r{run}_{k}"
            cpu = child_cpu([*me, *role, *common, "--out", str(out)])
            info = json.loads(out.with_suffix(".json").read_text())
            info.update(process_cpu=cpu, recall_t=recall(out, "t"), recall_d=recall(out, "d"))
            results[label].append(info)
            print(f"  {label}: {cpu:.2f} s process CPU, {info['loop_cpu']:.2f} s loop", flush=True)
        if not args.no_cli and veilleur_bin.exists():
            cpu = child_cpu(
                [str(veilleur_bin), "analyze", str(args.video), "-c", str(config),
                 "-o", str(tmp / "signals.jsonl"), "--no-progress"]
            )  # fmt: skip
            results.setdefault("veilleur analyze (CLI, auto)", []).append({"process_cpu": cpu})
            print(f"  veilleur analyze (CLI): {cpu:.2f} s process CPU", flush=True)

    def med(label: str, key: str) -> float:
        return float(np.median([r[key] for r in results[label]]))

    peer_label = "peer-1t (ort 1 thread)"
    print(
        f"\nPETS S2L1, {FPS:g} fps, YOLOX-nano, zone intrusion; {args.runs} run(s), medians; "
        f"{os.cpu_count()} cores; ratios against {peer_label}"
    )
    print(
        f"{'pipeline':<34}{'process CPU s':>14}{'loop CPU s':>12}{'ms/frame':>10}"
        f"{'ratio':>8}{'recall trk':>12}{'recall det':>12}"
    )
    peer_loop = med(peer_label, "loop_cpu")
    for label, rows in results.items():
        if "loop_cpu" not in rows[0]:
            print(f"{label:<34}{med(label, 'process_cpu'):>14.2f}")
            continue
        loop = med(label, "loop_cpu")
        print(
            f"{label:<34}{med(label, 'process_cpu'):>14.2f}{loop:>12.2f}"
            f"{1000 * loop / rows[0]['frames']:>10.1f}{loop / peer_loop:>8.2f}"
            f"{med(label, 'recall_t'):>12.3f}{med(label, 'recall_d'):>12.3f}"
            + (f"   ({rows[0]['backend']})" if "backend" in rows[0] else "")
        )


if __name__ == "__main__":
    main()
