"""Deployment: recognise emotion in recordings, long-recording timelines and live streams.

::

    from voxemo.inference import load_model

    recognizer = load_model("runs/cnn")                  # or None for the bundled default
    recognizer.predict("clip.wav").to_dict()            # {'path', 'emotion', 'scores', ...}
    recognizer.timeline("meeting.flac").segments         # speech segments with scores
    session = recognizer.stream(window=2.0, hop=0.5)     # session.feed(chunk) -> [Prediction]

torch is imported only when a torch-backed model is loaded; ``backend="onnx"`` runs on onnxruntime.
"""

from voxemo.inference.backends import BACKENDS, InferenceBackend, TorchBackend, softmax
from voxemo.inference.bundles import BUNDLED_NAMES, PRETRAINED_DIR, BundleInfo, bundled_names, resolve_model
from voxemo.inference.prediction import Prediction, prediction_from_probabilities, predictions_to_frame
from voxemo.inference.recognizer import DefaultModelFallback, InferenceConfig, Recognizer, load_model
from voxemo.inference.stream import StreamSession
from voxemo.inference.timeline import SpeechSegmenter, Timeline, compute_timeline

__all__ = [
    "BACKENDS",
    "BUNDLED_NAMES",
    "PRETRAINED_DIR",
    "BundleInfo",
    "DefaultModelFallback",
    "InferenceBackend",
    "InferenceConfig",
    "Prediction",
    "Recognizer",
    "SpeechSegmenter",
    "StreamSession",
    "Timeline",
    "TorchBackend",
    "bundled_names",
    "compute_timeline",
    "load_model",
    "prediction_from_probabilities",
    "predictions_to_frame",
    "resolve_model",
    "softmax",
]
