"""The torch log-mel front end against librosa, its normaliser and masks."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from tests.conftest import speechlike
from voxemo.errors import ConfigError, ModelError
from voxemo.models import FrontendConfig, LogMelFrontend, mask_from_lengths
from voxemo.models.frontend import LOG_FLOOR


def librosa_mel(y: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=y,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        center=True,
        pad_mode="constant",
        power=2.0,
    )


@pytest.mark.parametrize("backend", ["fft", "conv"])
def test_mel_power_matches_librosa(backend: str) -> None:
    y = speechlike(1.3, seed=3)
    frontend = LogMelFrontend().use_stft(backend)
    ours = torch.matmul(frontend.mel_basis, frontend.power_spectrogram(torch.from_numpy(y)[None]))[0].numpy()
    ref = librosa_mel(y, frontend.config)
    assert ours.shape == ref.shape == (64, 1 + y.size // 160)
    assert np.max(np.abs(ours - ref)) / np.max(ref) < 1e-4
    log_ref = np.log(ref + LOG_FLOOR)
    log_ours = frontend.log_mel(torch.from_numpy(y)[None])[0].numpy()
    assert np.max(np.abs(log_ours - log_ref)) < 1e-3


def test_both_stft_backends_agree_on_a_batch() -> None:
    x = torch.from_numpy(np.stack([speechlike(1.0, seed=s) for s in range(3)]))
    frontend = LogMelFrontend()
    fft, _ = frontend(x)
    conv, _ = frontend.use_stft("conv")(x)
    assert torch.allclose(fft, conv, atol=1e-3)


def test_normaliser_fits_training_statistics_and_masks_padding() -> None:
    waves = [speechlike(1.0, seed=s, f0=100 + 30 * s) for s in range(4)]
    frontend = LogMelFrontend()
    frontend.fit_normalizer(waves)
    x = torch.zeros(2, 16000)
    x[0] = torch.from_numpy(waves[0])
    x[1, :8000] = torch.from_numpy(waves[1][:8000])
    feats, frames = frontend(x, torch.tensor([16000, 8000]))
    assert frames.tolist() == [101, 51]
    assert torch.all(feats[1, :, 51:] == 0)
    pooled = torch.cat([frontend(torch.from_numpy(w)[None])[0][0] for w in waves], dim=1)
    assert torch.allclose(pooled.mean(dim=1), torch.zeros(64), atol=1e-3)
    assert torch.allclose(pooled.std(dim=1), torch.ones(64), atol=0.05)


def test_mask_from_lengths() -> None:
    mask = mask_from_lengths(torch.tensor([3, 1]), 4)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]


def test_bad_settings_raise_readable_errors() -> None:
    with pytest.raises(ConfigError, match="win_length"):
        FrontendConfig(n_fft=256, win_length=400)
    with pytest.raises(ConfigError, match="STFT backend"):
        LogMelFrontend().use_stft("wavelet")
    with pytest.raises(ModelError, match="no training waveforms"):
        LogMelFrontend().fit_normalizer([])
