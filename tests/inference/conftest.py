"""Fixtures: a small trained bundle shared by every inference test of the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference.bundles import shared_trained_bundle


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_trained_bundle(tmp_path_factory)


@pytest.fixture(scope="session")
def recognizer(trained_bundle: Path):
    from voxemo.inference import load_model

    return load_model(trained_bundle)
