"""Score a trained bundle on speakers it never heard (``data.test_speakers`` of its recipe)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voxemo.evaluation.metrics import expected_calibration_error, summarize
from voxemo.evaluation.report import temper_probabilities
from voxemo.io import atomic_write_text

HELDOUT_FILE = "heldout.json"


def evaluate_heldout(bundle_dir: str | Path, table: pd.DataFrame) -> dict[str, Any]:
    """UA/WA/macro-F1 and per-corpus UA of the bundle on ``table``; written to ``heldout.json``."""
    from voxemo.training.checkpoint import load_bundle
    from voxemo.training.data import build_dataset
    from voxemo.training.loop import predict_proba

    model, bundle = load_bundle(bundle_dir)
    labels = list(bundle.labels)
    data = build_dataset(table, bundle.train_config, labels=labels)
    probs = predict_proba(model, data)
    predicted = np.asarray(labels)[probs.argmax(axis=1)]
    truth = table["emotion"].astype(str).to_numpy()
    result = summarize(truth, predicted, labels, probs=probs)
    result["per_corpus"] = {
        corpus: summarize(truth[mask], predicted[mask], labels)["ua"]
        for corpus, mask in ((c, (table["corpus"] == c).to_numpy()) for c in sorted(table["corpus"].unique()))
    }
    # The bundle's temperature was fitted on its validation speakers; the held-out ones never saw it.
    result["temperature"] = float(bundle.temperature)
    column = {label: i for i, label in enumerate(labels)}
    if set(truth) <= set(column):
        codes = np.array([column[t] for t in truth])
        calibrated = temper_probabilities(probs, bundle.temperature)
        result["ece_calibrated"] = expected_calibration_error(calibrated, codes)
    result["speakers"] = sorted(table["speaker"].astype(str).unique())
    result["n"] = len(table)
    atomic_write_text(Path(bundle_dir) / HELDOUT_FILE, json.dumps(result, indent=2, default=float))
    return result
