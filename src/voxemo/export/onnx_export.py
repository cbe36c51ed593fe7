"""Export a waveform model bundle to one ONNX graph: raw 16 kHz audio in, probabilities out.

The graph holds the whole pipeline (log-mel front end with its normalisation, the network and
the calibrated softmax), takes ``waveform`` (batch, samples) float32 and ``lengths`` (batch,)
int64 with both axes dynamic, and returns ``probabilities`` and ``logits`` (batch, classes).
With ``with_lengths=False`` the only input is ``waveform`` (every row is taken as full length:
batch 1, or equal-length clips). The label list, calibration temperature and the rest of what a
recogniser needs are stored in the model's metadata (key ``voxemo``), so an ``.onnx`` file runs
on its own with :class:`voxemo.export.runtime.OnnxBackend`, without torch.

After writing, the graph is run with onnxruntime on clips of other lengths and batch sizes than
the export example and compared with torch; a mismatch raises :class:`ModelError`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from voxemo.errors import ConfigError, ModelError
from voxemo.inference.bundles import BundleInfo, is_ensemble, resolve_model
from voxemo.registry import Registry

METADATA_KEY = "voxemo"
DEFAULT_OPSET = 17
#: Largest difference in probability accepted between torch and onnxruntime when verifying.
VERIFY_TOLERANCE = 1e-4
INPUT_NAMES = ("waveform", "lengths")
OUTPUT_NAMES = ("probabilities", "logits")

#: name -> function(graph, example inputs, out path, opset, with_lengths) writing the file.
EXPORTERS: Registry[Callable[..., None]] = Registry("ONNX exporter")


def _graph(model: Any, temperature: float, with_lengths: bool) -> Any:
    """Wrap an EmotionModel so one forward pass gives calibrated probabilities and logits."""
    import torch
    from torch import nn

    class ProbabilityGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.register_buffer("temperature", torch.tensor(float(temperature)))

        def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None):
            if lengths is None:
                # A sum rather than waveform.shape[1]: the tracer would freeze a shape into a constant.
                lengths = torch.ones_like(waveform, dtype=torch.long).sum(dim=1)
            logits = self.model(waveform, lengths)
            return torch.softmax(logits / self.temperature, dim=1), logits

    class WaveformOnlyGraph(ProbabilityGraph):
        def forward(self, waveform: torch.Tensor):  # type: ignore[override]
            return super().forward(waveform, None)

    return (ProbabilityGraph if with_lengths else WaveformOnlyGraph)().eval()


@EXPORTERS.register("torchscript")
def _export_torchscript(graph: Any, example: tuple, out: Path, opset: int, with_lengths: bool) -> None:
    """The tracing exporter: fast, and handles every model family (GRUs included)."""
    import torch

    names = list(INPUT_NAMES[: len(example)])
    axes: dict[str, dict[int, str]] = {"waveform": {0: "batch", 1: "samples"}}
    if with_lengths:
        axes["lengths"] = {0: "batch"}
    axes.update({name: {0: "batch"} for name in OUTPUT_NAMES})
    torch.onnx.export(
        graph,
        example,
        str(out),
        input_names=names,
        output_names=list(OUTPUT_NAMES),
        dynamic_axes=axes,
        opset_version=opset,
        dynamo=False,
    )


@EXPORTERS.register("dynamo")
def _export_dynamo(graph: Any, example: tuple, out: Path, opset: int, with_lengths: bool) -> None:
    """The torch.export-based exporter (needs onnxscript); slower, fails on some recurrent models."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=4096)
    samples = torch.export.Dim("samples", min=1024, max=16_000 * 3600 * 4)
    shapes: dict[str, Any] = {"waveform": {0: batch, 1: samples}}
    if with_lengths:
        shapes["lengths"] = {0: batch}
    with contextlib.redirect_stdout(io.StringIO()):  # it reports progress on stdout
        program = torch.onnx.export(
            graph,
            example,
            input_names=list(INPUT_NAMES[: len(example)]),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=shapes,
            opset_version=max(opset, 18),
            dynamo=True,
            verbose=False,
        )
        program.save(str(out))


