"""The situation registry: one record per situation, from which the configuration, the console,
the documents and the evaluation report derive (issue 13, part 3).

The last test is the issue's "done when": a throwaway situation, written as its two modules
(analysis and parameters) in a temporary folder and registered there, appears everywhere the
product names situations, without any file of the product being edited. It runs in a fresh
interpreter, because registration is closed once the configuration model is built (as it is
in this one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import veilleur
from veilleur.compliance.documents.common import DECREE_WORDING, situation_rows
from veilleur.config import SITUATION_IDS, ConfigError, SituationConfig, parse_config
from veilleur.config.model import SituationsConfig
from veilleur.config.situations import SituationInfo, all_situations, get, register
from veilleur.config.situations.registry import RegistryClosed
from veilleur.evaluation.matrix import SHORT
from veilleur.evaluation.report import COLOURS
from veilleur.situations import IMPLEMENTED
from veilleur.web.pages import SITUATION_LABELS

REPO = Path(__file__).resolve().parents[2]

#: Decree 2023-828 art. 3, in its order.
DECREE = (
    "abandoned_object",
    "weapon",
    "wrong_way",
    "zone_intrusion",
    "person_on_ground",
    "crowd_movement",
    "excessive_density",
    "fire_start",
)


def test_the_product_registers_the_decrees_eight_in_its_order() -> None:
    assert tuple(i.id for i in all_situations()) == DECREE
    assert SITUATION_IDS == DECREE
    assert tuple(SituationsConfig.model_fields) == DECREE
    assert tuple(SITUATION_LABELS) == tuple(COLOURS) == tuple(SHORT) == DECREE
    assert tuple(DECREE_WORDING) == DECREE
    assert {i.id for i in all_situations() if i.needs_zone} == {
        "wrong_way",
        "zone_intrusion",
        "crowd_movement",
    }
    assert {i.id for i in all_situations() if i.needs_pose} == {"weapon", "person_on_ground"}
    # What used to be kept by hand beside each module now reads the record.
    for info in all_situations():
        field = SituationsConfig.model_fields[info.id]
        assert field.annotation is info.config and field.description == info.description
        assert IMPLEMENTED[info.id].needs_pose is info.needs_pose
        assert [r["decree"] for r in situation_rows([info.id])] == [info.decree_wording]
    assert get("fire_start").decree_wording == "départs de feux"
    with pytest.raises(KeyError, match="unknown situation 'loitering'"):
        get("loitering")


def test_a_situation_registered_after_the_list_was_read_is_refused() -> None:
    late = SituationInfo(
        id="late",
        config=SituationConfig,
        description="Too late.",
        decree_wording="aucune",
        label="Late",
        short="late",
        colour="#000000",
    )
    with pytest.raises(RegistryClosed, match="register it while the program is imported"):
        register(late)
    assert "late" not in SITUATION_IDS and "late" not in SituationsConfig.model_fields


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Fire Start"}, "lower-case identifier"),
        ({"colour": "red"}, "is not #rrggbb"),
        ({"label": " "}, "label is empty"),
        ({"config": dict}, "SituationConfig subclass"),
    ],
)
def test_a_malformed_record_is_refused_where_it_is_written(
    change: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "id": "odd",
        "config": SituationConfig,
        "description": "Odd.",
        "decree_wording": "aucune",
        "label": "Odd",
        "short": "odd",
        "colour": "#abcdef",
    }
    with pytest.raises((ValueError, TypeError), match=message):
        SituationInfo(**{**fields, **change})  # type: ignore[arg-type]


def test_a_failed_camera_check_reads_as_before() -> None:
    # The two checks that moved from config/model.py into their situations' records.
    base = {"source": "x.mp4", "zones": {"a": {"polygon": [[0, 0], [1, 0], [1, 1]]}}}
    wrong_way = {**base, "situations": {"wrong_way": {"enabled": True, "zones": ["a"]}}}
    with pytest.raises(ConfigError, match="watches zone 'a', which has no allowed direction"):
        parse_config({"cameras": {"c": wrong_way}})
    density = {**base, "situations": {"excessive_density": {"enabled": True}}}
    with pytest.raises(ConfigError, match="excessive_density is enabled but has no limit"):
        parse_config({"cameras": {"c": density}})


def _table_rows(path: Path) -> dict[str, list[str]]:
    """Cells of the Markdown table rows whose first cell is a situation id in backquotes."""
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells[0].strip("`") in DECREE:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_docs_say_what_the_records_say() -> None:
    index = _table_rows(REPO / "docs" / "situations" / "README.md")
    assert list(index) == list(DECREE)
    yes_no = {True: "yes", False: "no"}
    for info in all_situations():
        label, decree, zone, pose, _page = index[info.id]
        assert (label, decree) == (info.label, info.decree_wording)
        assert (zone, pose) == (yes_no[info.needs_zone], yes_no[info.needs_pose])
    configuration = _table_rows(REPO / "docs" / "configuration.md")
    assert list(configuration) == list(DECREE)
    for sid, (_page, zone) in configuration.items():
        assert (zone != "no") is get(sid).needs_zone, sid


THROWAWAY_CONFIG = '''
"""Parameters of `throwaway`: what a ninth situation's config module would hold."""

