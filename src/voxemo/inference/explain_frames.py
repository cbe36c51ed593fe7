"""Explanations of heads on frame embeddings (``input_kind = "frames"``): attribution over time.

A frame embedding (e.g. 384 Whisper encoder dimensions, 50 frames/s) means nothing to a person,
so these models are explained over TIME: which stretches of the recording drove the decision.
The frame extractor (the expensive part) runs once; every probe below only reruns the small head.

- ``occlusion`` (the default for this kind): windows of ``patch_seconds`` (hop half of that) are
  in turn *dropped* from the frame sequence and the drop of the target probability is spread over
  the window's frames (averaged where windows overlap) -> one number per frame.
- ``integrated-gradients``: over the normalised embeddings from the all-training-mean baseline,
  summed over the embedding dimensions per frame (signed, so the sum stays ``p(input) -
  p(baseline)`` and red/blue still mean for/against).

Regions are the strongest non-overlapping ``region_seconds`` spans; each span is then removed to
measure its ``effect`` and ``pushes_towards``. For the picture, a log-mel spectrogram of the audio
is computed here for display only (the model never sees it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voxemo.errors import AudioError, ConfigError
from voxemo.registry import Registry

if TYPE_CHECKING:
    import torch

    from voxemo.inference.explain import ExplainConfig, Explanation
    from voxemo.inference.recognizer import Recognizer

DEFAULT_FRAME_METHOD = "occlusion"
#: The spectrogram drawn under the time attribution (display only): 64 mel bands, 10 ms hop.
DISPLAY_MELS = 64


@dataclass
class FrameView:
    """A frames model's head around one recording's frames: probabilities of frame subsets.

    ``frames`` are the extractor's raw (T, D) frames; ``encoded`` what ``classify`` takes for all
    of them (normalised, (T, D)). ``frame_rate`` is frames per second.
    """

    model: Any
    frames: torch.Tensor
    encoded: torch.Tensor
    temperature: float
    frame_rate: float

    @property
    def length(self) -> int:
        return int(self.frames.shape[0])

    def scores_keeping(self, keep: np.ndarray, chunk: int = 32) -> np.ndarray:
        """(B, T) bool rows of frames to keep -> (B, C) probabilities of each reduced recording.

        Removed frames are dropped, not blanked: both heads pool (mean/std or attention) over the
        valid frames only, so a recording without a stretch is exactly the shorter sequence of the
        frames that remain. Blanking them to the recording's mean frame instead would still count
        them: they would shrink the std pool and take a share of the attention softmax, a signal of
        their own. The whole forward pass reruns, so ``frame_norm: mean`` recomputes the recording's
        mean without the removed stretch, as it would for audio that never had it.
        """
        import torch

        keep = np.asarray(keep, dtype=bool).reshape(-1, self.length)
        counts = keep.sum(axis=1)
        if counts.min(initial=1) < 1:
            raise ConfigError("cannot score a recording with every frame removed: keep at least one")
        parts = []
        with torch.no_grad():
            for start in range(0, keep.shape[0], chunk):
                rows = keep[start : start + chunk]
                batch = torch.zeros(len(rows), int(counts[start : start + chunk].max()), self.frames.shape[1])
                for i, row in enumerate(rows):
                    kept = self.frames[torch.from_numpy(row)]
                    batch[i, : kept.shape[0]] = kept
                lengths = torch.from_numpy(counts[start : start + chunk].astype(np.int64))
                logits = self.model(batch, lengths)
                parts.append((logits / self.temperature).softmax(dim=-1).double())
        return torch.cat(parts).numpy()

    def full_scores(self) -> np.ndarray:
        """(C,) probabilities of the whole recording (what ``predict`` gives)."""
        return self.scores_keeping(np.ones((1, self.length), dtype=bool))[0]

    def baseline_scores(self) -> np.ndarray:
        """(C,) probabilities when every frame is the training set's mean frame (encoded zeros)."""
        import torch

        view = self.encoded_view()
        return view.scores(torch.zeros_like(view.inputs).unsqueeze(0))[0]

    def encoded_view(self) -> Any:
        """The head's classifier around the encoded frames, as a spectrogram-style ``ModelView``."""
        import torch

        from voxemo.inference.explain import ModelView

        lengths = torch.tensor([self.length], dtype=torch.long)
        return ModelView(self.model, self.encoded, lengths, self.temperature)

    def window_starts(self, width: int) -> list[int]:
        """First frames of windows of ``width`` frames at a hop of half that, the last one ending at T."""
        hop = max(1, width // 2)
        starts = list(range(0, self.length - width + 1, hop))
        if starts[-1] + width < self.length:
            starts.append(self.length - width)
        return starts

    def frames_for(self, seconds: float) -> int:
        """``seconds`` as a whole number of frames, at least 1 and leaving at least one frame."""
        return int(min(max(1, round(seconds * self.frame_rate)), self.length - 1))

    def keep_all_but(self, spans: list[tuple[int, int]]) -> np.ndarray:
        """(len(spans), T) rows keeping every frame except ``[lo, hi)`` of that row's span."""
        keep = np.ones((len(spans), self.length), dtype=bool)
        for row, (lo, hi) in enumerate(spans):
            keep[row, lo:hi] = False
        return keep


def frame_view(recognizer: Recognizer, waveform: np.ndarray) -> FrameView:
    """Run the recogniser's frame extractor once on a 16 kHz waveform (padded as ``predict`` pads)."""
    import torch

    backend = recognizer.backend
    model = backend.model
    wave = np.ascontiguousarray(waveform, dtype=np.float32).reshape(-1)
    short = recognizer.info.min_samples - wave.size
    if short > 0:
        wave = np.pad(wave, (0, short))
    x, lengths = backend._inputs([wave])  # the extractor's frames, exactly as predict computes them
    model.eval()
    with torch.no_grad():
        encoded, _ = model.encode_input(x, lengths)
    if int(lengths[0]) < 2:
        raise AudioError(
            "the recording gives a single embedding frame; an explanation over time needs a longer clip"
        )
    return FrameView(
        model=model,
        frames=x[0, : int(lengths[0])].detach(),
        encoded=encoded[0, : int(lengths[0])].detach(),
        temperature=recognizer.info.temperature,
        frame_rate=float(model.params.frame_rate),
    )


# ---------------------------------------------------------------------- attribution methods

#: A method: (view, target index, config) -> (attribution (T,), baseline probabilities (C,)).
FrameMethod = Callable[[FrameView, int, "ExplainConfig"], tuple[np.ndarray, np.ndarray]]
FRAME_METHODS: Registry[FrameMethod] = Registry("frame explanation method")


def frame_method(name: str) -> FrameMethod:
    """The method called ``name`` for frames models; a ConfigError naming the supported ones."""
    if name.lower() not in FRAME_METHODS:
        raise ConfigError(
            f"method {name!r} cannot explain a head on frame embeddings; "
            f"supported: {', '.join(FRAME_METHODS.names())}"
        )
    return FRAME_METHODS.get(name.lower())


@FRAME_METHODS.register("occlusion")
def frame_occlusion(view: FrameView, target: int, config: ExplainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Drop of the target probability when each window of frames is removed, spread over its frames."""
    width = view.frames_for(config.patch_seconds)
    starts = view.window_starts(width)
    without = view.scores_keeping(view.keep_all_but([(s, s + width) for s in starts]))[:, target]
    drops = view.full_scores()[target] - without
    total = np.zeros(view.length)
    coverage = np.zeros(view.length)
    for start, drop in zip(starts, drops, strict=True):
        total[start : start + width] += drop / width
        coverage[start : start + width] += 1
    # Windows overlap by half: a frame gets the mean of the windows that removed it, so the map
    # sums to about the drops of a tiling of the recording by non-overlapping windows.
    return total / np.maximum(coverage, 1), view.baseline_scores()


@FRAME_METHODS.register("integrated-gradients")
def frame_integrated_gradients(
    view: FrameView, target: int, config: ExplainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Integrated gradients over the encoded frames, summed over the embedding dimensions per frame.

    The signed sum (not the sum of magnitudes) keeps completeness: the map adds up to
    ``p(input) - p(baseline)`` and a frame's sign says whether it argued for or against the target.
    """
    from voxemo.inference.explain import integrated_gradients

    attribution, baseline = integrated_gradients(view.encoded_view(), target, config)
    return attribution.sum(axis=1), baseline


# ---------------------------------------------------------------------- the explanation


def explain_frames(
    recognizer: Recognizer,
    waveform: np.ndarray,
    target: str | None,
    method: str,
    path: str | None,
    config: ExplainConfig,
) -> Explanation:
    """Explain a frames model's decision on one 16 kHz waveform over time (see the module doc)."""
    from voxemo.inference.explain import Explanation, common_fields, target_position

    attribute = frame_method(method)
    view = frame_view(recognizer, waveform)
    labels = recognizer.labels
    probs = view.full_scores()
    index = target_position(labels, probs, target)
    attribution, baseline = attribute(view, index, config)
    duration = waveform.size / recognizer.sample_rate
    log_mel, log_mel_times, mel_frequencies = display_log_mel(waveform, recognizer.sample_rate)
    return Explanation(
        kind="frames",
        **common_fields(method, labels, probs, index, baseline, attribution, duration, path),
        log_mel=log_mel,
        log_mel_times=log_mel_times,
        mel_frequencies=mel_frequencies,
        frame_times=np.arange(view.length) / view.frame_rate,
        regions=time_regions(view, attribution, probs, labels, index, config, duration),
    )


def time_regions(
    view: FrameView,
    attribution: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    target: int,
    config: ExplainConfig,
    duration: float,
) -> list[Any]:
    """The strongest non-overlapping ``region_seconds`` spans, each removed to measure its effect."""
    from voxemo.inference.explain import Region, top_boxes

    width = view.frames_for(config.region_seconds)
    positive = float(np.clip(attribution, 0.0, None).sum())
    boxes = top_boxes(attribution.reshape(1, -1), 1, width, config.top_regions)
    boxes = [box for box in boxes if box.total >= config.min_region_share * positive]
    if not boxes:
        return []
    removed = view.scores_keeping(view.keep_all_but([(b.frame_lo, b.frame_hi) for b in boxes]))
    return [
        Region(
            rank=rank,
            start_s=box.frame_lo / view.frame_rate,
            end_s=min(box.frame_hi / view.frame_rate, duration),
            low_hz=None,
            high_hz=None,
            weight=box.total / positive if positive > 0 else 0.0,
            effect=float(probs[target] - without[target]),
            pushes_towards=labels[int(np.argmax(probs - without))],
            frames=(box.frame_lo, box.frame_hi),
        )
        for rank, (box, without) in enumerate(zip(boxes, removed, strict=True), start=1)
    ]


def display_log_mel(waveform: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_mels, F) log-mel of the audio for the picture, its frame times and band centres (Hz)."""
    from voxemo.features import get_extractor
    from voxemo.inference.explain import mel_band_edges

    extractor = get_extractor("logmel", n_mels=DISPLAY_MELS, sample_rate=sample_rate)
    log_mel = np.asarray(extractor.extract(waveform, sample_rate), dtype=np.float64).T
    times = np.arange(log_mel.shape[1]) / extractor.frame_rate
    centres = mel_band_edges(sample_rate, DISPLAY_MELS, 0.0, None)[1:-1]
    return log_mel, times, centres


# ---------------------------------------------------------------------- faithfulness check


def frame_deletion_check(
    recognizer: Recognizer,
    waveform: np.ndarray,
    explanation: Explanation,
    fraction: float,
    draws: int,
    seed: int,
) -> dict[str, float]:
    """Drop of the target when the top ``fraction`` of frames are removed, vs as many random frames."""
    view = frame_view(recognizer, waveform)
    count = int(min(max(1, round(fraction * view.length)), view.length - 1))
    rng = np.random.default_rng(seed)
    chosen = [np.argsort(-explanation.attribution, kind="stable")[:count]]
    chosen += [rng.choice(view.length, size=count, replace=False) for _ in range(draws)]
    keep = np.ones((len(chosen) + 1, view.length), dtype=bool)
    for row, frames in enumerate(chosen, start=1):
        keep[row, frames] = False
    probs = view.scores_keeping(keep)
    target = recognizer.labels.index(explanation.target)
    drops = probs[0, target] - probs[1:, target]
    return {"top_drop": float(drops[0]), "random_drop": float(drops[1:].mean()), "cells": count}
