"""From an utterance table to model inputs: decoded waveforms or feature vectors, labels, batches.

Decoded audio is kept in a process-wide memory cache (int16 where the signal allows it, half
the memory of float32 and exact for 16-bit sources) so the folds of a cross-validation decode
each file once. Utterance feature vectors and frames go through ``voxemo.features.extract_many``
and its on-disk cache; so do the frames of augmented copies of training clips
(:func:`augmented_frame_copies`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from voxemo.errors import AudioError, ConfigError, ModelError
from voxemo.training.config import AugmentConfig, InputConfig, TrainConfig

#: Upper bound of the decoded-audio memory cache (bytes); set VOXEMO_WAVE_CACHE_MB to change.
WAVE_CACHE_BYTES = int(float(os.environ.get("VOXEMO_WAVE_CACHE_MB", "2048")) * 2**20)


@dataclass
class UtteranceData:
    """Inputs ready for a model: one waveform (N,) or feature vector (D,) per utterance."""

    inputs: list[np.ndarray]
    labels: list[str]
    speakers: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    #: The full label list of the experiment (so a fold missing a class still gets every output).
    classes: list[str] | None = None
    #: The corpus of each utterance (for ``balance: corpus``); empty when unknown.
    corpora: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.labels):
            raise ModelError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")
        if self.corpora and len(self.corpora) != len(self.labels):
            raise ModelError(f"{len(self.corpora)} corpus names but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.inputs)


class _WaveCache:
    """LRU memory cache of decoded audio keyed by (path, mtime, size, rate)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.bytes = 0

    @staticmethod
    def key(path: str, rate: int) -> tuple:
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise AudioError(f"{path}: cannot read the file ({exc.strerror}); check the paths") from None
        return (os.path.abspath(path), stat.st_mtime_ns, stat.st_size, rate)

    def get(self, key: tuple) -> np.ndarray | None:
        stored = self.entries.get(key)
        if stored is None:
            return None
        self.entries.move_to_end(key)
        return _from_storage(stored)

    def put(self, key: tuple, samples: np.ndarray) -> None:
        stored = _to_storage(samples)
        self.entries[key] = stored
        self.bytes += stored.nbytes
        while self.bytes > self.max_bytes and len(self.entries) > 1:
            _, old = self.entries.popitem(last=False)
            self.bytes -= old.nbytes


def _to_storage(samples: np.ndarray) -> np.ndarray:
    if samples.size and float(np.max(np.abs(samples))) <= 32767 / 32768:
        return np.round(samples * 32768.0).astype(np.int16)
    return samples.astype(np.float32)


def _from_storage(stored: np.ndarray) -> np.ndarray:
    if stored.dtype == np.int16:
        return stored.astype(np.float32) / np.float32(32768.0)
    return stored


WAVE_CACHE = _WaveCache(WAVE_CACHE_BYTES)


def _decode(path: str, sample_rate: int) -> np.ndarray:
    # Behind a function: the only place training touches voxemo.audio.
    from voxemo.audio import load_audio

    return load_audio(path, target_rate=sample_rate, allow_silent=True)


def load_waveforms(paths: Sequence[str | Path], sample_rate: int = 16_000) -> list[np.ndarray]:
    """Decode (or fetch from the memory cache) each file as float32 mono at ``sample_rate``."""
    waves = []
    for path in paths:
        key = _WaveCache.key(str(path), sample_rate)
        wave = WAVE_CACHE.get(key)
        if wave is None:
            wave = _decode(str(path), sample_rate)
            WAVE_CACHE.put(key, wave)
            wave = WAVE_CACHE.get(key)
        waves.append(wave)
    return waves


def load_utterance_features(paths: Sequence[str | Path], inputs: InputConfig) -> list[np.ndarray]:
    """Utterance-level feature vectors from ``voxemo.features`` (cached on disk by content)."""
    try:
        from voxemo.features import extract_many, get_extractor
    except ImportError as exc:  # the features module is built in parallel with this one
        raise ModelError(
            "utterance features need voxemo.features (get_extractor, extract_many), which is not available"
        ) from exc
    extractor = get_extractor(inputs.utterance_features, **inputs.feature_params)
    if getattr(extractor, "level", "utterance") != "utterance":
        raise ConfigError(
            f"feature {inputs.utterance_features!r} is frame-level; the MLP needs an utterance-level "
            f"feature such as 'egemaps' or '{inputs.utterance_features}-stats'"
        )
    vectors = extract_many(
        [str(p) for p in paths], extractor, cache_dir=inputs.cache_dir, n_jobs=inputs.n_jobs, progress=False
    )
    return [np.asarray(v, dtype=np.float32).reshape(-1) for v in vectors]


def frame_extractor(inputs: InputConfig) -> Any:
    """The frame-level extractor ``inputs.frame_features`` (ConfigError for an utterance-level one)."""
    from voxemo.features import get_extractor

    extractor = get_extractor(inputs.frame_features, **inputs.feature_params)
    if extractor.level != "frame":
        raise ConfigError(
            f"feature {inputs.frame_features!r} is utterance-level; frames models (pooled-mlp, "
            "attention-pool) need a frame-level extractor such as 'whisper-encoder', 'logmel' or 'mfcc' "
            "in inputs.frame_features (utterance vectors go to the 'mlp' model)"
        )
    return extractor


