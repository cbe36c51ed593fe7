"""The command line end to end: real files in, readable output and exit codes out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tests.conftest import SR, dataset_root, speechlike
from voxemo.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("inspect", "features", "corpora", "corpus", "demo"):
        assert command in out


def test_usage_error_exits_2(capsys):
    code, _, err = run_cli(capsys, "corpus")
    assert code == 2
    assert "Missing argument" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        (b"", "empty"),
        (b"this is not audio at all" * 20, "not a readable audio file"),
    ],
)
def test_bad_input_is_one_line_error(capsys, tmp_path: Path, content: bytes | None, message: str):
    path = tmp_path / "clip.wav"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_cli(capsys, "inspect", str(path))
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_inspect_json_reports_pitch_and_speech(capsys, example_wav: Path):
    code, out, _ = run_cli(capsys, "inspect", str(example_wav), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["sample_rate"] == SR
    assert report["channels"] == 1
    assert report["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert 0.3 < report["speech_ratio"] <= 1.0
    # speechlike() has F0 around 150 Hz
    assert report["pitch"]["f0_median_hz"] == pytest.approx(150, rel=0.1)


def test_features_npz_and_parquet(capsys, tmp_path: Path):
    for i in range(3):
        sf.write(tmp_path / f"a{i}.wav", speechlike(seed=i, f0=120 + 30 * i), SR)
    out_npz = tmp_path / "mfcc.npz"
    code, _, err = run_cli(
        capsys, "features", str(tmp_path), "--kind", "mfcc", "--out", str(out_npz), "-j", "1"
    )
    assert code == 0, err
    with np.load(out_npz, allow_pickle=False) as data:
        arrays = [data[k] for k in data.files if k not in ("paths", "feature_names")]
        assert len(arrays) >= 1
    out_pq = tmp_path / "prosody.parquet"
    code, _, err = run_cli(
        capsys, "features", str(tmp_path), "--kind", "prosody", "--out", str(out_pq), "-j", "1"
    )
    assert code == 0, err
    frame = pd.read_parquet(out_pq)
    assert len(frame) == 3


def test_corpora_lists_the_loaders(capsys):
    code, out, _ = run_cli(capsys, "corpora")
    assert code == 0
    for name in ("ravdess", "emodb", "casia", "emovo", "tess", "cremad", "savee", "iemocap", "generic"):
        assert name in out


def test_corpus_counts_and_csv(capsys, tmp_path: Path):
    root = dataset_root("emodb")
    code, out, _ = run_cli(capsys, "corpus", "emodb", "--root", str(root))
    assert code == 0
    assert "535 utterances" in out
    csv = tmp_path / "emodb.csv"
    code, _, _ = run_cli(capsys, "corpus", "emodb", "--root", str(root), "--csv", str(csv))
    assert code == 0
    table = pd.read_csv(csv)
    assert len(table) == 535
    assert table["speaker"].nunique() == 10


def test_corpus_wrong_root_is_clear(capsys, tmp_path: Path):
    code, _, err = run_cli(capsys, "corpus", "ravdess", "--root", str(tmp_path))
    assert code == 2
    assert "ravdess" in err.lower()


def test_features_list_shows_dimensions(capsys):
    code, out, _ = run_cli(capsys, "features-list")
    assert code == 0
    assert "egemaps" in out and "88" in out
    assert "mfcc-stats" in out
