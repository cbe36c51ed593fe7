"""`voxemo predict` and `voxemo timeline` end to end: outputs, stdin lists, failures and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests.inference.bundles import SR, clip, silence
from voxemo.cli import main
from voxemo.inference import Recognizer, bundles

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIPS = sorted(EXAMPLES.glob("*.flac"))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_predict_json_matches_the_python_api(capsys, recognizer: Recognizer, trained_bundle: Path):
    code, out, _ = run_cli(capsys, "predict", EXAMPLES, "--json", "--model", trained_bundle, "--no-progress")
    assert code == 0
    records = json_lines(out)
    assert [r["path"] for r in records] == [str(p) for p in CLIPS]
    for record, path in zip(records, CLIPS, strict=True):
        assert {"path", "emotion", "scores", "confidence", "uncertain"} <= set(record)
        assert sum(record["scores"].values()) == pytest.approx(1.0)
        expected = recognizer.predict(path)
        assert record["emotion"] == expected.emotion
        assert np.allclose(list(record["scores"].values()), list(expected.scores.values()), atol=1e-6)


def test_failing_files_get_their_own_line_and_exit_1(capsys, trained_bundle: Path, tmp_path: Path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio" * 50)
    args = ["predict", CLIPS[0], tmp_path / "missing.wav", bad, CLIPS[1], "--json", "--model", trained_bundle]
    code, out, err = run_cli(capsys, *args)
    assert code == 1
    records = json_lines(out)
    assert len(records) == 4
    assert "emotion" in records[0] and "emotion" in records[3]
    assert "file not found" in records[1]["error"]
    assert "not a readable audio file" in records[2]["error"]
    assert "2 of 4 file(s) could not be scored" in err
    assert "Traceback" not in err


def test_dash_reads_paths_from_stdin(capsys, monkeypatch, trained_bundle: Path):
    listing = f"{CLIPS[2]}\n\n# a comment\n{CLIPS[0]}\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(listing))
    code, out, _ = run_cli(capsys, "predict", "-", "--json", "--model", trained_bundle)
    assert code == 0
    assert [r["path"] for r in json_lines(out)] == [str(CLIPS[2]), str(CLIPS[0])]


def test_csv_has_a_column_per_emotion(capsys, trained_bundle: Path, tmp_path: Path):
    path = tmp_path / "high.wav"
    sf.write(path, clip("high"), SR)
    code, out, _ = run_cli(capsys, "predict", path, "--csv", "--model", trained_bundle)
    assert code == 0
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == [
        "path",
        "emotion",
        "confidence",
        "uncertain",
        "low",
        "high",
        "glide",
        "error",
    ]
    assert frame.loc[0, "emotion"] == "high"
    assert frame.loc[0, ["low", "high", "glide"]].sum() == pytest.approx(1.0, abs=1e-5)


def test_table_output_names_files_and_errors(capsys, trained_bundle: Path, tmp_path: Path):
    code, out, _ = run_cli(capsys, "predict", CLIPS[0], tmp_path / "gone.wav", "--model", trained_bundle)
    assert code == 1
    assert CLIPS[0].name in out and "gone.wav" in out
    assert "error" in out


def test_usage_errors_exit_2(capsys, trained_bundle: Path, monkeypatch, tmp_path: Path):
    code, _, err = run_cli(capsys, "predict", CLIPS[0], "--json", "--csv", "--model", trained_bundle)
    assert code == 2 and "--json" in err
    monkeypatch.setattr(bundles, "PRETRAINED_DIR", tmp_path / "none")
    code, _, err = run_cli(capsys, "predict", CLIPS[0])
    assert code == 2
    assert "no bundled model 'default'" in err and "--model DIR" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "predict", empty, "--model", trained_bundle)
    assert code == 2 and "no audio files" in err


def test_timeline_command_json_csv_and_plot(capsys, trained_bundle: Path, tmp_path: Path):
    samples = silence(12.0)
    speech = clip("low", repeats=3)
    samples[4 * SR : 4 * SR + speech.size] += speech
    path = tmp_path / "talk.wav"
    sf.write(path, samples, SR)
    plot = tmp_path / "talk.png"
    code, out, err = run_cli(
        capsys,
        "timeline",
        path,
        "--json",
        "--plot",
        plot,
        "--window",
        "1.5",
        "--hop",
        "0.5",
        "--model",
        trained_bundle,
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["window"] == 1.5 and record["hop"] == 0.5
    assert len(record["segments"]) == 1
    assert record["segments"][0]["start"] == pytest.approx(4.0, abs=0.1)
    assert plot.stat().st_size > 10_000
    code, out, _ = run_cli(capsys, "timeline", path, "--csv", "--model", trained_bundle)
    assert code == 0
    assert pd.read_csv(io.StringIO(out)).shape[0] == 1
    code, out, _ = run_cli(capsys, "timeline", path, "--model", trained_bundle)
    assert code == 0 and "1 speech segment" in out
