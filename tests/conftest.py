"""Shared fixtures: where the real footage and model files are.

Real footage and models live in ../shared beside the repository (or where VEILLEUR_SHARED points)
and are read by path, never copied. Outside CI a test that needs them skips when they are absent;
under CI (CI=true) their absence is a failure, so a broken checkout cannot pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VEILLEUR_SHARED", REPO.parent / "shared"))


def _need(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{path} is missing; CI must run with ../shared beside the repository")
    pytest.skip(f"{path} is absent (set VEILLEUR_SHARED to the shared folder)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED / "data")


@pytest.fixture(scope="session")
def shared_models() -> Path:
    return _need(SHARED / "models")


@pytest.fixture(scope="session")
def pets_dir(shared_data: Path) -> Path:
    return _need(shared_data / "pets2009_s2l1")


@pytest.fixture(scope="session")
def yolox_path(shared_models: Path) -> Path:
    return _need(shared_models / "yolox-nano" / "yolox_nano_416x416.onnx")


@pytest.fixture(scope="session")
def nanodet_path(shared_models: Path) -> Path:
    return _need(shared_models / "nanodet-m" / "nanodet_m_416.onnx")
