from __future__ import annotations

from pathlib import Path

import pytest

from veilleur.config import ConfigError, json_schema, load_config, parse_config

ISSUE_EXAMPLE = """\
cameras:
  platform_3:
    source: rtsp://camera-12.example/stream2   # or a file path
    analysis_fps: 5
    zones:
      tracks: {polygon: [[0.05, 0.62], [0.95, 0.60], [0.95, 0.98], [0.05, 0.98]]}
      stairs: {polygon: [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5], [0.1, 0.5]], direction: [0, 1]}
    situations:
      zone_intrusion: {enabled: true, zones: [tracks], min_duration_s: 1.0}
      wrong_way: {enabled: true, zones: [stairs]}
      fire_start: {enabled: true}        # no zones: the whole image
"""


ZONED = "cameras:\n  a:\n    source: x\n    zones:\n"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(text)
    return p


def test_issue_example_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ISSUE_EXAMPLE))
    cam = cfg.cameras["platform_3"]
    assert cam.analysis_fps == 5
    assert cam.situations.zone_intrusion.enabled
    assert cam.situations.zone_intrusion.zones == ["tracks"]
    assert cam.situations.wrong_way.min_distance == pytest.approx(0.12)
    assert cam.zones["stairs"].direction == (0, 1)
    assert cfg.perception.detector == "auto"


def test_version_changes_with_configuration(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, ISSUE_EXAMPLE)).camera_version("platform_3")
    b = load_config(
        write(tmp_path, ISSUE_EXAMPLE.replace("min_duration_s: 1.0", "min_duration_s: 2.0"))
    )
    assert a != b.camera_version("platform_3")
    assert a == load_config(write(tmp_path, ISSUE_EXAMPLE)).camera_version("platform_3")


@pytest.mark.parametrize(
    ("text", "key", "line", "words"),
    [
        (
            "cameras:\n  a:\n    source: x.mp4\n    analysis_fps: -1\n",
            "cameras.a.analysis_fps",
            4,
            "greater than 0",
        ),
        (
            "cameras:\n  a:\n    source: x.mp4\n    colour: red\n",
            "cameras.a.colour",
            4,
            "unknown key",
        ),
        ("cameras:\n  a:\n    analysis_fps: 5\n", "cameras.a.source", 2, "required"),
        (
            ZONED + "      z: {polygon: [[0, 0], [1, 1]]}\n",
            "cameras.a.zones.z.polygon",
            5,
            "at least 3 points",
        ),
        (
            ZONED + "      z: {polygon: [[0, 0], [1, 1], [1, 0], [0, 1]]}\n",
            "cameras.a.zones.z.polygon",
            5,
            "not a simple shape",
        ),
        (
            ZONED + "      z: {polygon: [[0, 0], [1.5, 0], [1, 1]]}\n",
            "cameras.a.zones.z.polygon",
            5,
            "outside the image",
        ),
        (
            ZONED + "      z: {polygon: [[0, 0], [1, 0], [1, 1]]}\n"
            "    situations:\n      zone_intrusion: {enabled: true, zones: [y]}\n",
            "cameras.a",
            2,
            "'y', which is not a zone",
        ),
        (
            ZONED + "      z: {polygon: [[0, 0], [1, 0], [1, 1]]}\n"
            "    situations:\n      wrong_way: {enabled: true, zones: [z]}\n",
            "cameras.a",
            2,
            "no allowed direction",
        ),
        ("cameras: {}\n", "cameras", 1, "no camera"),
        (
            "cameras:\n  a:\n    source: x\n"
            "    situations:\n      excessive_density: {enabled: true}\n",
            "cameras.a",
            2,
            "give max_people",
        ),
    ],
)
def test_errors_name_file_key_line_and_fix(
    tmp_path: Path, text: str, key: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert any(
        p.key == key and p.line == line and words in p.message for p in info.value.problems
    ), message


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "cameras:\n  a:\n    source: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not valid YAML" in str(info.value)
    assert info.value.problems[0].line is not None


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="YAML mapping"):
        parse_config(["a"], "x.yaml")


def test_calibration_needs_four_matching_points() -> None:
    base = {
        "cameras": {
            "a": {
                "source": "x",
                "calibration": {
                    "image_points": [[0, 0], [1, 0], [1, 1]],
                    "ground_points": [[0, 0], [1, 0], [1, 1]],
                },
            }
        }
    }
    with pytest.raises(ConfigError, match="at least 4 point pairs"):
        parse_config(base)
    base["cameras"]["a"]["calibration"] = {
        "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
        "ground_points": [[0, 0], [1, 0]],
    }
    with pytest.raises(ConfigError, match="one ground point per image point"):
        parse_config(base)


def test_every_field_has_a_description() -> None:
    schema = json_schema()
    missing = []
    for name, definition in schema.get("$defs", {}).items():
        for field, spec in definition.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{field}")
    for field, spec in schema["properties"].items():
        if "description" not in spec:
            missing.append(field)
    assert not missing, missing


def test_committed_schema_is_up_to_date() -> None:
    import json

    committed = Path(__file__).resolve().parents[2] / "docs" / "config.schema.json"
    fix = "veilleur config schema --out docs/config.schema.json"
    assert json.loads(committed.read_text()) == json_schema(), f"stale schema: run `{fix}`"