def export_model(
    model: Any,
    info: BundleInfo,
    out: str | Path,
    *,
    exporter: str = "torchscript",
    opset: int = DEFAULT_OPSET,
    with_lengths: bool = True,
    verify: bool = True,
    weights_sha256: str = "",
) -> Path:
    """Write ``model`` (an EmotionModel on waveforms) and ``info`` as one ONNX file at ``out``."""
    import torch

    if "frames" in (getattr(model, "input_kind", "waveform"), info.input_kind):
        raise ModelError(
            f"model {info.source or ''} is a head on frame embeddings of a feature extractor that runs "
            "outside torch (the Whisper encoder runs in CTranslate2), so it cannot become one ONNX graph; "
            "use it with the torch backend (voxemo.load_model(DIR), `voxemo predict --model DIR`)"
        )
    if getattr(model, "input_kind", "waveform") != "waveform" or info.input_kind != "waveform":
        raise ModelError(
            f"model {info.source or ''} takes utterance feature vectors computed outside the network "
            "(e.g. eGeMAPS for the MLP), so its front end cannot be part of an ONNX graph; "
            "export a waveform model (cnn, crnn, tcn) instead"
        )
    export = EXPORTERS.get(exporter)
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"the ONNX output file must end in .onnx, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).eval()
    # The DFT-as-convolution STFT is made of plain ONNX ops and matches torch.stft to ~1e-6.
    if hasattr(model, "frontend"):
        model.frontend.use_stft("conv")
    graph = _graph(model, info.temperature, with_lengths)
    example = _example_inputs(info, with_lengths)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # exporter chatter (deprecations, constant folding notes)
            export(graph, example, tmp, opset, with_lengths)
        _write_metadata(tmp, info, weights_sha256)
        if verify:
            verify_export(graph, tmp, with_lengths)
        tmp.replace(out)
    except ModelError:
        raise
    except Exception as exc:  # exporters raise many types; the user needs one clear message
        raise ModelError(
            f"ONNX export with the {exporter!r} exporter failed ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); try exporter='torchscript'"
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _example_inputs(info: BundleInfo, with_lengths: bool) -> tuple:
    import torch

    rng = np.random.default_rng(0)
    n = int(1.5 * info.sample_rate)
    if not with_lengths:
        return (torch.from_numpy(0.1 * rng.standard_normal((1, n)).astype(np.float32)),)
    wave = torch.from_numpy(0.1 * rng.standard_normal((2, n)).astype(np.float32))
    return wave, torch.tensor([n, n - info.sample_rate // 3], dtype=torch.long)


def _write_metadata(path: Path, info: BundleInfo, weights_sha256: str) -> None:
    import onnx

    from voxemo import __version__

    proto = onnx.load(str(path))
    payload = {**info.to_json_dict(), "weights_sha256": weights_sha256, "voxemo_version": __version__}
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(payload)
    proto.producer_name = "voxemo"
    onnx.save(proto, str(path))


def verify_export(graph: Any, path: Path, with_lengths: bool, tolerance: float = VERIFY_TOLERANCE) -> float:
    """Largest probability difference between torch and onnxruntime on probe clips.

    Raises ModelError when it is above ``tolerance``.
    """
    import torch

    from voxemo.export.runtime import open_session

    session = open_session(path)
    rng = np.random.default_rng(1)
    lengths = [11_200, 36_800, 20_000] if with_lengths else [27_200]
    wave = np.zeros((len(lengths), max(lengths)), dtype=np.float32)
    for row, n in zip(wave, lengths, strict=True):
        row[:n] = 0.1 * rng.standard_normal(n)
    feeds = {"waveform": wave}
    args: tuple = (torch.from_numpy(wave),)
    if with_lengths:
        feeds["lengths"] = np.array(lengths, dtype=np.int64)
        args += (torch.from_numpy(feeds["lengths"]),)
    with torch.no_grad():
        expected = graph(*args)[0].numpy()
    got = session.run(["probabilities"], feeds)[0]
    error = float(np.max(np.abs(expected - got)))
    if not error <= tolerance:
        raise ModelError(
            f"the exported graph disagrees with torch by {error:.2e} (> {tolerance:g}); "
            "the model uses an operation the exporter does not translate faithfully"
        )
    return error


def export_onnx(
    model: str | Path | None = None,
    out: str | Path = "model.onnx",
    *,
    exporter: str = "torchscript",
    opset: int = DEFAULT_OPSET,
    with_lengths: bool = True,
    verify: bool = True,
) -> Path:
    """Export a bundle (None = bundled default, a bundled name or a folder) to ``out`` (.onnx)."""
    from voxemo.training.checkpoint import load_bundle

    location = resolve_model(model)
    if location.suffix.lower() == ".onnx":
        raise ModelError(f"{location} is already an ONNX model; export from a bundle folder")
    if is_ensemble(location):
        raise ModelError(
            f"{location} is an ensemble: its members have no single ONNX graph together; "
            "export each member (the bundle folders under members/) on its own"
        )
    bundle_model, bundle = load_bundle(location)
    info = BundleInfo.from_bundle_config(bundle, str(location))
    return export_model(
        bundle_model,
        info,
        out,
        exporter=exporter,
        opset=opset,
        with_lengths=with_lengths,
        verify=verify,
        weights_sha256=bundle.weights_sha256,
    )
