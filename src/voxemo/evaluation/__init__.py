"""Honest, speaker-independent evaluation.

- :mod:`~voxemo.evaluation.splits`: speaker-independent folds and the standard protocols.
- :mod:`~voxemo.evaluation.metrics`: UA, WA, macro-F1, per-class recall, confusion, ECE.
- :mod:`~voxemo.evaluation.leakage`: the guard that stops a fold leaking test speakers.
- :mod:`~voxemo.evaluation.crossval`: ``cross_validate`` of a training recipe, resumable by fold.
- :mod:`~voxemo.evaluation.baseline`: eGeMAPS + SVM with inner speaker-grouped model selection.
- :mod:`~voxemo.evaluation.cross_corpus`: leave-one-corpus-out (train on some corpora, test on
  another), with per-corpus validation speakers and optional test-domain feature normalisation.
- :mod:`~voxemo.evaluation.report` / :mod:`~voxemo.evaluation.plots`: ``results.json`` and pictures.

Only the light metrics are imported here; the other modules pull in torch or scikit-learn.
"""

from voxemo.evaluation.metrics import (
    confusion,
    expected_calibration_error,
    macro_f1,
    per_class_recall,
    summarize,
    ua,
    wa,
)

__all__ = ["confusion", "expected_calibration_error", "macro_f1", "per_class_recall", "summarize", "ua", "wa"]
