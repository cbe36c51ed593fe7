"""Calibrated confidence: temperature scaling fitted on validation speakers.

A network trained with cross-entropy tends to be over-confident on voices it has not heard:
its top probability says 0.9 where it is right 60 % of the time. Temperature scaling divides
the logits by one scalar ``T`` before the softmax; ``T`` is chosen to minimise the negative log
likelihood (NLL) of the *validation* speakers, so the test speakers never influence it. It
changes no prediction (the arg-max stays), only how sure the probabilities claim to be.

Validation sets of emotional speech are small (a few speakers, a few hundred clips), so the
fit is a MAP estimate with a weak Gaussian prior on ``log T`` centred on 0 (``T = 1``): with a
handful of clips the prior keeps ``T`` near 1 instead of running to an extreme (all-correct
clips push plain NLL towards ``T -> 0``, all-wrong ones towards ``T -> inf``); with hundreds of
clips the data decide. The search is a bounded 1-D minimisation over ``log T`` (the NLL is
smooth and, in ``1/T``, convex), deterministic and without torch.

:func:`uncertainty_threshold` turns calibrated validation probabilities into a default for
"uncertain": the confidence below which the model is right less often than a chosen level.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from voxemo.errors import ModelError

#: Temperatures outside this range mean a broken model or a degenerate validation set.
TEMPERATURE_BOUNDS = (0.05, 20.0)
#: Standard deviation of the Gaussian prior on log T (T within x/÷ e of 1 a priori).
LOG_T_PRIOR_STD = 1.0


def _checked(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    if logits.ndim != 2 or targets.shape != (logits.shape[0],):
        raise ModelError(
            f"calibration needs logits (N, C) and N integer targets; got shapes {logits.shape} and "
            f"{targets.shape}"
        )
    if logits.size and not np.all(np.isfinite(logits)):
        raise ModelError("the model produced NaN or infinite logits; calibration is impossible, retrain it")
    if targets.size and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ModelError(f"targets must be class indices in [0, {logits.shape[1]}); got {targets.tolist()}")
    return logits, targets.astype(np.int64)


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log likelihood of ``targets`` under ``softmax(logits / temperature)``."""
    logits, targets = _checked(logits, targets)
    if targets.size == 0:
        return float("nan")
    log_probs = log_softmax(logits / temperature, axis=1)
    return float(-log_probs[np.arange(targets.size), targets].mean())


def fit_temperature(
    logits: np.ndarray,
    targets: np.ndarray,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    prior_std: float = LOG_T_PRIOR_STD,
) -> float:
    """The temperature ``T > 0`` minimising validation NLL of ``softmax(logits / T)`` (MAP, see module doc).

    ``logits``: (N, C) raw model outputs; ``targets``: (N,) class indices. Returns 1.0 when there
    is no validation data. ``prior_std=inf`` gives the plain maximum-likelihood fit.
    """
    logits, targets = _checked(logits, targets)
    if targets.size == 0:
        return 1.0
    rows = np.arange(targets.size)
    penalty = 0.0 if not np.isfinite(prior_std) else 0.5 / prior_std**2

    def objective(log_t: float) -> float:
        log_probs = log_softmax(logits * np.exp(-log_t), axis=1)
        # Summed (not mean) NLL: the prior then weighs as much as one clip's worth of evidence.
        return float(-log_probs[rows, targets].sum() + penalty * log_t**2)

    low, high = np.log(bounds[0]), np.log(bounds[1])
    found = minimize_scalar(objective, bounds=(low, high), method="bounded", options={"xatol": 1e-5})
    best = float(found.x) if found.success else 0.0
    return float(np.exp(best)) if objective(best) <= objective(0.0) else 1.0


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``softmax(logits / temperature)`` (float64, rows sum to 1)."""
    if not temperature > 0:
        raise ModelError(f"temperature must be positive, got {temperature}")
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1))


def uncertainty_threshold(
    probs: np.ndarray, targets: np.ndarray, *, min_accuracy: float = 0.5, min_count: int = 5
) -> float:
    """The confidence below which validation predictions are right less often than ``min_accuracy``.

    Accuracy as a function of confidence (top probability) is estimated by isotonic regression
    of "was the prediction right" on confidence (a non-decreasing step curve, so a few lucky
    clips cannot make it zig-zag). The threshold lies halfway between the most confident clip
    whose estimated accuracy is below ``min_accuracy`` and the next one. 0.0 (nothing is
    uncertain) when fewer than ``min_count`` clips fall below, or there are too few clips; 1.0
    when every clip does.
    """
    from sklearn.isotonic import isotonic_regression

    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    if probs.ndim != 2 or targets.shape != (probs.shape[0],):
        raise ModelError(f"probs must be (N, C) with N = {targets.size} targets; got shape {probs.shape}")
    if targets.size < max(min_count, 1):
        return 0.0
    confidence = probs.max(axis=1)
    order = np.argsort(confidence, kind="stable")
    correct = (probs.argmax(axis=1) == targets)[order].astype(np.float64)
    accuracy = isotonic_regression(correct, increasing=True)
    below = int(np.sum(accuracy < min_accuracy))  # non-decreasing: the unreliable clips come first
    if below < min_count:
        return 0.0
    if below == targets.size:
        return 1.0
    sorted_conf = confidence[order]
    return float((sorted_conf[below - 1] + sorted_conf[below]) / 2.0)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> float:
    """ECE with the same binning as :func:`voxemo.evaluation.metrics.expected_calibration_error`.

    Kept here because training sits upstream of evaluation and must not import it.
    """
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    if targets.size == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == targets).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    gaps = [
        (bins == b).mean() * abs(correct[bins == b].mean() - confidence[bins == b].mean())
        for b in np.unique(bins)
    ]
    return float(np.sum(gaps))
