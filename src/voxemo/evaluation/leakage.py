"""The leakage guard: a fold's test speakers must never reach training, normalisation or selection.

Every evaluation calls :func:`check_fold` before it fits anything, so a buggy splitter (or a table
whose speaker ids collide across corpora) stops the run instead of inflating its numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from voxemo.errors import VoxemoError


class LeakageError(VoxemoError):
    """A test speaker (or test utterance) appears in a fold's training or validation data."""


def speakers_of(table: pd.DataFrame, indices: Any) -> set[str]:
    """The distinct speakers of the rows ``indices`` (positional) of ``table``.

    Identity is ``splits.speaker_ids`` (``corpus/speaker`` in a table that mixes corpora).
    """
    from voxemo.evaluation.splits import speaker_ids

    rows = np.asarray(indices if indices is not None else [], dtype=np.int64)
    return set(speaker_ids(table)[rows].tolist())


def check_fold(table: pd.DataFrame, fold: Any) -> None:
    """Raise :class:`LeakageError` unless the fold is speaker independent.

    Checks that test rows and train/validation rows are disjoint, that no test speaker has a row in
    training or validation, that validation speakers are not training speakers (model selection
    must be judged on unseen voices), and that the test set is not empty.
    """
    test = np.asarray(fold.test, dtype=np.int64)
    train = np.asarray(fold.train, dtype=np.int64)
    val = np.asarray(getattr(fold, "val", None) if getattr(fold, "val", None) is not None else [], np.int64)
    name = getattr(fold, "name", "?")
    if test.size == 0:
        raise LeakageError(f"fold {name}: the test set is empty; check the split")
    if train.size == 0:
        raise LeakageError(f"fold {name}: the training set is empty; check the split")
    shared_rows = np.intersect1d(test, np.concatenate([train, val]))
    if shared_rows.size:
        raise LeakageError(f"fold {name}: {shared_rows.size} test utterances are also in train/validation")
    test_speakers = speakers_of(table, test)
    for part, rows in (("training", train), ("validation", val)):
        leaked = test_speakers & speakers_of(table, rows)
        if leaked:
            raise LeakageError(
                f"fold {name}: test speaker(s) {', '.join(sorted(leaked))} also appear in the {part} set; "
                "splits must be speaker independent"
            )
    overlap = speakers_of(table, train) & speakers_of(table, val)
    if overlap:
        raise LeakageError(
            f"fold {name}: speaker(s) {', '.join(sorted(overlap))} are in both training and validation; "
            "validation speakers must be held out of training"
        )
