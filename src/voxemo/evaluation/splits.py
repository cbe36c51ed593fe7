"""Speaker-independent splits of an utterance table: no speaker is ever in two of train/val/test.

A :class:`Fold` holds positional index arrays into the table (use ``table.iloc[fold.train]``).
Speakers are identified by the ``speaker`` column; when a table mixes several corpora the
identity is ``<corpus>/<speaker>``, because speaker ids are only unique inside one corpus.

- :func:`leave_one_speaker_out`: one fold per speaker.
- :func:`speaker_group_folds`: explicit speaker groups (``[[1, 2, 3, 4], [5, 6, 7, 8], ...]``) or
  ``k`` random groups of (nearly) equal speaker count.
- :func:`validation_split` / :func:`add_validation`: validation speakers drawn from the training
  speakers only.
- :func:`protocol_folds`: the project's standard protocol per corpus (see ``PROTOCOLS``).
- :func:`describe`: a JSON-able summary; :func:`check_speaker_independent` asserts the invariant.

Every random choice uses ``numpy.random.default_rng(seed)``, so equal seeds give equal folds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from voxemo.errors import ConfigError, CorpusError
from voxemo.registry import Registry

_EMPTY = np.empty(0, dtype=np.int64)
UNKNOWN_SPEAKER = "unknown"


@dataclasses.dataclass(frozen=True, eq=False)
class Fold:
    """One train/test partition (positional row indices, sorted); ``val`` may be empty."""

    name: str
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray = dataclasses.field(default_factory=lambda: _EMPTY.copy())

    def with_validation(self, train: np.ndarray, val: np.ndarray) -> Fold:
        return dataclasses.replace(self, train=train, val=val)


# -- speaker identity ----------------------------------------------------------------------------


def speaker_ids(table: pd.DataFrame) -> np.ndarray:
    """The speaker identity of every row (``corpus/speaker`` when the table mixes corpora)."""
    if "speaker" not in table.columns:
        raise CorpusError("the table has no 'speaker' column; speaker-independent splits need one")
    speakers = table["speaker"].astype(str)
    if "corpus" in table.columns and table["corpus"].nunique() > 1:
        speakers = table["corpus"].astype(str) + "/" + speakers
    return speakers.to_numpy()


def _speakers_checked(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Row speakers and the sorted distinct speakers; CorpusError when fewer than two are known."""
    speakers = speaker_ids(table)
    distinct = sorted(set(speakers.tolist()))
    if any(s == UNKNOWN_SPEAKER or s.endswith("/" + UNKNOWN_SPEAKER) for s in distinct):
        raise CorpusError(
            "the table has utterances of speaker 'unknown'; speaker-independent splits are impossible "
            "(give the data a speaker column, e.g. through a CSV manifest)"
        )
    if len(distinct) < 2:
        only = distinct[0] if distinct else "none"
        raise CorpusError(
            f"the table has {len(distinct)} speaker ({only}); speaker-independent splits need at least two"
        )
    return speakers, distinct


def _rows_of(speakers: np.ndarray, chosen: Sequence[str]) -> np.ndarray:
    return np.flatnonzero(np.isin(speakers, list(chosen))).astype(np.int64)


def _fold(name: str, speakers: np.ndarray, test_speakers: Sequence[str]) -> Fold:
    test_mask = np.isin(speakers, list(test_speakers))
    return Fold(
        name=name,
        train=np.flatnonzero(~test_mask).astype(np.int64),
        test=np.flatnonzero(test_mask).astype(np.int64),
    )


# -- splitters -------------------------------------------------------------------------------


def leave_one_speaker_out(table: pd.DataFrame) -> list[Fold]:
    """One fold per speaker (sorted by speaker id), that speaker's utterances as test."""
    speakers, distinct = _speakers_checked(table)
    return [_fold(f"speaker-{speaker}", speakers, [speaker]) for speaker in distinct]


def _match_speaker(member: object, distinct: Sequence[str]) -> str | None:
    """The table speaker a group member names: exact text, or the same number ("1" / 1 -> "01")."""
    text = str(member)
    if text in distinct:
        return text
    if text.isdigit():
        numeric = [s for s in distinct if s.isdigit() and int(s) == int(text)]
        if len(numeric) == 1:
            return numeric[0]
    return None


