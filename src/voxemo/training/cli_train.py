"""``train_from_config``: a recipe YAML (+ ``a.b=c`` overrides) -> trained model bundle.

Used by ``voxemo train --config FILE.yaml``. The data section names corpora; validation
speakers are carved from the training speakers (never from a test set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from voxemo.errors import ConfigError, CorpusError
from voxemo.training.config import TrainConfig
from voxemo.training.loop import train


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings (value parsed as YAML: numbers, lists, booleans) to a dict."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like section.key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load_train_config(path_or_config: str | Path | TrainConfig, overrides: Sequence[str] = ()) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML/JSON file (or an existing config) plus overrides."""
    if isinstance(path_or_config, TrainConfig):
        data = path_or_config.to_dict()
    else:
        data = TrainConfig.load(path_or_config).to_dict()
    return TrainConfig.from_dict(apply_overrides(data, overrides))


def _load_corpus(name: str, root: str | Path, emotions: list[str] | None) -> pd.DataFrame:
    # Behind a function: voxemo.corpora is built in parallel with this module.
    try:
        from voxemo.corpora import load_corpus
    except ImportError as exc:
        raise CorpusError("voxemo.corpora.load_corpus is not available; cannot read corpora") from exc
    return load_corpus(name, root, emotions=emotions)


def load_training_table(
    config: TrainConfig, corpus_roots: Mapping[str, str | Path] | None = None
) -> pd.DataFrame:
    """Concatenate the utterance tables of ``config.data.corpora`` (roots may come from ``corpus_roots``)."""
    if not config.data.corpora:
        raise ConfigError("data.corpora is empty: name at least one corpus, e.g. [{name: emodb, root: ...}]")
    tables = []
    for entry in config.data.corpora:
        name = entry.get("name")
        root = (corpus_roots or {}).get(name) or entry.get("root")
        if not name or not root:
            raise ConfigError(f"data.corpora entry {entry} needs a name and a root folder")
        table = _load_corpus(name, root, None).copy()
        table["speaker"] = f"{name}:" + table["speaker"].astype(str)  # speakers are unique per corpus only
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    return _keep_emotions(table, config.data.emotions)


def _keep_emotions(table: pd.DataFrame, emotions: Sequence[str] | None) -> pd.DataFrame:
    """Rows of the wanted emotions; a corpus may lack some of them, but every one must occur somewhere."""
    if not emotions:
        return table
    missing = sorted(set(emotions) - set(table["emotion"]))
    if missing:
        raise ConfigError(
            f"data.emotions {', '.join(missing)} occur in none of the corpora; "
            f"they hold: {', '.join(sorted(table['emotion'].unique()))}"
        )
    return table[table["emotion"].isin(list(emotions))].reset_index(drop=True)


def split_test_speakers(table: pd.DataFrame, speakers: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, held-out) by the ``corpus:speaker`` names of ``data.test_speakers``."""
    wanted = {str(s) for s in speakers}
    unknown = sorted(wanted - set(table["speaker"].astype(str)))
    if unknown:
        raise ConfigError(
            f"data.test_speakers {', '.join(unknown)} are not in the training corpora; "
            "write them as corpus:speaker, e.g. emodb:03"
        )
    held = table["speaker"].astype(str).isin(wanted)
    return table[~held].reset_index(drop=True), table[held].reset_index(drop=True)


def split_validation_speakers(
    table: pd.DataFrame, amount: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out whole speakers for validation: ``amount`` >= 1 is a count, < 1 a fraction."""
    speakers = np.array(sorted(table["speaker"].astype(str).unique()))
    if speakers.size < 2:
        raise ConfigError("need at least 2 speakers to carve validation speakers from the training data")
    count = int(amount) if amount >= 1 else round(amount * speakers.size)
    count = min(max(count, 1), speakers.size - 1)
    chosen = set(np.random.default_rng(seed).choice(speakers, size=count, replace=False))
    is_val = table["speaker"].astype(str).isin(chosen)
    return table[~is_val].reset_index(drop=True), table[is_val].reset_index(drop=True)


def train_from_config(
    path_or_config: str | Path | TrainConfig,
    overrides: Sequence[str] = (),
    corpus_roots: Mapping[str, str | Path] | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train the recipe on its corpora (validation speakers carved out) and return the bundle folder."""
    config = load_train_config(path_or_config, overrides)
    table, _ = split_test_speakers(load_training_table(config, corpus_roots), config.data.test_speakers)
    train_table, val_table = split_validation_speakers(table, config.data.val_speakers, config.seed)
    destination = Path(out_dir or config.out_dir)
    train(config, train_table, val_table, destination, resume=resume, progress=progress)
    return destination
