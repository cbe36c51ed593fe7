"""`voxemo predict --threads`: the model's thread count for torch and for onnxruntime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.inference.bundles import untrained_bundle
from voxemo.cli import main
from voxemo.cli.predict_cmds import DEFAULT_THREADS, set_inference_threads
from voxemo.export import runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIP = sorted(EXAMPLES.glob("*.flac"))[0]


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """The test process's own torch / onnxruntime thread settings are put back afterwards."""
    torch_threads, onnx_threads = torch.get_num_threads(), runtime._default_threads
    yield
    torch.set_num_threads(torch_threads)
    runtime.set_default_threads(onnx_threads)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return untrained_bundle(tmp_path_factory.mktemp("threads") / "cnn", "cnn", params={"channels": [4, 8]})


def test_default_is_one_thread() -> None:
    # Measured on 2 cores: the decoding threads already use the other core (see predict_cmds).
    assert DEFAULT_THREADS == 1


def test_predict_sets_torch_threads(restore_threads, bundle: Path, capsys) -> None:
    torch.set_num_threads(2)
    code = main(["predict", str(CLIP), "--json", "--model", str(bundle), "--no-progress"])
    assert code == 0 and '"emotion"' in capsys.readouterr().out
    assert torch.get_num_threads() == DEFAULT_THREADS
    assert main(["predict", str(CLIP), "--json", "--model", str(bundle), "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2


def test_onnx_sessions_use_the_thread_count(restore_threads, bundle: Path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    opened: list[int] = []
    real_session = runtime._onnxruntime().InferenceSession

    def recording_session(path, sess_options=None, **kwargs):
        opened.append(sess_options.intra_op_num_threads)
        return real_session(path, sess_options=sess_options, **kwargs)

    monkeypatch.setattr(runtime._onnxruntime(), "InferenceSession", recording_session)
    monkeypatch.setenv("VOXEMO_CACHE", str(bundle.parent / "cache"))
    args = ["predict", str(CLIP), "--json", "--model", str(bundle), "--backend", "onnx", "--threads", "3"]
    assert main(args) == 0
    assert opened and opened[-1] == 3


def test_zero_threads_is_a_clear_error(restore_threads, bundle: Path, capsys) -> None:
    code = main(["predict", str(CLIP), "--model", str(bundle), "--threads", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "--threads must be at least 1" in err and "Traceback" not in err


def test_set_inference_threads_leaves_the_other_backend_alone(restore_threads) -> None:
    torch.set_num_threads(2)
    set_inference_threads(1, "onnx")
    assert runtime._default_threads == 1 and torch.get_num_threads() == 2
