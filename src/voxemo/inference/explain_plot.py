"""Pictures of an :class:`~voxemo.inference.explain.Explanation` (matplotlib, Agg backend).

Spectrogram models: the log-mel spectrogram in grey, the attribution on top in translucent
red (pushes towards the explained emotion) and blue (pushes away), the strongest regions
outlined and numbered, the scores of every emotion beside it and a legend of the regions below.
Feature models: a horizontal bar per cue group (red raises, blue lowers) and the scores.
Frames models (heads on frame embeddings): the log-mel spectrogram of the audio (display only), the
strongest time spans boxed across all frequencies, and under it the attribution over time as a
filled curve (red above zero: pushes towards the explained emotion, blue below: away).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxemo.errors import VoxemoError

if TYPE_CHECKING:
    from voxemo.inference.explain import Explanation

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
#: Attribution above this percentile of |attribution| is drawn fully opaque.
OPAQUE_PERCENTILE = 99.0
#: Most of an attribution map is near zero; cells below this fraction of the scale stay clear.
CLEAR_BELOW = 0.08
TOWARDS = "#d62728"
AWAY = "#1f77b4"
NEUTRAL_BAR = "0.7"
FREQUENCY_TICKS_HZ = (250, 500, 1000, 2000, 4000, 8000)
#: Display-only blur of cell-level maps (bands, frames): gradients are speckled cell to cell.
DISPLAY_SMOOTHING = (0.8, 1.5)
METHOD_NAMES = {"integrated-gradients": "integrated gradients", "occlusion": "occlusion"}


def plot_explanation(explanation: Explanation, out: str | Path, *, title: str | None = None) -> Path:
    """Write the explanation's picture to ``out`` (.png, .svg or .pdf); returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix.lower() not in PLOT_SUFFIXES:
        raise VoxemoError(f"plot file {out} must end in .png, .svg or .pdf")
    draw = {"spectrogram": _draw_spectrogram, "frames": _draw_time}.get(explanation.kind, _draw_cues)
    fig = draw(plt, explanation)
    try:
        fig.suptitle(title or _title(explanation), fontsize=12, fontweight="bold")
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    except OSError as exc:
        raise VoxemoError(f"cannot write the plot to {out}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return out


def explanation_png(explanation: Explanation) -> bytes:
    """The picture as PNG bytes (for the HTTP service), drawn in memory."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="voxemo-explain-") as folder:
        path = plot_explanation(explanation, Path(folder) / "explanation.png")
        return path.read_bytes()


def _title(explanation: Explanation) -> str:
    name = Path(explanation.path).name if explanation.path else "recording"
    heard = f"{name}: {explanation.emotion} ({explanation.confidence:.0%})"
    if explanation.target != explanation.emotion:
        heard += f"; explaining {explanation.target} ({explanation.target_score:.0%})"
    return f"{heard}, by {METHOD_NAMES.get(explanation.method, explanation.method)}"


# ---------------------------------------------------------------------- spectrogram models


def _draw_spectrogram(plt: Any, explanation: Explanation) -> Any:
    duration = float(explanation.frame_times[-1]) if explanation.frame_times.size > 1 else 1.0
    width = float(np.clip(7.0 + 1.6 * duration, 10.0, 18.0))
    fig = plt.figure(figsize=(width, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[4.2, 1.0], height_ratios=[4.0, 1.25])
    spec_ax = fig.add_subplot(grid[0, 0])
    score_ax = fig.add_subplot(grid[0, 1])
    legend_ax = fig.add_subplot(grid[1, :])
    image = _draw_map(spec_ax, explanation)
    colorbar = fig.colorbar(image, ax=spec_ax, pad=0.01, fraction=0.04, ticks=[-1, 0, 1])
    colorbar.ax.set_yticklabels([f"against\n{explanation.target}", "0", f"for\n{explanation.target}"])
    colorbar.ax.tick_params(labelsize=8)
    _draw_scores(score_ax, explanation)
    _draw_region_legend(legend_ax, explanation)
    return fig


def _draw_map(ax: Any, explanation: Explanation) -> Any:
    """Grey log-mel, the signed attribution as a translucent red/blue layer, regions outlined."""
    from matplotlib.colors import LinearSegmentedColormap

    times = explanation.frame_times
    hop = float(times[1] - times[0]) if times.size > 1 else 0.01
    n_mels = explanation.log_mel.shape[0]
    extent = (-hop / 2, float(times[-1]) + hop / 2, -0.5, n_mels - 0.5)
    ax.imshow(explanation.log_mel, origin="lower", aspect="auto", cmap="gray", extent=extent)
    shown = _display_map(explanation)
    scale = float(np.percentile(np.abs(shown), OPAQUE_PERCENTILE)) or 1.0
    signed = np.clip(shown / scale, -1.0, 1.0)
    cmap = LinearSegmentedColormap.from_list("explain", [AWAY, "white", TOWARDS])
    overlay = cmap((signed + 1.0) / 2.0)
    # Opacity grows with |attribution|, so weak cells leave the spectrogram visible beneath.
    strength = np.clip((np.abs(signed) - CLEAR_BELOW) / (1.0 - CLEAR_BELOW), 0.0, 1.0)
    overlay[..., 3] = 0.85 * np.sqrt(strength)
    image = ax.imshow(
        overlay,
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap=cmap,
        vmin=-1,
        vmax=1,
        interpolation="none",
    )
    for region in explanation.regions:
        _outline(ax, region, hop)
    _frequency_axis(ax, explanation.mel_frequencies)
    ax.set_xlabel("time (s)")
    ax.set_xlim(extent[0], extent[1])
    return image


def _display_map(explanation: Explanation) -> np.ndarray:
    """The attribution as drawn: integrated gradients lightly blurred, occlusion (already patchy) as is."""
    if explanation.method == "occlusion":
        return explanation.attribution
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(explanation.attribution, DISPLAY_SMOOTHING, mode="constant")


def _outline(ax: Any, region: Any, hop: float) -> None:
    band_lo, band_hi = region.bands
    frame_lo, frame_hi = region.frames
    corner = (frame_lo * hop - hop / 2, band_lo - 0.5)
    size = ((frame_hi - frame_lo) * hop, band_hi - band_lo)
    _numbered_box(ax, corner, size, region.rank, (corner[0] + hop, corner[1] + size[1] - 0.8))


def _numbered_box(
    ax: Any, corner: tuple[float, float], size: tuple[float, float], rank: int, label_at: tuple[float, float]
) -> None:
    """A region's outline (yellow on black, visible on any colour map) and its rank number."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle(corner, *size, fill=False, edgecolor="black", linewidth=3.2))
    ax.add_patch(Rectangle(corner, *size, fill=False, edgecolor="#ffd60a", linewidth=1.6))
    ax.text(
        *label_at,
        str(rank),
        color="black",
        fontsize=9,
        fontweight="bold",
        ha="left",
        va="top",
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "#ffd60a", "edgecolor": "none"},
    )


