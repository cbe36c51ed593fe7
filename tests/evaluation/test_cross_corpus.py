"""Leave-one-corpus-out evaluation: classes, the split, normalisation, leakage, results, resume.

Synthetic "corpora" are tone clips in tmp_path (each corpus with its own gain and channel
colouring). The SVM tests replace eGeMAPS by a cheap band-energy feature (or by designed vectors)
so they run in seconds; one test trains a real tiny CNN, one uses real corpora (skipped without them).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests.conftest import dataset_root
from voxemo.errors import ConfigError, CorpusError
from voxemo.evaluation import baseline, cross_corpus
from voxemo.evaluation.crossval import TrainingBackend
from voxemo.evaluation.report import load_results
from voxemo.training.data import epoch_order

SR = 16_000
FREQS = {"angry": 900.0, "sad": 160.0, "happy": 500.0, "fear": 1300.0, "neutral": 300.0}
#: corpus -> (classes, gain, one-pole colouring coefficient)
CORPORA = {
    "alpha": (("angry", "sad", "happy"), 0.3, 0.0),
    "beta": (("angry", "sad", "fear", "happy"), 0.1, 0.6),
    "gamma": (("angry", "sad", "neutral"), 0.6, -0.5),
    "delta": (("angry", "sad", "happy", "neutral"), 0.2, 0.3),
}
SMALL_SVM = baseline.BaselineConfig(C=(1.0, 10.0), gamma=(0.01, 0.1))


def clip(freq: float, gain: float, colour: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.3 * SR)) / SR
    wave = gain * np.sin(2 * np.pi * freq * (1 + 0.02 * rng.standard_normal()) * t)
    wave += 0.01 * rng.standard_normal(t.size)
    coloured = wave.copy()
    for i in range(1, wave.size):  # channel colouring: y[n] = x[n] + c * y[n-1]
        coloured[i] = wave[i] + colour * coloured[i - 1]
    return (coloured / max(1.0, np.abs(coloured).max() / 0.9)).astype(np.float32)


def write_corpora(root: Path, speakers: int = 3, per_class: int = 2) -> dict[str, pd.DataFrame]:
    """Utterance tables of the synthetic corpora (3 speakers each, 2 clips per class and speaker)."""
    tables = {}
    for c, (name, (classes, gain, colour)) in enumerate(CORPORA.items()):
        rows = []
        for s in range(speakers):
            for emotion in classes:
                for i in range(per_class):
                    path = root / name / f"s{s}" / f"{emotion}_{i}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    seed = 1000 * c + 100 * s + 10 * i + len(emotion)
                    sf.write(path, clip(FREQS[emotion], gain * (1 + 0.2 * s), colour, seed), SR)
                    rows.append(
                        {"path": str(path), "corpus": "generic", "speaker": f"s{s}", "emotion": emotion}
                    )
        tables[name] = pd.DataFrame(rows)
    return tables


def band_features(table: pd.DataFrame, name: str = "egemaps", **_: object) -> np.ndarray:
    """Log energy in 16 frequency bands: a cheap stand-in for eGeMAPS."""
    vectors = []
    for path in table["path"]:
        wave = sf.read(path, dtype="float64")[0]
        power = np.abs(np.fft.rfft(wave)) ** 2
        vectors.append(np.log([band.sum() + 1e-9 for band in np.array_split(power[:2000], 16)]))
    return np.array(vectors)


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    return write_corpora(tmp_path_factory.mktemp("corpora"))


@pytest.fixture
def cheap_features(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baseline, "compute_features", band_features)


# ---------------------------------------------------------------- classes and split


def test_classes_default_to_the_intersection_and_can_be_given(tables: dict) -> None:
    assert cross_corpus.resolve_classes(tables)[0] == ["angry", "sad"]
    two = {k: tables[k] for k in ("alpha", "beta")}
    chosen, reason = cross_corpus.resolve_classes(two)
    assert chosen == ["angry", "happy", "sad"] and "every involved corpus" in reason
    assert cross_corpus.resolve_classes(two, ["sad", "angry"]) == (["angry", "sad"], "given explicitly")
    with pytest.raises(ConfigError, match="gamma has no happy"):
        cross_corpus.resolve_classes(tables, ["angry", "happy"])
    disjoint = {"x": tables["alpha"].assign(emotion="happy"), "y": tables["gamma"].assign(emotion="sad")}
    with pytest.raises(ConfigError, match="share 0 emotion class"):
        cross_corpus.resolve_classes(disjoint)


def test_validation_speakers_come_from_every_training_corpus_only(tables: dict) -> None:
    run = cross_corpus.prepare_run(tables, ["alpha", "beta"], "gamma", val_speakers=1)
    corpus, speakers = run.corpus, run.table["speaker"].to_numpy()
    assert set(corpus[run.fold.test]) == {"gamma"}
    assert set(corpus[run.fold.val]) == {"alpha", "beta"}  # each training corpus gives validation voices
    for name in ("alpha", "beta"):
        val = set(speakers[run.fold.val][corpus[run.fold.val] == name])
        train = set(speakers[run.fold.train][corpus[run.fold.train] == name])
        assert len(val) == 1 and not val & train
    assert set(run.table["emotion"]) == {"angry", "sad"}  # other classes dropped everywhere
    assert len(run.fold.test) == 3 * 2 * 2


@pytest.mark.parametrize(
    ("train", "test", "message"),
    [(["alpha", "gamma"], "gamma", "both a training corpus and the test"), ([], "gamma", "at least one")],
)
def test_corpus_roles_are_checked(tables: dict, train: list, test: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cross_corpus.prepare_run(tables, train, test)


def test_unknown_normalisation_is_refused(tables: dict) -> None:
    with pytest.raises(ConfigError, match="unknown normalisation 'batch'"):
        cross_corpus.prepare_run(tables, ["alpha"], "gamma", normalisation="batch")


def test_roots_and_corpus_loading_errors(tmp_path: Path) -> None:
    roots = cross_corpus.resolve_roots(["emodb=/d/emodb", str(tmp_path)], ["emodb", "casia"])
    assert roots == {"emodb": "/d/emodb", "casia": str(tmp_path / "casia")}
    with pytest.raises(ConfigError, match="no folder given for corpus casia"):
        cross_corpus.resolve_roots(["emodb=/d/emodb"], ["emodb", "casia"])
    with pytest.raises(CorpusError, match="unknown corpus klingon"):
        cross_corpus.load_corpora(["klingon"], {"klingon": str(tmp_path)})
    with pytest.raises(CorpusError, match="corpus folder not found: emodb"):
        cross_corpus.load_corpora(["emodb"], {"emodb": str(tmp_path / "nowhere")})
    assert cross_corpus.split_names("emodb, ravdess casia") == ["emodb", "ravdess", "casia"]


# ---------------------------------------------------------------- normalisation


def test_corpus_normalisation_uses_test_audio_statistics_and_no_labels() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {"corpus": ["a"] * 6 + ["t"] * 4, "speaker": list("abcabcdede"), "emotion": ["x", "y"] * 5}
    )
    features = rng.normal(size=(10, 3)) + np.r_[[0.0] * 6, [50.0] * 4][:, None]
    normalised = cross_corpus.normalise_features(features, table, "corpus")
    test = features[6:]
    np.testing.assert_allclose(normalised[6:], (test - test.mean(0)) / test.std(0))
    np.testing.assert_allclose(normalised[:6].mean(0), 0.0, atol=1e-12)
    relabelled = table.assign(emotion=["y", "x"] * 5)  # labels never enter
    np.testing.assert_array_equal(cross_corpus.normalise_features(features, relabelled, "corpus"), normalised)
    changed = features.copy()
    changed[:6] *= 3.0  # training corpora do not move the test corpus's statistics
    np.testing.assert_allclose(cross_corpus.normalise_features(changed, table, "corpus")[6:], normalised[6:])
    np.testing.assert_array_equal(cross_corpus.normalise_features(features, table, "global"), features)
    per_speaker = cross_corpus.normalise_features(features, table, "speaker")
    np.testing.assert_allclose(per_speaker[[6, 8]].mean(0), 0.0, atol=1e-12)  # speaker t/d


def designed_features(offset: float):
    """Vectors = class centre + a large offset for the test corpus 'gamma' only."""

    def features(table: pd.DataFrame, name: str = "egemaps", **_: object) -> np.ndarray:
        rng = np.random.default_rng(0)
        centres = {"angry": np.array([2.0, 0.0, 0.0, 0.0]), "sad": np.array([-2.0, 0.0, 0.0, 0.0])}
        rows = [centres[e] + 0.5 * rng.normal(size=4) for e in table["emotion"]]
        shift = np.where(table["path"].str.contains("/gamma/"), offset, 0.0)
        return np.stack(rows) + shift[:, None] * np.array([1.0, 1.0, -1.0, 1.0])

    return features


def test_corpus_normalisation_recovers_a_shifted_test_corpus(
    tables: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(baseline, "compute_features", designed_features(6.0))
    seen_blocks: list[np.ndarray] = []
    real = cross_corpus.group_statistics
    monkeypatch.setattr(cross_corpus, "group_statistics", lambda b: seen_blocks.append(b.copy()) or real(b))
    scores = {}
    for mode in ("global", "corpus"):
        results = cross_corpus.evaluate_cross_corpus(
            tables, ["alpha", "beta"], "gamma", tmp_path / mode, baseline=True, config=SMALL_SVM,
            normalisation=mode, progress=False,
        )  # fmt: skip
        scores[mode] = results["ua"]
        assert results["protocol"]["uses_unlabelled_test_audio"] is (mode == "corpus")
    assert scores["global"] <= 0.6 and scores["corpus"] >= 0.9
    # one block per corpus; the test corpus's statistics come from exactly its 12 test clips
    assert sorted(len(b) for b in seen_blocks) == [12, 12, 12]
    run = cross_corpus.prepare_run(tables, ["alpha", "beta"], "gamma")
    test_features = designed_features(6.0)(run.table)[run.fold.test]
    assert any(b.shape == test_features.shape and np.allclose(b, test_features) for b in seen_blocks)


# ---------------------------------------------------------------- baseline end to end


def test_baseline_run_writes_results_and_never_fits_on_the_test_corpus(
    tables: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cheap_features: None
) -> None:
    fits: list[dict] = []
    real_fit = baseline.fit_fold

    def spy_fit(features, labels, groups, config):
        fits.append({"rows": len(features), "groups": set(groups.tolist()), "labels": set(labels.tolist())})
        return real_fit(features, labels, groups, config)

    monkeypatch.setattr(baseline, "fit_fold", spy_fit)
    out = tmp_path / "svm"
    results = cross_corpus.evaluate_cross_corpus(
        tables, ["alpha", "beta"], "gamma", out, baseline=True, config=SMALL_SVM, progress=False
    )
    assert fits == [{"rows": 24, "groups": {"alpha", "beta"}, "labels": {"angry", "sad"}}]
    assert results["ua"] >= 0.75
    saved = load_results(out / "results.json")
    protocol = saved["protocol"]
    assert protocol["train_corpora"] == ["alpha", "beta"] and protocol["test_corpus"] == "gamma"
    assert protocol["classes"] == ["angry", "sad"] and "every involved corpus" in protocol["classes_reason"]
    assert (
        protocol["train"]["alpha"]["train"]["clips"] + protocol["train"]["alpha"]["validation"]["clips"] == 12
    )
    assert protocol["test"] == {"clips": 12, "speakers": ["gamma/s0", "gamma/s1", "gamma/s2"]}
    assert (
        protocol["feature_normalisation"] == "global"
        and "leave-one-corpus-out" in protocol["model_selection"]
    )
    assert set(saved["per_class_recall"]) == {"angry", "sad"} and saved["confusion"]["labels"] == [
        "angry",
        "sad",
    ]
    assert sum(map(sum, saved["confusion"]["matrix"])) == 12 and saved["run_time_s"] > 0
    assert saved["ece"] is None and (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    # resumable: a finished run is reused, unless asked to recompute
    again = cross_corpus.evaluate_cross_corpus(
        tables, ["alpha", "beta"], "gamma", out, baseline=True, config=SMALL_SVM, progress=False
    )
    assert len(fits) == 1 and again["ua"] == results["ua"]
    cross_corpus.evaluate_cross_corpus(
        tables, ["alpha", "beta"], "gamma", out, baseline=True, config=SMALL_SVM, progress=False, resume=False
    )
    assert len(fits) == 2


# ---------------------------------------------------------------- neural path


class FakeBackend:
    """Records what training sees; predicts by nearest class mean of a band-energy feature."""

    def __init__(self) -> None:
        self.trained: list[dict] = []

    def build_inputs(self, table, rows, config, labels):
        part = table.iloc[rows]
        return SimpleNamespace(
            x=band_features(part), y=part["emotion"].tolist(), corpora=part["corpus"].tolist(),
            speakers=(part["corpus"] + "/" + part["speaker"]).tolist(), labels=labels,
        )  # fmt: skip

    def train(self, config, train_set, val_set, out_dir, resume):
        mean, std = train_set.x.mean(0), train_set.x.std(0) + 1e-9  # normaliser: training rows only
        centres = np.stack(
            [((train_set.x - mean) / std)[np.array(train_set.y) == c].mean(0) for c in train_set.labels]
        )
        self.trained.append({"train": train_set, "val": val_set, "mean": mean})
        return SimpleNamespace(mean=mean, std=std, centres=centres, best_epoch=3, temperature=1.5)

    def predict_proba(self, result, dataset):
        z = (dataset.x - result.mean) / result.std
        logits = -((z[:, None] - result.centres[None]) ** 2).sum(-1) / 10
        p = np.exp(logits - logits.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True)

    def backend(self) -> TrainingBackend:
        facts = lambda r: {"best_epoch": r.best_epoch, "history": None, "temperature": r.temperature}  # noqa: E731
        return TrainingBackend(self.build_inputs, self.train, self.predict_proba, facts)


def tiny_cnn_config(**changes):
    from voxemo.training import TrainConfig

    config = TrainConfig.from_dict(
        {
            "model": {"name": "cnn", "params": {"channels": [4, 8], "pooled_blocks": 2, "hidden": 8}},
            "epochs": 2, "batch_size": 8, "min_epochs": 0, "tensorboard": False, "num_threads": 1,
            "data": {"val_speakers": 1}, "balance": "corpus",
        }
    )  # fmt: skip
    return config.replace(**changes)


def test_neural_run_trains_on_training_corpora_only_and_reports_calibration(
    tables: dict, tmp_path: Path
) -> None:
    fake = FakeBackend()
    config = tiny_cnn_config()
    results = cross_corpus.evaluate_cross_corpus(
        tables,
        ["alpha", "beta"],
        "gamma",
        tmp_path / "nn",
        config=config,
        backend=fake.backend(),
        progress=False,
    )
    (call,) = fake.trained
    seen = set(call["train"].speakers) | set(call["val"].speakers)
    assert not any(s.startswith("gamma/") for s in seen)
    assert {s.split("/")[0] for s in call["val"].speakers} == {"alpha", "beta"}
    assert not set(call["train"].speakers) & set(call["val"].speakers)
    assert results["ece"] is not None and results["ece_calibrated"] is not None
    assert results["temperature_mean"] == pytest.approx(1.5) and results["folds"][0]["best_epoch"] == 3
    assert results["config"]["labels"] == ["angry", "sad"] and results["config"]["balance"] == "corpus"
    cross_corpus.evaluate_cross_corpus(
        tables,
        ["alpha", "beta"],
        "gamma",
        tmp_path / "nn",
        config=config,
        backend=fake.backend(),
        progress=False,
    )
    assert len(fake.trained) == 1  # finished: reused
    cross_corpus.evaluate_cross_corpus(
        tables, ["alpha", "beta"], "gamma", tmp_path / "nn", config=config.replace(seed=1),
        backend=fake.backend(), progress=False,
    )  # fmt: skip
    assert len(fake.trained) == 2  # other settings: recomputed


def test_feature_normalisation_needs_an_utterance_feature_model(tables: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="utterance_norm=mean"):
        cross_corpus.evaluate_cross_corpus(
            tables, ["alpha"], "gamma", tmp_path, config=tiny_cnn_config(), normalisation="corpus",
            backend=FakeBackend().backend(), progress=False,
        )  # fmt: skip


def test_real_tiny_cnn_with_corpus_balance_and_per_recording_norm(tables: dict, tmp_path: Path) -> None:
    config = tiny_cnn_config()
    config = config.replace(
        model=config.model.replace(frontend=config.model.frontend.replace(utterance_norm="mean"))
    )
    results = cross_corpus.evaluate_cross_corpus(
        tables, ["alpha", "beta"], "gamma", tmp_path / "cnn", config=config, progress=False
    )
    bundle = json.loads((tmp_path / "cnn" / "model" / "config.json").read_text())
    assert bundle["labels"] == ["angry", "sad"]
    assert results["n"] == 12 and results["temperature_mean"] > 0
    assert results["protocol"]["train"]["beta"]["validation"]["speakers"]


# ---------------------------------------------------------------- corpus-balanced batches


def test_corpus_balanced_epoch_order_equalises_corpus_class_pairs() -> None:
    corpora = np.array(["big"] * 300 + ["small"] * 30)
    targets = np.array([0] * 250 + [1] * 50 + [0] * 5 + [1] * 25)
    rng = np.random.default_rng(0)
    drawn = np.concatenate([epoch_order(targets, 2, "corpus", rng, corpora.tolist()) for _ in range(30)])
    pairs = pd.Series([f"{c}:{t}" for c, t in zip(corpora[drawn], targets[drawn], strict=True)])
    shares = pairs.value_counts(normalize=True)
    assert set(shares.index) == {"big:0", "big:1", "small:0", "small:1"}
    np.testing.assert_allclose(shares.to_numpy(), 0.25, atol=0.02)
    with pytest.raises(ConfigError, match="balance: corpus needs the corpus"):
        epoch_order(targets, 2, "corpus", rng, [])


# ---------------------------------------------------------------- real corpora


def test_real_corpora_baseline_beats_chance_on_an_unseen_corpus(tmp_path: Path) -> None:
    roots = {name: dataset_root(name) for name in ("casia", "emovo", "emodb")}
    classes = ["angry", "neutral", "sad"]
    tables = {}
    for name, root in roots.items():
        table = cross_corpus.load_corpora([name], {name: root})[name]
        table = table[table["emotion"].isin(classes)]
        # a few clips per (speaker, class) keep eGeMAPS extraction to seconds
        tables[name] = table.groupby(["speaker", "emotion"], group_keys=False).head(
            1 if name == "emodb" else 2
        )
    results = cross_corpus.evaluate_cross_corpus(
        tables, ["casia", "emovo"], "emodb", tmp_path, baseline=True, config=SMALL_SVM, progress=False,
        normalisation="corpus",
    )  # fmt: skip
    assert results["protocol"]["classes"] == classes
    assert results["n"] == 30 and results["protocol"]["test"]["clips"] == 30
    assert results["ua"] > 0.55  # chance is 1/3


# ---------------------------------------------------------------- the benchmark script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cross_corpus.py"


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("cross_corpus_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "README", tmp_path / "README.md")
    return module


def test_benchmark_holds_out_each_corpus_and_writes_the_table(
    bench: ModuleType, tables: dict, cheap_features: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(baseline, "BaselineConfig", lambda: SMALL_SVM)
    shared = dict(zip(bench.CORPORA, [tables[k] for k in ("alpha", "beta", "gamma", "delta")], strict=True))
    variants = bench.known_variants()
    for name in ("baseline", "baseline-corpusnorm"):
        for test in bench.CORPORA:
            bench.run_one(variants[name], test, shared, [], resume=True)
    bench.README.write_text(
        "# t\n\n<!-- cross-corpus-table:start -->\nold\n<!-- cross-corpus-table:end -->\ntail\n"
    )
    bench.publish(variants)
    summary = json.loads((bench.RESULTS / "cross_corpus.json").read_text())
    assert len(summary["runs"]) == 8
    first = summary["runs"][0]
    assert (first["model"], first["test_corpus"]) == ("baseline", "emodb")
    assert first["train_corpora"] == ["ravdess", "casia", "emovo"] and first["classes"] == ["angry", "sad"]
    assert {"wa", "macro_f1", "ua"} <= set(first)
    text = bench.README.read_text()
    assert "old" not in text and text.endswith("<!-- cross-corpus-table:end -->\ntail\n")
    assert "| model | emodb held out | ravdess held out | casia held out | emovo held out | mean UA |" in text
    row = next(line for line in text.splitlines() if line.startswith("| baseline-corpusnorm |"))
    mean = np.mean([r["ua"] for r in summary["runs"] if r["model"] == "baseline-corpusnorm"])
    assert row.endswith(f"| {mean:.1%} |".replace("%", " %"))
    assert "chance UA 50 %" in text and (bench.RESULTS / "cross_corpus.md").is_file()
