"""Counting people on real pictures: the crowd photos, and PETS 2009 S2L1 with its calibration.

- Crowd photos (`crowd_count_mini_india`, 38 street photos with 3-53 annotated heads, eye level,
  not CCTV: a weak sanity check, see its SOURCE.md): YOLOX-nano person counts against the head
  counts, on the whole picture and on 2×2 tiles (what `perception.tiles` recommends for wide
  scenes with small people), and `PersonCounter` (passes at 512, 800 and 1280 px fused, count
  at 0.225 by default, people cut by the top edge counted when MoveNet sees their head in the
  picture; or the Platt expected count; bench/density_tune.py and bench/density_count.py give
  the held-out figures, its settings and calibration having been chosen on these photos).
- PETS S2L1 (CCTV, sparse): the `excessive_density` situation through the whole pipeline on a
  zone drawn on the plaza, with a ground calibration derived from the camera's own Tsai
  parameters (`evaluation.scenarios.crowd.TsaiCamera`), against the ground-truth count of
  people whose feet are in the zone: count and persons per m², and no signal at the default
  limit of 4/m² (the plaza never holds more than 8 people). `crowd_movement` runs in the same
  pass on the same zone: people walking about in ones and twos are no crowd movement, so it
  must stay silent (no real footage here shows a real one; see the crowd scenarios).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io as sio
from shapely import contains_xy
from shapely.geometry import Polygon

from veilleur.config import parse_config
from veilleur.evaluation.mot import load_mot
from veilleur.evaluation.pets import PATH
from veilleur.evaluation.scenarios.crowd import TsaiCamera
from veilleur.perception.density import PersonCounter, feet, ground_area_m2
from veilleur.perception.detector import build_detector
from veilleur.perception.tiling import TiledDetector
from veilleur.pipeline import CameraPipeline
from veilleur.scene.geometry import Ground
from veilleur.situations.excessive_density import ExcessiveDensity
from veilleur.sources import VideoSource
from veilleur.types import Signal

pytestmark = pytest.mark.integration

CONFIDENCE = 0.3  # YOLOX-nano's default person threshold in the pipeline
PETS_W, PETS_H = 768, 576
PETS_SECONDS = 40.0


def _photos(shared_data: Path) -> list[tuple[np.ndarray, int]]:
    root = shared_data / "crowd_count_mini_india" / "part_B"
    if not root.exists():
        pytest.skip(f"{root} is absent")
    out = []
    for image in sorted(root.glob("*/images/*.jpg")):
        mat = sio.loadmat(image.parent.parent / "ground-truth" / f"GT_{image.stem}.mat")
        heads = mat["image_info"][0, 0][0, 0][0]
        picture = cv2.imread(str(image))
        assert picture is not None
        out.append((picture, len(heads)))
    return out


@dataclass(frozen=True)
class CountScore:
    counts: np.ndarray
    truth: np.ndarray

    @property
    def mape(self) -> float:
        """Mean of the per-picture absolute errors, as a share of each picture's count."""
        return float(np.mean(np.abs(self.counts - self.truth) / self.truth))

    @property
    def total_error(self) -> float:
        """Signed error of the summed count, as a share of the true sum."""
        return float((self.counts.sum() - self.truth.sum()) / self.truth.sum())


def test_crowd_photo_counts(shared_data: Path, yolox_path: Path) -> None:
    photos = _photos(shared_data)
    assert len(photos) == 38
    truth = np.array([n for _, n in photos])
    detector = build_detector("yolox-nano", path=yolox_path, confidence=CONFIDENCE, classes=[0])
    tiled = TiledDetector(detector, (2, 2))
    whole = CountScore(np.array([len(detector.detect(p)) for p, _ in photos]), truth)
    tiles = CountScore(np.array([len(tiled.detect(p)) for p, _ in photos]), truth)
    print(
        f"\ncrowd photos ({truth.sum()} heads): whole picture MAPE {whole.mape:.1%}, total "
        f"{whole.total_error:+.1%}; 2x2 tiles MAPE {tiles.mape:.1%}, total {tiles.total_error:+.1%}"
    )
    # Measured: whole picture MAPE 29.2 %, total -33.7 %; tiles MAPE 26.6 %, total -3.2 %.
    # The head annotation leaves out people whose head is hidden, whom the detector finds:
    # the per-picture error stays high on both, the total shows what tiling recovers.
    assert whole.mape <= 0.33
    assert -0.40 <= whole.total_error <= -0.25
    assert tiles.mape <= 0.30
    assert abs(tiles.total_error) <= 0.10


