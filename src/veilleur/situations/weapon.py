"""`weapon`: a weapon held by a person, confirmed over several frames.

What it looks for by default: a COCO *knife* (class 43 of the general detector) scored at least
`knife_confidence`, close to a wrist of a person (keypoints from the pose model), in
`confirm_frames` of the last `window_frames` frames on which the detector ran (a frame where
motion gating kept the previous detections confirms nothing). Scissors (COCO 76) are left out:
they are everyday tools, not among the weapons of CSI art. R.311-2, and would add false
alarms in shops and offices.

Firearms: no permissively licensed firearm detector exists to ship, so the default cannot see
them. `extra_model` plugs in any YOLOX-layout ONNX detector with a map of its classes to
'firearm' or 'knife'; it runs on every analysed frame and its detections go through the same
hand and confirmation rules. Its file name and the start of its SHA-256 are reported in the
`model` of every signal.

One signal per person holding the weapon (the track id stays in this object's memory only),
and the situation's cool-down per zone: another person seen with a weapon during it is a further
event attached to the signal. The box covers the person and the weapon.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from veilleur.config.situations import WeaponConfig
from veilleur.config.situations.weapon import ExtraWeaponModel
from veilleur.perception.detector import Detector
from veilleur.scene.state import Scene, TrackState
from veilleur.situations.base import Situation, SituationContext
from veilleur.types import PERSON, Signal

KNIFE = 43
#: COCO keypoint indexes of the wrists.
WRISTS = (9, 10)


@dataclass(frozen=True, slots=True)
class Sighting:
    """A weapon box seen this frame."""

    box: np.ndarray
    score: float
    kind: str


@dataclass
class _Hits:
    """The latest detector frames of one person: the weapon seen in their hand, or None."""

    frames: deque[tuple[float, Sighting | None]] = field(default_factory=deque)
    fired: bool = False


def load_extra_model(cfg: ExtraWeaponModel, threads: int = 1) -> tuple[Detector, str]:
    """The detector described by `cfg` and its name for signals (`file@sha256[:12]`)."""
    from veilleur.perception.registry import sha256_file
    from veilleur.perception.yolox import YoloxDetector

    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"situations.weapon.extra_model.path: {path} is not a file; the weapon model is "
            "read from a local file and never downloaded"
        )
    n = cfg.num_classes or max(cfg.class_map) + 1
    names = tuple(cfg.class_map.get(i, f"class{i}") for i in range(n))
    name = f"{path.stem}@{sha256_file(path)[:12]}"
    try:
        detector = YoloxDetector(
            path,
            name=name,
            input_size=cfg.input_size,
            confidence=cfg.confidence,
            classes=sorted(cfg.class_map),
            class_names=names,
            threads=threads,
        )
    except ValueError as exc:
        raise ValueError(
            f"situations.weapon.extra_model: {exc} (set num_classes to the model's class count)"
        ) from exc
    return detector, name


class Weapon(Situation):
    id = "weapon"
    known_limits = (
        "Weapon: by default only knives that the general-purpose detector recognises, held "
        "near a hand that the pose model sees, are reported. The default cannot see firearms "
        "at all (no firearm detector ships; one can be added). At usual CCTV distances a knife "
        "is a few pixels long and is rarely recognised: no signal does not mean no weapon. "
        "Phones, tools, umbrellas and other things held in the hand can be taken for a knife; "
        "the high threshold and the confirmation over several frames make this rarer, not "
        "impossible."
    )
    required_classes = frozenset({KNIFE})

    def __init__(self, config: WeaponConfig, context: SituationContext) -> None:
        self.extra: Detector | None = None
        if config.extra_model is not None:
            self.extra, name = load_extra_model(config.extra_model)
            context = SituationContext(
                context.camera, f"{context.model}+{name}", context.config_version
            )
        super().__init__(config, context)
        self.cfg = config
        self._hits: dict[int, _Hits] = {}
        self._last_dets: np.ndarray | None = None

    def _sightings(self, scene: Scene) -> tuple[list[Sighting], bool]:
        """Weapons seen this frame, and whether the detections are fresh (the detector ran)
        rather than kept from an earlier frame by motion gating."""
        dets = scene.detections
        # Motion gating hands the same detections on while nothing moves: identical boxes
        # and scores mean the detector did not run again.
        packed = np.concatenate([dets.xyxy.ravel(), dets.confidence.ravel()])
        fresh = self._last_dets is None or not np.array_equal(packed, self._last_dets)
        self._last_dets = packed
        knives = dets[(dets.class_id == KNIFE) & (dets.confidence >= self.cfg.knife_confidence)]
        out = [
            Sighting(knives.xyxy[i].astype(np.float64), float(knives.confidence[i]), "knife")
            for i in range(len(knives))
        ]
        if self.extra is not None and scene.image is not None:
            extra = self.extra.detect(scene.image)
            names = self.extra.classes
            out += [
                Sighting(extra.xyxy[i].astype(np.float64), float(extra.confidence[i]),
                         names[int(extra.class_id[i])])
                for i in range(len(extra))
            ]  # fmt: skip
            fresh = True  # the extra model runs on every frame
        return out, fresh

    def _held(self, person: TrackState, weapon: Sighting) -> bool:
        """Whether `weapon` is in `person`'s hand: close to a wrist, or (when allowed and no
        wrist is seen) inside their box."""
        box = person.box
        h = float(box[3] - box[1])
        if h <= 0:
            return False
        kp = person.last.keypoints
        wrists = []
        if kp is not None:
            wrists = [kp[i, :2] for i in WRISTS if kp[i, 2] >= self.cfg.wrist_min_score]
        b = weapon.box
        for w in wrists:
            dx = max(b[0] - w[0], 0.0, w[0] - b[2])
            dy = max(b[1] - w[1], 0.0, w[1] - b[3])
            if float(np.hypot(dx, dy)) <= self.cfg.hand_distance * h:
                return True
        if wrists or self.cfg.require_wrist:
            return False
        cx, cy = (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0
        g = self.cfg.hand_distance * h  # an arm held out reaches beyond the box
        return bool(box[0] - g <= cx <= box[2] + g and box[1] - g <= cy <= box[3] + g)

    def _zone(self, person: TrackState) -> tuple[bool, str | None]:
        """(watched, zone): the first watched zone the person stands in, None for the whole
        image; watched is False when they stand outside every watched zone."""
        if not self.cfg.zones:
            return True, None
        for z in self.cfg.zones:
            if z in person.inside:
                return True, z
        return False, None

    def update(self, scene: Scene) -> list[Signal]:
        t = scene.t
        sightings, fresh = self._sightings(scene)
        persons = [s for s in scene.visible if s.class_id == PERSON]
        self._hits = {k: v for k, v in self._hits.items() if k in scene.tracks}
        out: list[Signal] = []
        for person in persons:
            hits = self._hits.setdefault(person.track_id, _Hits())
            if fresh:
                held = [w for w in sightings if self._held(person, w)]
                best = max(held, key=lambda w: w.score) if held else None
                hits.frames.append((t, best))
                while len(hits.frames) > self.cfg.window_frames:
                    hits.frames.popleft()
            if hits.fired:
                continue
            seen = [
                (ft, w) for ft, w in hits.frames if w is not None and t - ft <= self.cfg.window_s
            ]
            if len(seen) < self.cfg.confirm_frames:
                continue
            start = seen[0][0]
            if t - start < self.cfg.min_duration_s:
                continue
            watched, zone = self._zone(person)
            if not watched:
                continue
            hits.fired = True
            confidence = float(np.mean([w.score for _, w in seen]))
            boxes = [person.box, *(w.box for _, w in seen[-1:])]
            if self.attach_if_cooling(scene, zone, start, boxes, confidence):
                continue  # another weapon seen during the cool-down: attached to the episode
            sig = self.signal(scene, zone, start, boxes, confidence)
            if sig is not None:
                out.append(sig)
        return out
