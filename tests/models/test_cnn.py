"""The CNN's cost options (strided stem, separable blocks), its fast max-pool and the `fast` recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from voxemo.errors import ConfigError
from voxemo.models import FrontendConfig, ModelConfig, build_model
from voxemo.models.cnn import CNNParams, max_pool, strided_lengths
from voxemo.training.cli_train import load_train_config

REPO = Path(__file__).resolve().parents[2]
FAST_RECIPE = REPO / "recipes" / "fast.yaml"
DEFAULT_RECIPE = REPO / "recipes" / "default.yaml"


def fast_config() -> ModelConfig:
    return load_train_config(FAST_RECIPE).model


def default_config() -> ModelConfig:
    return load_train_config(DEFAULT_RECIPE).model


def built(config: ModelConfig, num_classes: int = 7, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(config, num_classes)


def settled(model: nn.Module) -> nn.Module:
    """Fitted normaliser and batch-norm statistics away from identity, in eval mode."""
    model.fit_normalizer([np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1])
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 20000) * 0.1, torch.full((4,), 20000))
    return model.eval()


def conv_macs(model: nn.Module, seconds: float = 3.0) -> int:
    """Multiply-accumulates of every convolution for one clip of ``seconds``."""
    total = 0

    def count(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1]
        total += output.numel() * kernel * module.in_channels // module.groups

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.Conv2d)]
    n = int(16000 * seconds)
    with torch.no_grad():
        model.eval()(torch.zeros(1, n), torch.tensor([n]))
    for hook in hooks:
        hook.remove()
    return total


# ---------------------------------------------------------------------------- max pool


@pytest.mark.parametrize("shape", [(2, 3, 64, 301), (1, 4, 7, 9), (3, 2, 5, 2)])
@pytest.mark.parametrize("pool", [(2, 2), (2, 1), (1, 2), (3, 2)])
def test_max_pool_equals_torch_maxpool_bit_for_bit(shape: tuple, pool: tuple[int, int]) -> None:
    x = torch.randn(*shape)
    assert torch.equal(max_pool(x, pool), nn.MaxPool2d(pool)(x))


# ---------------------------------------------------------------------------- options


def test_defaults_are_the_original_architecture() -> None:
    params = CNNParams()
    assert (params.stem_stride, params.separable) == (1, False)
    model = built(ModelConfig(name="cnn"))
    first = model.blocks[0].layers[0]
    assert isinstance(first, nn.Conv2d) and first.stride == (1, 1)
    # The bundled default's weights name exactly these tensors: new options must add none.
    convs = [k for k in model.state_dict() if k.startswith("blocks.") and k.endswith("0.weight")]
    assert convs == [f"blocks.{i}.layers.0.weight" for i in range(4)]


def test_bad_stem_stride_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="stem_stride"):
        build_model(ModelConfig(name="cnn", params={"stem_stride": 0}), 3)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_strided_lengths_match_the_convolution(stride: int) -> None:
    conv = nn.Conv2d(1, 1, 3, stride=stride, padding=1)
    for frames in (1, 2, 5, 8, 101):
        out = conv(torch.zeros(1, 1, 4, frames)).shape[-1]
        assert int(strided_lengths(torch.tensor([frames]), stride)) == out


def test_fast_recipe_shapes_and_time_resolution() -> None:
    model = built(fast_config()).eval()
    lengths = torch.tensor([48000, 20000, 8000])
    x = torch.randn(3, 48000) * 0.1 * (torch.arange(48000)[None] < lengths[:, None])
    with torch.no_grad():
        logits = model(x, lengths)
        features, frames = model.frontend(x, lengths)
        h, steps = features.unsqueeze(1), frames
        for block in model.blocks:
            h, steps = block(h, steps)
    assert logits.shape == (3, 7) and torch.isfinite(logits).all()
    assert features.shape[1] == 64  # n_mels of the recipe
    assert frames.tolist() == [188, 79, 32]  # 16 ms hop: N // 256 + 1
    # Stride-2 stem (ceil), then three 2x2 pools (floor): 188 -> 94 -> 47 -> 23 -> 11.
    assert steps.tolist() == [11, 5, 2]
    assert h.shape[2] == 4  # 64 bands -> 32 -> 16 -> 8 -> 4


@pytest.mark.parametrize(
    "params", [{"stem_stride": 2, "pooled_blocks": 3}, {"stem_stride": 2, "separable": True}]
)
@pytest.mark.parametrize("short", [7999, 12345])
def test_padding_does_not_change_logits(params: dict, short: int) -> None:
    frontend = FrontendConfig(n_mels=40, hop_length=256)
    model = settled(built(ModelConfig(name="cnn", frontend=frontend, params=params), 5))
    clip = torch.randn(short) * 0.1
    batch = torch.zeros(2, 40000)
    batch[0] = torch.randn(40000) * 0.1
    batch[1, :short] = clip
    with torch.no_grad():
        together = model(batch, torch.tensor([40000, short]))[1]
        alone = model(clip[None], torch.tensor([short]))[0]
    assert torch.allclose(together, alone, atol=1e-5), (together - alone).abs().max()


def test_fast_recipe_costs_a_fraction_of_the_default() -> None:
    fast, default = built(fast_config()), built(default_config())
    n_fast = sum(p.numel() for p in fast.parameters())
    n_default = sum(p.numel() for p in default.parameters())
    assert n_fast == n_default  # same channel widths: the capacity is kept
    assert conv_macs(fast) < conv_macs(default) / 4


def test_separable_blocks_have_fewer_parameters_and_operations() -> None:
    plain = built(ModelConfig(name="cnn", params={"stem_stride": 2}))
    separable = built(ModelConfig(name="cnn", params={"stem_stride": 2, "separable": True}))
    n_plain = sum(p.numel() for p in plain.parameters())
    n_separable = sum(p.numel() for p in separable.parameters())
    assert n_separable < 0.6 * n_plain
    assert conv_macs(separable) < 0.6 * conv_macs(plain)


# ---------------------------------------------------------------------------- the fast recipe


def test_fast_recipe_differs_from_the_default_only_in_the_model() -> None:
    fast = load_train_config(FAST_RECIPE).to_dict()
    default = load_train_config(DEFAULT_RECIPE).to_dict()
    assert fast["model"] != default["model"]
    assert fast["out_dir"] == "runs/fast"
    for key in set(fast) | set(default):
        if key not in ("model", "out_dir"):
            assert fast.get(key) == default.get(key), key


def test_fast_recipe_trains_briefly_and_exports_to_onnx(tmp_path: Path) -> None:
    """A few optimiser steps on synthetic clips, a bundle, then ONNX within 1e-4 of torch."""
    pytest.importorskip("onnxruntime")
    from tests.training.synthetic import CLASSES, synthetic_set
    from voxemo.export import export_onnx
    from voxemo.inference import load_model
    from voxemo.training import save_bundle
    from voxemo.training.data import pad_waveforms

    torch.manual_seed(0)
    config = load_train_config(FAST_RECIPE)
    waves, labels, _ = synthetic_set(speakers=[0, 1], per_class=3, seed=0)
    model = build_model(config.model, len(CLASSES))
    model.fit_normalizer(waves)
    x, lengths = pad_waveforms(waves, min_samples=8000)
    targets = torch.tensor([CLASSES.index(label) for label in labels])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for _ in range(6):
        loss = nn.functional.cross_entropy(model(x, lengths), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    bundle = save_bundle(tmp_path / "fast", model.eval(), config.replace(labels=list(CLASSES)), list(CLASSES))
    onnx_file = export_onnx(bundle, tmp_path / "fast.onnx")
    clips = [waves[0], waves[3][:9000], np.concatenate([waves[1], waves[2]])]
    torch_probs = load_model(bundle).probabilities_batch(clips)
    onnx_probs = load_model(onnx_file, backend="onnx").probabilities_batch(clips)
    assert np.abs(torch_probs - onnx_probs).max() < 1e-4