def _frequency_axis(ax: Any, centres_hz: np.ndarray) -> None:
    """Label the mel-band axis in Hz at round frequencies (bands are spaced on the mel scale)."""
    bands = np.arange(centres_hz.size)
    ticks = [hz for hz in FREQUENCY_TICKS_HZ if centres_hz[0] <= hz <= centres_hz[-1]]
    ax.set_yticks(np.interp(ticks, centres_hz, bands))
    ax.set_yticklabels([f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for hz in ticks])
    ax.set_ylabel("frequency (Hz, mel scale)")


def _draw_scores(ax: Any, explanation: Explanation) -> None:
    labels = list(explanation.scores)
    values = [explanation.scores[label] for label in labels]
    colours = [TOWARDS if label == explanation.target else NEUTRAL_BAR for label in labels]
    positions = np.arange(len(labels))[::-1]
    ax.barh(positions, values, color=colours)
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, 1.18)
    ax.set_xticks([0, 0.5, 1])
    ax.set_xlabel("probability")
    ax.set_title("scores", fontsize=10)
    for position, value in zip(positions, values, strict=True):
        ax.text(value + 0.02, position, f"{value:.0%}", va="center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def _draw_region_legend(ax: Any, explanation: Explanation) -> None:
    ax.axis("off")
    if not explanation.regions:
        ax.text(0, 0.5, "No region pushes towards this emotion.", fontsize=9, va="center")
        return
    # Frames models' regions are time spans across all frequencies: no frequency column.
    with_frequency = explanation.kind == "spectrogram"
    rows = [
        [
            str(region.rank),
            f"{region.start_s:.2f}-{region.end_s:.2f} s",
            *([f"{region.low_hz:,.0f}-{region.high_hz:,.0f} Hz"] if with_frequency else []),
            f"{region.weight:.0%}",
            f"{-region.effect:+.1%}",
            region.pushes_towards,
        ]
        for region in explanation.regions
    ]
    header = [
        "#",
        "time",
        *(["frequency"] if with_frequency else []),
        "share of support",
        f"{explanation.target} if removed",
        "pushes towards",
    ]
    table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center", edges="horizontal")
    table.auto_set_font_size(False)
    table.set_fontsize(8.5)
    table.scale(1.0, 1.15)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_text_props(fontweight="bold")


# ---------------------------------------------------------------------- frames models


def _draw_time(plt: Any, explanation: Explanation) -> Any:
    """Spectrogram with the regions boxed over all frequencies, the attribution curve under it."""
    duration = max(explanation.duration_s, 1e-3)
    width = float(np.clip(7.0 + 1.6 * duration, 10.0, 18.0))
    fig = plt.figure(figsize=(width, 6.4), layout="constrained")
    grid = fig.add_gridspec(3, 2, width_ratios=[4.2, 1.0], height_ratios=[3.0, 1.4, 1.25])
    spec_ax = fig.add_subplot(grid[0, 0])
    curve_ax = fig.add_subplot(grid[1, 0], sharex=spec_ax)
    score_ax = fig.add_subplot(grid[0:2, 1])
    legend_ax = fig.add_subplot(grid[2, :])
    _draw_display_spectrogram(spec_ax, explanation)
    _draw_time_curve(curve_ax, explanation)
    spec_ax.set_xlim(0.0, duration)
    spec_ax.tick_params(labelbottom=False)
    _draw_scores(score_ax, explanation)
    _draw_region_legend(legend_ax, explanation)
    return fig


def _draw_display_spectrogram(ax: Any, explanation: Explanation) -> None:

    log_mel, times = explanation.log_mel, explanation.log_mel_times
    hop = float(times[1] - times[0]) if times.size > 1 else 0.01
    n_mels = log_mel.shape[0]
    extent = (-hop / 2, float(times[-1]) + hop / 2, -0.5, n_mels - 0.5)
    ax.imshow(log_mel, origin="lower", aspect="auto", cmap="gray", extent=extent)
    for region in explanation.regions:
        corner, size = (region.start_s, -0.5), (region.end_s - region.start_s, n_mels)
        _numbered_box(ax, corner, size, region.rank, (region.start_s + 0.01, n_mels - 1.5))
    _frequency_axis(ax, explanation.mel_frequencies)
    ax.set_title("spectrogram (for orientation; the model hears its frame embeddings)", fontsize=9)


def _draw_time_curve(ax: Any, explanation: Explanation) -> None:
    """Per-frame attribution as a step curve, filled red above zero and blue below."""
    times, values = explanation.frame_times, explanation.attribution
    # The region spans go underneath (zorder 0) so the red and blue keep their colours.
    for region in explanation.regions:
        ax.axvspan(region.start_s, region.end_s, color="#ffd60a", alpha=0.25, linewidth=0, zorder=0)
    ax.fill_between(times, values, 0, where=values >= 0, step="mid", color=TOWARDS, linewidth=0)
    ax.fill_between(times, values, 0, where=values < 0, step="mid", color=AWAY, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.7)
    limit = float(np.abs(values).max()) or 1.0
    ax.set_ylim(-1.1 * limit, 1.1 * limit)
    ax.set_ylabel(f"for / against\n{explanation.target}", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("time (s)")
    ax.spines[["top", "right"]].set_visible(False)


# ---------------------------------------------------------------------- feature models


def _draw_cues(plt: Any, explanation: Explanation) -> Any:
    cues = explanation.cues
    height = max(3.6, 0.62 * len(cues) + 1.8)
    fig, (cue_ax, score_ax) = plt.subplots(
        1, 2, figsize=(11.0, height), gridspec_kw={"width_ratios": [3.2, 1.0]}, layout="constrained"
    )
    positions = np.arange(len(cues))[::-1]
    values = [cue.attribution for cue in cues]
    cue_ax.barh(positions, values, height=0.6, color=[TOWARDS if v >= 0 else AWAY for v in values])
    cue_ax.set_yticks(positions, [cue.name for cue in cues])
    cue_ax.axvline(0, color="black", linewidth=0.8)
    limit = max((abs(v) for v in values), default=1.0) or 1.0
    cue_ax.set_xlim(-2.0 * limit, 2.0 * limit)
    for position, cue in zip(positions, cues, strict=True):
        _annotate_cue(cue_ax, position, cue, limit)
    cue_ax.set_xlabel(f"contribution to p({explanation.target}):  blue lowers it, red raises it")
    cue_ax.set_title("acoustic cues (strongest feature of each, vs the training average)", fontsize=10)
    cue_ax.spines[["top", "right"]].set_visible(False)
    _draw_scores(score_ax, explanation)
    return fig


def _annotate_cue(ax: Any, position: float, cue: Any, limit: float) -> None:
    """Name the group's strongest feature on the empty side of the zero line, with its z-score."""
    if not cue.features:
        return
    top = cue.features[0]
    text = f"{short_feature_name(top['name'])}  {top['z']:+.1f} sd"
    # Text goes opposite the bar so it never covers the bar or the group names.
    right = cue.attribution < 0
    x = 0.04 * limit if right else -0.04 * limit
    ax.text(x, position, text, va="center", ha="left" if right else "right", fontsize=8, color="0.2")


#: openSMILE name parts that say how, not what: dropped for display.
_NAME_NOISE = ("semitoneFrom27.5Hz", "_sma3nz", "_sma3")


def short_feature_name(name: str) -> str:
    """``F0semitoneFrom27.5Hz_sma3nz_percentile80.0`` -> ``F0_percentile80.0`` (display only)."""
    for noise in _NAME_NOISE:
        name = name.replace(noise, "")
    return name
