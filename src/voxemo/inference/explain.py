"""Why did the model choose this emotion? Attributions over its input, in terms a person can check.

Spectrogram models are explained over their own normalised log-mel input (mel band x frame):
a cell's attribution is how much it moved the target emotion's probability away from what the
model gives for the *baseline*, the all-zero input, which after the front end's per-band
standardisation is the training set's average spectrum. Two methods (a small registry):

- ``integrated-gradients``: the gradient averaged along the straight path from the baseline to
  the input, times the input (Sundararajan et al. 2017). Attributions add up to
  ``p(input) - p(baseline)`` (completeness), up to the error of the ``steps``-point Riemann sum;
  the steps are doubled until that error is below ``tolerance`` (or ``max_steps`` is reached).
- ``occlusion``: each time-frequency patch in turn is set to the baseline and the drop of the
  target probability is spread over the patch's cells. Model-agnostic and coarse.

The strongest rectangular regions (a fixed time x band size, non-overlapping) are then removed
one at a time to measure what each does: ``pushes_towards`` is the emotion whose probability
rises most when the region is kept rather than removed.

Feature models (an MLP on eGeMAPS or prosody vectors) are explained per standardised input
feature with the same methods (occlusion = one feature at a time) and summed into named cue
groups (:mod:`voxemo.inference.cues`): pitch level, loudness, speaking rate, voice quality...

Heads on frame embeddings (``input_kind = "frames"``, e.g. on Whisper encoder frames) are
explained over time (:mod:`voxemo.inference.explain_frames`): which stretches of the recording
drove the decision; occlusion drops windows of frames, integrated gradients is summed over the
embedding dimensions. Their regions are time spans across all frequencies.

JSON (``Explanation.to_dict``): ``kind`` (``spectrogram``, ``features`` or ``frames``), ``method``,
``emotion``, ``confidence``, ``target``, ``scores``, ``target_score``, ``baseline_score``,
``attribution_sum``, ``duration_s`` (and ``path``); then ``regions`` (spectrogram and frames: each
``rank, start_s, end_s, weight, effect, pushes_towards``, plus ``low_hz, high_hz`` for spectrogram
models only) or ``cues`` (features). ``full=True`` adds the arrays: ``attribution`` ((n_mels, frames)
or (frames,)), ``frame_times``, ``log_mel``, ``mel_frequencies`` and, for frames models,
``log_mel_times`` (the display spectrogram has its own 10 ms frames); features: ``features``.

Only the torch backend can be explained; ONNX graphs have no gradients here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from voxemo.config import Config
from voxemo.errors import AudioError, ConfigError, ModelError
from voxemo.inference.cues import group_features
from voxemo.registry import Registry

if TYPE_CHECKING:
    import torch

    from voxemo.inference.recognizer import Recognizer

DEFAULT_METHOD = "integrated-gradients"


@dataclass
class ExplainConfig(Config):
    """Settings of :func:`explain_waveform`; the defaults suit clips of a few seconds."""

    #: Points on the integrated-gradients path, and how many go through the model at once.
    steps: int = 32
    batch_size: int = 16
    #: Steps are doubled (up to ``max_steps``) while the attributions miss the score gap by more.
    tolerance: float = 0.02
    max_steps: int = 256
    #: Occlusion patch: seconds x mel bands, set to the baseline together. Frames models: windows
    #: of ``patch_seconds`` (hop half that) dropped from the embedding sequence.
    patch_seconds: float = 0.2
    patch_bands: int = 8
    #: Size of a reported region (seconds x mel bands; occlusion reports its patches) and how many
    #: regions / cue groups to report.
    region_seconds: float = 0.3
    region_bands: int = 12
    top_regions: int = 5
    top_cues: int = 5
    #: Regions holding less than this share of the positive attribution are not reported.
    min_region_share: float = 0.0
    #: Longer inputs are refused: one explanation covers one utterance, scored whole in one pass
    #: (as ``predict`` scores clips up to ``InferenceConfig.max_whole_seconds``, 20 s by default).
    max_seconds: float = 20.0
    #: Occlusion runs the model once per patch over the whole clip (time grows with its square).
    #: Not applied to frames models: their extractor runs once and only the small head reruns.
    max_occlusion_seconds: float = 10.0
    #: Bounds memory on long clips: path points per pass x spectrogram frames stays below this.
    max_batch_frames: int = 8000

    def __post_init__(self) -> None:
        if self.steps < 2 or self.batch_size < 1:
            raise ConfigError(
                f"explain: need steps >= 2 and batch_size >= 1, got {self.steps}, {self.batch_size}"
            )
        if min(self.patch_seconds, self.region_seconds, self.max_seconds) <= 0:
            raise ConfigError("explain: patch_seconds, region_seconds and max_seconds must be positive")
        if min(self.patch_bands, self.region_bands) < 1 or min(self.top_regions, self.top_cues) < 0:
            raise ConfigError("explain: patch_bands and region_bands must be >= 1, top_* >= 0")


@dataclass
class Region:
    """A time-frequency rectangle of the input that drove the decision (frames models: a time span
    across all frequencies, ``low_hz``/``high_hz`` None).

    ``weight``: its share of the total positive attribution (0..1). ``effect``: how much the target
    probability drops when the region is set to the baseline. ``pushes_towards``: the emotion whose
    probability rises most when the region is kept rather than removed.
    """

    rank: int
    start_s: float
    end_s: float
    low_hz: float | None
    high_hz: float | None
    weight: float
    effect: float
    pushes_towards: str
    #: Cell indices [band_lo, band_hi) x [frame_lo, frame_hi) in the log-mel map, for drawing.
    bands: tuple[int, int] = (0, 0)
    frames: tuple[int, int] = (0, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; the frequency fields are left out where they do not apply (frames models)."""
        out: dict[str, Any] = {
            "rank": self.rank,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
        }
        if self.low_hz is not None and self.high_hz is not None:
            out.update(low_hz=round(self.low_hz, 1), high_hz=round(self.high_hz, 1))
        out.update(
            weight=round(self.weight, 4), effect=round(self.effect, 4), pushes_towards=self.pushes_towards
        )
        return out


