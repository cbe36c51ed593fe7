"""Convolutional recurrent network: conv blocks, a bidirectional GRU/LSTM, attention pooling.

The recurrent layer is made bidirectional by hand (a forward RNN on the sequence and another on
each sequence reversed within its own length) instead of packed sequences: the result is
identical for every padding and the graph stays exportable to ONNX.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from voxemo.config import Config
from voxemo.errors import ConfigError
from voxemo.models.base import ModelConfig, SpectrogramModel, register_model
from voxemo.models.cnn import ConvBlock2d
from voxemo.models.frontend import mask_from_lengths
from voxemo.models.layers import AttentiveStatsPooling, ClassifierHead

RNN_TYPES = {"gru": nn.GRU, "lstm": nn.LSTM}


@dataclass
class CRNNParams(Config):
    channels: tuple[int, ...] = (16, 32, 64)
    #: Each block max-pools frequency by 2 and time by the matching factor here.
    time_pools: tuple[int, ...] = (2, 2, 1)
    rnn: str = "gru"
    rnn_hidden: int = 96
    rnn_layers: int = 1
    hidden: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.time_pools):
            raise ConfigError("crnn: channels and time_pools must have the same length")
        if self.rnn not in RNN_TYPES:
            raise ConfigError(f"crnn: rnn must be one of {', '.join(RNN_TYPES)}, got {self.rnn!r}")


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each (B, T, C) sequence over its first ``length`` steps; padding stays at the end."""
    steps = x.shape[1]
    positions = torch.arange(steps, device=x.device).unsqueeze(0)
    index = lengths.unsqueeze(1) - 1 - positions
    index = torch.where(index >= 0, index, positions)  # padded steps map onto themselves
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


class MaskedBiRNN(nn.Module):
    """Bidirectional RNN (B, T, C) -> (B, T, 2H) whose outputs on valid steps ignore padding."""

    def __init__(self, kind: str, in_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        rnn = RNN_TYPES[kind]
        drop = dropout if layers > 1 else 0.0
        self.forward_rnn = rnn(in_dim, hidden, num_layers=layers, batch_first=True, dropout=drop)
        self.backward_rnn = rnn(in_dim, hidden, num_layers=layers, batch_first=True, dropout=drop)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        ahead, _ = self.forward_rnn(x)
        back, _ = self.backward_rnn(reverse_within_lengths(x, lengths))
        return torch.cat([ahead, reverse_within_lengths(back, lengths)], dim=-1)


@register_model("crnn")
class CRNN(SpectrogramModel):
    """Log-mel -> conv blocks -> BiGRU/BiLSTM over time -> attentive statistics pooling -> logits."""

    Params = CRNNParams

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        p: CRNNParams = self.params
        blocks = []
        in_ch = 1
        for out_ch, time_pool in zip(p.channels, p.time_pools, strict=True):
            blocks.append(ConvBlock2d(in_ch, out_ch, 1, pool=(2, time_pool)))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)
        freq = config.frontend.n_mels // (2 ** len(p.channels))
        self.project = nn.Linear(in_ch * max(freq, 1), p.rnn_hidden * 2)
        self.rnn = MaskedBiRNN(p.rnn, p.rnn_hidden * 2, p.rnn_hidden, p.rnn_layers, p.dropout)
        self.pooling = AttentiveStatsPooling(p.rnn_hidden * 2)
        self.head = ClassifierHead(self.pooling.out_dim, p.hidden, num_classes, p.dropout)

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        assert lengths is not None
        x = features.unsqueeze(1)
        for block in self.blocks:
            x, lengths = block(x, lengths)
        batch, channels, freq, steps = x.shape
        x = x.reshape(batch, channels * freq, steps).transpose(1, 2)  # (B, T, C*F)
        x = torch.relu(self.project(x))
        x = self.rnn(x, lengths)
        x = x * mask_from_lengths(lengths, steps).unsqueeze(-1)
        return self.head(self.pooling(x.transpose(1, 2), lengths))
