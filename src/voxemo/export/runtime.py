"""The onnxruntime backend: a recogniser running an exported graph, with no torch in the loop.

``OnnxBackend.from_path`` takes an ``.onnx`` file written by :func:`voxemo.export.export_onnx`
(labels and calibration come from its metadata) or a bundle folder: then the folder's own
``model.onnx`` is used when it matches the weights, else the bundle is exported once into the
cache (``$VOXEMO_CACHE/onnx``, default ``~/.cache/voxemo/onnx``) keyed by the weights' hash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxemo.errors import ModelError
from voxemo.inference.backends import pad_batch
from voxemo.inference.bundles import CONFIG_FILE, BundleInfo

METADATA_KEY = "voxemo"
ONNX_FILE = "model.onnx"


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("backend 'onnx' needs onnxruntime: pip install onnxruntime") from None
    return onnxruntime


#: Intra-op threads of sessions opened without an explicit count (None: up to 4 cores);
#: ``voxemo predict --threads`` sets it through :func:`set_default_threads`.
_default_threads: int | None = None


def set_default_threads(threads: int | None) -> None:
    """Intra-op threads for ONNX sessions opened from now on (None: up to 4 cores)."""
    global _default_threads
    _default_threads = threads


def open_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path``; a damaged file raises ModelError."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _default_threads or min(4, os.cpu_count() or 1)
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for invalid graphs
        raise ModelError(
            f"{path} is not a usable ONNX model ({type(exc).__name__}: {exc}); re-export it"
        ) from None


def read_metadata(session: Any, source: str) -> dict[str, Any]:
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if raw is None:
        raise ModelError(
            f"{source} was not exported by voxemo (it has no label metadata); "
            "export it with `voxemo export-onnx`"
        )
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ModelError(f"{source}: its voxemo metadata is corrupt; re-export it") from None


def cache_dir() -> Path:
    return Path(os.environ.get("VOXEMO_CACHE") or Path.home() / ".cache" / "voxemo") / "onnx"


class OnnxBackend:
    """Runs ``probabilities`` of an exported graph with onnxruntime."""

    def __init__(self, session: Any, info: BundleInfo) -> None:
        self.session = session
        self.info = info
        self.input_names = [i.name for i in session.get_inputs()]
        if self.input_names[:1] != ["waveform"]:
            raise ModelError(f"{info.source}: expected a 'waveform' input, found {self.input_names}")
        self.has_lengths = "lengths" in self.input_names

    @classmethod
    def from_path(cls, location: str | Path) -> OnnxBackend:
        location = Path(location)
        path = location if location.suffix.lower() == ".onnx" else _onnx_for_bundle(location)
        if not path.is_file():
            raise ModelError(f"ONNX model {path} not found")
        session = open_session(path)
        meta = read_metadata(session, str(path))
        return cls(session, BundleInfo.from_json_dict(meta, source=str(location)))

    def probabilities(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        if not self.has_lengths and len({w.size for w in waveforms}) > 1:
            # A graph without lengths treats every row as full length: run clips one by one.
            return np.concatenate([self.probabilities([w]) for w in waveforms])
        batch, lengths = pad_batch(waveforms)
        feeds = {"waveform": batch}
        if self.has_lengths:
            feeds["lengths"] = lengths
        probs = self.session.run(["probabilities"], feeds)[0].astype(np.float64)
        return probs / probs.sum(axis=1, keepdims=True)


def _bundle_weights_sha(folder: Path) -> str:
    config = folder / CONFIG_FILE
    if not config.is_file():
        raise ModelError(f"{folder} is not a model bundle: {CONFIG_FILE} is missing")
    try:
        return str(json.loads(config.read_text(encoding="utf-8")).get("weights_sha256", ""))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelError(f"{config} is corrupt; re-copy the bundle") from None


def _onnx_for_bundle(folder: Path) -> Path:
    """The bundle's own model.onnx if it matches its weights, else a cached export (made now if needed)."""
    sha = _bundle_weights_sha(folder)
    shipped = folder / ONNX_FILE
    if shipped.is_file() and sha and _exported_sha(shipped) == sha:
        return shipped
    if not sha:
        raise ModelError(
            f"{folder}: its config.json records no weights hash; export it with `voxemo export-onnx`"
        )
    cached = cache_dir() / f"{sha[:32]}.onnx"
    if not cached.is_file():
        from voxemo.export.onnx_export import export_onnx

        export_onnx(folder, cached)
    return cached


def _exported_sha(path: Path) -> str | None:
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        for entry in model.metadata_props:
            if entry.key == METADATA_KEY:
                return json.loads(entry.value).get("weights_sha256")
    except Exception:  # an unreadable shipped file is simply not used
        return None
    return None
