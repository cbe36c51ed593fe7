"""Model registry, the shared model config and the :class:`EmotionModel` base class."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from voxemo.config import Config, _plain
from voxemo.errors import ConfigError, ModelError
from voxemo.models.frontend import FrontendConfig, LogMelFrontend
from voxemo.registry import Registry

P = TypeVar("P", bound=Config)

#: name -> EmotionModel subclass; filled by ``@register_model("name")`` in each family's module.
MODELS: Registry[type[EmotionModel]] = Registry("model")
INPUT_KINDS = ("waveform", "features", "frames")


def register_model(name: str):
    """Class decorator adding an :class:`EmotionModel` subclass to :data:`MODELS`."""
    return MODELS.register(name)


@dataclass
class ModelConfig(Config):
    """Which model family (``name``), its front end and its architecture ``params``.

    ``params`` is validated against the family's own typed ``Params`` dataclass, so a typo in a
    recipe is an error that lists the valid keys.
    """

    name: str = "cnn"
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Tuples -> lists so a config equals itself after a YAML/JSON round trip.
        self.params = _plain(dict(self.params))


class EmotionModel(nn.Module):
    """Base of every model: ``forward(x, lengths) -> logits (B, C)``.

    Subclasses split the forward pass in two so the training loop can augment in between:
    :meth:`encode_input` (front end / standardisation, no learnable weights) and :meth:`classify`.
    """

    input_kind: ClassVar[str] = "waveform"
    Params: ClassVar[type[Config]]

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ModelError(f"a classifier needs at least 2 classes, got {num_classes}")
        self.config = config
        self.num_classes = num_classes
        self.params = self.parse_params(config.params)

    @classmethod
    def parse_params(cls, params: dict[str, Any]) -> Any:
        return cls.Params.from_dict(params)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return cls.Params().to_dict()

    def encode_input(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def classify(self, features: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.classify(*self.encode_input(x, lengths))

    def fit_normalizer(self, inputs: Sequence[np.ndarray]) -> None:
        """Fit normalisation buffers from training inputs only (waveforms or feature vectors)."""
        raise NotImplementedError


class SpectrogramModel(EmotionModel):
    """A model on the shared log-mel front end; subclasses implement :meth:`classify`."""

    input_kind: ClassVar[str] = "waveform"

    def __init__(self, config: ModelConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.frontend = LogMelFrontend(config.frontend)

    def encode_input(
        self, x: torch.Tensor, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.frontend(x, lengths)

    def fit_normalizer(self, inputs: Sequence[np.ndarray]) -> None:
        self.frontend.fit_normalizer(inputs)


def build_model(config: ModelConfig, num_classes: int) -> EmotionModel:
    """Instantiate the registered family ``config.name``; bad params raise ConfigError."""
    # Importing the package registers every family.
    import voxemo.models  # noqa: F401

    cls = MODELS.get(config.name)
    try:
        return cls(config, num_classes)
    except TypeError as exc:
        raise ConfigError(f"model {config.name!r}: {exc}") from exc


def model_input_kind(config: ModelConfig) -> str:
    """``"waveform"`` or ``"features"`` for a config, without building the model."""
    import voxemo.models  # noqa: F401

    return MODELS.get(config.name).input_kind


def params_with_defaults(cls: type[EmotionModel], params: dict[str, Any]) -> dict[str, Any]:
    """The full params dict of a family (defaults filled in), e.g. to write into a recipe."""
    return dataclasses.asdict(cls.Params.from_dict(params))
