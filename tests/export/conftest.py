"""The export tests reuse the inference tests' small trained bundle (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference.bundles import shared_trained_bundle


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_trained_bundle(tmp_path_factory)
