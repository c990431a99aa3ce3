"""The offline pass that drew the UP-Fall person boxes of tests/data/upfall_person_boxes.csv.

Slower and stronger than anything a camera runs, and independent of the privacy masking it
checks: YOLOX-nano at a 640-pixel input on the whole frame and on 2×2 tiles, and MoveNet
MultiPose at 512, their person boxes merged (overlapping boxes: the pose model's), the
wooden sensor posts of the hall dropped (`NOT_PERSONS`), and a few boxes drawn by hand
(`HAND_BOXES`). Run on
every frame a camera analysing at 5 fps sees. The boxes were then reviewed by eye on contact
sheets (`--sheet`); what they showed wrong is corrected by the rules above.

    python bench/annotate_upfall_persons.py > tests/data/upfall_person_boxes.csv
    python bench/annotate_upfall_persons.py --sheet /tmp/sheets   # overlays to review
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from veilleur.evaluation.privacy_leak import UPFALL_CLIPS, UPFALL_HELD_ASIDE
from veilleur.perception.detector import build_detector
from veilleur.perception.nms import iou_matrix
from veilleur.sources import open_source
from veilleur.types import PERSON

SHARED = Path(os.environ.get("VEILLEUR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
YOLOX = SHARED / "models" / "yolox-nano" / "yolox_nano_416x416.onnx"


#: Not persons, checked by eye: the wooden sensor posts on the floor of the UP-Fall hall, which
#: the low thresholds here take for small people (x1, y1, x2, y2 of the 640x480 frames; a box
#: whose centre lies inside one is dropped).
NOT_PERSONS = {
    "Cam2": [(40, 280, 76, 360), (0, 310, 40, 392), (290, 205, 315, 252), (80, 255, 112, 325)],
    "Cam1": [],
}
#: The empty mattress, taken for a person before anyone is on it: (clip, last frame, region).
NOT_PERSONS_UNTIL = [
    ("Activity5_S1_Trial1Cam2", 14, (90, 265, 360, 475)),
    # The mattress with the person falling onto it, boxed as one, person and all.
    ("Activity2_S1_Trial2Cam2", 29, (200, 330, 270, 390)),
]
#: Drawn by hand where the offline pass saw only a head: a person lying along the bottom edge
#: of Cam1, half out of the picture (clip, first frame, box), to the clip's end.
HAND_BOXES = [("Activity3_S1_Trial1Cam1", 44, (0, 415, 430, 479))]


def merge(boxes: np.ndarray, scores: np.ndarray, from_pose: np.ndarray) -> np.ndarray:
    """Groups of boxes overlapping by IoU >= 0.3 become one: the pose model's (its outline
    follows the limbs, which a lying person's detector box does not), else the best scored."""
    order = np.lexsort((-scores, ~from_pose))
    boxes = boxes[order]
    used = np.zeros(len(boxes), dtype=bool)
    out = []
    iou = iou_matrix(boxes, boxes)
    for i in range(len(boxes)):
        if used[i]:
            continue
        used |= iou[i] >= 0.3
        out.append(boxes[i])
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)


def containers(boxes: np.ndarray) -> np.ndarray:
    """Mask of the boxes that hold another whole box and are over twice its size: the
    detector's box of a person with the mattress they lie on, the person's own box inside."""
    if len(boxes) < 2:
        return np.zeros(len(boxes), dtype=bool)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ix = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(
        boxes[:, None, 0], boxes[None, :, 0]
    )
    iy = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(
        boxes[:, None, 1], boxes[None, :, 1]
    )
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    holds = (inter >= 0.9 * area[None, :]) & (area[:, None] > 2 * area[None, :])
    np.fill_diagonal(holds, False)
    return holds.any(axis=1)


def not_person(box: np.ndarray, clip: str, index: int) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    regions = NOT_PERSONS[clip[-4:]] + [
        r for c, last, r in NOT_PERSONS_UNTIL if c == clip and index <= last
    ]
    return any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in regions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheet", type=Path, help="write overlays of every 3rd frame here")
    ap.add_argument(
        "--clips", nargs="*", default=[*UPFALL_CLIPS, *UPFALL_HELD_ASIDE], help="clip stems"
    )
    ap.add_argument("--no-header", action="store_true", help="rows only (to append)")
    args = ap.parse_args()
    yolox = build_detector("yolox-nano", path=YOLOX, input_size=640, confidence=0.2,
                           classes=[PERSON], tiles=(2, 2))  # fmt: skip
    pose = build_detector("movenet-multipose", input_size=512, confidence=0.15)
    if not args.no_header:
        print("# Person boxes of UP-Fall frames (x1,y1,x2,y2 pixels of the 640x480 frame), by")
        print("# bench/annotate_upfall_persons.py (YOLOX-nano 640 + 2x2 tiles, MoveNet 512),")
        print("# reviewed by eye; frames are those a camera analysing at 5 fps sees.")
        print("clip,frame,x1,y1,x2,y2")
    for clip in args.clips:
        with open_source(
            str(SHARED / "data" / "upfall_falls" / f"{clip}.mp4"), analysis_fps=5
        ) as src:
            for n, frame in enumerate(src.frames()):
                a, b = yolox.detect(frame.image), pose.detect(frame.image)
                boxes = np.concatenate([a.xyxy, b.xyxy]).astype(np.float64)
                scores = np.concatenate([a.confidence, b.confidence])
                from_pose = np.arange(len(boxes)) >= len(a)
                merged = merge(boxes, scores, from_pose)
                merged = np.array(
                    [m for m in merged if not not_person(m, clip, frame.index)]
                ).reshape(-1, 4)
                merged = merged[~containers(merged)]
                hand = [b for c, first, b in HAND_BOXES if c == clip and frame.index >= first]
                merged = np.concatenate([merged, np.array(hand, dtype=np.float64).reshape(-1, 4)])
                for x1, y1, x2, y2 in merged:
                    print(f"{clip},{frame.index},{x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}")
                if args.sheet is not None and n % 3 == 0:
                    args.sheet.mkdir(parents=True, exist_ok=True)
                    img = frame.image.copy()
                    for x1, y1, x2, y2 in merged.astype(int):
                        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 0, 255), 2)
                    cv2.imwrite(str(args.sheet / f"{clip}_{frame.index:04d}.jpg"), img)
        print(f"{clip} done", file=sys.stderr)


if __name__ == "__main__":
    main()