def load_frame_features(paths: Sequence[str | Path], inputs: InputConfig) -> list[np.ndarray]:
    """(frames, D) float32 arrays of ``inputs.frame_features`` per file (cached on disk by content)."""
    from voxemo.features import extract_many

    arrays = extract_many(
        [str(p) for p in paths],
        frame_extractor(inputs),
        cache_dir=inputs.cache_dir,
        n_jobs=inputs.n_jobs,
        progress=False,
    )
    return [np.asarray(a, dtype=np.float32) for a in arrays]


def _load_waveform_inputs(paths: Sequence[str | Path], inputs: InputConfig) -> list[np.ndarray]:
    return load_waveforms(paths, inputs.sample_rate)


#: Model input kind -> loader(paths, InputConfig) -> one array per file.
INPUT_LOADERS: dict[str, Callable[[Sequence[str | Path], InputConfig], list[np.ndarray]]] = {
    "waveform": _load_waveform_inputs,
    "features": load_utterance_features,
    "frames": load_frame_features,
}


def load_inputs(paths: Sequence[str | Path], input_kind: str, inputs: InputConfig) -> list[np.ndarray]:
    """What a model of ``input_kind`` is fed for each file (waveforms, feature vectors or frames)."""
    loader = INPUT_LOADERS.get(input_kind)
    if loader is None:
        raise ModelError(f"unknown model input kind {input_kind!r}; known: {', '.join(INPUT_LOADERS)}")
    return loader(paths, inputs)


def table_to_data(table: pd.DataFrame, input_kind: str, inputs: InputConfig) -> UtteranceData:
    """Utterance table (columns ``path``, ``emotion``, optional ``speaker``) -> :class:`UtteranceData`."""
    missing = {"path", "emotion"} - set(table.columns)
    if missing:
        raise ModelError(f"the utterance table lacks column(s) {', '.join(sorted(missing))}")
    if len(table) == 0:
        raise ModelError("the utterance table is empty: nothing to train or evaluate on")
    paths = [str(p) for p in table["path"]]
    arrays = load_inputs(paths, input_kind, inputs)
    speakers = [str(s) for s in table["speaker"]] if "speaker" in table.columns else []
    corpora = [str(c) for c in table["corpus"]] if "corpus" in table.columns else []
    return UtteranceData(arrays, [str(e) for e in table["emotion"]], speakers, paths, corpora=corpora)


def build_dataset(
    table: pd.DataFrame, config: TrainConfig, *, labels: Sequence[str] | None = None
) -> UtteranceData:
    """The inputs ``config.model`` needs for the rows of ``table`` (used by cross-validation)."""
    from voxemo.models import model_input_kind

    data = table_to_data(table, model_input_kind(config.model), config.inputs)
    data.classes = list(labels) if labels is not None else config.labels
    return data


def as_data(source: pd.DataFrame | UtteranceData, input_kind: str, inputs: InputConfig) -> UtteranceData:
    if isinstance(source, UtteranceData):
        return source
    if isinstance(source, pd.DataFrame):
        return table_to_data(source, input_kind, inputs)
    raise ModelError(f"cannot train on a {type(source).__name__}; give an utterance table or UtteranceData")


class LabelEncoder:
    """A fixed label list <-> class indices."""

    def __init__(self, labels: Sequence[str]) -> None:
        if len(set(labels)) != len(labels):
            raise ConfigError(f"the label list has duplicates: {list(labels)}")
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}

    def encode(self, values: Sequence[str]) -> np.ndarray:
        unknown = sorted(set(values) - set(self.index))
        if unknown:
            raise ConfigError(
                f"label(s) {', '.join(unknown)} are not in the label list {self.labels}; "
                "add them to `labels` or filter the table"
            )
        return np.array([self.index[v] for v in values], dtype=np.int64)


def pad_waveforms(waves: Sequence[np.ndarray], min_samples: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad (N,) arrays into (B, max N) with their lengths; short clips padded to ``min_samples``."""
    padded = [w if w.size >= min_samples else np.pad(w, (0, min_samples - w.size)) for w in waves]
    lengths = torch.tensor([w.size for w in padded], dtype=torch.long)
    batch = torch.zeros(len(padded), int(lengths.max()))
    for i, w in enumerate(padded):
        batch[i, : w.size] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    return batch, lengths


def stack_features(vectors: Sequence[np.ndarray]) -> tuple[torch.Tensor, None]:
    return torch.from_numpy(np.stack(vectors).astype(np.float32)), None


def pad_frames(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad (T, D) frame arrays into (B, max T, D) with their lengths in frames."""
    lengths = torch.tensor([len(a) for a in arrays], dtype=torch.long)
    batch = torch.zeros(len(arrays), int(lengths.max()), int(np.shape(arrays[0])[1]))
    for i, frames in enumerate(arrays):
        batch[i, : len(frames)] = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
    return batch, lengths


def epoch_order(
    targets: np.ndarray,
    num_classes: int,
    balance: str,
    rng: np.random.Generator,
    groups: Sequence[str] | None = None,
) -> np.ndarray:
    """Indices of one epoch: a permutation, or equal-probability strata drawn with replacement.

    ``sampler`` makes every class equally likely; ``corpus`` every (corpus, class) pair, with
    ``groups`` the corpus of each target, so no corpus and no class dominates a batch.
    """
    if balance not in ("sampler", "corpus"):
        return rng.permutation(targets.size)
    if balance == "corpus":
        if groups is None or len(groups) != targets.size:
            raise ConfigError(
                "balance: corpus needs the corpus of every training utterance; train from an utterance "
                "table with a 'corpus' column (or fill UtteranceData.corpora)"
            )
        corpus_ids = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1].reshape(-1)
        strata = corpus_ids * num_classes + targets
    else:
        strata = targets
    counts = np.bincount(strata).astype(np.float64)
    weights = 1.0 / counts[strata]
    return rng.choice(targets.size, size=targets.size, replace=True, p=weights / weights.sum())


