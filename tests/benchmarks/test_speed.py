"""benchmarks/speed.py: several models side by side, n/a rows, skipped names, the README block."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import dataset_root
from tests.inference.bundles import untrained_bundle

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "speed.py"


@pytest.fixture(scope="module")
def speed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("speed_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def stage(wall: float, rss: float = 100.0, **extra: object) -> dict:
    return {"wall_s": wall, "cpu_s": wall, "peak_rss_mb": rss, **extra}


def fake_summary(speed: ModuleType) -> dict:
    """What ``measure`` returns for 10 files / 40 s of audio: a fast CNN and a non-exportable model."""
    reference = {
        "decode": speed.throughput(stage(0.1, 40), 10, 40.0),
        "egemaps": speed.throughput(stage(6.0, 150), 10, 40.0),
    }
    args = speed.parse_args(["--threads", "1", "2"])
    raw = {
        ("predict-torch", "cnn-run", 1): [stage(0.3, 500), stage(0.25, 510)],
        ("predict-torch", "cnn-run", 2): [stage(0.5, 520)],
        ("predict-onnx", "cnn-run", 1): [stage(0.2, 300)],
        ("stream", "cnn-run", 1): [
            {"hops": 9, "median_ms": 2.0, "p95_ms": 3.0, "max_ms": 4.0, "peak_rss_mb": 90}
        ],
        ("predict-torch", "frames-run", 1): [stage(2.0, 900)],
        ("predict-onnx", "frames-run", 1): [{"unavailable": "cannot export frames", "peak_rss_mb": 50}],
    }
    facts = [
        {"model": "cnn-run", "family": "cnn", "weights": 1000, "input_kind": "waveform"},
        {"model": "frames-run", "family": "attention-pool", "weights": 1000, "input_kind": "frames"},
    ]
    models = [speed.model_summary(f, raw, reference, 10, 40.0, args) for f in facts]
    return {
        "files": 10,
        "audio_seconds": 40.0,
        "batch_size": 16,
        "repeats": 2,
        "machine": {"cpu_cores": 2, "cpu": "test cpu"},
        "threads": {"torch_and_onnxruntime": [1, 2], "decode_workers": 4, "opensmile": 1},
        "load_average_at_start": [0.5, 0.5, 0.5],
        "reference": reference,
        "models": models,
        "skipped_models": {"accurate": "no bundled model 'accurate' is installed"},
    }


def test_rows_carry_both_ratios_and_targets(speed: ModuleType) -> None:
    cnn, frames = fake_summary(speed)["models"]
    torch_1 = next(r for r in cnn["rows"] if r["stage"] == "predict-torch" and r["threads"] == 1)
    assert torch_1["wall_s"] == 0.25  # the fastest of the two runs
    assert torch_1["runs_wall_s"] == [0.3, 0.25]
    assert torch_1["vs_egemaps"] == 24.0 and torch_1["vs_decode"] == 2.5
    assert cnn["targets"]["predict_vs_egemaps"]["met"] and cnn["targets"]["predict_vs_decode"]["met"]
    assert cnn["targets"]["stream_p95_ms"]["value"] == 3.0
    expected = {"ratio": 20.0, "target": "<= 3x decoding time", "met": False}
    assert frames["targets"]["predict_vs_decode"] == expected
    onnx = next(r for r in frames["rows"] if r["stage"] == "predict-onnx")
    assert onnx["unavailable"] == "cannot export frames" and "vs_decode" not in onnx


def test_table_shows_each_model_na_and_skipped(speed: ModuleType) -> None:
    table = speed.render_table(fake_summary(speed))
    lines = table.splitlines()
    torch_row = next(line for line in lines if "`cnn-run`" in line and "torch, 1 thread " in line)
    assert "24.0× faster" in torch_row and "| 2.5× |" in torch_row and "510 MB" in torch_row
    na_row = next(line for line in lines if "`frames-run`" in line and "ONNX" in line)
    assert "n/a" in na_row
    assert "cannot export frames" in table  # why it is n/a
    assert "`accurate` not measured: no bundled model 'accurate' is installed" in table
    assert "**20.0× the decoding time** (target <= 3x decoding time: **missed**)" in table
    assert "fastest of 2 interleaved runs" in table


def test_readme_block_is_replaced_between_the_markers(speed: ModuleType, tmp_path: Path, monkeypatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{speed.START}\nold table\n{speed.END}\n\nafter\n", encoding="utf-8")
    monkeypatch.setattr(speed, "README", readme)
    table = speed.publish(fake_summary(speed), tmp_path / "speed.json", readme=True)
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and table in text and text.endswith("after\n")
    assert json.loads((tmp_path / "speed.json").read_text())["models"][0]["model"] == "cnn-run"
    assert (tmp_path / "speed.md").read_text(encoding="utf-8") == table + "\n"


def test_names_that_are_not_installed_are_skipped(speed: ModuleType, tmp_path: Path) -> None:
    bundle = untrained_bundle(tmp_path / "cnn", "cnn", params={"channels": [4, 8]})
    found, skipped = speed.available_models([str(bundle), "accurate-not-here", str(tmp_path / "nothing")])
    assert list(found) == [str(bundle)] and found[str(bundle)]["family"] == "cnn"
    assert found[str(bundle)]["weights"] > 0
    assert set(skipped) == {"accurate-not-here", str(tmp_path / "nothing")}
    assert "not found" in skipped["accurate-not-here"]


def test_threads_default_to_what_predict_uses(speed: ModuleType) -> None:
    from voxemo.cli.predict_cmds import DEFAULT_THREADS

    args = speed.parse_args(["--models", "default", "fast"])
    assert args.threads == [DEFAULT_THREADS] and args.models == ["default", "fast"]
    assert speed.parse_args(["--model", "x"]).models == ["x"]  # the old spelling still works
    jobs = speed.stage_jobs(speed.parse_args(["--threads", "1", "2", "--models", "a", "b"]), ["a", "b"])
    assert jobs[0][0] == "decode" and jobs[-1][0] == "egemaps"
    assert ("predict-torch", "b", 2) in jobs and ("frontend", "a", 2) not in jobs


def test_speed_runs_end_to_end_on_three_files(speed: ModuleType, tmp_path: Path, monkeypatch) -> None:
    """Real RAVDESS files, a CNN bundle, an MLP bundle (no ONNX export: n/a) and a missing name.

    About 10 s: six stage subprocesses on three files.
    """
    root = dataset_root("ravdess")
    cnn = untrained_bundle(tmp_path / "cnn", "cnn", params={"channels": [4, 8]})
    mlp = untrained_bundle(tmp_path / "mlp", "mlp", input_dim=88, feature="egemaps")
    out = tmp_path / "speed.json"
    argv = ["--root", str(root), "--limit", "3", "--models", str(cnn), str(mlp), "not-installed"]
    argv += ["--stages", "decode", "predict-torch", "predict-onnx", "egemaps"]
    argv += ["--no-readme", "--out", str(out)]
    monkeypatch.setenv("VOXEMO_CACHE", str(tmp_path / "cache"))  # the children inherit it
    assert speed.main(argv) == 0
    summary = json.loads(out.read_text())
    assert summary["files"] == 3 and summary["skipped_models"].keys() == {"not-installed"}
    cnn_rows = {r["stage"]: r for r in summary["models"][0]["rows"]}
    assert cnn_rows["predict-torch"]["failed"] == 0 and cnn_rows["predict-onnx"]["failed"] == 0
    assert cnn_rows["predict-torch"]["peak_rss_mb"] > 50 and cnn_rows["predict-torch"]["vs_decode"] > 0
    mlp_rows = {r["stage"]: r for r in summary["models"][1]["rows"]}
    assert "unavailable" in mlp_rows["predict-onnx"] and mlp_rows["predict-torch"]["failed"] == 0
    assert "n/a" in out.with_suffix(".md").read_text()
