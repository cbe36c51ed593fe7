"""Every registered model builds, gives (B, C) logits and ignores padding exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxemo.errors import ConfigError, ModelError, RegistryError
from voxemo.models import MODELS, FrontendConfig, ModelConfig, build_model

SPECTROGRAM_MODELS = [name for name in MODELS.names() if MODELS.get(name).input_kind == "waveform"]


def make(name: str, num_classes: int = 5, utterance_norm: str = "none") -> torch.nn.Module:
    params = {"input_dim": 12} if MODELS.get(name).input_kind in ("features", "frames") else {}
    torch.manual_seed(0)
    frontend = FrontendConfig(utterance_norm=utterance_norm)
    return build_model(ModelConfig(name=name, frontend=frontend, params=params), num_classes)


def test_registry_holds_the_families() -> None:
    assert {"mlp", "cnn", "crnn", "tcn"} <= set(MODELS.names())


@pytest.mark.parametrize("name", MODELS.names())
def test_logits_shape_for_variable_lengths(name: str) -> None:
    model = make(name).eval()
    if model.input_kind == "features":
        x, lengths = torch.randn(3, 12), None
    elif model.input_kind == "frames":
        x, lengths = torch.randn(3, 40, 12), torch.tensor([40, 25, 9])
    else:
        lengths = torch.tensor([16000, 9000, 4001])
        x = torch.randn(3, 16000) * 0.1 * (torch.arange(16000)[None] < lengths[:, None])
    with torch.no_grad():
        logits = model(x, lengths)
    assert logits.shape == (3, 5)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", SPECTROGRAM_MODELS)
@pytest.mark.parametrize(("short", "utterance_norm"), [(7999, "none"), (12345, "mean")])
def test_padding_does_not_change_logits(name: str, short: int, utterance_norm: str) -> None:
    model = make(name, utterance_norm=utterance_norm)
    model.fit_normalizer([np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1])
    model.train()  # move batch-norm statistics away from their initial identity
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 20000) * 0.1, torch.full((4,), 20000))
    model.eval()
    clip = torch.randn(short) * 0.1
    batch = torch.zeros(2, 40000)
    batch[0] = torch.randn(40000) * 0.1
    batch[1, :short] = clip
    with torch.no_grad():
        together = model(batch, torch.tensor([40000, short]))[1]
        alone = model(clip[None], torch.tensor([short]))[0]
    assert torch.allclose(together, alone, atol=1e-5), (together - alone).abs().max()


def test_mlp_standardises_with_training_statistics() -> None:
    model = make("mlp")
    data = np.random.default_rng(0).normal(5.0, 3.0, size=(200, 12)).astype(np.float32)
    model.fit_normalizer(list(data))
    standardised, _ = model.encode_input(torch.from_numpy(data), None)
    assert torch.allclose(standardised.mean(0), torch.zeros(12), atol=1e-4)
    assert torch.allclose(standardised.std(0), torch.ones(12), atol=1e-2)
    with pytest.raises(ModelError, match="expects"):
        model(torch.randn(2, 7))


@pytest.mark.parametrize("act", ["sigmoid", "relu", "gelu", "tanh"])
def test_mlp_activation_choice(act: str) -> None:
    model = build_model(ModelConfig(name="mlp", params={"input_dim": 4, "activation": act}), 3)
    assert any(type(m).__name__.lower().startswith(act[:4]) for m in model.modules())


def test_bad_model_configs_raise() -> None:
    with pytest.raises(RegistryError, match="known"):
        build_model(ModelConfig(name="resnet9000"), 3)
    with pytest.raises(ConfigError, match="valid keys"):
        build_model(ModelConfig(name="cnn", params={"chanels": [8]}), 3)
    with pytest.raises(ConfigError, match="activation"):
        build_model(ModelConfig(name="mlp", params={"input_dim": 4, "activation": "swishy"}), 3)
    with pytest.raises(ConfigError, match="input_dim"):
        build_model(ModelConfig(name="mlp"), 3)
    with pytest.raises(ModelError, match="2 classes"):
        build_model(ModelConfig(name="cnn"), 1)


def test_mlp_clips_standardised_inputs_and_drops_inputs_only_in_training() -> None:
    params = {"input_dim": 4, "clip": 2.0, "input_dropout": 0.5, "hidden": [8]}
    model = build_model(ModelConfig(name="mlp", params=params), 3)
    model.fit_normalizer([np.zeros(4), np.ones(4) * 2])  # mean 1, std 1
    z, _ = model.encode_input(torch.tensor([[1.0, 2.0, 100.0, -100.0]]), None)
    assert z.tolist() == [[0.0, 1.0, 2.0, -2.0]]
    model.eval()
    x = torch.randn(2, 4)
    assert torch.equal(model(x, None), model(x, None))  # no input dropout at inference
    with pytest.raises(ConfigError, match="input_dropout"):
        build_model(ModelConfig(name="mlp", params={"input_dim": 4, "input_dropout": 1.0}), 3)