from __future__ import annotations

from pydantic import Field

from veilleur.config.common import SituationConfig
from veilleur.config.situations import SituationInfo, register


class ThrowawayConfig(SituationConfig):
    """`throwaway`: registered by a test only."""

    max_wait_s: float = Field(default=5.0, gt=0, description="Longest wait, in seconds.")


def check_camera(situation, camera):
    if camera.calibration is None:
        raise ValueError("situations.throwaway needs the camera's calibration")


INFO = register(
    SituationInfo(
        id="throwaway",
        config=ThrowawayConfig,
        description="Something registered by a test only.",
        decree_wording="situation d'essai, enregistrée par un test",
        label="Throwaway thing",
        short="throwaway",
        colour="#123456",
        needs_zone=True,
        needs_pose=True,
        camera_check=check_camera,
    )
)
'''

THROWAWAY_ANALYSIS = '''
"""Analysis of `throwaway`: what a ninth situation's module in situations/ would hold."""

from veilleur.situations.base import Situation


class Throwaway(Situation):
    id = "throwaway"
    known_limits = "Throwaway: registered by a test only; it never raises a signal."

    def update(self, scene):
        return []
'''

DRIVER = '''
import importlib.abc
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


class AnalysisModule(importlib.abc.MetaPathFinder):
    """Serves veilleur/situations/throwaway.py from this folder, as if the file were there."""

    def find_spec(self, name, path, target=None):
        if name == "veilleur.situations.throwaway":
            return importlib.util.spec_from_file_location(name, HERE / "throwaway_analysis.py")
        return None


sys.meta_path.insert(0, AnalysisModule())
import throwaway_config  # noqa: E402  (registers the situation, as its own module does)

# From here on: the product's code, unchanged.
from api_helpers import make_env, password  # noqa: E402

from veilleur.compliance.documents import Sources, technical_markdown  # noqa: E402
from veilleur.compliance.documents.common import DECREE_WORDING, situation_rows  # noqa: E402
from veilleur.config.server import RetentionSettings  # noqa: E402
from veilleur.config import SITUATION_IDS, ConfigError, json_schema, parse_config  # noqa: E402
from veilleur.evaluation import matrix, report  # noqa: E402
from veilleur.situations import IMPLEMENTED, enabled_situations  # noqa: E402
from veilleur.store import upgrade  # noqa: E402

out = {"ids": list(SITUATION_IDS)}
schema = json_schema()
out["schema_field"] = schema["$defs"]["SituationsConfig"]["properties"]["throwaway"]
out["schema_params"] = sorted(schema["$defs"]["ThrowawayConfig"]["properties"])

