"""The torch log-mel front end shared by every spectrogram model.

Waveform (B, N) at 16 kHz -> STFT -> mel power -> log -> per-band standardisation, all inside the
network so that training, streaming, the server and the ONNX graph compute the same features.

Two STFT implementations give the same numbers (tested to ~1e-5 against librosa):
``"fft"`` (``torch.stft``, fastest for training) and ``"conv"`` (a conv1d over a windowed DFT basis,
made only of ops every ONNX exporter understands). Switch with :meth:`LogMelFrontend.use_stft`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from voxemo.audio.dsp import mel_filterbank
from voxemo.config import Config
from voxemo.errors import ConfigError, ModelError

#: Floor added to the mel power before the log: -138 dB, below any 16-bit signal's noise floor.
LOG_FLOOR = 1e-6
STFT_BACKENDS = ("fft", "conv")


@dataclass
class FrontendConfig(Config):
    """Log-mel settings: 25 ms Hann window, 10 ms hop, 64 bands by default."""

    sample_rate: int = 16_000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 20.0
    fmax: float | None = 8_000.0
    #: ``"mean"`` also subtracts each clip's own per-band mean over its valid frames (cepstral-mean
    #: style normalisation: removes channel and part of the speaker colouring); ``"none"`` keeps it.
    utterance_norm: str = "none"

    def __post_init__(self) -> None:
        if self.utterance_norm not in ("none", "mean"):
            raise ConfigError(f"frontend: utterance_norm is 'none' or 'mean', not {self.utterance_norm!r}")
        if self.win_length > self.n_fft:
            raise ConfigError(f"frontend: win_length {self.win_length} must not exceed n_fft {self.n_fft}")
        if self.hop_length <= 0 or self.n_mels <= 0:
            raise ConfigError("frontend: hop_length and n_mels must be positive")
        nyquist = self.sample_rate / 2
        if self.fmax is not None and not self.fmin < self.fmax <= nyquist:
            raise ConfigError(f"frontend: need fmin < fmax <= {nyquist:g} Hz, got {self.fmin}, {self.fmax}")


def mask_from_lengths(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """Boolean (B, max_length) mask, True on valid positions."""
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def frames_from_samples(lengths: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Number of centred STFT frames that cover ``lengths`` samples."""
    return torch.div(lengths, hop_length, rounding_mode="floor") + 1


class LogMelFrontend(nn.Module):
    """(B, N) waveform + lengths -> (B, n_mels, T) standardised log-mel + frame lengths.

    Padded frames are set to 0 (the standardised mean) so that a clip gives the same features
    whether it is batched alone or next to a longer one.
    """

    def __init__(self, config: FrontendConfig | None = None) -> None:
        super().__init__()
        self.config = config or FrontendConfig()
        cfg = self.config
        self.stft_backend = "fft"
        n_freq = cfg.n_fft // 2 + 1
        window = torch.zeros(cfg.n_fft)
        # Periodic Hann of win_length, centred inside n_fft (what librosa and torch.stft do).
        left = (cfg.n_fft - cfg.win_length) // 2
        window[left : left + cfg.win_length] = torch.hann_window(
            cfg.win_length, periodic=True, dtype=torch.float64
        ).float()
        mel = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax).T
        self.register_buffer("window", window)
        self.register_buffer("mel_basis", torch.from_numpy(mel.astype(np.float32)))  # (n_mels, n_freq)
        self.register_buffer("band_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("band_std", torch.ones(cfg.n_mels))
        # Derivable from the config, so not saved with the model.
        self.register_buffer("dft_basis", self._dft_basis(window, cfg.n_fft, n_freq), persistent=False)

    @staticmethod
    def _dft_basis(window: torch.Tensor, n_fft: int, n_freq: int) -> torch.Tensor:
        """(2 * n_freq, 1, n_fft) conv weights: windowed cosines then windowed sines."""
        k = torch.arange(n_freq, dtype=torch.float64).unsqueeze(1)
        n = torch.arange(n_fft, dtype=torch.float64).unsqueeze(0)
        angle = 2 * math.pi * k * n / n_fft
        w = window.double().unsqueeze(0)
        basis = torch.cat([torch.cos(angle) * w, -torch.sin(angle) * w], dim=0)
        return basis.float().unsqueeze(1)

    def use_stft(self, backend: str) -> LogMelFrontend:
        """Choose ``"fft"`` (torch.stft) or ``"conv"`` (DFT as conv1d, ONNX-safe)."""
        if backend not in STFT_BACKENDS:
            raise ConfigError(f"unknown STFT backend {backend!r}; use one of {', '.join(STFT_BACKENDS)}")
        self.stft_backend = backend
        return self

    @property
    def n_mels(self) -> int:
        return self.config.n_mels

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return frames_from_samples(lengths, self.config.hop_length)

    def power_spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, N) -> (B, n_freq, T) power, centred frames with zero padding."""
        cfg = self.config
        if self.stft_backend == "conv":
            padded = nn.functional.pad(waveform.unsqueeze(1), (cfg.n_fft // 2, cfg.n_fft // 2))
            spec = nn.functional.conv1d(padded, self.dft_basis, stride=cfg.hop_length)
            real, imag = spec.chunk(2, dim=1)
            return real * real + imag * imag
        spec = torch.stft(
            waveform,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec.real.square() + spec.imag.square()

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, N) -> un-normalised (B, n_mels, T) natural-log mel power."""
        mel = torch.matmul(self.mel_basis, self.power_spectrogram(waveform))
        return torch.log(mel + LOG_FLOOR)

    def forward(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if waveform.dim() != 2:
            raise ModelError(
                f"the front end expects a (batch, samples) waveform, got shape {tuple(waveform.shape)}"
            )
        if lengths is None:
            lengths = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long)
        features = self.log_mel(waveform)
        features = (features - self.band_mean[:, None]) / self.band_std[:, None]
        frames = self.frame_lengths(lengths).clamp(max=features.shape[-1])
        mask = mask_from_lengths(frames, features.shape[-1]).unsqueeze(1)
        features = features * mask
        if self.config.utterance_norm == "mean":
            clip_mean = features.sum(dim=-1, keepdim=True) / frames.view(-1, 1, 1).clamp(min=1)
            features = (features - clip_mean) * mask
        return features, frames

    @torch.no_grad()
    def fit_normalizer(self, waveforms: Iterable[np.ndarray], batch_size: int = 32) -> None:
        """Per-band mean and std of the log-mel over all frames of the given (training) waveforms."""
        total = torch.zeros(self.config.n_mels, dtype=torch.float64)
        total_sq = torch.zeros_like(total)
        count = 0
        batch: list[np.ndarray] = []

        def flush() -> None:
            nonlocal total, total_sq, count
            for wave in batch:
                feats = self.log_mel(torch.as_tensor(wave, dtype=torch.float32).unsqueeze(0))[0].double()
                total += feats.sum(dim=1)
                total_sq += feats.square().sum(dim=1)
                count += feats.shape[1]
            batch.clear()

        for wave in waveforms:
            batch.append(np.asarray(wave, dtype=np.float32))
            if len(batch) >= batch_size:
                flush()
        flush()
        if count == 0:
            raise ModelError("cannot fit the log-mel normaliser: no training waveforms were given")
        mean = total / count
        std = (total_sq / count - mean.square()).clamp(min=1e-8).sqrt()
        self.band_mean.copy_(mean.float())
        self.band_std.copy_(std.float().clamp(min=1e-3))
