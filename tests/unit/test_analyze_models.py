"""`veilleur analyze` says which detector runs and on what, and warns plainly when `auto`
falls back to the pose model because YOLOX-nano's file is nowhere (issue 11: it used to fall
back silently, and cost twice the CPU)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from veilleur.cli import app


def _clip(path: Path, frames: int = 6) -> Path:
    """A tiny H.264 clip: a grey picture with a moving block, 5 fps."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 160, 128, "yuv420p"
        for i in range(frames):
            img = np.full((128, 160, 3), 90, dtype=np.uint8)
            img[40:90, 10 + 10 * i : 40 + 10 * i] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _config(tmp_path: Path, video: Path, perception: dict[str, object]) -> Path:
    config = {
        "perception": perception,
        "cameras": {"cam": {"source": str(video), "analysis_fps": 5}},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def no_yolox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nowhere to find YOLOX-nano: no models folder, no per-model variable, an empty cache."""
    monkeypatch.delenv("VEILLEUR_MODELS_DIR", raising=False)
    monkeypatch.delenv("VEILLEUR_MODEL_YOLOX_NANO", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_analyze_warns_when_it_falls_back_to_the_pose_model(tmp_path: Path, no_yolox: None) -> None:
    video = _clip(tmp_path / "clip.mp4")
    config = _config(tmp_path, video, {"detector": "auto"})
    result = CliRunner().invoke(
        app, ["analyze", str(video), "-c", str(config), "-o", str(tmp_path / "s.jsonl"),
              "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "detector: movenet-multipose (LiteRT" in text
    assert "WARNING: yolox-nano was not found (VEILLEUR_MODELS_DIR is not set" in text
    assert "falling back to the pose model movenet-multipose" in text


def test_analyze_names_the_detector_and_its_runtime_without_a_warning(
    tmp_path: Path, yolox_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEILLEUR_MODELS_DIR", str(yolox_path.parent))
    video = _clip(tmp_path / "clip.mp4")
    config = _config(tmp_path, video, {"detector": "auto", "runtime": "onnxruntime"})
    result = CliRunner().invoke(
        app, ["analyze", str(video), "-c", str(config), "-o", str(tmp_path / "s.jsonl"),
              "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "detector: yolox-nano (onnxruntime fp32, 1 thread(s))" in text
    assert "WARNING" not in text


def test_an_explicit_movenet_is_not_a_fallback(tmp_path: Path, no_yolox: None) -> None:
    video = _clip(tmp_path / "clip.mp4")
    config = _config(tmp_path, video, {"detector": "movenet-multipose"})
    result = CliRunner().invoke(
        app, ["analyze", str(video), "-c", str(config), "-o", str(tmp_path / "s.jsonl"),
              "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "detector: movenet-multipose (LiteRT" in text
    assert "WARNING" not in text