zone = {"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
calibration = {
    "image_points": [[0, 0], [1, 0], [1, 1], [0, 1]],
    "ground_points": [[0, 0], [10, 0], [10, 10], [0, 10]],
}


def camera(situation, **extra):
    cam = {"source": "x.mp4", "zones": {"lawn": zone}, "situations": {"throwaway": situation}}
    return {"cameras": {"plaza": {**cam, **extra}}}


site = parse_config(
    camera({"enabled": True, "zones": ["lawn"], "max_wait_s": 7}, calibration=calibration)
)
cam = site.cameras["plaza"]
out["parsed"] = cam.situations.throwaway.max_wait_s
out["items"] = [name for name, _ in cam.situations.items()]
out["analysed"] = [cls.__name__ for cls, _ in enabled_situations(cam, "plaza")]
out["needs_pose"] = IMPLEMENTED["throwaway"].needs_pose
errors = {}
for name, config in {
    "unknown_key": camera({"enabled": True, "zones": ["lawn"], "max_wiat_s": 1}),
    "no_zone": camera({"enabled": True}, calibration=calibration),
    "camera_check": camera({"enabled": True, "zones": ["lawn"]}),
}.items():
    try:
        parse_config(config)
    except ConfigError as exc:
        errors[name] = str(exc)
out["errors"] = errors

out["decree"] = DECREE_WORDING["throwaway"]
out["rows"] = situation_rows(["throwaway", "weapon"])
out["report_colour"] = report.COLOURS["throwaway"]
empty = {
    "clips": 0, "hours": 0.0, "signals": 0, "true_signals": 0, "false_alarms": 0, "found": 0,
    "expected": 0, "false_alarms_per_camera_hour": None,
}
tables = matrix.matrix_tables({"clips": [], "situations": {s: empty for s in SITUATION_IDS}})
out["matrix_header"], out["matrix_situations"] = tables[0], [r[0] for r in tables[2]]

data = Path(sys.argv[1])
data.mkdir()
url = f"sqlite:///{data / 'veilleur.db'}"
upgrade(url)
env_iter = make_env(url, data)
env = next(env_iter)
env.signal("plaza", "throwaway")
operator = env.client("operator")
out["signals_page"] = operator.get("/signals").text
with env.sessions() as db:
    out["technical"] = technical_markdown(db, Sources(retention=RetentionSettings()))
env_iter.close()
print("RESULT " + json.dumps(out))
'''


def test_a_throwaway_situation_touches_only_its_module_and_its_config(tmp_path: Path) -> None:
    (tmp_path / "throwaway_config.py").write_text(textwrap.dedent(THROWAWAY_CONFIG))
    (tmp_path / "throwaway_analysis.py").write_text(textwrap.dedent(THROWAWAY_ANALYSIS))
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    env = dict(os.environ)
    # The same veilleur as this process's, the test's helpers, and the throwaway's modules.
    source = Path(veilleur.__file__).resolve().parents[1]
    paths = [str(tmp_path), str(REPO / "tests" / "unit"), str(source)]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line.removeprefix("RESULT "))

    # Configuration: the ids, the model, the schema, validation and its messages.
    assert out["ids"] == [*DECREE, "throwaway"]
    assert out["schema_field"]["description"] == "Something registered by a test only."
    assert out["schema_params"] == [
        "cooldown_s",
        "enabled",
        "max_wait_s",
        "min_confidence",
        "min_duration_s",
        "zones",
    ]
    assert out["parsed"] == 7
    assert out["items"] == [*DECREE, "throwaway"]
    assert "situations.throwaway.max_wiat_s" in out["errors"]["unknown_key"]
    assert "situations.throwaway is enabled but names no zone" in out["errors"]["no_zone"]
    assert "situations.throwaway needs the camera's calibration" in out["errors"]["camera_check"]
    # Analysis: found by its module name, pose need from the record.
    assert out["analysed"] == ["Throwaway"] and out["needs_pose"] is True
    # Console: the filter's option, the card's label, and what console.js reads.
    page = out["signals_page"]
    assert '<option value="throwaway" >Throwaway thing</option>' in page
    assert page.count("Throwaway thing") >= 2  # the filter and the signal's card
    attribute = page.split("data-situations='", 1)[1].split("'", 1)[0]
    console = json.loads(attribute.replace("&#34;", '"').replace("&quot;", '"'))
    assert console["throwaway"] == {"label": "Throwaway thing", "colour": "#123456"}
    assert set(console) == {*DECREE, "throwaway"}
    # Documents: the decree's wording, the plain label, the known limits, in the right order.
    assert out["decree"] == "situation d'essai, enregistrée par un test"
    assert [r["id"] for r in out["rows"]] == ["weapon", "throwaway"]
    assert out["rows"][1]["label"] == "Something registered by a test only"
    assert "situation d'essai, enregistrée par un test" in out["technical"]
    assert "registered by a test only; it never raises a signal" in out["technical"]
    # Evaluation report: its colour and its column.
    assert out["report_colour"] == "#123456"
    assert out["matrix_header"][-1] == "throwaway"
    assert out["matrix_situations"] == [*DECREE, "throwaway"]
