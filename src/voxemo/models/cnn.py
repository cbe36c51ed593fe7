"""2-D CNN on the log-mel spectrogram with batch norm and attentive statistics pooling.

Conv blocks halve time and frequency; the remaining frequency axis is averaged and an attentive
mean+std pooling summarises the variable-length time axis. Padded frames are zeroed after every
block, so zero-padding inside a batch looks exactly like the convolution's own zero padding.

Options that make the network cheaper (all off by default, so older bundles load unchanged):
``stem_stride`` strides the first convolution in frequency and time (everything after it sees a
quarter of the positions), ``separable`` makes the blocks after the first depthwise-separable
(3x3 per channel, then 1x1 across channels). Channel widths and the front end (``n_mels``,
``hop_length``) are the other levers.
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
    #: Stride of the first convolution in frequency and time (1: full resolution). 2 divides the
    #: positions every later layer sees by four; the first block then costs about a sixteenth.
    stem_stride: int = 1
    #: Blocks after the first use depthwise-separable convolutions (3x3 depthwise + 1x1 pointwise).
    separable: bool = False

    def __post_init__(self) -> None:
        if not self.channels or self.pooled_blocks < 0:
            raise ConfigError("cnn: need at least one block (channels) and pooled_blocks >= 0")
        if not 1 <= self.stem_stride <= 4:
            raise ConfigError(f"cnn: stem_stride must be 1, 2, 3 or 4, got {self.stem_stride}")


def max_pool(x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
    """``nn.MaxPool2d(pool)`` on (B, C, F, T), bit for bit, several times faster on CPU.

    torch's CPU max-pool kernel for contiguous NCHW input is slow (it also tracks argmax indices);
    an element-wise maximum of strided slices gives the same values. ONNX export keeps the
    MaxPool operator, which onnxruntime runs well.
    """
    if torch.onnx.is_in_onnx_export():
        return nn.functional.max_pool2d(x, pool)
    for axis, factor in ((2, pool[0]), (3, pool[1])):
        if factor == 1:
            continue
        kept = x.shape[axis] // factor * factor  # MaxPool2d drops an incomplete last window
        slices = [x.narrow(axis, 0, kept)[_every(axis, start, factor)] for start in range(factor)]
        x = slices[0]
        for other in slices[1:]:
            x = torch.maximum(x, other)
    return x


def _every(axis: int, start: int, step: int) -> tuple[slice, ...]:
    """Index selecting every ``step``-th element from ``start`` along ``axis`` (of a 4-D tensor)."""
    return (slice(None),) * axis + (slice(start, None, step),)


def conv3x3(in_ch: int, out_ch: int, stride: int = 1, separable: bool = False) -> nn.Module:
    """A 3x3 convolution (no bias: batch norm follows), optionally depthwise-separable."""
    if not separable or in_ch == 1:
        return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
    return nn.Sequential(
        nn.Conv2d(in_ch, in_ch, 3, stride=stride, padding=1, groups=in_ch, bias=False),
        nn.Conv2d(in_ch, out_ch, 1, bias=False),
    )


def strided_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """Frame counts after a 3x3, padding-1 convolution of ``stride``: ceil(lengths / stride)."""
    if stride == 1:
        return lengths
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


class ConvBlock2d(nn.Module):
    """``convs`` x (3x3 conv -> BN -> ReLU), then an optional max-pool; keeps padding at zero.

    ``stride`` applies to the first convolution (frequency and time); ``separable`` makes every
    convolution depthwise-separable.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        convs: int,
        pool: tuple[int, int] | None,
        *,
        stride: int = 1,
        separable: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [
                conv3x3(in_ch if i == 0 else out_ch, out_ch, stride if i == 0 else 1, separable),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
            ]
        self.layers = nn.ModuleList(layers)
        self.stride = stride
        # pool = (frequency factor, time factor)
        self.pool = nn.MaxPool2d(pool) if pool else None
        self.pool_factors = pool
        self.time_factor = pool[1] if pool else 1

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = strided_lengths(lengths, self.stride)
        mask: torch.Tensor | None = None
        for layer in self.layers:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                if mask is None:  # after the (possibly strided) first convolution
                    mask = time_mask(lengths, x.shape[-1]).unsqueeze(1)
                x = x * mask
        if self.pool_factors is not None:
            x = max_pool(x, self.pool_factors)
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
                ConvBlock2d(
                    in_ch,
                    out_ch,
                    p.convs_per_block,
                    pool=(2, 2) if i < p.pooled_blocks else None,
                    stride=p.stem_stride if i == 0 else 1,
                    separable=p.separable and i > 0,
                )
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
