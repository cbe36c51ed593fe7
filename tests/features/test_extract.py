"""extract_many: order, worker processes, the disk cache, error policies and saving."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SR, speechlike
from voxemo.errors import AudioError, FeatureError
from voxemo.features import (
    FeatureExtractor,
    extract_many,
    extract_with_report,
    get_extractor,
    load_features,
    register_feature,
    save_features,
)
from voxemo.features import extract as extract_module


@register_feature("test-counting")
class CountingExtractor(FeatureExtractor):
    """RMS and peak of the signal; counts its calls (in this process) to prove cache hits."""

    level = "utterance"
    description = "test helper"
    calls = 0

    @dataclasses.dataclass
    class Config(FeatureExtractor.Config):
        scale: float = 1.0

    def compute(self, x: np.ndarray) -> np.ndarray:
        type(self).calls += 1
        return self.config.scale * np.array([np.sqrt(np.mean(x**2)), np.abs(x).max()])

    def feature_names(self) -> list[str]:
        return ["rms", "peak"]


@pytest.fixture
def wav_files(tmp_path: Path) -> list[Path]:
    paths = []
    for seed in range(4):
        path = tmp_path / f"clip{seed}.wav"
        sf.write(path, speechlike(0.6 + 0.1 * seed, seed=seed), SR)
        paths.append(path)
    return paths


@pytest.fixture
def counting() -> type[CountingExtractor]:
    CountingExtractor.calls = 0
    return CountingExtractor


def test_results_follow_input_order(wav_files: list[Path], tmp_path: Path, counting) -> None:
    out = extract_many(wav_files, counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    durations = [sf.info(p).frames for p in wav_files]
    assert [a.shape for a in out] == [(2,)] * 4
    assert len(set(durations)) == 4
    expected_peaks = [np.abs(sf.read(p, dtype="float32")[0]).max() for p in wav_files]
    np.testing.assert_allclose([a[1] for a in out], expected_peaks, rtol=1e-6)


def test_second_run_is_served_from_the_cache(wav_files: list[Path], tmp_path: Path, counting) -> None:
    first = extract_many(wav_files, counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert counting.calls == 4
    report = extract_with_report(wav_files, counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert counting.calls == 4, "the extractor ran again although every file was cached"
    assert report.cache_hits == 4 and report.computed == 0
    for a, b in zip(first, report.arrays, strict=True):
        np.testing.assert_array_equal(a, b)


def test_default_cache_dir_comes_from_the_environment(wav_files, tmp_path, monkeypatch, counting) -> None:
    monkeypatch.setenv("VOXEMO_CACHE", str(tmp_path / "env-cache"))
    extract_many(wav_files[:1], counting(), n_jobs=1, progress=False)
    assert list((tmp_path / "env-cache" / "features").glob("test-counting-*/*/*.npy"))


def test_changed_content_or_config_misses_the_cache(wav_files, tmp_path, counting) -> None:
    cache = tmp_path / "c"
    extract_many(wav_files, counting(), cache_dir=cache, n_jobs=1, progress=False)
    sf.write(wav_files[0], speechlike(0.65, seed=99), SR)  # same path, new content (and size)
    extract_many(wav_files, counting(), cache_dir=cache, n_jobs=1, progress=False)
    assert counting.calls == 5
    doubled = extract_many(wav_files, counting(scale=2.0), cache_dir=cache, n_jobs=1, progress=False)
    assert counting.calls == 9
    single = extract_many(wav_files, counting(), cache_dir=cache, n_jobs=1, progress=False)
    np.testing.assert_allclose(doubled[2], 2 * single[2], rtol=1e-6)
    assert counting.calls == 9


def test_identical_content_under_another_name_is_a_hit(wav_files, tmp_path, counting) -> None:
    extract_many(wav_files[:1], counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    copy = tmp_path / "renamed.wav"
    copy.write_bytes(wav_files[0].read_bytes())
    extract_many([copy], counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert counting.calls == 1


def test_unchanged_files_are_not_hashed_again(wav_files, tmp_path, counting, monkeypatch) -> None:
    extract_many(wav_files, counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    hashed = []
    real = extract_module.file_sha256
    monkeypatch.setattr(extract_module, "file_sha256", lambda p: hashed.append(p) or real(p))
    extract_many(wav_files, counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert hashed == []


@pytest.mark.parametrize("damage", [b"", b"not a numpy file", b"\x93NUMPY garbage"])
def test_a_corrupt_cache_entry_is_recomputed(wav_files, tmp_path, counting, damage: bytes, caplog) -> None:
    cache = tmp_path / "c"
    good = extract_many(wav_files, counting(), cache_dir=cache, n_jobs=1, progress=False)
    entries = sorted((cache / "features").glob("test-counting-*/*/*.npy"))
    assert len(entries) == 4
    entries[0].write_bytes(damage)
    with caplog.at_level(logging.WARNING, logger="voxemo.features"):
        again = extract_many(wav_files, counting(), cache_dir=cache, n_jobs=1, progress=False)
    assert counting.calls == 5
    for a, b in zip(good, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.load(entries[0]).shape == (2,)  # rewritten


def test_parallel_equals_serial(wav_files: list[Path]) -> None:
    extractor = get_extractor("mfcc-stats")
    serial = extract_many(wav_files, extractor, n_jobs=1, progress=False, use_cache=False)
    parallel = extract_many(wav_files, extractor, n_jobs=2, progress=False, use_cache=False)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_parallel_workers_fill_the_cache(wav_files, tmp_path, counting) -> None:
    extract_many(wav_files, counting(), cache_dir=tmp_path / "c", n_jobs=2, progress=False)
    assert counting.calls == 0  # computed in the workers
    extract_many(wav_files, counting(), cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert counting.calls == 0  # and stored by them


def test_a_broken_file_raises_an_error_naming_it(wav_files, tmp_path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(AudioError, match=r"broken\.wav"):
        extract_many(
            [*wav_files, broken], "test-counting", cache_dir=tmp_path / "c", n_jobs=1, progress=False
        )
    with pytest.raises(AudioError, match=r"missing\.wav"):
        extract_many([tmp_path / "missing.wav"], "test-counting", cache_dir=tmp_path / "c", progress=False)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_errors_skip_returns_none_and_reports(wav_files, tmp_path, caplog, n_jobs: int) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00garbage")
    short = tmp_path / "short.wav"
    sf.write(short, np.full(80, 0.1, np.float32), SR)  # 5 ms: too short for logmel
    files = [wav_files[0], broken, wav_files[1], short, tmp_path / "missing.wav"]
    with caplog.at_level(logging.WARNING, logger="voxemo.features"):
        report = extract_with_report(
            files, "logmel", cache_dir=tmp_path / "c", n_jobs=n_jobs, progress=False, errors="skip"
        )
    assert [a is None for a in report.arrays] == [False, True, False, True, True]
    assert set(report.failures) == {str(broken), str(short), str(tmp_path / "missing.wav")}
    assert "too short" in report.failures[str(short)]
    assert "skipped 3 file(s)" in caplog.text


def test_bad_arguments_are_config_errors(wav_files) -> None:
    from voxemo.errors import ConfigError

    with pytest.raises(ConfigError, match="errors"):
        extract_many(wav_files, "logmel", errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="n_jobs"):
        extract_many(wav_files, "logmel", n_jobs=0, use_cache=False)


def test_save_and_load_utterance_features(tmp_path: Path) -> None:
    arrays = [np.arange(3, dtype=np.float32) + i for i in range(4)]
    names = [f"f{i}.wav" for i in range(4)]
    for suffix in (".npz", ".parquet"):
        path = save_features(tmp_path / f"out{suffix}", names, arrays, ["a", "b", "c"])
        got_names, got_arrays, got_features = load_features(path)
        assert got_names == names and got_features == ["a", "b", "c"]
        np.testing.assert_array_equal(np.stack(got_arrays), np.stack(arrays))
    import pandas as pd

    table = pd.read_parquet(tmp_path / "out.parquet")
    assert list(table.columns) == ["name", "a", "b", "c"] and len(table) == 4


def test_save_and_load_frame_features(tmp_path: Path) -> None:
    arrays = [np.full((n, 2), n, dtype=np.float32) for n in (3, 5, 1)]
    path = save_features(tmp_path / "frames.npz", ["x", "y", "z"], arrays, ["d0", "d1"])
    names, got, _ = load_features(path)
    assert names == ["x", "y", "z"]
    assert [a.shape for a in got] == [(3, 2), (5, 2), (1, 2)]
    with pytest.raises(FeatureError, match="npz"):
        save_features(tmp_path / "frames.parquet", ["x", "y", "z"], arrays, ["d0", "d1"])
    with pytest.raises(FeatureError, match="skipped"):
        save_features(tmp_path / "bad.npz", ["x", "y"], [arrays[0], None], ["d0", "d1"])
    with pytest.raises(FeatureError, match="csv"):
        save_features(tmp_path / "out.csv", ["x"], arrays[:1], ["d0", "d1"])


@register_feature("test-dying")
class DyingExtractor(CountingExtractor):
    """Kills its worker process, as the out-of-memory killer would."""

    def compute(self, x: np.ndarray) -> np.ndarray:
        import os

        os._exit(1)


def test_a_dead_worker_is_a_feature_error(wav_files) -> None:
    with pytest.raises(FeatureError, match="worker process died"):
        extract_many(wav_files, "test-dying", n_jobs=2, progress=False, use_cache=False)


def test_frame_level_features_round_trip_through_the_cache(wav_files, tmp_path) -> None:
    cold = extract_with_report(wav_files, "logmel", cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    warm = extract_with_report(wav_files, "logmel", cache_dir=tmp_path / "c", n_jobs=1, progress=False)
    assert (cold.computed, warm.cache_hits) == (4, 4)
    for a, b in zip(cold.arrays, warm.arrays, strict=True):
        assert a.ndim == 2 and a.shape[1] == 64
        np.testing.assert_array_equal(a, b)
    assert extract_many([], "logmel", cache_dir=tmp_path / "c") == []