@dataclass
class Cue:
    """A named group of acoustic features and its summed attribution towards the target emotion.

    ``direction`` is ``"raises"`` or ``"lowers"`` (the target's probability); ``features`` lists the
    group's strongest members: name, raw value, z-score against the training data, attribution.
    """

    name: str
    attribution: float
    share: float
    direction: str
    features: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "attribution": round(self.attribution, 5),
            "share": round(self.share, 4),
            "direction": self.direction,
            "features": self.features,
        }


@dataclass
class Explanation:
    """Why a model gave ``target`` the probability it did, for one recording.

    ``kind`` is ``"spectrogram"`` (``log_mel``, ``attribution`` (n_mels, frames), ``frame_times``,
    ``mel_frequencies``, ``regions``), ``"features"`` (``attribution`` (D,), ``feature_names``,
    ``feature_values``, ``cues``) or ``"frames"`` (``attribution`` (T,) over the embedding frames at
    ``frame_times``, time-span ``regions``, and for display only a ``log_mel`` of the audio at
    ``log_mel_times`` with band centres ``mel_frequencies``). ``baseline_score`` is the target's
    probability for the baseline input; integrated-gradients attributions sum to about
    ``target_score - baseline_score``.
    """

    kind: str
    method: str
    target: str
    emotion: str
    scores: dict[str, float]
    target_score: float
    baseline_score: float
    attribution: np.ndarray
    duration_s: float
    path: str | None = None
    log_mel: np.ndarray | None = None
    frame_times: np.ndarray | None = None
    mel_frequencies: np.ndarray | None = None
    log_mel_times: np.ndarray | None = None
    regions: list[Region] = field(default_factory=list)
    feature_names: list[str] | None = None
    feature_values: np.ndarray | None = None
    cues: list[Cue] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return self.scores[self.emotion]

    def to_dict(self, full: bool = False) -> dict[str, Any]:
        """JSON-able summary; ``full=True`` adds the arrays (log-mel, attribution, axes) as lists."""
        out: dict[str, Any] = {}
        if self.path is not None:
            out["path"] = self.path
        out.update(
            kind=self.kind,
            method=self.method,
            emotion=self.emotion,
            confidence=round(self.confidence, 6),
            target=self.target,
            scores={label: round(p, 6) for label, p in self.scores.items()},
            target_score=round(self.target_score, 6),
            baseline_score=round(self.baseline_score, 6),
            attribution_sum=round(float(self.attribution.sum()), 6),
            duration_s=round(self.duration_s, 3),
        )
        if self.kind in ("spectrogram", "frames"):
            out["regions"] = [region.to_dict() for region in self.regions]
        else:
            out["cues"] = [cue.to_dict() for cue in self.cues]
        if full:
            out.update(self._arrays())
        return out

    def _arrays(self) -> dict[str, Any]:
        def rounded(values: np.ndarray | None, digits: int) -> Any:
            return None if values is None else np.round(values.astype(np.float64), digits).tolist()

        if self.kind in ("spectrogram", "frames"):
            arrays = {
                "attribution": rounded(self.attribution, 7),
                "log_mel": rounded(self.log_mel, 4),
                "frame_times": rounded(self.frame_times, 4),
                "mel_frequencies": rounded(self.mel_frequencies, 1),
            }
            if self.kind == "frames":
                arrays["log_mel_times"] = rounded(self.log_mel_times, 4)
            return arrays
        return {
            "features": [
                {"name": name, "value": float(value), "attribution": float(attr)}
                for name, value, attr in zip(
                    self.feature_names or [], self.feature_values, self.attribution, strict=True
                )
            ]
        }

    def plot(self, out: Any, *, title: str | None = None) -> Any:
        """Write the picture (see :func:`voxemo.inference.explain_plot.plot_explanation`)."""
        from voxemo.inference.explain_plot import plot_explanation

        return plot_explanation(self, out, title=title)


