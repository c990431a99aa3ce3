"""Write evaluation/real.yaml: the real clips of ../shared/data with their expected signals.

    python evaluation/make_real.py

- FURG `house6`: flames from the first frame to the last (every frame carries flame boxes).
- FireSense ground fire: flames from the first frame to the last (SOURCE.md, by eye).
- UP-Fall subject 1: each fall clip, both cameras, expects `person_on_ground` from the frame the
  person is on the ground (gt_events.csv, 18 fps) to the end of the clip; the walking, standing
  and picking-up clips expect nothing.
- Negatives for fire: PETS S2L1 pedestrians and the Intel car park (no fire in either).
"""

from __future__ import annotations

import csv
from pathlib import Path

from veilleur.evaluation.truth import Clip, ExpectedSignal, TruthFile, dump_truth

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
DATA = "${VEILLEUR_SHARED}/data"
UPFALL_FPS = 18.0
FURG_DURATION_S = 899 / 29.97
FIRESENSE_DURATION_S = 258 / 10.0


def upfall_clips() -> list[Clip]:
    clips = []
    with (SHARED / "data" / "upfall_falls" / "gt_events.csv").open() as f:
        rows = [r for r in csv.reader(line for line in f if not line.startswith("#"))]
    for stem, activity, label, _onset, ground_from, _until, n_frames in rows:
        cams = ("Cam1", "Cam2") if label == "fall" else ("Cam2",)
        for cam in cams:
            video = SHARED / "data" / "upfall_falls" / f"{stem}{cam}.mp4"
            if not video.exists():
                continue
            expected = []
            if label == "fall":
                expected.append(
                    ExpectedSignal(
                        situation="person_on_ground",
                        zone=None,
                        start_s=round(int(ground_from) / UPFALL_FPS, 2),
                        end_s=round(int(n_frames) / UPFALL_FPS, 2),
                    )
                )
            clips.append(
                Clip(
                    name=f"upfall_{stem}_{cam}",
                    video=f"{DATA}/upfall_falls/{stem}{cam}.mp4",
                    config="configs/falls.yaml",
                    note=f"UP-Fall subject 1, {activity.split(' ', 1)[1]}, "
                    + ("frontal camera at chest height" if cam == "Cam1" else "elevated camera"),
                    expected=expected,
                )
            )
    return clips


def main() -> None:
    clips = [
        Clip(
            name="furg_house6",
            video=f"{DATA}/furg_fire/house6.mp4",
            config="configs/fire.yaml",
            note="FURG fire dataset: a burning doll's house outdoors, flames from the first frame",
            expected=[
                ExpectedSignal(
                    situation="fire_start", zone=None, start_s=0.0, end_s=FURG_DURATION_S
                )
            ],
        ),
        Clip(
            name="firesense_ground_fire",
            video=f"{DATA}/firesense_ground_fire/ground_fire.mp4",
            config="configs/fire.yaml",
            note="FIRESENSE (probably): a small ground fire with black smoke, fixed outdoor "
            "perimeter camera, a firefighter walking off; flames from the first frame",
            expected=[
                ExpectedSignal(
                    situation="fire_start", zone=None, start_s=0.0, end_s=FIRESENSE_DURATION_S
                )
            ],
        ),
        Clip(
            name="pets_s2l1_no_fire",
            video=f"{DATA}/pets2009_s2l1/vtest_PETS2009_S2L1_View001.avi",
            config="configs/fire.yaml",
            note="PETS 2009 S2L1 pedestrians: no fire",
        ),
        Clip(
            name="intel_car_park",
            video=f"{DATA}/intel_cars/car-detection.mp4",
            config="configs/fire.yaml",
            note="Intel car park lane, wet ground with reflections: no fire",
        ),
        *upfall_clips(),
    ]
    dump_truth(TruthFile(clips=clips), HERE / "real.yaml")
    print(f"wrote {HERE / 'real.yaml'}: {len(clips)} clips")


if __name__ == "__main__":
    main()