def class_weights(targets: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights with mean 1 over the classes present (absent classes: 0)."""
    counts = np.bincount(targets, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    weights *= (counts > 0).sum() / weights.sum()
    return torch.tensor(weights, dtype=torch.float32)


def length_sorted_batches(inputs: Sequence[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """Index batches of similar-length inputs (little padding) for evaluation."""
    order = np.argsort([x.size for x in inputs], kind="stable")
    return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]


# ---------------------------------------------------------------- augmented copies of training clips

#: Part of the copies' cache key: bump it when the way copies are made changes.
COPIES_LAYOUT_VERSION = "1"


@dataclass
class FrameCopies:
    """Frames of K augmented versions of each clip: ``arrays[i][k]`` is copy ``k`` of clip ``i``."""

    arrays: list[list[np.ndarray]]
    cache_hits: int = 0
    computed: int = 0


def _copies_cache(root: Path, extractor: Any, inputs: InputConfig, augment: AugmentConfig, seed: int, k: int):
    """The on-disk cache folder of copy ``k`` (keyed by extractor, augmentation, seed and k)."""
    import hashlib
    import json

    from voxemo.features.extract import FeatureCache
    from voxemo.io import atomic_write_text

    key = json.dumps(
        {
            "layout": COPIES_LAYOUT_VERSION,
            "extractor": extractor.cache_key(),
            "augment": augment.to_dict(),
            "sample_rate": inputs.sample_rate,
            "seed": seed,
            "copy": k,
        },
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    cache = FeatureCache(root / "features" / f"{extractor.name}-augmented-{digest}", expected_ndim=2)
    if not (cache.folder / "key.json").exists():
        atomic_write_text(cache.folder / "key.json", json.dumps({"key": key}, indent=2))
    return cache


def augmented_frame_copies(
    paths: Sequence[str | Path],
    inputs: InputConfig,
    augment: AugmentConfig,
    seed: int = 0,
    *,
    progress: bool = False,
) -> FrameCopies:
    """``inputs.augment_copies`` augmented versions of each file, as frames of ``inputs.frame_features``.

    Copy ``k`` of a file is the whole clip through ``augment.WaveformAugmenter`` (speed, pitch, gain,
    noise... as ``augment`` enables them) with a generator seeded by (``seed``, ``k``, the file's
    sha256), so it is the same in every run; its frames are computed once and cached on disk next
    to the extractor's own cache. Meant for training clips only.
    """
    from tqdm.auto import tqdm

    from voxemo.features.extract import HashIndex, default_cache_dir
    from voxemo.training.augment import WaveformAugmenter

    extractor = frame_extractor(inputs)
    root = Path(inputs.cache_dir).expanduser() if inputs.cache_dir else default_cache_dir()
    index = HashIndex(root / "file-hashes.json")
    try:
        hashes = [index.content_hash(Path(p).expanduser().absolute()) for p in paths]
    except OSError as exc:
        raise AudioError(f"{exc.filename}: cannot read the file ({exc.strerror}); check the paths") from None
    index.save()
    caches = [_copies_cache(root, extractor, inputs, augment, seed, k) for k in range(inputs.augment_copies)]
    # crop 0: the whole clip is augmented; training crops the frames afterwards.
    augmenter = WaveformAugmenter(augment, inputs.sample_rate, 0)
    copies = FrameCopies([[] for _ in paths])
    items = tqdm(list(zip(paths, hashes, strict=True)), desc="copies", disable=not progress, leave=False)
    for i, (path, digest) in enumerate(items):
        for k, cache in enumerate(caches):
            frames = cache.load(digest)
            if frames is None:
                wave = load_waveforms([path], inputs.sample_rate)[0]
                rng = np.random.default_rng([seed & 0xFFFFFFFF, k, int(digest[:15], 16)])
                frames = extractor.extract(augmenter(wave, rng), inputs.sample_rate)
                cache.store(digest, frames)
                copies.computed += 1
            else:
                copies.cache_hits += 1
            copies.arrays[i].append(frames)
    return copies