def test_crowd_photo_counts_person_counter(shared_data: Path, yolox_path: Path) -> None:
    photos = _photos(shared_data)
    truth = np.array([n for _, n in photos])
    detector = build_detector("yolox-nano", path=yolox_path, confidence=0.05, classes=[0])
    pose = build_detector("movenet-multipose", confidence=0.05, input_size=256)
    counter = PersonCounter(detector, heads=pose)  # type: ignore[arg-type]
    expected = PersonCounter(detector, threshold=None)  # type: ignore[arg-type]
    found = [(p, *counter.boxes(p)) for p, _ in photos]
    fused = [f for _, _, f in found]
    checked = [f[~counter.headless(p, b, f)] for p, b, f in found]
    plain = CountScore(np.array([counter.count_fused(f) for f in checked]), truth)
    unchecked = CountScore(np.array([counter.count_fused(f) for f in fused]), truth)
    calibrated = CountScore(np.array([expected.count_fused(f) for f in fused]), truth)
    print(
        f"\ncrowd photos, PersonCounter: default MAPE {plain.mape:.1%}, total "
        f"{plain.total_error:+.1%}; without the head check MAPE {unchecked.mape:.1%}, total "
        f"{unchecked.total_error:+.1%}; expected count MAPE {calibrated.mape:.1%}, total "
        f"{calibrated.total_error:+.1%}"
    )
    # Measured: MAPE 11.0 %, total -9.6 % (the defaults were chosen on the even photos:
    # 11.1 % there, 10.9 % on the odd ones held aside; bench/density_tune.py); without the
    # check on the people cut by the top edge 15.6 %, -7.1 %; expected count 18.4 %, -6.2 %
    # in-sample. The annotation counts heads: of the 17 people counted before in train IMG_3
    # (7 heads annotated), 10 are cut by the top edge with their heads out of the picture.
    assert plain.mape <= 0.125
    assert plain.mape < unchecked.mape - 0.03
    assert -0.14 <= plain.total_error <= -0.06
    assert unchecked.mape <= 0.17
    assert calibrated.mape <= 0.21
    assert abs(calibrated.total_error) <= 0.09


def _pets_calibration(pets_dir: Path) -> tuple[dict[str, list[list[float]]], Ground]:
    """Ground calibration of PETS View_001 from its Tsai parameters: six image points spread
    over the plaza and where they are on the ground."""
    h = TsaiCamera(pets_dir / "View_001_calibration.xml").ground_homography()
    image = np.array(
        [[100, 250], [400, 220], [700, 300], [700, 540], [400, 540], [100, 450]], dtype=float
    )
    ground = cv2.perspectiveTransform(image.reshape(-1, 1, 2), h).reshape(-1, 2)
    unit = (image / [PETS_W, PETS_H]).round(5)
    calibration = {"image_points": unit.tolist(), "ground_points": ground.round(4).tolist()}
    return calibration, Ground(image, ground)


def test_pets_tsai_calibration_matches_people_heights(pets_dir: Path) -> None:
    """The Tsai model puts a 1.75 m head where the truth boxes' tops are."""
    camera = TsaiCamera(pets_dir / "View_001_calibration.xml")
    ground = Ground(*_grid(camera))
    rows = np.loadtxt(pets_dir / "gt_mot_format.txt", delimiter=",")
    foot = np.stack([rows[:, 2] + rows[:, 4] / 2, rows[:, 3] + rows[:, 5]], axis=1)
    on_ground = ground.to_metres(foot)
    head, _ = camera.project(np.c_[on_ground, np.full(len(foot), 1.75)])
    ratio = rows[:, 5] / (foot[:, 1] - head[:, 1])
    print(f"\nPETS box height / projected 1.75 m: median {np.median(ratio):.3f}")
    # Measured 1.00 (10th-90th percentile 0.94-1.09).
    assert 0.95 <= float(np.median(ratio)) <= 1.05


