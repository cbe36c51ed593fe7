"""The frame heads (``pooled-mlp``, ``attention-pool``) on their own: shapes, masking, normalisers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxemo.errors import ConfigError, ModelError
from voxemo.models import ModelConfig, build_model, model_input_kind
from voxemo.models.heads import PooledMLP
from voxemo.training.data import pad_frames

HEADS = ["pooled-mlp", "attention-pool"]
DIM = 6


def head(name: str, **params) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, params={"input_dim": DIM, "hidden": [16], **params}), 3)
    rng = np.random.default_rng(0)
    model.fit_normalizer([rng.normal(2.0, 3.0, (n, DIM)).astype(np.float32) for n in (20, 35, 50)])
    return model.eval()


def clips(*lengths: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(2.0, 3.0, (n, DIM)).astype(np.float32) for n in lengths]


@pytest.mark.parametrize("name", HEADS)
def test_heads_are_frames_models_with_one_logit_per_class(name: str) -> None:
    model = head(name)
    assert model.input_kind == "frames"
    assert model_input_kind(ModelConfig(name=name)) == "frames"
    x, lengths = pad_frames(clips(12, 30))
    assert model(x, lengths).shape == (2, 3)


@pytest.mark.parametrize("frame_norm", ["none", "mean"])
@pytest.mark.parametrize("name", HEADS)
def test_padding_does_not_change_a_clips_logits(name: str, frame_norm: str) -> None:
    model = (
        head(name, frame_norm=frame_norm, attention_heads=3)
        if name == "attention-pool"
        else head(name, frame_norm=frame_norm)
    )
    short, long = clips(9, 41)
    alone = model(*pad_frames([short]))
    x, lengths = pad_frames([short, long])
    x[0, 9:] = 1e3  # whatever sits in the padding must not matter
    batched = model(x, lengths)
    torch.testing.assert_close(batched[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[1], model(*pad_frames([long]))[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", HEADS)
def test_mean_frame_norm_ignores_a_recordings_constant_offset(name: str) -> None:
    normed, plain = head(name, frame_norm="mean"), head(name, frame_norm="none")
    (clip,) = clips(25)
    shifted = clip + np.linspace(-4, 4, DIM, dtype=np.float32)  # e.g. another microphone's colouring
    torch.testing.assert_close(
        normed(*pad_frames([shifted])), normed(*pad_frames([clip])), atol=1e-5, rtol=1e-4
    )
    assert not torch.allclose(plain(*pad_frames([shifted])), plain(*pad_frames([clip])), atol=1e-3)


def test_fit_normalizer_uses_exactly_the_frames_it_is_given() -> None:
    model = build_model(ModelConfig(name="pooled-mlp", params={"input_dim": DIM}), 3)
    train = clips(10, 30, seed=2)
    model.fit_normalizer(train)
    frames = np.concatenate(train).astype(np.float64)
    np.testing.assert_allclose(model.frame_mean.numpy(), frames.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(model.frame_std.numpy(), frames.std(axis=0), rtol=1e-4)
    # The pooled statistics are standardised with the training clips' own pooled statistics.
    with torch.no_grad():
        pooled = torch.stack([model.pool(*model.encode_input(*pad_frames([c])))[0] for c in train])
    torch.testing.assert_close(pooled.mean(dim=0), torch.zeros(2 * DIM), atol=1e-5, rtol=0)
    before = {k: v.clone() for k, v in model.state_dict().items() if "mean" in k or "std" in k}
    with torch.no_grad():
        model(*pad_frames(clips(40, seed=9)))  # scoring other data must leave the statistics alone
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in before)


def test_mean_frame_norm_fits_the_statistics_of_mean_removed_frames() -> None:
    model = build_model(
        ModelConfig(name="attention-pool", params={"input_dim": DIM, "frame_norm": "mean"}), 3
    )
    train = clips(10, 30, seed=3)
    model.fit_normalizer(train)
    centred = np.concatenate([c - c.mean(axis=0) for c in train]).astype(np.float64)
    np.testing.assert_allclose(model.frame_mean.numpy(), np.zeros(DIM), atol=1e-5)
    np.testing.assert_allclose(model.frame_std.numpy(), centred.std(axis=0), rtol=1e-4)


def test_encode_input_zeroes_the_padding() -> None:
    model = head("pooled-mlp")
    x, lengths = pad_frames(clips(5, 12))
    encoded, _ = model.encode_input(x, lengths)
    assert encoded[0, 5:].abs().sum() == 0 and encoded[0, :5].abs().sum() > 0


def test_frames_for_samples_follows_the_frame_rate() -> None:
    model = head("pooled-mlp", frame_rate=50.0, sample_rate=16_000)
    assert model.frames_for_samples(16_000) == 50 and model.frames_for_samples(100) == 1


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"frame_norm": "median"}, "frame_norm"),
        ({"norm": "group"}, "norm"),
        ({"activation": "swish2"}, "activation"),
        ({"dropout": 1.5}, "dropout"),
        ({"input_dim": 0}, "input_dim"),
        ({"hiden": [8]}, "hiden"),
    ],
)
def test_bad_params_raise_config_errors(params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_model(ModelConfig(name="pooled-mlp", params={"input_dim": DIM, **params}), 3)


def test_frames_of_the_wrong_width_are_a_clear_model_error() -> None:
    model = head("attention-pool")
    with pytest.raises(ModelError, match=f"frames, {DIM}"):
        model(torch.zeros(1, 10, DIM + 1), torch.tensor([10]))


def test_batch_norm_variant_trains_and_evaluates() -> None:
    model = head("pooled-mlp", norm="batch")
    assert isinstance(model, PooledMLP)
    model.train()
    x, lengths = pad_frames(clips(8, 12, 20))
    model(x, lengths).sum().backward()
    assert model.eval()(x, lengths).shape == (3, 3)
