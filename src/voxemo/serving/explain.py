"""What ``POST /v1/explain`` does with one upload: decode from memory, explain, answer JSON or PNG.

Runs in the inference thread pool like :func:`voxemo.serving.analysis.predict_bytes`, and maps the
same audio problems to the same statuses (415 unreadable, 422 unusable).
"""

from __future__ import annotations

from typing import Any

from voxemo.errors import AudioError
from voxemo.inference.explain import ExplainConfig
from voxemo.serving.analysis import SAMPLE_RATE, AudioRejected, DurationLimits, decode_upload

#: One explanation covers one utterance; longer uploads are refused (422) before decoding.
MAX_EXPLAIN_SECONDS = ExplainConfig().max_seconds
#: Key of the job's result holding the picture when PNG was asked for.
PNG_KEY = "png"


def can_explain(recognizer: Any) -> bool:
    """Explanations need gradients: the torch backend's model (not an onnxruntime session)."""
    return hasattr(getattr(recognizer.backend, "model", None), "classify")


def explain_bytes(
    recognizer: Any,
    data: bytes,
    limits: DurationLimits,
    method: str | None,
    target: str | None,
    full: bool,
    png: bool,
) -> dict[str, Any]:
    """Decode and explain one upload: the JSON body (or ``{"png": bytes}``) without the filename."""
    samples, duration = decode_upload(data, limits)
    try:
        explanation = recognizer.explain(samples, target, method, sample_rate=SAMPLE_RATE)
    except AudioError as exc:
        raise AudioRejected(422, f"the audio cannot be explained: {exc}") from None
    if png:
        from voxemo.inference.explain_plot import explanation_png

        return {PNG_KEY: explanation_png(explanation)}
    result = explanation.to_dict(full=full)
    result.pop("path", None)
    result["duration_s"] = round(duration, 3)
    return result
