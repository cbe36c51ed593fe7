"""Ensembles: several trained bundles that vote by averaging their calibrated probabilities.

A spectrogram CNN and an MLP on utterance functionals make different mistakes; their mean is often
better than either (the benchmark's ``fusion-*`` rows measure exactly this, fold by fold). An
ensemble folder holds ``ensemble.json`` and a copy of every member bundle under ``members/``, so it
moves and loads like any bundle::

    voxemo ensemble runs/cnn runs/mlp-functionals --out models/fused
    voxemo predict clip.wav --model models/fused

Every member must predict the same emotions (in any order) at the same sample rate. Members run
on the torch backend; explanations and ONNX export work on the members, not on the ensemble.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxemo.errors import ModelError
from voxemo.inference.bundles import CONFIG_FILE, ENSEMBLE_FILE, BundleInfo, read_model_card

ENSEMBLE_FORMAT = "voxemo-ensemble"
MEMBERS_DIR = "members"


class EnsembleBackend:
    """Mean of the members' calibrated probabilities, in the first member's label order."""

    def __init__(
        self, members: Sequence[Any], weights: Sequence[float] | None = None, source: str = ""
    ) -> None:
        if len(members) < 2:
            raise ModelError(f"ensemble {source}: needs at least two members, got {len(members)}")
        first = members[0].info
        for member in members[1:]:
            if sorted(member.info.labels) != sorted(first.labels):
                raise ModelError(
                    f"ensemble {source}: {member.info.source} predicts {member.info.labels}, "
                    f"{first.source} predicts {first.labels}; members must share their emotions"
                )
            if member.info.sample_rate != first.sample_rate:
                raise ModelError(f"ensemble {source}: members run at different sample rates")
        weights = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(members),) or not (weights > 0).all():
            raise ModelError(f"ensemble {source}: give one positive weight per member")
        self.members = list(members)
        self.weights = weights / weights.sum()
        self._columns = [[m.info.labels.index(label) for label in first.labels] for m in self.members]
        self.info = BundleInfo(
            labels=list(first.labels),
            temperature=1.0,  # each member applies its own temperature
            input_kind="ensemble",
            sample_rate=first.sample_rate,
            min_seconds=max(m.info.min_seconds for m in self.members),
            metadata={
                "name": Path(source).name or "ensemble",
                "members": [m.info.source for m in self.members],
            },
            source=source,
        )

    @classmethod
    def from_path(cls, location: Path) -> EnsembleBackend:
        from voxemo.inference.backends import TorchBackend

        spec = read_ensemble(location)
        members = [TorchBackend.from_path(location / MEMBERS_DIR / name) for name in spec["members"]]
        return cls(members, spec.get("weights"), source=str(location))

    def probabilities(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        total = 0.0
        for member, columns, weight in zip(self.members, self._columns, self.weights, strict=True):
            total = total + weight * member.probabilities(waveforms)[:, columns]
        return np.asarray(total)


def read_ensemble(location: str | Path) -> dict[str, Any]:
    """``ensemble.json`` of an ensemble folder, checked (ModelError when missing or corrupt)."""
    path = Path(location) / ENSEMBLE_FILE
    rebuild = "rebuild it with `voxemo ensemble`"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read ({exc}); {rebuild}") from None
    valid = isinstance(spec, dict) and spec.get("format") == ENSEMBLE_FORMAT
    members = spec.get("members") if valid else None
    if not isinstance(members, list) or len(members) < 2:
        raise ModelError(f"{path} is not a voxemo ensemble description; {rebuild}")
    for name in members:
        # Plain folder names only: a member path must not point outside the ensemble folder.
        inside = isinstance(name, str) and Path(name).name == name and name not in ("", ".", "..")
        if not inside or not (Path(location) / MEMBERS_DIR / name).is_dir():
            raise ModelError(f"{path}: member {name!r} is missing from {MEMBERS_DIR}/; re-copy the ensemble")
    return spec


def write_ensemble(
    members: Sequence[str | Path], out: str | Path, weights: Sequence[float] | None = None
) -> Path:
    """Build an ensemble folder at ``out`` from bundle folders (copied in); returns ``out``.

    The members are loaded first, so an ensemble that cannot run (different emotions, a broken
    bundle) is refused before anything is written.
    """
    from voxemo.inference.backends import TorchBackend

    sources = [Path(m) for m in members]
    for source in sources:
        if not (source / CONFIG_FILE).is_file():
            raise ModelError(f"{source} is not a model bundle ({CONFIG_FILE} missing); give bundle folders")
    EnsembleBackend([TorchBackend.from_path(s) for s in sources], weights, source=str(out))
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ModelError(f"{out} exists and is not empty; choose a new folder for the ensemble")
    names = [f"{i + 1:02d}-{source.resolve().name}" for i, source in enumerate(sources)]
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for source, name in zip(sources, names, strict=True):
        shutil.copytree(source, staging / MEMBERS_DIR / name, ignore=shutil.ignore_patterns("last", "tb"))
    spec = {"format": ENSEMBLE_FORMAT, "version": 1, "members": names, "weights": weights}
    (staging / ENSEMBLE_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    (staging / "MODEL_CARD.md").write_text(_card(staging, names), encoding="utf-8")
    if out.exists():
        out.rmdir()
    staging.rename(out)  # the folder appears complete or not at all
    return out


def _card(folder: Path, names: list[str]) -> str:
    lines = [
        f"# Ensemble of {len(names)} voxemo models",
        "",
        "Predictions are the mean of the members' calibrated probabilities. Members:",
        "",
    ]
    for name in names:
        card = read_model_card(folder / MEMBERS_DIR / name)
        title = card.splitlines()[0].lstrip("# ").strip() if card else "no model card"
        lines.append(f"- `{MEMBERS_DIR}/{name}`: {title}")
    lines += ["", "Each member's own card (data, licences, measured accuracy) is in its folder.", ""]
    return "\n".join(lines)
