"""benchmarks/accuracy.py: collecting finished runs and rewriting only the README table."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from voxemo.evaluation import report

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy.py"


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("accuracy_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(module, "README", tmp_path / "README.md")
    return module


def _fake_run(runs: Path, corpus: str, model: str, correct: int) -> None:
    truth = ["angry", "sad"] * 5
    pred = truth[:correct] + [("sad" if t == "angry" else "angry") for t in truth[correct:]]
    fold = report.FoldPredictions("f1", ["angry", "sad"], ["p"] * 10, ["s1"] * 10, truth, pred, seconds=75.0)
    table = pd.DataFrame({"speaker": ["s1"] * 10})
    protocol = report.protocol_description(
        corpus,
        "leave one speaker out, 1 folds",
        [SimpleNamespace(name="f1", test=np.arange(10))],
        table,
        ["angry", "sad"],
    )
    results = report.build_results([fold], protocol, {"name": model})
    report.write_results(results, runs / corpus / model / "results.json")


def test_collect_render_and_readme_markers(bench: ModuleType) -> None:
    _fake_run(bench.RUNS, "ravdess", "baseline", correct=6)
    _fake_run(bench.RUNS, "emodb", "crnn", correct=9)
    _fake_run(bench.RUNS, "emodb", "baseline", correct=7)
    bench.README.write_text(
        "# title\n\nintro\n\n<!-- accuracy-table:start -->\nold\n<!-- accuracy-table:end -->\ntail\n"
    )
    bench.publish()
    summary = bench.collect()
    assert [(r["corpus"], r["model"]) for r in summary["runs"]] == [
        ("emodb", "baseline"),
        ("emodb", "crnn"),
        ("ravdess", "baseline"),
    ]
    assert summary["runs"][1]["ua"] == pytest.approx(0.9)
    text = bench.README.read_text()
    assert text.startswith("# title\n\nintro\n\n<!-- accuracy-table:start -->\n| corpus |")
    assert text.endswith("<!-- accuracy-table:end -->\ntail\n") and "\nold\n" not in text
    assert "| emodb | leave one speaker out, 1 folds | crnn | 90.0 % (±0.0 %) | 90.0 % |" in text
    assert "1 min 15 s" in text
    assert (bench.RESULTS / "accuracy.json").is_file() and (bench.RESULTS / "accuracy.md").is_file()
    bench.publish()  # idempotent: the markers are reused, not duplicated
    assert bench.README.read_text().count("accuracy-table:start") == 1


def test_readme_without_markers_gets_a_section_and_missing_readme_is_left_alone(bench: ModuleType) -> None:
    _fake_run(bench.RUNS, "casia", "baseline", correct=5)
    bench.publish()
    assert not bench.README.exists()
    bench.README.write_text("# title\n")
    bench.publish()
    assert "## Accuracy\n\n<!-- accuracy-table:start -->" in bench.README.read_text()


def test_summary_picks_the_best_row_of_each_kind_against_the_target(bench: ModuleType) -> None:
    _fake_run(bench.RUNS, "emodb", "baseline", correct=6)
    _fake_run(bench.RUNS, "emodb", "baseline-functionals", correct=7)
    _fake_run(bench.RUNS, "emodb", "cnn", correct=8)
    _fake_run(bench.RUNS, "emodb", "mlp-functionals", correct=5)
    _fake_run(bench.RUNS, "emodb", "whisper-attn", correct=10)
    summary = bench.render_summary(bench.collect())
    assert "| emodb | baseline-functionals 70.0 % | cnn 80.0 % | 80 % | whisper-attn 100.0 % |" in summary
    assert "| ravdess | – | – | 65 % | – |" in summary
    assert [bench.model_family(m) for m in ("baseline", "fusion-cnn-functionals", "accurate")] == [
        "classical",
        "scratch",
        "pretrained",
    ]


def _member_run(runs: Path, model: str, p_angry: list[float]) -> None:
    truth = ["angry", "sad"] * 2
    probs = np.array([[p, 1 - p] for p in p_angry])
    pred = ["angry" if p > 0.5 else "sad" for p in p_angry]
    fold = report.FoldPredictions("f1", ["angry", "sad"], list("abcd"), ["s1"] * 4, truth, pred, probs=probs)
    report.save_fold(fold, runs / "emodb" / model / report.fold_dir_name(0), "fp")
    protocol = report.protocol_description(
        "emodb",
        "leave one speaker out, 1 folds",
        [SimpleNamespace(name="f1", test=np.arange(4))],
        pd.DataFrame({"speaker": ["s1"] * 4}),
        ["angry", "sad"],
    )
    report.write_results(
        report.build_results([fold], protocol, {"name": model}), runs / "emodb" / model / "results.json"
    )


def test_fusion_rows_come_from_finished_member_runs(bench: ModuleType) -> None:
    from voxemo.errors import VoxemoError

    with pytest.raises(VoxemoError, match="unfinished run"):
        bench.run_one("emodb", "fusion-cnn-functionals", resume=True)
    _member_run(bench.RUNS, "cnn", [0.9, 0.6, 0.4, 0.1])  # right on clips a, d; wrong on b, c
    _member_run(bench.RUNS, "mlp-functionals", [0.4, 0.1, 0.9, 0.6])  # right on b, c; wrong on a, d
    results = bench.run_one("emodb", "fusion-cnn-functionals", resume=True)
    assert results["model"]["members_ua"] == [0.5, 0.5]
    assert results["ua"] == 1.0
    row = next(r for r in bench.collect()["runs"] if r["model"] == "fusion-cnn-functionals")
    assert row["ua"] == 1.0 and row["protocol"] == "leave one speaker out, 1 folds"
