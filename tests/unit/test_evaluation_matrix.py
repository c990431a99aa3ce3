"""The matrix of every situation on every real clip (evaluation/matrix.py): clips sharing a video
merged, their truth united, every situation enabled that can run, and the cells read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from veilleur.config import load_config
from veilleur.config.common import SITUATION_IDS
from veilleur.evaluation.matrix import (
    MATRIX_DIR,
    MATRIX_MAX_PEOPLE,
    NO_ZONE,
    WHOLE_IMAGE,
    matrix_markdown,
    matrix_summary,
    merge_expected,
    paste_into,
    plan_matrix,
)
from veilleur.evaluation.metrics import ClipOutcome
from veilleur.evaluation.report import write_report
from veilleur.evaluation.truth import Clip, ExpectedSignal, TruthFile
from veilleur.types import Signal

pytest_plugins = ["db_fixtures"]

ZONED = {
    "perception": {"detector": "yolox-nano"},
    "cameras": {
        "pets": {
            "source": "clip",
            "analysis_fps": 5,
            "zones": {
                "lawn": {"polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]},
                "path": {"polygon": [[0, 0], [1, 0], [1, 0.5], [0, 0.5]], "direction": [1, 0]},
            },
            "situations": {
                "zone_intrusion": {"enabled": True, "zones": ["lawn"], "cooldown_s": 0},
                "wrong_way": {"enabled": True, "zones": ["path"]},
            },
        }
    },
}
FIRE = {"cameras": {"cam": {"source": "clip", "situations": {"fire_start": {"enabled": True}}}}}
FALLS = {
    "cameras": {
        "cam": {
            "source": "clip",
            "situations": {"person_on_ground": {"enabled": True, "min_duration_s": 2.0}},
        }
    }
}


def _exp(situation: str, start: float, end: float, **kw: object) -> ExpectedSignal:
    return ExpectedSignal(situation=situation, start_s=start, end_s=end, **kw)  # type: ignore[arg-type]


def _sig(situation: str, start: float, end: float, zone: str | None = None) -> Signal:
    return Signal(situation, "cam", zone, start, end, 0, (0.1, 0.1, 0.2, 0.2), 0.9, "m", "v")


def _truths(tmp_path: Path) -> list[tuple[TruthFile, Path]]:
    for name, data in (("zoned", ZONED), ("fire", FIRE), ("falls", FALLS)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(data))
    real = TruthFile(
        clips=[
            Clip(name="plaza_no_fire", video="plaza.avi", config="fire.yaml"),
            Clip(
                name="fall", video="fall.mp4", config="falls.yaml",
                expected=[_exp("person_on_ground", 3.0, 8.0)],
            ),
            Clip(name="made_up", video="gen.mp4", config="fire.yaml", synthetic=True),
        ]
    )  # fmt: skip
    zoned = TruthFile(
        clips=[
            Clip(
                name="plaza", video="plaza.avi", config="zoned.yaml", camera="pets",
                expected=[_exp("zone_intrusion", 1.0, 5.0, zone="lawn")],
            ),
        ]
    )  # fmt: skip
    return [(real, tmp_path), (zoned, tmp_path)]


def test_clips_sharing_a_video_are_one_camera_with_every_situation_that_can_run(
    tmp_path: Path,
) -> None:
    plan = plan_matrix(_truths(tmp_path), tmp_path / "out")
    by = {m.clip.name: m for m in plan.clips}
    # The synthetic clip is left out; the plaza is one clip named after its main truth.
    assert sorted(by) == ["fall", "plaza"]
    plaza, fall = by["plaza"], by["fall"]
    assert plaza.sources == ["0:plaza_no_fire", "1:plaza"]
    assert [e.situation for e in plaza.clip.expected] == ["zone_intrusion"]

    site = load_config(plaza.clip.config)
    cam = site.cameras["cam"]
    assert {n for n, s in cam.situations.items() if s.enabled} == set(SITUATION_IDS)
    assert plaza.not_run == {}
    # The zoned entry's own settings are kept, the others come at their defaults.
    assert cam.situations.zone_intrusion.cooldown_s == 0
    assert cam.situations.zone_intrusion.zones == ["lawn"]
    assert site.perception.detector == "yolox-nano"
    assert cam.situations.crowd_movement.zones == [WHOLE_IMAGE]
    assert cam.situations.excessive_density.max_people == MATRIX_MAX_PEOPLE

    site = load_config(fall.clip.config)
    cam = site.cameras["cam"]
    assert cam.situations.person_on_ground.min_duration_s == 2.0
    assert fall.not_run == {"zone_intrusion": NO_ZONE, "wrong_way": NO_ZONE}
    assert not cam.situations.zone_intrusion.enabled and not cam.situations.wrong_way.enabled
    assert cam.situations.weapon.enabled and cam.situations.fire_start.enabled


def test_the_same_event_named_twice_is_counted_once() -> None:
    a = [_exp("fire_start", 0.0, 29.99), _exp("zone_intrusion", 1.0, 2.0, zone="a")]
    b = [
        _exp("fire_start", 0.0, 30.0, optional=True),
        _exp("zone_intrusion", 1.5, 2.5, zone="b"),  # another zone: another event
        _exp("fire_start", 40.0, 50.0),  # later: another fire
    ]
    merged = merge_expected([a, b])
    assert [(e.situation, e.zone, e.start_s, e.end_s, e.optional) for e in merged] == [
        ("fire_start", None, 0.0, 30.0, False),
        ("zone_intrusion", "a", 1.0, 2.0, False),
        ("zone_intrusion", "b", 1.5, 2.5, False),
        ("fire_start", None, 40.0, 50.0, False),
    ]


def test_cells_count_signals_true_and_false_alarms_per_situation(tmp_path: Path) -> None:
    plan = plan_matrix(_truths(tmp_path), tmp_path / "out")
    fall = next(m for m in plan.clips if m.clip.name == "fall")
    plaza = next(m for m in plan.clips if m.clip.name == "plaza")
    enabled = [s for s in SITUATION_IDS if s not in fall.not_run]
    o_fall = ClipOutcome(
        "fall", 9.0, False, enabled,
        [_sig("person_on_ground", 3.0, 5.0), _sig("person_on_ground", 6.0, 7.0),
         _sig("fire_start", 1.0, 2.0), _sig("excessive_density", 0.0, 5.0)],
        list(fall.clip.expected),
    ).match()  # fmt: skip
    o_plaza = ClipOutcome(
        "plaza", 27.0, False, list(SITUATION_IDS), [_sig("zone_intrusion", 1.0, 2.0, "lawn")],
        list(plaza.clip.expected),
    ).match()  # fmt: skip
    summary = matrix_summary(plan, [o_fall, o_plaza])
    rows = {r["clip"]: r["cells"] for r in summary["clips"]}
    assert rows["fall"]["person_on_ground"] == {
        "signals": 2, "true_signals": 2, "false_alarms": 0, "expected": 1, "found": 1,
    }  # fmt: skip
    assert rows["fall"]["fire_start"]["false_alarms"] == 1
    assert rows["fall"]["zone_intrusion"] == {"not_run": NO_ZONE}
    assert rows["plaza"]["zone_intrusion"]["true_signals"] == 1

    fire = summary["situations"]["fire_start"]
    assert fire["clips"] == 2 and fire["false_alarms"] == 1
    assert fire["false_alarms_per_camera_hour"] == 1 / ((9.0 + 27.0) / 3600)
    intrusion = summary["situations"]["zone_intrusion"]
    assert intrusion["clips"] == 1 and intrusion["false_alarms_per_camera_hour"] == 0.0

    md = matrix_markdown(summary)
    assert "| fall | 9 | 0/0/0 | 0/0/0 | – (no zone) | – (no zone) | 2/2/0 (1/1 found) |" in md
    assert "**1/0/1**" in md  # fire and density on the fall: false alarms, in bold
    assert "| fire_start | 2 | 0.6 | 1 | 0 | 1 | – | 100.0 |" in md

    write_report([o_fall, o_plaza], {}, tmp_path / "eval", matrix=summary)
    assert (tmp_path / "eval" / "matrix.md").read_text() == md
    assert md in (tmp_path / "eval" / "report.md").read_text()
    figures = json.loads((tmp_path / "eval" / "figures.json").read_text())
    assert figures["matrix"]["situations"]["fire_start"]["false_alarms"] == 1


def test_the_technical_file_shows_the_matrix(tmp_path: Path, db_session: Session) -> None:
    from veilleur.compliance import documents
    from veilleur.config.server import RetentionSettings

    plan = plan_matrix(_truths(tmp_path), tmp_path / "out")
    fall = next(m for m in plan.clips if m.clip.name == "fall")
    enabled = [s for s in SITUATION_IDS if s not in fall.not_run]
    outcome = ClipOutcome(
        "fall", 9.0, False, enabled, [_sig("fire_start", 1.0, 2.0)], list(fall.clip.expected)
    ).match()
    write_report([outcome], {}, tmp_path / "eval", matrix=matrix_summary(plan, [outcome]))
    src = documents.Sources(retention=RetentionSettings(), evaluation=tmp_path / "eval")
    md = documents.technical_markdown(db_session, src)
    assert "### Every situation on every real clip" in md
    assert "| fire_start | 1 | 0.1 | 1 | 0 | 1 | – | 400.0 |" in md
    assert "| fall | 9 | 0/0/0 | 0/0/0 | – (no zone) | – (no zone) | 0/0/0 (0/1 found) |" in md
    html = documents.technical_html(db_session, src)
    assert 'id="technical-matrix"' in html and 'id="technical-matrix-situations"' in html
    assert "400.0" in html

    # A run without --all-situations has no matrix, and the file says nothing of one.
    write_report([outcome], {}, tmp_path / "plain")
    src = documents.Sources(retention=RetentionSettings(), evaluation=tmp_path / "plain")
    assert "Every situation" not in documents.technical_markdown(db_session, src)


def test_evaluate_all_situations_writes_the_matrix(tmp_path: Path) -> None:
    """`veilleur evaluate --all-situations`: one real clip named by two truth files is analysed
    once with every situation; a synthetic clip keeps its own configuration."""
    from test_runtime_source import write_clip
    from typer.testing import CliRunner

    from veilleur.cli import app

    write_clip(tmp_path / "walk.mp4", seconds=2)
    (tmp_path / "fire.yaml").write_text(yaml.safe_dump(FIRE))
    (tmp_path / "falls.yaml").write_text(yaml.safe_dump(FALLS))
    for name, config in (("a", "fire.yaml"), ("b", "falls.yaml")):
        truth = {"clips": [{"name": name, "video": "walk.mp4", "config": config}]}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(truth))
    made = {"clips": [{"name": "made", "video": "walk.mp4", "config": "fire.yaml",
                       "synthetic": True}]}  # fmt: skip
    (tmp_path / "made.yaml").write_text(yaml.safe_dump(made))
    out = tmp_path / "out"
    args = ["evaluate", "--all-situations", "--jobs", "1", "--out", str(out)]
    for name in ("a", "b", "made"):
        args += ["--truth", str(tmp_path / f"{name}.yaml")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads((out / "figures.json").read_text())
    assert figures["clips"] == 2  # the real clip once, the synthetic one
    [row] = figures["matrix"]["clips"]
    assert row["clip"] == "a" and row["sources"] == ["0:a", "1:b"] and row["error"] is None
    zoned = {"zone_intrusion", "wrong_way"}
    assert all(row["cells"][s] == {"not_run": NO_ZONE} for s in zoned)
    assert all("signals" in row["cells"][s] for s in set(SITUATION_IDS) - zoned)
    assert "| a | 2 |" in (out / "matrix.md").read_text()
    assert (out / MATRIX_DIR / "a.yaml").is_file()


def test_the_matrix_is_pasted_between_the_markers_of_the_doc() -> None:
    doc = "# E\n\ntext\n<!-- matrix:begin (paste) -->\nold\ntable\n<!-- matrix:end -->\nafter\n"
    md = "## Every situation on every real clip\n\nintro\n\n| a |\n|---|\n"
    new = paste_into(doc, md)
    assert new == "# E\n\ntext\n<!-- matrix:begin (paste) -->\nintro\n\n| a |\n|---|\n" + (
        "<!-- matrix:end -->\nafter\n"
    )
    assert paste_into(new, md) == new
    with pytest.raises(ValueError, match="markers"):
        paste_into("# E\n", md)
