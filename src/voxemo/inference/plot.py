"""A picture of a :class:`~voxemo.inference.timeline.Timeline` (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voxemo.errors import VoxemoError

if TYPE_CHECKING:
    from voxemo.inference.timeline import Timeline


def plot_timeline(timeline: Timeline, out: str | Path, *, title: str | None = None) -> Path:
    """Stacked area chart of the smoothed emotion curve, speech segments shaded, top emotion on each.

    Windows without enough speech are left blank, so silence does not masquerade as an emotion.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise VoxemoError(f"plot file {out} must end in .png, .svg or .pdf")
    colours = plt.get_cmap("tab10" if len(timeline.labels) <= 10 else "tab20")
    width = min(24.0, max(8.0, timeline.duration / 20.0))
    fig, (ax, seg_ax) = plt.subplots(
        2, 1, figsize=(width, 5.0), sharex=True, gridspec_kw={"height_ratios": [4, 1]}, layout="constrained"
    )
    try:
        _draw_curve(ax, timeline, colours)
        _draw_segments(seg_ax, timeline, colours)
        ax.set_title(
            title or f"Emotion over time: {Path(timeline.path).name if timeline.path else 'recording'}"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise VoxemoError(f"cannot write the plot to {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return out


def _draw_curve(ax, timeline: Timeline, colours) -> None:  # type: ignore[no-untyped-def]
    colors = [colours(i) for i in range(len(timeline.labels))]
    for seg in timeline.segments:
        ax.axvspan(seg.start, seg.end, color="0.93", zorder=0)
    valid = np.isfinite(timeline.curve_smoothed).all(axis=1)
    for first, run in enumerate(_valid_runs(valid)):
        # One stack per run of windows with speech: gaps stay blank instead of sloping to zero.
        times = timeline.curve_time[run]
        values = timeline.curve_smoothed[run].T
        if times.size == 1:  # a lone window: draw it as a bar one hop wide
            times = np.array([times[0] - timeline.hop / 2, times[0] + timeline.hop / 2])
            values = np.repeat(values, 2, axis=1)
        ax.stackplot(times, values, colors=colors, alpha=0.85, labels=timeline.labels if first == 0 else ())
    ax.set_xlim(0, max(timeline.duration, 1e-3))
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability (smoothed)")
    if valid.any():
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax.grid(axis="y", alpha=0.3)


def _valid_runs(valid: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the runs of consecutive True values."""
    edges = np.diff(np.concatenate(([0], valid.astype(np.int8), [0])))
    return [
        np.arange(a, b) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    ]


def _draw_segments(ax, timeline: Timeline, colours) -> None:  # type: ignore[no-untyped-def]
    index = {label: i for i, label in enumerate(timeline.labels)}
    for seg in timeline.segments:
        colour = colours(index[seg.emotion])
        ax.axvspan(seg.start, seg.end, color=colour, alpha=0.35 + 0.5 * seg.confidence)
        if seg.end - seg.start > timeline.duration / 40:
            ax.text((seg.start + seg.end) / 2, 0.5, seg.emotion, ha="center", va="center", fontsize="small")
    ax.set_yticks([])
    ax.set_ylabel("segments", rotation=0, ha="right", va="center")
    ax.set_xlabel("time (s)")
