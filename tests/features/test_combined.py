"""The ``combined`` extractor: several utterance-level sets side by side."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SR, speechlike
from voxemo.errors import AudioError, ConfigError
from voxemo.features import get_extractor


def test_parts_are_concatenated_in_order_with_prefixed_names() -> None:
    x = speechlike(1.5)
    combined = get_extractor("combined", parts=["mfcc-stats", "contrast-stats"])
    mfcc, contrast = get_extractor("mfcc-stats"), get_extractor("contrast-stats")
    out = combined.extract(x, SR)
    np.testing.assert_allclose(out, np.concatenate([mfcc.extract(x, SR), contrast.extract(x, SR)]), rtol=1e-6)
    names = combined.feature_names()
    assert len(names) == out.size == combined.dim == mfcc.dim + contrast.dim
    assert names[0] == f"mfcc-stats.{mfcc.feature_names()[0]}"
    assert names[-1] == f"contrast-stats.{contrast.feature_names()[-1]}"


def test_part_params_reach_the_part_and_change_the_cache_key() -> None:
    plain = get_extractor("combined", parts=["mfcc-stats"])
    wider = get_extractor("combined", parts=["mfcc-stats"], part_params={"mfcc-stats": {"n_mfcc": 20}})
    assert wider.dim == plain.dim * 20 // 13
    assert wider.cache_key() != plain.cache_key()


def test_default_set_is_the_large_functionals_set() -> None:
    extractor = get_extractor("combined")
    assert extractor.level == "utterance"
    assert extractor.dim == 1346
    assert len(set(extractor.feature_names())) == extractor.dim


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"parts": []}, "at least one part"),
        ({"parts": ["mfcc-stats", "mfcc-stats"]}, "listed twice"),
        ({"parts": ["combined"]}, "cannot be a part"),
        ({"parts": ["no-such-set"]}, "cannot be a part"),
        ({"parts": ["mfcc"]}, "mfcc-stats"),
        ({"parts": ["mfcc-stats"], "part_params": {"chroma-stats": {}}}, "not among the parts"),
    ],
)
def test_bad_configs_say_what_to_do(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        get_extractor("combined", **options)


def test_too_short_input_is_a_clear_audio_error() -> None:
    extractor = get_extractor("combined", parts=["egemaps", "mfcc-stats"])
    with pytest.raises(AudioError, match="too short"):
        extractor.extract(np.zeros(int(0.05 * SR), np.float32) + 0.01, SR)


def test_pins_of_a_part_become_its_part_params() -> None:
    class Pinned:
        name = "whisper-encoder-stats"

        @staticmethod
        def pinned_params() -> dict:
            return {"expected_sha256": "abc"}

    extractor = get_extractor("combined", parts=["mfcc-stats"], part_params={"mfcc-stats": {"n_mfcc": 20}})
    assert extractor.pinned_params() == {}
    extractor.parts.append(Pinned())  # stands in for a backbone part without loading one
    assert extractor.pinned_params() == {
        "part_params": {"mfcc-stats": {"n_mfcc": 20}, "whisper-encoder-stats": {"expected_sha256": "abc"}}
    }