def _resolve_groups(groups: Sequence[Sequence[object]], distinct: Sequence[str]) -> list[list[str]]:
    resolved: list[list[str]] = []
    unknown: list[str] = []
    for group in groups:
        if isinstance(group, str | bytes) or not isinstance(group, Sequence) or len(group) == 0:
            raise ConfigError(f"each speaker group must be a non-empty list of speaker ids, got {group!r}")
        members = [_match_speaker(member, distinct) for member in group]
        unknown += [str(m) for m, found in zip(group, members, strict=True) if found is None]
        resolved.append([m for m in members if m is not None])
    if unknown:
        raise ConfigError(
            f"speaker group member(s) {', '.join(unknown)} are not speakers of the table; "
            f"its speakers are: {', '.join(distinct)}"
        )
    flat = [speaker for group in resolved for speaker in group]
    repeated = sorted({s for s in flat if flat.count(s) > 1})
    if repeated:
        raise ConfigError(f"speaker(s) {', '.join(repeated)} appear in more than one group")
    left_out = sorted(set(distinct) - set(flat))
    if left_out:
        raise ConfigError(
            f"speaker(s) {', '.join(left_out)} are in no group, so they would never be tested; "
            "add them to a group or drop their rows first"
        )
    if len(resolved) < 2:
        raise ConfigError("speaker_group_folds needs at least two groups")
    return resolved


def _random_groups(distinct: Sequence[str], k: int, seed: int) -> list[list[str]]:
    if not isinstance(k, int | np.integer) or not 2 <= k <= len(distinct):
        raise ConfigError(
            f"k must be an integer between 2 and the number of speakers ({len(distinct)}), got {k}"
        )
    order = np.random.default_rng(seed).permutation(len(distinct))
    return [sorted(distinct[i] for i in chunk) for chunk in np.array_split(order, k)]


def speaker_group_folds(
    table: pd.DataFrame,
    groups: Sequence[Sequence[object]] | None = None,
    k: int | None = None,
    seed: int = 0,
) -> list[Fold]:
    """One fold per speaker group, that group's utterances as test.

    Pass either explicit ``groups`` (speaker ids; numbers match zero-padded ids, so RAVDESS's
    ``[[1, 2, 3, 4], ...]`` finds speakers "01".."04"), which must cover every speaker exactly
    once, or ``k`` to draw k random groups whose speaker counts differ by at most one.
    """
    speakers, distinct = _speakers_checked(table)
    if (groups is None) == (k is None):
        raise ConfigError("speaker_group_folds needs exactly one of groups= or k=")
    resolved = _resolve_groups(groups, distinct) if groups is not None else _random_groups(distinct, k, seed)
    return [_fold(f"group-{i + 1}", speakers, group) for i, group in enumerate(resolved)]


