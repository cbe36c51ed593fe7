"""A tiny random Whisper built and saved by the tests (nothing downloaded): transformers and CTranslate2."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Tiny sizes: 16-wide, 2 encoder layers, a window of 100 mel frames (1 s) instead of 3000.
TINY = {"d_model": 16, "encoder_layers": 2, "window_frames": 100}


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    transformers = pytest.importorskip("transformers", reason="the transformers path needs transformers")
    import torch

    config = transformers.WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=TINY["d_model"],
        encoder_layers=TINY["encoder_layers"],
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        max_source_positions=TINY["window_frames"] // 2,
        max_target_positions=8,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-whisper-hf")
    transformers.WhisperForConditionalGeneration(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_ct2_dir(tiny_hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("ctranslate2", reason="the CTranslate2 backend needs ctranslate2 (voxemo[whisper])")
    from ctranslate2.converters import TransformersConverter

    folder = tmp_path_factory.mktemp("tiny-whisper-ct2") / "model"
    TransformersConverter(str(tiny_hf_dir)).convert(str(folder), quantization="float32")
    return folder
