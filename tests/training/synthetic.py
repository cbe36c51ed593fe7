"""A small synthetic emotion task a working model must learn.

Three "emotions" set by pitch range and energy pattern: ``low`` (low, steady F0, flat energy),
``high`` (high F0, syllable-like 6 Hz bursts) and ``glide`` (mid F0 rising by 60 %, energy
ramping up). "Speakers" differ in base pitch (x0.85-1.15) and timbre (harmonic roll-off), and
clips vary in length (0.8-1.4 s), so a model must generalise across speakers and padding.
"""

from __future__ import annotations

import numpy as np

SR = 16_000
CLASSES = ("low", "high", "glide")


def utterance(label: str, speaker: int, rng: np.random.Generator) -> np.ndarray:
    pitch_factor = 0.85 + 0.3 * (speaker % 5) / 4
    rolloff = 0.8 + 0.15 * (speaker % 4)
    seconds = rng.uniform(0.8, 1.4)
    t = np.arange(int(seconds * SR)) / SR
    if label == "low":
        f0 = rng.uniform(95, 125) * np.ones_like(t)
        envelope = 0.6 * np.ones_like(t)
    elif label == "high":
        f0 = rng.uniform(230, 290) * np.ones_like(t)
        envelope = 0.5 + 0.5 * (np.sin(2 * np.pi * 6 * t) > 0)
    else:
        f0 = rng.uniform(140, 170) * (1 + 0.6 * t / seconds)
        envelope = 0.2 + 0.8 * t / seconds
    phase = 2 * np.pi * np.cumsum(f0 * pitch_factor) / SR
    voice = sum(np.sin(k * phase) / k**rolloff for k in range(1, 10))
    return (0.2 * envelope * voice + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def synthetic_set(speakers: list[int], per_class: int, seed: int) -> tuple[list, list[str], list[str]]:
    """(waveforms, labels, speakers) for ``per_class`` clips of each class per speaker."""
    rng = np.random.default_rng(seed)
    waves, labels, names = [], [], []
    for speaker in speakers:
        for label in CLASSES:
            for _ in range(per_class):
                waves.append(utterance(label, speaker, rng))
                labels.append(label)
                names.append(f"spk{speaker}")
    return waves, labels, names


def utterance_vector(wave: np.ndarray) -> np.ndarray:
    """A cheap utterance feature for the MLP: mean and std of 32 log-mel bands + F0-ish centroid."""
    import librosa

    mel = np.log(librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=512, hop_length=160, n_mels=32) + 1e-6)
    return np.concatenate([mel.mean(axis=1), mel.std(axis=1)]).astype(np.float32)