# ---------------------------------------------------------------------- the model as a function


class ModelView:
    """The classifier part of a torch model around one encoded input, as probabilities.

    ``inputs`` is what :meth:`EmotionModel.classify` takes for this clip without the batch axis:
    (n_mels, frames) for spectrogram models, (D,) for feature models; zeros are the baseline.
    """

    def __init__(
        self,
        model: Any,
        inputs: torch.Tensor,
        lengths: torch.Tensor | None,
        temperature: float,
        raw: torch.Tensor | None = None,
    ) -> None:
        self.model = model
        self.inputs = inputs
        self.lengths = lengths
        self.temperature = temperature
        #: What the model was given before encoding (a feature model's raw feature vector).
        self.raw = raw

    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, *inputs.shape) -> (B, C) calibrated probabilities (differentiable)."""
        lengths = None if self.lengths is None else self.lengths.expand(batch.shape[0])
        logits = self.model.classify(batch, lengths)
        return (logits / self.temperature).softmax(dim=-1)

    def scores(self, batch: torch.Tensor, chunk: int = 16) -> np.ndarray:
        """Probabilities without gradients, ``chunk`` inputs per forward pass."""
        import torch

        with torch.no_grad():
            parts = [self.probabilities(batch[i : i + chunk]) for i in range(0, batch.shape[0], chunk)]
        return torch.cat(parts).double().numpy()


def torch_model(recognizer: Recognizer) -> Any:
    """The recogniser's torch ``EmotionModel``; a ModelError when it runs another backend."""
    backend = recognizer.backend
    model = getattr(backend, "model", None)
    if getattr(backend, "members", None) is not None:
        raise ModelError(
            "an ensemble has no single network to explain; explain one of its members "
            "(the bundle folders under members/ in the ensemble folder)"
        )
    if model is None or not hasattr(model, "classify"):
        raise ModelError(
            f"explanations need the torch backend; this recogniser runs {type(backend).__name__}. "
            "Load the model bundle folder with backend='torch' (not an exported .onnx file)"
        )
    return model


