"""2-D CNN on the log-mel spectrogram with batch norm and attentive statistics pooling.

Conv blocks halve time and frequency; the remaining frequency axis is averaged and an attentive
mean+std pooling summarises the variable-length time axis. Padded frames are zeroed after every
block, so zero-padding inside a batch looks exactly like the convolution's own zero padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from voxemo.config import Config
from voxemo.errors import ConfigError
from voxemo.models.base import ModelConfig, SpectrogramModel, register_model
from voxemo.models.layers import AttentiveStatsPooling, ClassifierHead, downsample_lengths, time_mask


@dataclass
class CNNParams(Config):
    channels: tuple[int, ...] = (16, 32, 64, 128)
    #: Blocks (from the first) followed by a 2x2 max-pool; later ones keep the resolution.
    #: A number above the block count means every block pools.
    pooled_blocks: int = 4
    convs_per_block: int = 1
    hidden: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if not self.channels or self.pooled_blocks < 0:
            raise ConfigError("cnn: need at least one block (channels) and pooled_blocks >= 0")


class ConvBlock2d(nn.Module):
    """``convs`` x (3x3 conv -> BN -> ReLU), then an optional max-pool; keeps padding at zero."""

    def __init__(self, in_ch: int, out_ch: int, convs: int, pool: tuple[int, int] | None) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [
                nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
            ]
        self.layers = nn.ModuleList(layers)
        # pool = (frequency factor, time factor)
        self.pool = nn.MaxPool2d(pool) if pool else None
        self.time_factor = pool[1] if pool else 1

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = time_mask(lengths, x.shape[-1]).unsqueeze(1)
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                x = x * mask
        if self.pool is not None:
            x = self.pool(x)
            lengths = downsample_lengths(lengths, self.time_factor)
            # A window straddling the last valid frame and padding is dropped from the lengths but
            # is not zero; clear it so the next convolution sees true zero padding.
            x = x * time_mask(lengths, x.shape[-1]).unsqueeze(1)
        return x, lengths


@register_model("cnn")
class CNN(SpectrogramModel):
    """Small VGG-style CNN: (B, N) waveform -> log-mel -> conv blocks -> attentive pooling -> logits."""

    Params = CNNParams

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        p: CNNParams = self.params
        blocks = []
        in_ch = 1
        for i, out_ch in enumerate(p.channels):
            blocks.append(
                ConvBlock2d(in_ch, out_ch, p.convs_per_block, pool=(2, 2) if i < p.pooled_blocks else None)
            )
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        self.pooling = AttentiveStatsPooling(in_ch)
        self.head = ClassifierHead(self.pooling.out_dim, p.hidden, num_classes, p.dropout)

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        assert lengths is not None
        x = features.unsqueeze(1)  # (B, 1, n_mels, T)
        for block in self.blocks:
            x, lengths = block(x, lengths)
        x = x.mean(dim=2)  # average what is left of the frequency axis -> (B, C, T)
        return self.head(self.pooling(x, lengths))
