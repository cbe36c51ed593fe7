"""Classic multilayer perceptron on utterance-level feature vectors (e.g. eGeMAPS).

Input standardisation (mean/std per feature) is a pair of buffers fitted on training data only,
so the saved model takes raw feature vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from voxemo.config import Config
from voxemo.errors import ConfigError, ModelError
from voxemo.models.base import EmotionModel, ModelConfig, register_model
from voxemo.models.layers import ACTIVATIONS, activation


@dataclass
class MLPParams(Config):
    #: Length of the feature vector; the training loop fills it in from the data.
    input_dim: int = 0
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    dropout: float = 0.3
    batch_norm: bool = True
    #: Dropout on the standardised input: with a thousand correlated functionals it stops the
    #: network from leaning on a few of them (0 = off).
    input_dropout: float = 0.0
    #: Standardised values are clipped to +-clip, so one outlying feature of an unusual recording
    #: cannot dominate (0 = no clipping).
    clip: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.input_dropout < 1.0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError("mlp: dropout and input_dropout must be in [0, 1)")
        if self.clip < 0:
            raise ConfigError(f"mlp: clip must be 0 (off) or positive, got {self.clip}")
        if self.activation not in ACTIVATIONS:
            known = ", ".join(ACTIVATIONS.names())
            raise ConfigError(f"mlp: unknown activation {self.activation!r}; known: {known}")


@register_model("mlp")
class MLP(EmotionModel):
    """Standardise, clip -> input dropout -> [Linear -> (BN) -> activation -> Dropout] x depth -> Linear."""

    input_kind = "features"
    Params = MLPParams

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        p: MLPParams = self.params
        if p.input_dim <= 0:
            raise ConfigError("mlp: params.input_dim must be set to the feature vector length")
        layers: list[nn.Module] = [nn.Dropout(p.input_dropout)] if p.input_dropout > 0 else []
        width = p.input_dim
        for size in p.hidden:
            layers.append(nn.Linear(width, size))
            if p.batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers += [activation(p.activation), nn.Dropout(p.dropout)]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)
        self.register_buffer("feature_mean", torch.zeros(p.input_dim))
        self.register_buffer("feature_std", torch.ones(p.input_dim))

    def encode_input(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.dim() != 2 or x.shape[1] != self.params.input_dim:
            raise ModelError(
                f"mlp expects (batch, {self.params.input_dim}) feature vectors, got shape {tuple(x.shape)}"
            )
        z = (x - self.feature_mean) / self.feature_std
        return (z.clamp(-self.params.clip, self.params.clip) if self.params.clip > 0 else z), None

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return self.net(features)

    def fit_normalizer(self, inputs: Sequence[np.ndarray]) -> None:
        matrix = np.asarray(np.stack([np.asarray(v, dtype=np.float64) for v in inputs]))
        if matrix.ndim != 2 or matrix.shape[1] != self.params.input_dim:
            raise ModelError(
                f"mlp normaliser: expected (n, {self.params.input_dim}) vectors, got {matrix.shape}"
            )
        std = matrix.std(axis=0)
        # Constant features would divide by zero; leave them centred but unscaled.
        std[std < 1e-8] = 1.0
        self.feature_mean.copy_(torch.from_numpy(matrix.mean(axis=0)).float())
        self.feature_std.copy_(torch.from_numpy(std).float())
