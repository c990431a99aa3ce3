"""Tiled inference: run a detector on overlapping tiles (and the full frame) and merge.

Small detectors see a 768×576 CCTV picture at 416 px, so a 30×80 px person shrinks to 16×43 px
and is often missed. Each tile is fed at (nearly) native resolution instead. The price is one
inference per tile (plus one for the full frame).

Merging: boxes are shifted back into the frame; a box that touches an inner tile edge (an edge
that is not an edge of the picture) is "cut". A cut box is dropped when an uncut box of the same
class covers most of it (the same object seen whole in another tile or in the full frame);
cut pieces of one object seen by neighbouring tiles are joined into their union box; the rest
goes through class-wise NMS.
"""

from __future__ import annotations

import numpy as np

from veilleur.perception.detector import Detector
from veilleur.perception.nms import batched_nms, box_area, intersection
from veilleur.types import Detections


def tile_windows(width: int, height: int, tiles: tuple[int, int], overlap: float) -> np.ndarray:
    """(cols × rows, 4) integer windows x1, y1, x2, y2 covering the picture.

    Tiles are of equal size and neighbours share `overlap` of a tile's width (height).
    """
    cols, rows = tiles
    if cols < 1 or rows < 1:
        raise ValueError(f"tiles must be at least (1, 1), got {tiles}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")

    def spans(length: int, n: int) -> np.ndarray:
        size = length / (n - (n - 1) * overlap)
        starts = np.arange(n) * size * (1.0 - overlap)
        lo = np.round(starts).astype(np.int64)
        hi = np.minimum(length, np.round(starts + size).astype(np.int64))
        hi[-1] = length  # rounding must not leave a sliver uncovered
        return np.stack([lo, hi], axis=1)

    xs, ys = spans(width, cols), spans(height, rows)
    grid = [(x[0], y[0], x[1], y[1]) for y in ys for x in xs]
    return np.asarray(grid, dtype=np.int64)


class TiledDetector:
    """Wraps a detector; `detect` runs it on `tiles=(cols, rows)` overlapping tiles."""

    def __init__(
        self,
        inner: Detector,
        tiles: tuple[int, int] = (2, 2),
        overlap: float = 0.2,
        include_full_frame: bool = True,
        *,
        nms_iou: float = 0.45,
        edge_margin: float = 2.0,
        cover: float = 0.6,
    ) -> None:
        tile_windows(64, 64, tiles, overlap)  # validates the arguments early
        self.inner = inner
        self.tiles = tiles
        self.overlap = overlap
        self.include_full_frame = include_full_frame
        self.nms_iou = nms_iou
        self.edge_margin = edge_margin
        """A box within this many pixels of an inner tile edge counts as cut."""
        self.cover = cover
        """Share of a cut box an uncut box must cover for the cut one to be dropped."""
        self.name = inner.name
        self.classes = inner.classes

    def detect(self, image: np.ndarray) -> Detections:
        h, w = image.shape[:2]
        parts: list[Detections] = []
        cut: list[np.ndarray] = []
        source: list[np.ndarray] = []  # which tile each box comes from (-1: the full frame)
        for t, (x1, y1, x2, y2) in enumerate(tile_windows(w, h, self.tiles, self.overlap)):
            det = self.inner.detect(image[y1:y2, x1:x2])
            if not len(det):
                continue
            det = _shifted(det, float(x1), float(y1))
            # Inner edges only: an object cut by the picture's own border is whole as seen.
            m = self.edge_margin
            b = det.xyxy
            cut.append(
                ((x1 > 0) & (b[:, 0] <= x1 + m))
                | ((y1 > 0) & (b[:, 1] <= y1 + m))
                | ((x2 < w) & (b[:, 2] >= x2 - m))
                | ((y2 < h) & (b[:, 3] >= y2 - m))
            )
            source.append(np.full(len(det), t))
            parts.append(det)
        if self.include_full_frame:
            det = self.inner.detect(image)
            parts.append(det)
            cut.append(np.zeros(len(det), dtype=bool))
            source.append(np.full(len(det), -1))
        merged = Detections.concat(parts)
        if not len(merged):
            return Detections.empty()
        # Aligned with `merged`: concat only skips empty parts, which add nothing here either.
        is_cut, tile = np.concatenate(cut), np.concatenate(source)
        keep = np.flatnonzero(~(is_cut & self._covered(merged, is_cut)))
        merged = _fuse_pieces(merged[keep], is_cut[keep], tile[keep], self.cover)
        order = batched_nms(merged.xyxy, merged.confidence, merged.class_id, self.nms_iou)
        return merged[order]

    def _covered(self, det: Detections, is_cut: np.ndarray) -> np.ndarray:
        """For every box: whether an uncut box of the same class covers `cover` of it."""
        whole = ~is_cut
        if not whole.any():
            return np.zeros(len(det), dtype=bool)
        inter = intersection(det.xyxy, det.xyxy[whole])
        same = det.class_id[:, None] == det.class_id[whole][None, :]
        share = inter / np.maximum(box_area(det.xyxy), 1e-6)[:, None]
        return np.any(same & (share >= self.cover), axis=1)


def _fuse_pieces(
    det: Detections, is_cut: np.ndarray, tile: np.ndarray, min_share: float
) -> Detections:
    """Join the cut pieces of one object seen by neighbouring tiles into one box.

    Two cut boxes of the same class from different tiles are pieces of one object when their
    overlap covers `min_share` of the smaller one (they share the strip where tiles overlap).
    A group becomes its union box with the best score (and the best piece's keypoints).
    """
    idx = np.flatnonzero(is_cut)
    if len(idx) < 2:
        return det
    boxes = det.xyxy[idx]
    area = np.maximum(box_area(boxes), 1e-6)
    share = intersection(boxes, boxes) / np.minimum(area[:, None], area[None, :])
    link = (
        (share >= min_share)
        & (det.class_id[idx][:, None] == det.class_id[idx][None, :])
        & (tile[idx][:, None] != tile[idx][None, :])
    )
    if not link.any():
        return det
    # Union-find over a handful of boxes: plain Python is clearer than a graph library here.
    parent = list(range(len(idx)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in zip(*np.nonzero(np.triu(link, 1)), strict=True):
        parent[root(int(a))] = root(int(b))
    groups: dict[int, list[int]] = {}
    for i in range(len(idx)):
        groups.setdefault(root(i), []).append(i)

    xyxy, conf = det.xyxy.copy(), det.confidence.copy()
    drop: list[int] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        rows = idx[members]
        best = rows[np.argmax(conf[rows])]
        xyxy[best, :2] = det.xyxy[rows, :2].min(axis=0)
        xyxy[best, 2:] = det.xyxy[rows, 2:].max(axis=0)
        drop.extend(int(r) for r in rows if r != best)
    keep = np.setdiff1d(np.arange(len(det)), drop)
    fused = Detections(
        xyxy=xyxy, confidence=conf, class_id=det.class_id, track_id=det.track_id,
        keypoints=det.keypoints,
    )  # fmt: skip
    return fused[keep]


def _shifted(det: Detections, dx: float, dy: float) -> Detections:
    kp = None
    if det.keypoints is not None:
        kp = det.keypoints.copy()
        kp[..., 0] += dx
        kp[..., 1] += dy
    return Detections(
        xyxy=det.xyxy + np.array([dx, dy, dx, dy], dtype=np.float32),
        confidence=det.confidence,
        class_id=det.class_id,
        track_id=det.track_id,
        keypoints=kp,
    )