def _grid(camera: TsaiCamera) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.linspace(-20, 5, 6), np.linspace(-15, 8, 6))
    metres = np.stack([gx.ravel(), gy.ravel()], axis=1)
    px, depth = camera.project(np.c_[metres, np.zeros(len(metres))])
    inside = (depth > 0) & (px[:, 0] >= 0) & (px[:, 0] < PETS_W) & (px[:, 1] >= 0)
    inside &= px[:, 1] < PETS_H
    return px[inside], metres[inside]


@dataclass
class PetsRun:
    truth: list[int] = field(default_factory=list)
    detected: list[int] = field(default_factory=list)
    estimate: list[float] = field(default_factory=list)
    density: list[float] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    area_m2: float = 0.0
    ms_per_frame: float = 0.0
    """Both situations together, per analysed frame."""


@pytest.fixture(scope="module")
def pets_density(pets_dir: Path, yolox_path: Path) -> PetsRun:
    calibration, ground = _pets_calibration(pets_dir)
    site = parse_config(
        {
            "perception": {"detector": "yolox-nano", "model_path": str(yolox_path)},
            "cameras": {
                "pets": {
                    "source": "pets",
                    "analysis_fps": 5,
                    "calibration": calibration,
                    "zones": {"plaza": {"polygon": PATH}},
                    "situations": {
                        "excessive_density": {"enabled": True, "zones": ["plaza"]},
                        "crowd_movement": {"enabled": True, "zones": ["plaza"]},
                    },
                }
            },
        }
    )
    pipe = CameraPipeline("pets", site)
    situation = next(s for s in pipe.situations if isinstance(s, ExcessiveDensity))
    truth = load_mot(pets_dir / "gt_mot_format.txt")
    zone = Polygon(np.array(PATH) * [PETS_W, PETS_H])
    run = PetsRun()
    area = ground_area_m2(zone, ground.to_metres)
    assert area is not None
    run.area_m2 = area
    with VideoSource(str(pets_dir / "vtest_PETS2009_S2L1_View001.avi"), analysis_fps=5) as src:
        for frame in src.frames():
            if frame.t >= PETS_SECONDS:
                break
            run.signals += pipe.process(frame)
            _, boxes = truth.get(frame.index, (None, np.zeros((0, 4))))
            foot = feet(boxes)
            reading = situation.readings["plaza"]
            run.truth.append(int(contains_xy(zone, foot[:, 0], foot[:, 1]).sum()))
            run.detected.append(reading.detected)
            run.estimate.append(reading.smoothed)
            run.density.append(reading.density_m2 or 0.0)
    run.ms_per_frame = pipe.clock.ms_per_frame()["situations"]
    return run


def test_pets_zone_count_and_density(pets_density: PetsRun) -> None:
    run = pets_density
    truth = np.array(run.truth, dtype=float)
    detected = np.abs(np.array(run.detected) - truth).mean()
    estimate = np.abs(np.array(run.estimate) - truth).mean()
    true_density = truth / run.area_m2
    density_error = np.abs(np.array(run.density) - true_density).mean()
    print(
        f"\nPETS plaza zone ({run.area_m2:.0f} m², {len(truth)} frames, truth {truth.mean():.2f} "
        f"people on average, at most {truth.max():.0f}): count MAE detections {detected:.2f}, "
        f"situation estimate {estimate:.2f}; density MAE {density_error:.4f}/m² "
        f"(truth mean {true_density.mean():.4f}/m²); situations {run.ms_per_frame:.1f} ms/frame"
    )
    assert 150 <= run.area_m2 <= 400  # the walkway and plaza, tens of metres across
    # Measured: MAE 0.55 person for the detections of one frame, 0.63 for the situation's
    # estimate (its 3 s medians lag people walking in and out; the occupancy stays out of a
    # sparse scene).
    assert detected <= 0.8
    assert estimate <= 0.9
    assert density_error <= 0.9 / run.area_m2


def test_pets_sparse_plaza_raises_no_density_and_no_crowd_movement_signal(
    pets_density: PetsRun,
) -> None:
    assert [s.situation for s in pets_density.signals] == []
