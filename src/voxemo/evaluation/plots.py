"""Pictures of an evaluation: the confusion matrix and the training curves of every fold.

matplotlib runs on the Agg backend (no display needed); figures are written atomically so a
half-written PNG never sits beside a finished ``results.json``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # a headless server or CI has no display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from voxemo.errors import VoxemoError
from voxemo.io import atomic_write_bytes


def _save(fig: plt.Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def plot_confusion(
    matrix: np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | Path,
    normalize: bool = True,
    title: str = "Confusion matrix",
) -> Path:
    """Heat map of a confusion matrix (rows true, columns predicted).

    With ``normalize`` each cell shows the row percentage (the recall of its true class) and the
    raw count below it, so rare classes stay readable; rows of a class absent from the test set
    stay empty instead of dividing by zero.
    """
    counts = np.asarray(matrix, dtype=np.int64)
    if counts.ndim != 2 or counts.shape != (len(labels), len(labels)):
        raise VoxemoError(f"confusion matrix shape {counts.shape} does not match {len(labels)} labels")
    totals = counts.sum(axis=1, keepdims=True)
    shown = np.divide(counts * 100.0, totals, out=np.zeros(counts.shape), where=totals > 0)
    if not normalize:
        shown = counts.astype(float)
    size = max(4.0, 0.75 * len(labels) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=100.0 if normalize else max(1.0, shown.max()))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of true class" if normalize else "count")
    threshold = (100.0 if normalize else max(1.0, shown.max())) / 2.0
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            text = f"{shown[i, j]:.0f}%\n({counts[i, j]})" if normalize else f"{counts[i, j]}"
            colour = "white" if shown[i, j] > threshold else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def _series(history: Mapping[str, Any] | Sequence[Mapping[str, Any]], key: str) -> list[float]:
    """One metric per epoch from a history given as {key: [..]} or as a list of per-epoch dicts."""
    values = history.get(key) or [] if isinstance(history, Mapping) else [epoch.get(key) for epoch in history]
    return [float("nan") if v is None else float(v) for v in values]


def _best_epoch(history: Mapping[str, Any] | Sequence[Mapping[str, Any]], val_ua: list[float]) -> int | None:
    """The 0-based epoch the run kept: ``best_epoch`` when recorded (1-based), else the val UA argmax."""
    if isinstance(history, Mapping) and history.get("best_epoch") is not None:
        return int(history["best_epoch"]) - 1
    finite = [v for v in val_ua if np.isfinite(v)]
    return int(np.nanargmax(val_ua)) if finite else None


def plot_training_curves(
    histories_per_fold: Mapping[str, Any] | Sequence[Any],
    path: str | Path,
    title: str = "Training curves",
) -> Path:
    """Train/validation loss (left) and validation UA (right) per epoch, one colour per fold.

    ``histories_per_fold`` maps fold name -> history (or is a list of histories). A history is
    either ``{"train_loss": [...], "val_loss": [...], "val_ua": [...], "best_epoch": k}``
    (``best_epoch`` 1-based, optional) or a list of per-epoch dicts with those keys. The kept
    epoch is marked with a dot on both panels.
    """
    items = (
        list(histories_per_fold.items())
        if isinstance(histories_per_fold, Mapping)
        else [(f"fold {i + 1}", h) for i, h in enumerate(histories_per_fold)]
    )
    if not items:
        raise VoxemoError("no training histories to plot; train at least one fold first")
    fig, (loss_ax, ua_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.get_cmap("tab10" if len(items) <= 10 else "tab20")
    for k, (name, history) in enumerate(items):
        colour = colours(k % colours.N)
        train_loss, val_loss = _series(history, "train_loss"), _series(history, "val_loss")
        val_ua = _series(history, "val_ua")
        epochs = np.arange(1, max(len(train_loss), len(val_loss), len(val_ua)) + 1)
        if train_loss:
            loss_ax.plot(epochs[: len(train_loss)], train_loss, color=colour, lw=1.2, label=f"{name} train")
        if val_loss:
            loss_ax.plot(
                epochs[: len(val_loss)], val_loss, color=colour, lw=1.2, ls="--", label=f"{name} val"
            )
        if val_ua:
            ua_ax.plot(epochs[: len(val_ua)], val_ua, color=colour, lw=1.2, label=name)
        best = _best_epoch(history, val_ua)
        if best is not None and best < len(val_ua):
            ua_ax.plot(best + 1, val_ua[best], "o", color=colour, ms=6)
        if best is not None and best < len(val_loss):
            loss_ax.plot(best + 1, val_loss[best], "o", color=colour, ms=6)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss (solid train, dashed validation)")
    ua_ax.set(xlabel="epoch", ylabel="validation UA", title="validation UA (dot = kept epoch)")
    ua_ax.set_ylim(0.0, 1.0)
    for ax in (loss_ax, ua_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ua_ax.legend(fontsize=7, ncol=2 if len(items) > 6 else 1, loc="lower right")
    fig.suptitle(title)
    return _save(fig, path)