def validation_split(
    table: pd.DataFrame,
    train_idx: np.ndarray,
    n_speakers: int | None = None,
    fraction: float = 0.2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into (train, val) by speaker: val speakers are training speakers only.

    ``n_speakers`` validation speakers, or else ``round(fraction * training speakers)``, at least
    one and always leaving at least one speaker for training.
    """
    train_idx = np.asarray(train_idx, dtype=np.int64)
    speakers = speaker_ids(table)
    pool = sorted(set(speakers[train_idx].tolist()))
    if len(pool) < 2:
        raise CorpusError(
            f"the training rows hold {len(pool)} speaker(s); a speaker-independent validation split "
            "needs at least two (one to train on, one to validate)"
        )
    if n_speakers is None:
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"fraction must be between 0 and 1 (exclusive), got {fraction}")
        n_speakers = min(max(1, round(fraction * len(pool))), len(pool) - 1)
    elif not 1 <= n_speakers < len(pool):
        raise ConfigError(
            f"n_speakers must be between 1 and {len(pool) - 1} (the training rows hold {len(pool)} "
            f"speakers), got {n_speakers}"
        )
    chosen = np.random.default_rng(seed).choice(len(pool), size=n_speakers, replace=False)
    val_speakers = [pool[i] for i in sorted(chosen)]
    is_val = np.isin(speakers[train_idx], val_speakers)
    return np.sort(train_idx[~is_val]), np.sort(train_idx[is_val])


def add_validation(
    folds: Sequence[Fold],
    table: pd.DataFrame,
    n_speakers: int | None = None,
    fraction: float = 0.2,
    seed: int = 0,
) -> list[Fold]:
    """Each fold with a validation set carved from its training speakers (seed + fold number)."""
    result = []
    for number, fold in enumerate(folds):
        train, val = validation_split(table, fold.train, n_speakers, fraction, seed + number)
        result.append(fold.with_validation(train, val))
    return result


# -- standard protocols ----------------------------------------------------------------------

PROTOCOLS: Registry[Callable[[pd.DataFrame], list[Fold]]] = Registry("protocol")


def _ravdess_actor_quads(table: pd.DataFrame) -> list[Fold]:
    """RAVDESS: 6 folds of 4 consecutive actors (1-4, 5-8, ..., 21-24)."""
    speakers, distinct = _speakers_checked(table)
    if not all(s.isdigit() for s in distinct):
        raise CorpusError(f"RAVDESS speakers must be actor numbers, got {', '.join(distinct[:5])}")
    quads: dict[int, list[str]] = {}
    for speaker in distinct:
        quads.setdefault((int(speaker) - 1) // 4, []).append(speaker)
    return [
        _fold(f"actors-{4 * q + 1:02d}-{4 * q + 4:02d}", speakers, members)
        for q, members in sorted(quads.items())
    ]


def _sessions(table: pd.DataFrame) -> list[Fold]:
    """IEMOCAP: leave one session (two speakers) out, 5 folds."""
    speakers, distinct = _speakers_checked(table)
    sessions: dict[str, list[str]] = {}
    for speaker in distinct:
        sessions.setdefault(speaker[:5], []).append(speaker)
    return [_fold(f"session-{name}", speakers, members) for name, members in sorted(sessions.items())]


def _five_speaker_groups(table: pd.DataFrame) -> list[Fold]:
    """CREMA-D: 5 random speaker groups (seed 0)."""
    return speaker_group_folds(table, k=5, seed=0)


for _name in ("emodb", "casia", "emovo", "savee", "tess"):
    PROTOCOLS.register(_name)(leave_one_speaker_out)
PROTOCOLS.register("ravdess")(_ravdess_actor_quads)
PROTOCOLS.register("iemocap")(_sessions)
PROTOCOLS.register("cremad")(_five_speaker_groups)


def protocol_folds(corpus_name: str, table: pd.DataFrame) -> list[Fold]:
    """The standard folds of a corpus: EmoDB/CASIA/EMOVO/SAVEE/TESS leave-one-speaker-out,
    RAVDESS 6 x 4 consecutive actors, IEMOCAP leave-one-session-out, CREMA-D 5 speaker groups."""
    if corpus_name not in PROTOCOLS:
        raise ConfigError(
            f"no standard protocol for corpus {corpus_name!r} (known: {', '.join(PROTOCOLS.names())}); "
            "use leave_one_speaker_out() or speaker_group_folds() instead"
        )
    return PROTOCOLS.get(corpus_name)(table)


# -- checks and summaries --------------------------------------------------------------------


def check_speaker_independent(folds: Sequence[Fold], table: pd.DataFrame) -> None:
    """CorpusError if any fold shares a speaker between two of train/val/test or reuses a row."""
    speakers = speaker_ids(table)
    for fold in folds:
        parts = {"train": fold.train, "val": fold.val, "test": fold.test}
        sets = {part: set(speakers[idx].tolist()) for part, idx in parts.items()}
        for first, second in (("train", "test"), ("train", "val"), ("val", "test")):
            shared = sets[first] & sets[second]
            if shared:
                raise CorpusError(
                    f"fold {fold.name}: speaker(s) {', '.join(sorted(shared))} in both {first} and {second}"
                )
        rows = np.concatenate(list(parts.values()))
        if len(np.unique(rows)) != len(rows):
            raise CorpusError(f"fold {fold.name}: a row appears in two of train/val/test")


def describe(folds: Sequence[Fold], table: pd.DataFrame) -> dict[str, Any]:
    """JSON-able summary: per fold and part, the number of utterances and the speakers."""
    speakers = speaker_ids(table)

    def part(idx: np.ndarray) -> dict[str, Any]:
        return {"size": len(idx), "speakers": sorted(set(speakers[idx].tolist()))}

    return {
        "n_folds": len(folds),
        "n_utterances": len(table),
        "folds": [
            {"name": fold.name, "train": part(fold.train), "val": part(fold.val), "test": part(fold.test)}
            for fold in folds
        ],
    }
