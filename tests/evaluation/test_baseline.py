"""The SVM baseline learns separable classes and never lets the test speaker into its inner CV."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from voxemo.errors import ConfigError
from voxemo.evaluation import baseline
from voxemo.evaluation.leakage import LeakageError
from voxemo.evaluation.report import load_results

SPEAKERS = ["s1", "s2", "s3", "s4"]
CLASSES = ["angry", "happy", "sad"]


def synthetic(n_per_class: int = 10, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """4 speakers x 3 classes; class means are far apart, each speaker adds its own offset."""
    rng = np.random.default_rng(seed)
    rows, vectors = [], []
    centres = rng.normal(size=(3, 12)) * 4
    for s, speaker in enumerate(SPEAKERS):
        offset = rng.normal(size=12) * 0.5
        for c, emotion in enumerate(CLASSES):
            for i in range(n_per_class):
                rows.append(
                    {
                        "path": f"/x/{speaker}_{emotion}_{i}.wav",
                        "corpus": "toy",
                        "speaker": speaker,
                        "emotion": emotion,
                    }
                )
                vectors.append(centres[c] + offset + rng.normal(size=12) * (1 + s * 0.1))
    return pd.DataFrame(rows), np.array(vectors)


def loso(table: pd.DataFrame) -> list[SimpleNamespace]:
    speakers = table["speaker"].to_numpy()
    return [
        SimpleNamespace(
            name=s, train=np.flatnonzero(speakers != s), test=np.flatnonzero(speakers == s), val=None
        )
        for s in SPEAKERS
    ]


SMALL = baseline.BaselineConfig(C=(0.1, 10.0), gamma=(0.01, 0.1))


def test_baseline_learns_and_inner_cv_never_sees_test_speaker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, features = synthetic()
    seen_groups: list[set[str]] = []
    real_splitter = baseline.inner_splitter

    class Spy:
        """Wraps the real splitter and records the speakers of every inner split it is asked for."""

        def __init__(self, inner):
            self.inner = inner

        def split(self, X, y=None, groups=None):
            seen_groups.append(set(np.asarray(groups).tolist()))
            assert len(groups) == len(X)
            yield from self.inner.split(X, y, groups)

        def get_n_splits(self, X=None, y=None, groups=None):
            return self.inner.get_n_splits(X, y, groups)

    monkeypatch.setattr(baseline, "inner_splitter", lambda n, k: Spy(real_splitter(n, k)))
    folds = loso(table)
    results = baseline.run_baseline(table, features, folds, config=SMALL, out_dir=tmp_path, progress=False)

    assert results["ua"] > 0.95 and results["wa"] > 0.95
    assert len(seen_groups) == 4
    for fold, groups in zip(folds, seen_groups, strict=True):
        assert fold.name not in groups  # the test speaker never reached the hyper-parameter search
        assert groups == set(SPEAKERS) - {fold.name}
    assert [f["test_speakers"] for f in results["folds"]] == [[s] for s in SPEAKERS]
    assert all(f["extra"]["C"] in SMALL.C for f in results["folds"])
    assert load_results(tmp_path / "results.json")["ua"] == pytest.approx(results["ua"])
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert (tmp_path / "fold_04" / "predictions.csv").is_file()


def test_scaler_is_fitted_on_training_rows_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making the test speaker's features enormous must not change what the model fitted."""
    table, features = synthetic()
    fitted: list[np.ndarray] = []
    real_fit = baseline.fit_fold

    def spy_fit(x, y, speakers, config):
        search = real_fit(x, y, speakers, config)
        fitted.append(search.best_estimator_.named_steps["scale"].mean_.copy())
        return search

    monkeypatch.setattr(baseline, "fit_fold", spy_fit)
    folds = loso(table)[:1]
    baseline.run_baseline(table, features, folds, config=SMALL, progress=False)
    altered = features.copy()
    altered[folds[0].test] = 1e6
    baseline.run_baseline(table, altered, folds, config=SMALL, progress=False)
    np.testing.assert_array_equal(fitted[0], fitted[1])


def test_baseline_resumes_finished_folds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table, features = synthetic(n_per_class=4)
    folds = loso(table)
    first = baseline.run_baseline(table, features, folds[:2], config=SMALL, out_dir=tmp_path, progress=False)
    calls: list[int] = []
    real_fit = baseline.fit_fold
    monkeypatch.setattr(baseline, "fit_fold", lambda *a: calls.append(1) or real_fit(*a))
    second = baseline.run_baseline(table, features, folds, config=SMALL, out_dir=tmp_path, progress=False)
    assert len(calls) == 2  # folds 1 and 2 were loaded, only 3 and 4 were fitted
    assert second["folds"][:2] == first["folds"]


def test_leaky_fold_is_refused() -> None:
    table, features = synthetic(n_per_class=2)
    speakers = table["speaker"].to_numpy()
    leaky = SimpleNamespace(
        name="bad", train=np.arange(len(table) - 1), test=np.array([len(table) - 1]), val=None
    )
    assert speakers[-1] in set(speakers[leaky.train])
    with pytest.raises(LeakageError, match="test speaker"):
        baseline.run_baseline(table, features, [leaky], config=SMALL, progress=False)


def test_bad_config_and_shapes() -> None:
    table, features = synthetic(n_per_class=2)
    with pytest.raises(ConfigError, match="inner_folds"):
        baseline.BaselineConfig(inner_folds=1)
    with pytest.raises(Exception, match="features must be"):
        baseline.run_baseline(table, features[:-1], loso(table), progress=False)
    assert type(baseline.inner_splitter(3, 5)).__name__ == "LeaveOneGroupOut"
    assert type(baseline.inner_splitter(9, 5)).__name__ == "GroupKFold"


def test_baseline_recomputes_folds_made_with_another_grid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table, features = synthetic(n_per_class=4)
    folds = loso(table)[:2]
    baseline.run_baseline(table, features, folds, config=SMALL, out_dir=tmp_path, progress=False)
    calls: list[int] = []
    real_fit = baseline.fit_fold
    monkeypatch.setattr(baseline, "fit_fold", lambda *a: calls.append(1) or real_fit(*a))
    other = SMALL.replace(C=(1.0,))
    results = baseline.run_baseline(table, features, folds, config=other, out_dir=tmp_path, progress=False)
    assert len(calls) == 2 and all(f["extra"]["C"] == 1.0 for f in results["folds"])
