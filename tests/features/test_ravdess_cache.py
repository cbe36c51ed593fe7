"""A second feature run over the whole of RAVDESS comes from the cache (issue: foundation, done-when)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.conftest import dataset_root
from voxemo.corpora import load_corpus
from voxemo.features import extract_with_report, get_extractor


@pytest.mark.corpus
def test_second_ravdess_run_hits_the_cache(tmp_path):
    table = load_corpus("ravdess", dataset_root("ravdess"))
    assert len(table) == 1440
    extractor = get_extractor("mfcc-stats")
    cold = extract_with_report(table.path, extractor, cache_dir=tmp_path, progress=False)
    assert cold.computed == 1440 and cold.cache_hits == 0

    start = time.perf_counter()
    warm = extract_with_report(table.path, extractor, cache_dir=tmp_path, progress=False)
    warm_s = time.perf_counter() - start
    assert warm.cache_hits == 1440 and warm.computed == 0
    assert all(np.array_equal(a, b) for a, b in zip(cold.arrays, warm.arrays, strict=True))
    assert warm_s < 10.0, f"warm run took {warm_s:.1f} s; the cache should make it near-instant"
