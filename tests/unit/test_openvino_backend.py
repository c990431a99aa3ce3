"""The OpenVINO runtime behind the detector factory: chosen as configured, and its detections
agree with onnxruntime's on real PETS frames (f32: the same boxes; bf16: the same people)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from veilleur.perception import openvino_session
from veilleur.perception.factory import build_detector
from veilleur.perception.nms import iou_matrix
from veilleur.perception.openvino_session import precision_for, runtime_for
from veilleur.types import Detections


def _need_openvino() -> None:
    if openvino_session.available():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("openvino is part of the test extra; CI must install it")
    pytest.skip("openvino is not installed (pip install 'veilleur[openvino]')")


@pytest.fixture(scope="module")
def pets_frames(pets_dir: Path) -> list[np.ndarray]:
    """Four pictures of PETS S2L1, spread over the clip (crowded and sparse moments)."""
    cap = cv2.VideoCapture(str(pets_dir / "vtest_PETS2009_S2L1_View001.avi"))
    frames = []
    for index in (0, 200, 420, 700):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok, index
        frames.append(frame)
    cap.release()
    return frames


def test_auto_is_openvino_in_bf16_else_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_session, "available", lambda: True)
    monkeypatch.setattr(openvino_session, "cpu_has_bf16", lambda: True)
    assert runtime_for("auto") == "openvino"
    assert runtime_for("auto", "bf16") == "openvino"
    # OpenVINO in f32 costs more than onnxruntime in the pipeline: auto does not take it.
    assert runtime_for("auto", "f32") == "onnxruntime"
    assert runtime_for("openvino", "f32") == "openvino"
    assert runtime_for(" OpenVINO ") == "openvino"
    monkeypatch.setattr(openvino_session, "cpu_has_bf16", lambda: False)
    assert runtime_for("auto") == "onnxruntime"
    assert runtime_for("auto", "bf16") == "openvino"
    monkeypatch.setattr(openvino_session, "available", lambda: False)
    assert runtime_for("auto") == "onnxruntime"
    assert runtime_for("onnxruntime") == "onnxruntime"
    # A configuration that names OpenVINO must not silently run something else.
    with pytest.raises(RuntimeError, match="openvino package is not installed"):
        runtime_for("openvino")
    with pytest.raises(ValueError, match="unknown inference runtime"):
        runtime_for("tensorrt")


def test_precision_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert precision_for("f32") == "f32"
    assert precision_for("BF16") == "bf16"
    monkeypatch.setattr(openvino_session, "cpu_has_bf16", lambda: True)
    assert precision_for("auto") == "bf16"
    monkeypatch.setattr(openvino_session, "cpu_has_bf16", lambda: False)
    assert precision_for("auto") == "f32"
    with pytest.raises(ValueError, match="unknown inference precision"):
        precision_for("int4")


def _persons(det: object, frames: list[np.ndarray]) -> list[Detections]:
    return [det.detect(f) for f in frames]  # type: ignore[attr-defined]


def _agreement(a: list[Detections], b: list[Detections]) -> tuple[int, int, float]:
    """(boxes of `a`, how many have a box of `b` at IoU ≥ 0.5, their mean IoU)."""
    total = matched = 0
    ious: list[float] = []
    for x, y in zip(a, b, strict=True):
        total += len(x)
        if len(x) and len(y):
            best = iou_matrix(x.xyxy, y.xyxy).max(axis=1)
            matched += int((best >= 0.5).sum())
            ious += best[best >= 0.5].tolist()
    return total, matched, float(np.mean(ious)) if ious else 0.0


def test_yolox_on_openvino_agrees_with_onnxruntime(
    yolox_path: Path, pets_frames: list[np.ndarray]
) -> None:
    _need_openvino()
    kw = {"path": yolox_path, "confidence": 0.3, "classes": [0], "threads": 1}
    ort = build_detector("yolox-nano", runtime="onnxruntime", **kw)
    f32 = build_detector("yolox-nano", runtime="openvino", precision="f32", **kw)
    bf16 = build_detector("yolox-nano", runtime="openvino", precision="bf16", **kw)
    assert (ort.backend, f32.backend, bf16.backend) == (
        "onnxruntime fp32", "openvino f32", "openvino bf16",
    )  # fmt: skip
    # Fed at the frame's own aspect ratio on both runtimes.
    assert ort.flexible and f32.flexible and bf16.flexible
    reference = _persons(ort, pets_frames)
    assert sum(len(d) for d in reference) >= 20  # PETS has people in every one of them

    same = _persons(f32, pets_frames)
    for r, o in zip(reference, same, strict=True):
        assert len(r) == len(o)
        np.testing.assert_allclose(o.xyxy, r.xyxy, atol=0.05)
        np.testing.assert_allclose(o.confidence, r.confidence, atol=1e-3)

    # bf16 keeps 8 bits of mantissa: the boxes move by a pixel or so, the people stay.
    # Measured on 100 PETS frames: every onnxruntime box matched, mean IoU 0.985.
    close = _persons(bf16, pets_frames)
    total, matched, mean_iou = _agreement(reference, close)
    assert matched >= total - 1
    assert mean_iou >= 0.95
    assert abs(sum(len(d) for d in close) - total) <= 2


def test_openvino_runs_crops_at_any_size_and_compiles_few_shapes(
    yolox_path: Path, pets_frames: list[np.ndarray]
) -> None:
    """A crop around motion is fed at the full frame's scale: its shape is new each time; the
    detector must run it (dynamic model) without compiling a model per shape."""
    _need_openvino()
    kw = {"path": yolox_path, "confidence": 0.3, "classes": [0], "threads": 1}
    ort = build_detector("yolox-nano", runtime="onnxruntime", **kw)
    ov = build_detector("yolox-nano", runtime="openvino", precision="f32", **kw)
    frame = pets_frames[1]
    scale = 416 / max(frame.shape[:2])
    for y1, y2, x1, x2 in ((100, 400, 200, 600), (0, 288, 0, 384), (150, 500, 50, 700)):
        crop = frame[y1:y2, x1:x2]
        a = ort.detect(crop, scale=scale)  # type: ignore[call-arg]
        b = ov.detect(crop, scale=scale)  # type: ignore[call-arg]
        assert len(a) == len(b)
        np.testing.assert_allclose(b.xyxy, a.xyxy, atol=0.05)
    # Shapes met once (the load-time probe, one-off crops) compile nothing of their own; the
    # whole frame's shape, met at every frame, gets its static model.
    static = ov.session._static  # type: ignore[attr-defined]
    assert static == {}
    ov.detect(frame)
    assert list(static) == [(1, 3, 320, 416)]
    for y1, y2 in ((0, 128), (0, 160), (0, 192), (0, 224)):
        ov.detect(frame[y1:y2], scale=scale)  # type: ignore[call-arg]
        ov.detect(frame[y1:y2], scale=scale)  # type: ignore[call-arg]
    assert len(static) == openvino_session.STATIC_SHAPES


def test_nanodet_on_openvino_agrees_with_onnxruntime(
    nanodet_path: Path, pets_frames: list[np.ndarray]
) -> None:
    _need_openvino()
    kw = {"path": nanodet_path, "confidence": 0.35, "classes": [0], "threads": 1}
    ort = build_detector("nanodet-m-416", runtime="onnxruntime", **kw)
    ov = build_detector("nanodet-m-416", runtime="openvino", precision="f32", **kw)
    for r, o in zip(_persons(ort, pets_frames), _persons(ov, pets_frames), strict=True):
        assert len(r) == len(o)
        np.testing.assert_allclose(o.xyxy, r.xyxy, atol=0.05)


def test_openvino_named_but_missing_is_an_error(
    yolox_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openvino_session, "available", lambda: False)
    with pytest.raises(RuntimeError, match="openvino"):
        build_detector("yolox-nano", path=yolox_path, runtime="openvino")
    # auto still works, on onnxruntime.
    det = build_detector("yolox-nano", path=yolox_path, runtime="auto", threads=1)
    assert det.backend == "onnxruntime fp32"  # type: ignore[attr-defined]
