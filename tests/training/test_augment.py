"""Augmentations keep shapes and do what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import SR, speechlike, tone
from voxemo.training import augment
from voxemo.training.config import AugmentConfig


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_noise_is_added_at_the_requested_snr(snr: float, color: str) -> None:
    clean = speechlike(2.0, seed=1)
    noisy = augment.add_noise(clean, snr, np.random.default_rng(0), color)
    noise = noisy - clean
    measured = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert noisy.shape == clean.shape and noisy.dtype == np.float32
    assert measured == pytest.approx(snr, abs=0.1)


def test_pink_noise_has_more_low_than_high_frequency_power() -> None:
    noise = augment.make_noise(SR, np.random.default_rng(0), "pink")
    power = np.abs(np.fft.rfft(noise)) ** 2
    assert power[10:200].mean() > 10 * power[4000:8000].mean()


def test_speed_perturbation_changes_duration_and_pitch() -> None:
    x = tone(200.0, 1.0)
    fast = augment.speed_perturb(x, 1.1)
    assert fast.size == pytest.approx(x.size / 1.1, abs=2)
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(fast.size)))
    peak_hz = np.argmax(spectrum) * SR / fast.size
    assert peak_hz == pytest.approx(220.0, abs=3.0)


def test_pitch_shift_keeps_duration() -> None:
    x = tone(200.0, 1.0)
    shifted = augment.pitch_shift(x, 12.0)
    assert shifted.size == x.size
    spectrum = np.abs(np.fft.rfft(shifted[2000:-2000] * np.hanning(x.size - 4000)))
    assert np.argmax(spectrum) * SR / (x.size - 4000) == pytest.approx(400.0, abs=8.0)


def test_gain_crop_and_shift() -> None:
    rng = np.random.default_rng(0)
    x = speechlike(1.0)
    assert np.allclose(augment.apply_gain(x, 6.0), x * 10 ** (6 / 20), atol=1e-6)
    crop = augment.random_crop(x, 4000, rng)
    assert crop.size == 4000
    start = int(np.flatnonzero(x == crop[0])[0])
    assert np.array_equal(x[start : start + 4000], crop)
    assert augment.random_crop(x, 40_000, rng) is x
    shifted = augment.time_shift(x, 0.1, rng)
    assert sorted(shifted.tolist()) == sorted(x.tolist())


def test_waveform_augmenter_crops_to_the_configured_length() -> None:
    config = AugmentConfig(speed_prob=1.0, noise_prob=1.0, gain_prob=1.0, shift_prob=1.0)
    augmenter = augment.WaveformAugmenter(config, SR, crop_samples=SR)
    rng = np.random.default_rng(0)
    lengths = {augmenter(speechlike(3.0), rng).size for _ in range(10)}
    assert all(abs(n - SR) <= 2 for n in lengths)
    short = speechlike(0.5)
    assert augmenter(short, rng).size == pytest.approx(short.size, rel=0.12)


def test_spec_augment_masks_the_given_widths() -> None:
    feats = torch.ones(3, 64, 200)
    lengths = torch.tensor([200, 120, 80])
    config = AugmentConfig(time_masks=1, time_mask_width=20, freq_masks=1, freq_mask_width=8)
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = augment.spec_augment(feats, lengths, config, rng)
        assert out.shape == feats.shape
        for i in range(3):
            masked_bands = int((out[i].sum(dim=1) == 0).sum())
            masked_frames = int((out[i].sum(dim=0) == 0).sum())
            assert masked_bands <= 8
            assert masked_frames <= min(20, int(lengths[i]) // 4)
            # A time mask lies inside the clip's valid frames.
            assert torch.all(out[i, :, int(lengths[i]) :].sum(dim=0) > 0)
    off = AugmentConfig(time_masks=0, freq_masks=0)
    assert augment.spec_augment(feats, lengths, off, rng) is feats


def test_spec_augment_hits_the_full_width_sometimes() -> None:
    feats = torch.ones(1, 64, 400)
    config = AugmentConfig(time_masks=1, time_mask_width=20, freq_masks=0)
    rng = np.random.default_rng(0)
    lengths = torch.tensor([400])
    widths = [int((augment.spec_augment(feats, lengths, config, rng)[0, 0] == 0).sum()) for _ in range(200)]
    assert max(widths) == 20 and min(widths) == 0


def test_mixup_blends_pairs_with_dominant_first_example() -> None:
    feats = torch.eye(4)[:, :, None].repeat(1, 1, 5)
    lengths = torch.tensor([5, 4, 3, 2])
    mixed, mixed_lengths, partner, lam = augment.mixup(feats, lengths, 0.4, np.random.default_rng(1))
    assert 0.5 <= lam <= 1.0
    assert torch.allclose(mixed, lam * feats + (1 - lam) * feats[partner])
    assert torch.equal(mixed_lengths, torch.maximum(lengths, lengths[partner]))