def model_view(recognizer: Recognizer, waveform: np.ndarray) -> ModelView:
    """Encode one 16 kHz waveform with the recogniser's torch model (front end or features)."""
    import torch

    backend = recognizer.backend
    model = torch_model(recognizer)
    if getattr(model, "input_kind", "waveform") == "frames":
        raise ModelError(
            "model_view covers spectrogram and feature-vector models; a head on frame embeddings is "
            "explained over time: use voxemo.inference.explain_frames.frame_view"
        )
    wave = np.ascontiguousarray(waveform, dtype=np.float32).reshape(-1)
    short = recognizer.info.min_samples - wave.size
    if short > 0:
        wave = np.pad(wave, (0, short))  # as predict pads short clips
    x, lengths = backend._inputs([wave])  # waveform batch or feature vector, exactly as predict
    model.eval()
    with torch.no_grad():
        encoded, encoded_lengths = model.encode_input(x, lengths)
    return ModelView(model, encoded[0].detach(), encoded_lengths, recognizer.info.temperature, raw=x[0])


# ---------------------------------------------------------------------- attribution methods

#: A method: (view, target index, config) -> (attribution like view.inputs, baseline probabilities).
AttributionMethod = Callable[[ModelView, int, ExplainConfig], tuple[np.ndarray, np.ndarray]]
METHODS: Registry[AttributionMethod] = Registry("explanation method")


