"""Multi-scale temporal CNN (TIM-Net-like): dilated 1-D convolutions over the mel bands.

The 64 mel bands are channels; residual blocks with growing dilation see from 30 ms to a few
seconds of context. Every block's output is summarised (masked mean and std) and the scales are
fused with learned weights, so the classifier can use short-term (voice quality, pitch jumps)
and long-term (tempo, energy contour) cues at once. Cheap on CPU: no 2-D convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from voxemo.config import Config
from voxemo.errors import ConfigError
from voxemo.models.base import ModelConfig, SpectrogramModel, register_model
from voxemo.models.layers import (
    AttentiveStatsPooling,
    ClassifierHead,
    downsample_lengths,
    masked_mean_std,
    time_mask,
)


@dataclass
class TCNParams(Config):
    channels: int = 96
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    kernel_size: int = 3
    #: Time downsampling (max-pool) right after the input convolution.
    time_pool: int = 2
    hidden: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if not self.dilations or self.kernel_size % 2 == 0:
            raise ConfigError("tcn: need at least one dilation and an odd kernel_size")


class DilatedResidualBlock(nn.Module):
    """x + BN(conv_d(ReLU(BN(conv_d(x))))) with padded steps kept at zero."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x))) * mask
        y = self.bn2(self.conv2(self.dropout(y)))
        return torch.relu(x + y) * mask


@register_model("tcn")
class TCN(SpectrogramModel):
    """Log-mel -> dilated residual 1-D conv stack -> multi-scale fused pooling -> logits."""

    Params = TCNParams

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        p: TCNParams = self.params
        self.stem = nn.Sequential(
            nn.Conv1d(
                config.frontend.n_mels, p.channels, p.kernel_size, padding=p.kernel_size // 2, bias=False
            ),
            nn.BatchNorm1d(p.channels),
            nn.ReLU(),
        )
        self.pool = nn.MaxPool1d(p.time_pool) if p.time_pool > 1 else None
        self.blocks = nn.ModuleList(
            DilatedResidualBlock(p.channels, p.kernel_size, d, p.dropout) for d in p.dilations
        )
        # One learned weight per scale, softmax-normalised (the "dynamic fusion" of TIM-Net).
        self.scale_logits = nn.Parameter(torch.zeros(len(p.dilations)))
        self.pooling = AttentiveStatsPooling(p.channels)
        self.head = ClassifierHead(2 * p.channels + self.pooling.out_dim, p.hidden, num_classes, p.dropout)

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        assert lengths is not None
        x = self.stem(features) * time_mask(lengths, features.shape[-1])
        if self.pool is not None:
            x = self.pool(x)
            lengths = downsample_lengths(lengths, self.params.time_pool)
        mask = time_mask(lengths, x.shape[-1])
        x = x * mask  # a pooling window straddling the end of a clip is padding now
        summaries = []
        for block in self.blocks:
            x = block(x, mask)
            summaries.append(torch.cat(masked_mean_std(x, lengths), dim=1))
        weights = torch.softmax(self.scale_logits, dim=0)
        fused = (torch.stack(summaries, dim=0) * weights[:, None, None]).sum(dim=0)
        return self.head(torch.cat([fused, self.pooling(x, lengths)], dim=1))
