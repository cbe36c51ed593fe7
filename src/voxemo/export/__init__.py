"""ONNX export of model bundles and the onnxruntime inference backend.

``export_onnx(bundle, "model.onnx")`` writes one graph from raw 16 kHz waveform (+ lengths) to
calibrated probabilities; ``voxemo.load_model("model.onnx")`` runs it without torch.
Submodules are imported lazily so that using the onnx backend never imports torch.
"""

from typing import Any

__all__ = ["OnnxBackend", "export_model", "export_onnx", "verify_export"]

_SOURCES = {
    "OnnxBackend": "voxemo.export.runtime",
    "export_model": "voxemo.export.onnx_export",
    "export_onnx": "voxemo.export.onnx_export",
    "verify_export": "voxemo.export.onnx_export",
}


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        import importlib

        return getattr(importlib.import_module(_SOURCES[name]), name)
    raise AttributeError(f"module 'voxemo.export' has no attribute {name!r}")
