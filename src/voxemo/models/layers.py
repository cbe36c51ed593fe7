"""Building blocks shared by the model families: masked pooling over time and activations.

Every block here ignores padded frames exactly, so a clip's logits do not depend on what it is
batched with.
"""

from __future__ import annotations

import torch
from torch import nn

from voxemo.models.frontend import mask_from_lengths
from voxemo.registry import Registry

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")
for _name, _cls in {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}.items():
    ACTIVATIONS.register(_name)(_cls)


def activation(name: str) -> nn.Module:
    """A fresh activation module by name (relu, gelu, sigmoid, tanh, silu, elu, leaky_relu)."""
    return ACTIVATIONS.get(name)()


def time_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, 1, T) float mask of valid steps, to multiply (B, C, T) activations with."""
    return mask_from_lengths(lengths, steps).unsqueeze(1).to(torch.float32)


def downsample_lengths(lengths: torch.Tensor, factor: int) -> torch.Tensor:
    """Frame counts after a stride-``factor`` pooling that drops incomplete windows (min 1)."""
    return torch.div(lengths, factor, rounding_mode="floor").clamp(min=1)


def masked_mean_std(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over the valid steps of (B, C, T)."""
    mask = time_mask(lengths, x.shape[-1])
    count = mask.sum(dim=-1).clamp(min=1.0)
    mean = (x * mask).sum(dim=-1) / count
    var = (((x - mean.unsqueeze(-1)) * mask).square()).sum(dim=-1) / count
    return mean, torch.sqrt(var + 1e-5)


class AttentiveStatsPooling(nn.Module):
    """Attention-weighted mean and std over time (B, C, T) -> (B, 2C), ignoring padding.

    The attention sees each frame and the utterance's global mean/std (as in ECAPA), so it can
    pick out the emotionally salient frames relative to the whole clip.
    """

    def __init__(self, channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.Conv1d(channels * 3, hidden, kernel_size=1),
            nn.Tanh(),
            nn.Conv1d(hidden, channels, kernel_size=1),
        )
        self.out_dim = 2 * channels

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = x.shape[-1]
        mean, std = masked_mean_std(x, lengths)
        context = torch.cat(
            [x, mean.unsqueeze(-1).expand(-1, -1, steps), std.unsqueeze(-1).expand(-1, -1, steps)], dim=1
        )
        scores = self.attention(context)
        valid = mask_from_lengths(lengths, steps).unsqueeze(1)
        scores = scores.masked_fill(~valid, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        weighted_mean = (weights * x).sum(dim=-1)
        weighted_var = (weights * x.square()).sum(dim=-1) - weighted_mean.square()
        return torch.cat([weighted_mean, torch.sqrt(weighted_var.clamp(min=1e-5))], dim=1)


class ClassifierHead(nn.Module):
    """Dropout -> Linear -> activation -> Dropout -> Linear: pooled embedding -> logits."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
