"""Heads on frozen frame embeddings (e.g. ``whisper-encoder``): ``pooled-mlp`` and ``attention-pool``.

Both take ``(B, T, D)`` frames with their valid lengths (``input_kind = "frames"``); the frames are
computed outside the network by a registered frame-level feature extractor. :meth:`encode_input`
has no learnable weights, so the training loop can augment its output (time masks, mixup):

1. ``frame_norm = "mean"``: subtract the recording's own mean frame (over its valid frames) -- an
   unsupervised per-recording normalisation that uses only the audio being scored;
2. per-dimension standardisation with buffers fitted on training frames only;
3. padded frames set to 0 (= the training mean), as the log-mel models do.

Every later step masks padding exactly, so a clip's logits do not depend on its batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from voxemo.config import Config
from voxemo.errors import ConfigError, ModelError
from voxemo.models.base import EmotionModel, ModelConfig, register_model
from voxemo.models.frontend import mask_from_lengths
from voxemo.models.layers import ACTIVATIONS, activation, masked_mean_std

FRAME_NORMS = ("none", "mean")
#: Normalisation inside the MLP blocks: LayerNorm, BatchNorm or nothing.
MLP_NORMS = ("layer", "batch", "none")


@dataclass
class FrameHeadParams(Config):
    """What both heads share; ``input_dim``, ``frame_rate`` and ``sample_rate`` come from the data."""

    #: Width of one frame (384 for Whisper tiny.en); the training loop fills it in.
    input_dim: int = 0
    #: Frames per second of the extractor; the training loop fills it in.
    frame_rate: float = 50.0
    #: Audio rate the frames were computed from (to turn sample counts into frame counts).
    sample_rate: int = 16_000
    #: ``"mean"`` subtracts each recording's own mean frame before anything else.
    frame_norm: str = "none"
    hidden: tuple[int, ...] = (256,)
    activation: str = "gelu"
    dropout: float = 0.3
    #: ``layer`` (LayerNorm), ``batch`` (BatchNorm1d) or ``none`` after each hidden Linear.
    norm: str = "layer"

    def __post_init__(self) -> None:
        if self.frame_norm not in FRAME_NORMS:
            raise ConfigError(f"frame_norm must be one of {', '.join(FRAME_NORMS)}, got {self.frame_norm!r}")
        if self.norm not in MLP_NORMS:
            raise ConfigError(f"norm must be one of {', '.join(MLP_NORMS)}, got {self.norm!r}")
        if self.activation not in ACTIVATIONS:
            known = ", ".join(ACTIVATIONS.names())
            raise ConfigError(f"unknown activation {self.activation!r}; known: {known}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.frame_rate <= 0 or self.sample_rate <= 0:
            raise ConfigError("frame_rate and sample_rate must be positive")


@dataclass
class PooledMLPParams(FrameHeadParams):
    pass


@dataclass
class AttentionPoolParams(FrameHeadParams):
    #: Width of the learned frame projection the attention pools.
    projection: int = 128
    #: Number of attention heads; each gives a weighted mean and std of the projected frames.
    attention_heads: int = 2
    #: Hidden width of the attention scorer.
    attention_hidden: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.projection, self.attention_heads, self.attention_hidden) < 1:
            raise ConfigError("projection, attention_heads and attention_hidden must be at least 1")


def mlp(in_dim: int, hidden: Sequence[int], num_classes: int, params: FrameHeadParams) -> nn.Sequential:
    """[Linear -> norm -> activation -> Dropout] per hidden size, then Linear to the logits."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if params.norm == "layer":
            layers.append(nn.LayerNorm(size))
        elif params.norm == "batch":
            layers.append(nn.BatchNorm1d(size))
        layers += [activation(params.activation), nn.Dropout(params.dropout)]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _constant(std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Dimensions whose spread is rounding noise (relative to their magnitude)."""
    return std <= 1e-5 * (1.0 + np.abs(mean))


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, T, 1) float mask of the valid frames."""
    return mask_from_lengths(lengths, steps).unsqueeze(-1).to(torch.float32)


def subtract_recording_mean(frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each recording minus its own mean frame over its valid frames (B, T, D)."""
    mask = valid_mask(lengths, frames.shape[1])
    mean = (frames * mask).sum(dim=1, keepdim=True) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    return frames - mean


def mean_std_pool(frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Masked mean and std over time: (B, T, D) -> (B, 2D)."""
    mean, std = masked_mean_std(frames.transpose(1, 2), lengths)
    return torch.cat([mean, std], dim=1)


class FrameHead(EmotionModel):
    """Base of the frame heads: input checks, per-recording and per-dimension normalisation."""

    input_kind = "frames"
    Params = FrameHeadParams

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        if self.params.input_dim <= 0:
            raise ConfigError(f"{config.name}: params.input_dim must be set to the frame width")
        dim = self.params.input_dim
        self.register_buffer("frame_mean", torch.zeros(dim))
        self.register_buffer("frame_std", torch.ones(dim))

    def frames_for_samples(self, samples: int) -> int:
        """How many frames ``samples`` audio samples give (at least 1)."""
        return max(1, math.ceil(samples * self.params.frame_rate / self.params.sample_rate))

    def _checked(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 3 or x.shape[2] != self.params.input_dim:
            raise ModelError(
                f"{self.config.name} expects (batch, frames, {self.params.input_dim}) frames, "
                f"got shape {tuple(x.shape)}; the bundle's frame extractor does not match the model"
            )
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        return x, lengths

    def _recording_normalized(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return subtract_recording_mean(x, lengths) if self.params.frame_norm == "mean" else x

    def encode_input(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = self._checked(x, lengths)
        frames = (self._recording_normalized(x, lengths) - self.frame_mean) / self.frame_std
        return frames * valid_mask(lengths, frames.shape[1]), lengths

    def fit_normalizer(self, inputs: Sequence[np.ndarray]) -> None:
        """Per-dimension mean/std over every valid frame of the training clips (float64 sums)."""
        dim = self.params.input_dim
        total, squares, count = np.zeros(dim), np.zeros(dim), 0
        for array in inputs:
            frames = np.asarray(array, dtype=np.float64)
            if frames.ndim != 2 or frames.shape[1] != dim or frames.shape[0] == 0:
                raise ModelError(
                    f"{self.config.name} normaliser: expected (frames, {dim}), got {frames.shape}"
                )
            if self.params.frame_norm == "mean":
                frames = frames - frames.mean(axis=0)
            total += frames.sum(axis=0)
            squares += np.square(frames).sum(axis=0)
            count += frames.shape[0]
        mean = total / max(count, 1)
        std = np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 0.0))
        std[_constant(std, mean)] = 1.0  # constant dimensions: centre them, do not divide by zero
        self.frame_mean.copy_(torch.from_numpy(mean).float())
        self.frame_std.copy_(torch.from_numpy(std).float())
        self.fit_head_normalizer(inputs)

    def fit_head_normalizer(self, inputs: Sequence[np.ndarray]) -> None:
        """Hook for heads with more statistics to fit (after the frame statistics)."""


@register_model("pooled-mlp")
class PooledMLP(FrameHead):
    """Normalised frames -> masked mean + std pooling -> standardise -> MLP."""

    Params = PooledMLPParams

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        pooled = 2 * self.params.input_dim
        self.register_buffer("pooled_mean", torch.zeros(pooled))
        self.register_buffer("pooled_std", torch.ones(pooled))
        self.net = mlp(pooled, self.params.hidden, num_classes, self.params)

    def pool(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return (mean_std_pool(frames, lengths) - self.pooled_mean) / self.pooled_std

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        features, lengths = self._checked(features, lengths)
        return self.net(self.pool(features, lengths))

    @torch.no_grad()
    def fit_head_normalizer(self, inputs: Sequence[np.ndarray]) -> None:
        """Mean/std of the pooled statistics of the training clips (through the same code path)."""
        pooled = []
        for array in inputs:
            x = torch.from_numpy(np.asarray(array, dtype=np.float32)).unsqueeze(0)
            frames, lengths = self.encode_input(x, None)
            pooled.append(mean_std_pool(frames, lengths)[0].double())
        matrix = torch.stack(pooled)
        mean, std = matrix.mean(dim=0).numpy(), matrix.std(dim=0, unbiased=False).numpy()
        # With frame_norm "mean" the pooled means are constant up to float32 rounding: dividing
        # that noise by its own tiny spread would turn it into large, meaningless inputs.
        std[_constant(std, mean)] = 1.0
        self.pooled_mean.copy_(torch.from_numpy(mean).float())
        self.pooled_std.copy_(torch.from_numpy(std).float())


class MultiHeadAttentiveStats(nn.Module):
    """Attention-weighted mean and std over valid frames, one softmax per head: (B, T, P) -> (B, H*2P)."""

    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.scorer = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, heads))
        self.out_dim = heads * 2 * width

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        scores = self.scorer(frames)  # (B, T, H)
        valid = mask_from_lengths(lengths, frames.shape[1]).unsqueeze(-1)
        weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=1)
        mean = torch.einsum("bth,btp->bhp", weights, frames)
        second = torch.einsum("bth,btp->bhp", weights, frames.square())
        std = torch.sqrt((second - mean.square()).clamp(min=1e-5))
        return torch.cat([mean, std], dim=2).flatten(1)


@register_model("attention-pool")
class AttentionPool(FrameHead):
    """Normalised frames -> Linear projection -> activation/dropout -> attentive stats pooling -> MLP."""

    Params = AttentionPoolParams

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        p: AttentionPoolParams = self.params
        self.project = nn.Sequential(
            nn.Linear(p.input_dim, p.projection), activation(p.activation), nn.Dropout(p.dropout)
        )
        self.pool = MultiHeadAttentiveStats(p.projection, p.attention_heads, p.attention_hidden)
        self.net = mlp(self.pool.out_dim, p.hidden, num_classes, p)

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        features, lengths = self._checked(features, lengths)
        return self.net(self.pool(self.project(features), lengths))