@METHODS.register("integrated-gradients")
def integrated_gradients(
    view: ModelView, target: int, config: ExplainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint Riemann sum of the target-probability gradient from the zero baseline to the input.

    When the attributions miss ``p(input) - p(baseline)`` by more than ``config.tolerance`` (a
    sharply curved path, e.g. inputs far outside the training range), the number of steps is
    doubled, up to ``config.max_steps``.
    """
    import torch

    x = view.inputs
    scores = view.scores(torch.stack([x, torch.zeros_like(x)]))
    gap = scores[0, target] - scores[1, target]
    steps = config.steps
    while True:
        attribution = (x * _mean_path_gradient(view, target, steps, _batch(view, config))).double().numpy()
        if abs(attribution.sum() - gap) <= config.tolerance or steps * 2 > max(config.max_steps, steps):
            return attribution, scores[1]
        steps *= 2


def _batch(view: ModelView, config: ExplainConfig) -> int:
    """Inputs per forward pass: ``batch_size``, fewer for long spectrograms (memory)."""
    frames = view.inputs.shape[-1] if view.inputs.dim() == 2 else 1
    return max(1, min(config.batch_size, config.max_batch_frames // frames))


def _mean_path_gradient(view: ModelView, target: int, steps: int, batch_size: int) -> torch.Tensor:
    import torch

    x = view.inputs
    alphas = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps
    total = torch.zeros_like(x)
    for chunk in alphas.split(batch_size):
        path = (chunk.view(-1, *([1] * x.dim())) * x).requires_grad_(True)
        with torch.enable_grad():
            probs = view.probabilities(path)[:, target]
            (grad,) = torch.autograd.grad(probs.sum(), path)
        total += grad.sum(dim=0)
    return total / steps


@METHODS.register("occlusion")
def occlusion(view: ModelView, target: int, config: ExplainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Drop of the target probability when each patch is set to the baseline, spread over its cells."""
    import torch

    x = view.inputs
    reference = view.scores(torch.stack([x, torch.zeros_like(x)]))  # the input, the baseline
    patches = _patches(view, config)
    step = _batch(view, config)
    # Masked copies are built a chunk at a time: all of them for a long clip would take gigabytes.
    without = np.concatenate(
        [
            view.scores(remove_cells(x, patches[i : i + step]), chunk=step)[:, target]
            for i in range(0, len(patches), step)
        ]
    )
    attribution = np.zeros(tuple(x.shape), dtype=np.float64)
    for patch, score in zip(patches, without, strict=True):
        cells = attribution[patch]
        attribution[patch] = (reference[0, target] - score) / cells.size
    return attribution, reference[1]


def _patches(view: ModelView, config: ExplainConfig) -> list[tuple[slice, ...]]:
    """Non-overlapping occlusion patches: band x frame tiles, or one feature at a time."""
    shape = tuple(view.inputs.shape)
    if len(shape) == 1:
        return [(slice(i, i + 1),) for i in range(shape[0])]
    hop_seconds = view.model.frontend.config.hop_length / view.model.frontend.config.sample_rate
    width = max(1, round(config.patch_seconds / hop_seconds))
    return [
        (slice(b, b + config.patch_bands), slice(t, t + width))
        for b in range(0, shape[0], config.patch_bands)
        for t in range(0, shape[1], width)
    ]


# ---------------------------------------------------------------------- explaining a recording


def explain_waveform(
    recognizer: Recognizer,
    waveform: np.ndarray,
    target: str | None = None,
    method: str | None = None,
    *,
    path: str | None = None,
    config: ExplainConfig | None = None,
    **options: Any,
) -> Explanation:
    """Explain the recogniser's decision on one 16 kHz mono waveform (the whole clip, one pass).

    ``target`` is the emotion to explain (default: the predicted one); ``method`` defaults to the
    model kind's own (integrated gradients; occlusion over time for frames models); ``options``
    are :class:`ExplainConfig` fields (``steps``, ``top_regions``...).
    """
    config = config.replace(**options) if config is not None else ExplainConfig.from_dict(options)
    duration = waveform.size / recognizer.sample_rate
    if duration > config.max_seconds:
        raise AudioError(
            f"the recording is {duration:.1f} s long; explanations cover one utterance of at most "
            f"{config.max_seconds:g} s: cut out the part to explain (voxemo timeline shows where it is)"
        )
    if getattr(torch_model(recognizer), "input_kind", "waveform") == "frames":
        from voxemo.inference.explain_frames import DEFAULT_FRAME_METHOD, explain_frames

        # The frame extractor runs once and only the small head reruns per probe: no length guard.
        return explain_frames(recognizer, waveform, target, method or DEFAULT_FRAME_METHOD, path, config)
    method = method or DEFAULT_METHOD
    attribute = METHODS.get(method)
    if method.lower() == "occlusion" and duration > config.max_occlusion_seconds:
        raise AudioError(
            f"occlusion of a {duration:.1f} s recording would run the model once per patch over all of it; "
            f"it takes up to {config.max_occlusion_seconds:g} s: use integrated-gradients or a shorter clip"
        )
    view = model_view(recognizer, waveform)
    labels = recognizer.labels
    probs = view.scores(view.inputs.unsqueeze(0))[0]
    target_index = target_position(labels, probs, target)
    attribution, baseline = attribute(view, target_index, config)
    common = common_fields(method, labels, probs, target_index, baseline, attribution, duration, path)
    if view.inputs.dim() == 1:
        return _feature_explanation(recognizer, view, common, config)
    return _spectrogram_explanation(view, probs, labels, common, config)


def target_position(labels: list[str], probs: np.ndarray, target: str | None) -> int:
    """Index of the emotion to explain: ``target``, or the predicted one when None."""
    target = labels[int(np.argmax(probs))] if target is None else target
    if target not in labels:
        raise ModelError(f"cannot explain {target!r}: this model knows {', '.join(labels)}")
    return labels.index(target)


def common_fields(
    method: str,
    labels: list[str],
    probs: np.ndarray,
    index: int,
    baseline: np.ndarray,
    attribution: np.ndarray,
    duration: float,
    path: str | None,
) -> dict[str, Any]:
    """The :class:`Explanation` fields every model kind fills the same way."""
    return dict(
        method=method.lower(),
        target=labels[index],
        emotion=labels[int(np.argmax(probs))],
        scores={label: float(p) for label, p in zip(labels, probs, strict=True)},
        target_score=float(probs[index]),
        baseline_score=float(baseline[index]),
        attribution=attribution,
        duration_s=duration,
        path=path,
    )


@dataclass(frozen=True)
class Box:
    """Cells ``[band_lo, band_hi) x [frame_lo, frame_hi)`` of a (n_mels, frames) map and their sum."""

    band_lo: int
    band_hi: int
    frame_lo: int
    frame_hi: int
    total: float

    @property
    def cells(self) -> tuple[slice, slice]:
        return slice(self.band_lo, self.band_hi), slice(self.frame_lo, self.frame_hi)

    def overlaps(self, other: Box) -> bool:
        return (
            self.band_lo < other.band_hi
            and other.band_lo < self.band_hi
            and self.frame_lo < other.frame_hi
            and other.frame_lo < self.frame_hi
        )


def top_boxes(attribution: np.ndarray, height: int, width: int, count: int) -> list[Box]:
    """Up to ``count`` non-overlapping ``height x width`` boxes with the largest positive attribution sum.

    Strongest first. Every position is a candidate (an integral image makes that cheap); picks are
    greedy and a box overlapping an earlier pick is skipped, so regions point at different places.
    """
    height = min(height, attribution.shape[0])
    width = min(width, attribution.shape[1])
    sums = _box_sums(attribution, height, width)
    picked: list[Box] = []
    for flat in np.argsort(-sums, axis=None, kind="stable"):
        band, frame = np.unravel_index(flat, sums.shape)
        total = float(sums[band, frame])
        if len(picked) >= count or total <= 0:
            break
        box = Box(int(band), int(band) + height, int(frame), int(frame) + width, total)
        if not any(box.overlaps(other) for other in picked):
            picked.append(box)
    return picked


def _box_sums(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Sum of every ``height x width`` window, indexed by its first cell (integral image)."""
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    return (
        integral[height:, width:]
        - integral[:-height, width:]
        - integral[height:, :-width]
        + integral[:-height, :-width]
    )


def remove_cells(inputs: torch.Tensor, cells: list[tuple[slice, ...]]) -> torch.Tensor:
    """A batch with one copy of ``inputs`` per entry of ``cells``, those cells set to the baseline."""
    batch = inputs.unsqueeze(0).repeat(len(cells), *([1] * inputs.dim())).clone()
    for row, index in enumerate(cells):
        batch[row][index] = 0.0
    return batch


def _spectrogram_explanation(
    view: ModelView, probs: np.ndarray, labels: list[str], common: dict[str, Any], config: ExplainConfig
) -> Explanation:
    frontend = view.model.frontend.config
    attribution = common["attribution"]
    frames = attribution.shape[1]
    hop_seconds = frontend.hop_length / frontend.sample_rate
    edges = mel_band_edges(frontend.sample_rate, attribution.shape[0], frontend.fmin, frontend.fmax)
    # Neighbouring mel filters overlap; where one hands over to the next (midway between their
    # centres) splits the axis into bands that do not, so adjacent regions do not share Hz.
    boundaries = (edges[:-1] + edges[1:]) / 2
    # Occlusion measured whole patches: its regions are those patches, not boxes straddling them.
    seconds, height = config.region_seconds, config.region_bands
    if common["method"] == "occlusion":
        seconds, height = config.patch_seconds, config.patch_bands
    width = max(1, round(seconds / hop_seconds))
    positive = float(np.clip(attribution, 0.0, None).sum())
    boxes = top_boxes(attribution, height, width, config.top_regions)
    boxes = [box for box in boxes if box.total >= config.min_region_share * positive]
    target = labels.index(common["target"])
    # Keeping a region vs removing it: what it adds to each emotion's probability.
    removed = view.scores(remove_cells(view.inputs, [box.cells for box in boxes])) if boxes else []
    regions = [
        Region(
            rank=rank,
            start_s=box.frame_lo * hop_seconds,
            end_s=min(box.frame_hi, frames) * hop_seconds,
            low_hz=float(boundaries[box.band_lo]),
            high_hz=float(boundaries[box.band_hi]),
            weight=box.total / positive if positive > 0 else 0.0,
            effect=float(probs[target] - without[target]),
            pushes_towards=labels[int(np.argmax(probs - without))],
            bands=(box.band_lo, box.band_hi),
            frames=(box.frame_lo, box.frame_hi),
        )
        for rank, (box, without) in enumerate(zip(boxes, removed, strict=True), start=1)
    ]
    return Explanation(
        kind="spectrogram",
        log_mel=view.inputs.double().numpy(),
        frame_times=np.arange(frames) * hop_seconds,
        mel_frequencies=edges[1:-1],
        regions=regions,
        **common,
    )


def mel_band_edges(sample_rate: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """The n_mels + 2 corner frequencies (Hz) of the front end's triangular mel filters.

    Band ``i`` spans ``edges[i]..edges[i + 2]`` and peaks at ``edges[i + 1]`` (its centre).
    """
    from voxemo.audio.dsp import hz_to_mel, mel_to_hz

    top = fmax if fmax is not None else sample_rate / 2
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(top), n_mels + 2))


def _feature_explanation(
    recognizer: Recognizer, view: ModelView, common: dict[str, Any], config: ExplainConfig
) -> Explanation:
    extractor = recognizer.backend.feature_extractor
    names = list(extractor.feature_names())
    attribution = common["attribution"]
    if len(names) != attribution.size:
        raise ModelError(
            f"the feature extractor names {len(names)} features but the model takes {attribution.size}; "
            "the bundle does not match its feature settings: retrain or re-export it"
        )
    # From the raw vector, not view.inputs: the model may clip its standardised inputs.
    raw = view.raw.double().numpy()
    standardised = (raw - view.model.feature_mean.double().numpy()) / view.model.feature_std.double().numpy()
    return Explanation(
        kind="features",
        feature_names=names,
        feature_values=raw,
        cues=cue_attributions(names, attribution, raw, standardised)[: config.top_cues],
        **common,
    )


def cue_attributions(
    names: list[str], attribution: np.ndarray, values: np.ndarray, z_scores: np.ndarray, per_cue: int = 3
) -> list[Cue]:
    """Attributions summed per cue group, strongest (by magnitude) first, with their top features."""
    magnitude = float(np.abs(attribution).sum())
    cues = []
    for group, indices in group_features(names).items():
        total = float(attribution[indices].sum())
        strongest = sorted(indices, key=lambda i: -abs(attribution[i]))[:per_cue]
        cues.append(
            Cue(
                name=group,
                attribution=total,
                share=float(np.abs(attribution[indices]).sum()) / magnitude if magnitude > 0 else 0.0,
                direction="raises" if total >= 0 else "lowers",
                features=[
                    {
                        "name": names[i],
                        "value": round(float(values[i]), 5),
                        "z": round(float(z_scores[i]), 3),
                        "attribution": round(float(attribution[i]), 6),
                    }
                    for i in strongest
                ],
            )
        )
    return sorted(cues, key=lambda cue: -abs(cue.attribution))


# ---------------------------------------------------------------------- faithfulness check


def deletion_check(
    recognizer: Recognizer,
    waveform: np.ndarray,
    explanation: Explanation,
    fraction: float = 0.1,
    draws: int = 5,
    seed: int = 0,
) -> dict[str, float]:
    """Is the explanation faithful? Remove the most-attributed cells and as many random ones.

    For frames models the cells are embedding frames, removed (dropped) from the sequence.

    Returns the drop of the explained emotion's probability when the top ``fraction`` of input cells
    (by attribution) are set to the baseline (``top_drop``), and the mean drop over ``draws`` random
    sets of the same size (``random_drop``). A faithful map gives ``top_drop > random_drop``.
    """
    import torch

    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be between 0 and 1, got {fraction}")
    if explanation.kind == "frames":
        from voxemo.inference.explain_frames import frame_deletion_check

        return frame_deletion_check(recognizer, waveform, explanation, fraction, draws, seed)
    view = model_view(recognizer, waveform)
    flat = explanation.attribution.reshape(-1)
    count = max(1, round(fraction * flat.size))
    rng = np.random.default_rng(seed)
    chosen = [np.argsort(-flat, kind="stable")[:count]]
    chosen += [rng.choice(flat.size, size=count, replace=False) for _ in range(draws)]
    batch = view.inputs.reshape(-1).unsqueeze(0).repeat(len(chosen) + 1, 1)
    for row, cells in enumerate(chosen, start=1):
        batch[row, torch.from_numpy(cells)] = 0.0
    probs = view.scores(batch.reshape(-1, *view.inputs.shape))
    target = recognizer.labels.index(explanation.target)
    drops = probs[0, target] - probs[1:, target]
    return {"top_drop": float(drops[0]), "random_drop": float(drops[1:].mean()), "cells": count}
