"""Detector decoding, NMS, letterbox and tiling; checked against a loop-based reference decode
of the real models' outputs and against the PETS 2009 ground truth on one frame."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from veilleur.perception import movenet, nanodet, yolox
from veilleur.perception.detector import Detector
from veilleur.perception.factory import build_detector
from veilleur.perception.nms import batched_nms, iou_matrix, nms
from veilleur.perception.onnx_base import best_class, class_mask, letterbox, unletterbox
from veilleur.perception.tiling import TiledDetector, tile_windows
from veilleur.types import Detections

PETS_VIDEO = "vtest_PETS2009_S2L1_View001.avi"
FRAME = 100  # 0-based index in the video; the MOT ground truth numbers frames from 1


# --------------------------------------------------------------------------------------------
# Helpers


def read_frame(pets_dir: Path, index: int) -> np.ndarray:
    import av

    with av.open(str(pets_dir / PETS_VIDEO)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="bgr24")
    raise AssertionError(f"video has no frame {index}")


def gt_boxes(pets_dir: Path, index: int) -> np.ndarray:
    rows = np.loadtxt(pets_dir / "gt_mot_format.txt", delimiter=",", ndmin=2)
    rows = rows[rows[:, 0] == index + 1]
    return np.stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]], 1)


def matched_at(det: np.ndarray, gt: np.ndarray, thr: float = 0.5) -> int:
    from scipy.optimize import linear_sum_assignment

    if len(det) == 0 or len(gt) == 0:
        return 0
    iou = iou_matrix(det, gt)
    r, c = linear_sum_assignment(-iou)
    return int((iou[r, c] >= thr).sum())


def loop_nms(boxes: list[list[float]], scores: list[float], classes: list[int], thr: float):
    """Textbook greedy class-wise NMS, one pair at a time."""

    def iou(a: list[float], b: list[float]) -> float:
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept: list[int] = []
    for i in order:
        if all(classes[k] != classes[i] or iou(boxes[k], boxes[i]) <= thr for k in kept):
            kept.append(i)
    return kept


class BrightBlobDetector:
    """A fake detector: one 'person' box around all pixels brighter than 200."""

    name = "blob"
    classes = ("person",)

    def detect(self, image: np.ndarray) -> Detections:
        ys, xs = np.nonzero(image[..., 0] > 200)
        if len(xs) == 0:
            return Detections.empty()
        box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        return Detections(xyxy=[box], confidence=[0.9], class_id=[0])


# --------------------------------------------------------------------------------------------
# (a) Synthetic tensors


def test_yolox_decode_single_anchor_exact() -> None:
    grid, strides = yolox.make_grid(416)
    assert grid.shape == (3549, 2) and strides.shape == (3549, 1)
    raw = np.zeros((3549, 85), dtype=np.float32)
    idx = 52 * 52 + 7 * 26 + 5  # stride 16, row 7, column 5
    raw[idx, :4] = [0.5, 0.25, math.log(2.0), math.log(3.0)]
    raw[idx, 4] = 0.9  # objectness (already sigmoid-ed in the export)
    raw[idx, 5 + 2] = 0.8  # class 2 (car)
    raw[idx, 5 + 0] = 0.1
    xyxy, score, cls = yolox.decode(raw, grid, strides, confidence=0.3)
    # centre ((5 + 0.5) * 16, (7 + 0.25) * 16) = (88, 116); size (2 * 16, 3 * 16) = (32, 48)
    np.testing.assert_allclose(xyxy, [[72.0, 92.0, 104.0, 140.0]], atol=1e-4)
    np.testing.assert_allclose(score, [0.72], atol=1e-6)
    assert cls.tolist() == [2]
    # Restricting to persons: the best allowed class (0.9 * 0.1) falls below the threshold.
    assert len(yolox.decode(raw, grid, strides, 0.3, class_mask(80, [0]))[0]) == 0
    assert yolox.decode(raw, grid, strides, 0.05, class_mask(80, [0]))[2].tolist() == [0]


def test_yolox_grid_order_matches_strides() -> None:
    grid, strides = yolox.make_grid(416)
    assert strides[0, 0] == 8 and strides[2704, 0] == 16 and strides[-1, 0] == 32
    assert grid[1].tolist() == [1, 0] and grid[52].tolist() == [0, 1]  # row-major, (col, row)
    assert grid[-1].tolist() == [12, 12]


def test_nanodet_decode_single_cell_exact() -> None:
    size = 320
    centers = nanodet.make_centers(size)
    assert [len(c) for c in centers] == [1600, 400, 100]
    cls = [np.zeros((len(c), 80), np.float32) for c in centers]
    dis = [np.zeros((len(c), 32), np.float32) for c in centers]
    # stride 32, row 3, column 4: centre ((4 + 0.5) * 32, (3 + 0.5) * 32) = (144, 112)
    i = 3 * 10 + 4
    cls[2][i, 0] = 0.7
    logits = np.full((4, 8), -40.0, np.float32)
    for side, b in enumerate([1, 2, 3, 5]):  # left, top, right, bottom, in bins
        logits[side, b] = 40.0
    dis[2][i] = logits.reshape(-1)
    xyxy, score, cid = nanodet.decode(cls, dis, centers, nanodet.STRIDES, confidence=0.3)
    np.testing.assert_allclose(xyxy, [[144 - 32, 112 - 64, 144 + 96, 112 + 160]], atol=1e-3)
    assert score.tolist() == pytest.approx([0.7]) and cid.tolist() == [0]


def test_nanodet_distribution_expectation() -> None:
    uniform = np.zeros((1, 32), np.float32)
    np.testing.assert_allclose(nanodet.distribution_to_distance(uniform), [[3.5] * 4], atol=1e-6)


def test_letterbox_round_trip() -> None:
    image = np.zeros((576, 768, 3), np.uint8)
    canvas, scale, offset = letterbox(image, (416, 416), pad_value=114)
    assert canvas.shape == (416, 416, 3) and scale == pytest.approx(416 / 768)
    assert offset == (0, 0)
    assert (canvas[312:] == 114).all() and (canvas[:312] == 0).all()  # top-left placement
    boxes = np.array([[10.0, 20.0, 110.5, 300.25], [700.0, 500.0, 768.0, 576.0]], np.float32)
    back = unletterbox(boxes * scale, scale, offset, image.shape)
    np.testing.assert_allclose(back, boxes, atol=1e-3)
    # Centred letterbox and clipping to the picture.
    canvas, scale, offset = letterbox(image, (416, 416), center=True)
    assert offset == (0, 52)
    back = unletterbox(
        np.array([[-5.0, 0.0, 500.0, 416.0]], np.float32), scale, offset, image.shape
    )
    assert back.min() >= 0 and back[0, 2] <= 768 and back[0, 3] <= 576


def test_nms_keeps_best_of_overlapping_and_other_classes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float32
    )
    scores = np.array([0.6, 0.9, 0.8, 0.3], dtype=np.float32)
    classes = np.array([0, 0, 1, 0])
    assert nms(boxes, scores, 0.45).tolist() == [1, 3]  # class-agnostic: one of the three
    keep = batched_nms(boxes, scores, classes, 0.45)
    assert sorted(keep.tolist()) == [1, 2, 3]  # the class-1 box survives its overlap
    assert keep[0] == 1  # best first
    assert len(batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5)) == 0
    assert loop_nms(boxes.tolist(), scores.tolist(), classes.tolist(), 0.45) == [1, 2, 3]


def test_best_class_respects_mask() -> None:
    scores = np.array([[0.2, 0.9], [0.6, 0.1]], np.float32)
    rows, s, c = best_class(scores, class_mask(2, [0]), 0.5)
    assert rows.tolist() == [1] and c.tolist() == [0] and s.tolist() == pytest.approx([0.6])
    with pytest.raises(ValueError):
        class_mask(80, [80])


def test_movenet_decode_to_pixels() -> None:
    raw = np.zeros((6, 56), np.float32)
    raw[0, :51] = np.tile([0.5, 0.25, 0.9], 17)  # y, x, score
    raw[0, 51:55] = [0.25, 0.125, 0.75, 0.5]  # ymin, xmin, ymax, xmax
    raw[0, 55] = 0.6
    raw[1, 55] = 0.05  # below the threshold
    # 768×576 picture in a 256×192 tensor: scale 1/3.
    hw = movenet.tensor_shape((576, 768, 3), 256, square=False)
    assert hw == (192, 256)
    xyxy, score, kp = movenet.decode(raw, hw, 1 / 3, (576, 768, 3), confidence=0.3)
    np.testing.assert_allclose(xyxy, [[96.0, 144.0, 384.0, 432.0]], atol=1e-3)
    np.testing.assert_allclose(kp[0, :, :2], np.tile([192.0, 288.0], (17, 1)), atol=1e-3)
    assert score.tolist() == pytest.approx([0.6]) and kp.shape == (1, 17, 3)
    assert movenet.tensor_shape((576, 768, 3), 256, square=True) == (256, 256)
    assert movenet.tensor_shape((1080, 1920, 3), 384, square=False) == (224, 384)


def test_tile_windows_cover_with_overlap() -> None:
    win = tile_windows(768, 576, (2, 2), 0.2)
    assert win.shape == (4, 4)
    assert win[:, 0].min() == 0 and win[:, 2].max() == 768
    assert win[:, 1].min() == 0 and win[:, 3].max() == 576
    w = win[0, 2] - win[0, 0]
    assert win[1, 0] < win[0, 2] and (win[0, 2] - win[1, 0]) == pytest.approx(0.2 * w, abs=1)
    with pytest.raises(ValueError):
        tile_windows(100, 100, (0, 1), 0.2)


def test_tiled_detector_drops_cut_boxes() -> None:
    image = np.zeros((400, 600, 3), np.uint8)
    image[150:260, 280:320] = 255  # straddles the vertical seam between the two tiles
    tiled = TiledDetector(BrightBlobDetector(), tiles=(2, 1), overlap=0.1)
    det = tiled.detect(image)
    assert len(det) == 1
    np.testing.assert_allclose(det.xyxy, [[280, 150, 320, 260]])
    # Without the full frame, the two cut pieces are joined into the whole box.
    halves = TiledDetector(
        BrightBlobDetector(), tiles=(2, 1), overlap=0.1, include_full_frame=False
    )
    np.testing.assert_allclose(halves.detect(image).xyxy, [[280, 150, 320, 260]])
    # An object inside one tile only is found once, at the right place.
    image[:] = 0
    image[20:60, 30:50] = 255
    det = tiled.detect(image)
    assert len(det) == 1 and det.xyxy[0].tolist() == [30, 20, 50, 60]


def test_tiled_detector_shifts_keypoints() -> None:
    class KpDetector(BrightBlobDetector):
        def detect(self, image: np.ndarray) -> Detections:
            d = super().detect(image)
            if not len(d):
                return d
            kp = np.zeros((1, 17, 3), np.float32)
            kp[0, :, 0], kp[0, :, 1], kp[0, :, 2] = d.xyxy[0, 0], d.xyxy[0, 1], 1.0
            return Detections(d.xyxy, d.confidence, d.class_id, keypoints=kp)

    image = np.zeros((400, 600, 3), np.uint8)
    image[300:380, 500:540] = 255
    det = TiledDetector(KpDetector(), tiles=(2, 2), include_full_frame=False).detect(image)
    assert len(det) == 1 and det.keypoints is not None
    np.testing.assert_allclose(det.keypoints[0, 0], [500, 300, 1])


def test_build_detector_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        build_detector("resnet-9000")


# --------------------------------------------------------------------------------------------
# (b) Reference decode on the real models' output for a real PETS frame


def reference_yolox(raw: np.ndarray, height: int, width: int, confidence: float):
    """Straight from the formulas: per stride, per cell, per class, one anchor at a time."""
    boxes, scores, classes = [], [], []
    a = 0
    for stride in (8, 16, 32):
        for row in range(height // stride):
            for col in range(width // stride):
                p = raw[a].tolist()
                a += 1
                cls_scores = [p[4] * c for c in p[5:]]
                best = max(range(len(cls_scores)), key=lambda k: cls_scores[k])
                if cls_scores[best] < confidence:
                    continue
                cx, cy = (p[0] + col) * stride, (p[1] + row) * stride
                w, h = math.exp(p[2]) * stride, math.exp(p[3]) * stride
                boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
                scores.append(cls_scores[best])
                classes.append(best)
    return boxes, scores, classes


def reference_nanodet(cls_preds, dis_preds, size: int, confidence: float):
    boxes, scores, classes = [], [], []
    for stride, cls_p, dis_p in zip((8, 16, 32), cls_preds, dis_preds, strict=True):
        n = math.ceil(size / stride)
        for i in range(n * n):
            row, col = divmod(i, n)
            c = cls_p[i].tolist()
            best = max(range(len(c)), key=lambda k: c[k])
            if c[best] < confidence:
                continue
            d = dis_p[i].tolist()
            dist = []
            for side in range(4):
                logits = d[side * 8 : side * 8 + 8]
                top = max(logits)
                e = [math.exp(v - top) for v in logits]
                dist.append(sum(k * v for k, v in enumerate(e)) / sum(e) * stride)
            cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
            boxes.append([cx - dist[0], cy - dist[1], cx + dist[2], cy + dist[3]])
            scores.append(c[best])
            classes.append(best)
    return boxes, scores, classes


def to_image(boxes: list[list[float]], scale: float, w: int, h: int) -> list[list[float]]:
    return [
        [min(max(b[0] / scale, 0), w), min(max(b[1] / scale, 0), h),
         min(max(b[2] / scale, 0), w), min(max(b[3] / scale, 0), h)]
        for b in boxes
    ]  # fmt: skip


@pytest.fixture(scope="module")
def frame(pets_dir: Path) -> np.ndarray:
    return read_frame(pets_dir, FRAME)


def test_yolox_matches_reference_decode(yolox_path: Path, frame: np.ndarray) -> None:
    det = yolox.YoloxDetector(yolox_path, confidence=0.3, threads=2)
    assert det.flexible  # the export is fully convolutional: its input size is relaxed
    tensor, scale = det.preprocess(frame)
    # 768×576 (4:3) is fed as 416×320 rather than a padded 416×416 square.
    assert tensor.shape == (1, 3, 320, 416)
    raw = det.raw(tensor)
    assert raw.shape == (52 * 40 + 26 * 20 + 13 * 10, 85)
    assert raw[:, 4:].min() >= 0.0 and raw[:, 4:].max() <= 1.0  # probabilities, not logits

    ref_boxes, ref_scores, ref_cls = reference_yolox(raw, 320, 416, 0.3)
    grid, strides = det.grid_for((320, 416))
    xyxy, score, cls = yolox.decode(raw, grid, strides, 0.3)
    assert len(ref_boxes) == len(xyxy) > 0
    np.testing.assert_allclose(xyxy, np.array(ref_boxes), atol=1e-3)
    np.testing.assert_allclose(score, ref_scores, atol=1e-6)
    assert cls.tolist() == ref_cls

    h, w = frame.shape[:2]
    ref_img = to_image(ref_boxes, scale, w, h)
    kept = loop_nms(ref_img, ref_scores, ref_cls, 0.45)
    out = det.detect(frame)
    assert len(out) == len(kept)
    np.testing.assert_allclose(out.xyxy, np.array([ref_img[k] for k in kept]), atol=1e-3)
    assert out.class_id.tolist() == [ref_cls[k] for k in kept]


def test_nanodet_matches_reference_decode(nanodet_path: Path, frame: np.ndarray) -> None:
    det = nanodet.NanoDetDetector(nanodet_path, confidence=0.3, threads=2)
    assert det.input_size == 416
    tensor, scale = det.preprocess(frame)
    cls_preds, dis_preds = det.raw(tensor)
    assert [c.shape for c in cls_preds] == [(2704, 80), (676, 80), (169, 80)]
    assert [d.shape for d in dis_preds] == [(2704, 32), (676, 32), (169, 32)]

    ref_boxes, ref_scores, ref_cls = reference_nanodet(cls_preds, dis_preds, 416, 0.3)
    xyxy, score, cls = nanodet.decode(cls_preds, dis_preds, det.centers, nanodet.STRIDES, 0.3)
    assert len(ref_boxes) == len(xyxy) > 0
    np.testing.assert_allclose(xyxy, np.array(ref_boxes), atol=1e-3)
    np.testing.assert_allclose(score, ref_scores, atol=1e-6)
    assert cls.tolist() == ref_cls

    h, w = frame.shape[:2]
    ref_img = to_image(ref_boxes, scale, w, h)
    kept = loop_nms(ref_img, ref_scores, ref_cls, 0.45)
    out = det.detect(frame)
    np.testing.assert_allclose(out.xyxy, np.array([ref_img[k] for k in kept]), atol=1e-3)


# --------------------------------------------------------------------------------------------
# (c) Against the ground truth of that frame


@pytest.mark.parametrize("kind", ["yolox", "nanodet"])
def test_persons_match_ground_truth(
    kind: str, yolox_path: Path, nanodet_path: Path, pets_dir: Path, frame: np.ndarray
) -> None:
    det: Detector
    if kind == "yolox":
        det = yolox.YoloxDetector(yolox_path, confidence=0.3, classes=[0], threads=2)
    else:
        det = nanodet.NanoDetDetector(nanodet_path, confidence=0.35, classes=[0], threads=2)
    assert isinstance(det, Detector)
    out = det.detect(frame)
    assert set(out.class_id.tolist()) <= {0}
    gt = gt_boxes(pets_dir, FRAME)
    assert len(gt) == 6
    # One of the six stands behind a sign post, mostly hidden: 5 of 6 is the bar.
    assert matched_at(out.xyxy, gt) >= 5


def test_movenet_persons_with_keypoints(pets_dir: Path, frame: np.ndarray) -> None:
    from veilleur.perception.registry import ModelNotFound, resolve

    try:
        path = resolve("movenet-multipose").path
    except ModelNotFound as error:
        pytest.skip(str(error))
    det = movenet.MoveNetDetector(path, input_size=384, confidence=0.15, threads=2)
    out = det.detect(frame)
    assert len(out) >= 3
    assert out.keypoints is not None and out.keypoints.shape == (len(out), 17, 3)
    assert set(out.class_id.tolist()) == {0}
    gt = gt_boxes(pets_dir, FRAME)
    assert matched_at(out.xyxy, gt) >= 3
    for box, kp in zip(out.xyxy, out.keypoints, strict=True):
        x1, y1, x2, y2 = box - np.array([5, 5, -5, -5])
        inside = (kp[:, 0] >= x1) & (kp[:, 0] <= x2) & (kp[:, 1] >= y1) & (kp[:, 1] <= y2)
        assert inside.mean() >= 0.8
        assert ((kp[:, 2] >= 0) & (kp[:, 2] <= 1)).all()


def test_build_detector_through_registry(
    shared_models: Path, monkeypatch: pytest.MonkeyPatch, frame: np.ndarray
) -> None:
    monkeypatch.setenv("VEILLEUR_MODELS_DIR", str(shared_models))
    for name in ("yolox-nano", "nanodet-m", "nanodet-m-320"):
        det = build_detector(name, classes=[0], threads=1)
        assert det.name in (name, "nanodet-m-416")
        assert len(det.detect(frame)) >= 3
    tiled = build_detector("yolox-nano", classes=[0], tiles=(2, 1), threads=1)
    assert isinstance(tiled, TiledDetector) and len(tiled.detect(frame)) >= 3
    assert build_detector("yolox-nano", input_size=640).input_size == 640  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="multiple of 32"):
        build_detector("yolox-nano", input_size=650)
