"""The :class:`Recognizer`: emotion scores for files, bytes, arrays and batches of them.

Short inputs (up to ``max_whole_seconds``) are scored whole in one forward pass, as the model
saw them in evaluation; longer ones are cut into windows over their speech segments and the
window probabilities averaged (weighted by window length). Batches are decoded in a thread
pool (soundfile and soxr release the GIL) while the model scores the previous chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxemo.config import Config
from voxemo.errors import AudioError, ConfigError, FeatureError, ModelError, VoxemoError
from voxemo.inference.backends import BACKENDS, InferenceBackend
from voxemo.inference.bundles import (
    FALLBACK_MODEL,
    BundleInfo,
    bundle_input_kind,
    describe,
    missing_extra,
    read_model_card,
    resolve_model,
)
from voxemo.inference.prediction import Prediction, prediction_from_probabilities
from voxemo.inference.windows import speech_windows

if TYPE_CHECKING:
    from voxemo.inference.explain import Explanation
    from voxemo.inference.stream import StreamSession
    from voxemo.inference.timeline import Timeline

Source = str | Path | bytes | bytearray | np.ndarray


@dataclass
class InferenceConfig(Config):
    """How a :class:`Recognizer` turns audio into predictions."""

    #: Predictions whose top probability is below this are ``uncertain``; None = the bundle's value.
    uncertainty_threshold: float | None = None
    #: Inputs up to this long are scored whole; longer ones are averaged over speech windows.
    max_whole_seconds: float = 20.0
    long_window_seconds: float = 6.0
    long_hop_seconds: float = 3.0
    #: Clips per forward pass, and a cap on the padded samples of one batch (memory).
    batch_size: int = 16
    max_batch_seconds: float = 160.0
    #: Decoding threads for batches (None: up to 4).
    workers: int | None = None
    #: Longest input ``predict`` accepts (seconds); longer recordings go through ``timeline``.
    max_duration: float = 3600.0
    vad_backend: str = "energy"

    def __post_init__(self) -> None:
        if self.uncertainty_threshold is not None and not 0.0 <= self.uncertainty_threshold <= 1.0:
            raise ConfigError(f"uncertainty_threshold must be in [0, 1], got {self.uncertainty_threshold}")
        if not 0 < self.long_hop_seconds <= self.long_window_seconds <= self.max_whole_seconds:
            raise ConfigError(
                "need 0 < long_hop_seconds <= long_window_seconds <= max_whole_seconds, got "
                f"{self.long_hop_seconds}, {self.long_window_seconds}, {self.max_whole_seconds}"
            )
        if self.batch_size < 1 or (self.workers is not None and self.workers < 1):
            raise ConfigError("batch_size and workers must be at least 1")


def _describe(source: object) -> str | None:
    return str(source) if isinstance(source, str | Path) else None


class Recognizer:
    """Emotion recognition with one model; build it with :func:`load_model` or :meth:`from_bundle`."""

    def __init__(self, backend: InferenceBackend, config: InferenceConfig | None = None) -> None:
        self.backend = backend
        self.config = config or InferenceConfig()

    # ------------------------------------------------------------------ construction and facts

    @classmethod
    def from_bundle(
        cls,
        location: str | Path,
        backend: str = "torch",
        config: InferenceConfig | None = None,
        **options: Any,
    ) -> Recognizer:
        """Load a bundle folder (or, with ``backend="onnx"``, also an exported ``.onnx`` file).

        ``options`` are :class:`InferenceConfig` fields, e.g. ``uncertainty_threshold=0.5``.
        """
        path = Path(location)
        if path.suffix.lower() == ".onnx":
            backend = "onnx"  # an exported graph can only run on onnxruntime
        factory = BACKENDS.get(backend)
        if config is None:
            config = InferenceConfig.from_dict(options)
        elif options:
            config = config.replace(**options)
        return cls(factory(path), config)

    @property
    def info(self) -> BundleInfo:
        return self.backend.info

    @property
    def labels(self) -> list[str]:
        return list(self.info.labels)

    @property
    def sample_rate(self) -> int:
        return self.info.sample_rate

    @property
    def threshold(self) -> float:
        value = self.config.uncertainty_threshold
        return self.info.uncertainty_threshold if value is None else value

    def model_card(self) -> str:
        """The bundle's MODEL_CARD.md (or a summary of its config when it has none)."""
        return read_model_card(Path(self.info.source)) or describe(self.info)

    def __repr__(self) -> str:
        return (
            f"Recognizer({self.info.source!r}, labels={self.labels}, backend={type(self.backend).__name__})"
        )

    # ------------------------------------------------------------------ low level: arrays in

    def _padded(self, waveform: np.ndarray) -> np.ndarray:
        wave = np.ascontiguousarray(waveform, dtype=np.float32).reshape(-1)
        if wave.size == 0:
            raise AudioError("zero-length audio (no samples)")
        short = self.info.min_samples - wave.size
        return np.pad(wave, (0, short)) if short > 0 else wave

    def probabilities_batch(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """(B, C) probabilities, one forward pass per length-sorted batch (no windowing)."""
        waves = [self._padded(w) for w in waveforms]
        out = np.zeros((len(waves), len(self.labels)), dtype=np.float64)
        for batch in self._batches([w.size for w in waves]):
            out[batch] = self.backend.probabilities([waves[i] for i in batch])
        return out

    def probabilities(self, waveform: np.ndarray) -> np.ndarray:
        """(C,) probabilities of one 16 kHz mono float32 array in a single forward pass."""
        return self.probabilities_batch([waveform])[0]

    def _batches(self, sizes: Sequence[int]) -> Iterator[list[int]]:
        """Indices grouped by similar length, at most ``batch_size`` clips and ``max_batch_seconds``."""
        cap = self.config.max_batch_seconds * self.sample_rate
        batch: list[int] = []
        for index in np.argsort(sizes, kind="stable"):
            # Sorted ascending, so the padded size of a batch is its newest member's length.
            if batch and (len(batch) >= self.config.batch_size or (len(batch) + 1) * sizes[index] > cap):
                yield batch
                batch = []
            batch.append(int(index))
        if batch:
            yield batch

    def scores(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """(B, C) probabilities: short clips whole (batched), long ones averaged over speech windows."""
        limit = self.config.max_whole_seconds * self.sample_rate
        out = np.zeros((len(waveforms), len(self.labels)), dtype=np.float64)
        short = [i for i, w in enumerate(waveforms) if w.size <= limit]
        if short:
            out[short] = self.probabilities_batch([waveforms[i] for i in short])
        for i, wave in enumerate(waveforms):
            if wave.size > limit:
                out[i] = self._long_scores(wave)
        return out

    def _long_scores(self, waveform: np.ndarray) -> np.ndarray:
        cfg = self.config
        ranges = speech_windows(
            waveform,
            self.sample_rate,
            cfg.long_window_seconds,
            cfg.long_hop_seconds,
            vad_backend=cfg.vad_backend,
        )
        probs = self.probabilities_batch([waveform[a:b] for a, b in ranges])
        weights = np.array([b - a for a, b in ranges], dtype=np.float64)
        return weights @ probs / weights.sum()

    # ------------------------------------------------------------------ sources in

    def load(self, source: Source, sample_rate: int | None = None) -> np.ndarray:
        """Decode ``source`` (path, bytes or array) to mono float32 at the model's rate."""
        from voxemo.audio import load_audio

        return load_audio(
            source, sample_rate, target_rate=self.sample_rate, max_duration=self.config.max_duration
        )

    def _predict_waveforms(
        self, waveforms: Sequence[np.ndarray], paths: Sequence[str | None]
    ) -> list[Prediction]:
        probs = self.scores(waveforms)
        return [
            prediction_from_probabilities(p, self.labels, threshold=self.threshold, path=path)
            for p, path in zip(probs, paths, strict=True)
        ]

    def predict(self, source: Source, sample_rate: int | None = None) -> Prediction:
        """Emotion of one recording: a path, the bytes of an audio file, or an array (give its rate)."""
        waveform = self.load(source, sample_rate)
        return self._predict_waveforms([waveform], [_describe(source)])[0]

    def predict_batch(
        self,
        sources: Iterable[Source],
        sample_rate: int | None = None,
        *,
        on_result: Callable[[Prediction | VoxemoError], None] | None = None,
    ) -> list[Prediction | VoxemoError]:
        """One result per source, in order: a :class:`Prediction` or the error that item raised."""
        results = []
        for result in self.iter_predict(sources, sample_rate):
            if on_result is not None:
                on_result(result)
            results.append(result)
        return results

    def iter_predict(
        self, sources: Iterable[Source], sample_rate: int | None = None
    ) -> Iterator[Prediction | VoxemoError]:
        """Like :meth:`predict_batch` but yields results in order as they are ready.

        Sources are decoded in a thread pool one chunk ahead of the model, so memory holds at most
        two chunks of audio however many sources there are.
        """
        chunk_size = 4 * self.config.batch_size
        workers = self.config.workers or 4
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="voxemo-decode") as pool:
            pending: list[tuple[Source, Future]] | None = None
            for chunk in _chunks(sources, chunk_size):
                submitted = [(s, pool.submit(self._decode_safely, s, sample_rate)) for s in chunk]
                if pending is not None:
                    yield from self._score_chunk(pending)
                pending = submitted
            if pending is not None:
                yield from self._score_chunk(pending)

    def _decode_safely(self, source: Source, sample_rate: int | None) -> np.ndarray | VoxemoError:
        try:
            return self.load(source, sample_rate)
        except VoxemoError as exc:
            return exc
        except Exception as exc:  # a decoder bug must not stop the other files
            return AudioError(
                f"{_describe(source) or '<input>'}: could not decode ({type(exc).__name__}: {exc})"
            )

    def _score_chunk(self, pending: list[tuple[Source, Future]]) -> Iterator[Prediction | VoxemoError]:
        decoded = [(source, future.result()) for source, future in pending]
        ok = [i for i, (_, item) in enumerate(decoded) if isinstance(item, np.ndarray)]
        results: list[Prediction | VoxemoError] = [
            item if isinstance(item, VoxemoError) else ModelError("not scored") for _, item in decoded
        ]
        waves = [decoded[i][1] for i in ok]
        paths = [_describe(decoded[i][0]) for i in ok]
        try:
            for i, prediction in zip(ok, self._predict_waveforms(waves, paths), strict=True):
                results[i] = prediction
        except VoxemoError:
            # One bad item (e.g. a feature extractor failing on it) must not sink the batch.
            for i, wave, path in zip(ok, waves, paths, strict=True):
                results[i] = self._predict_one_safely(wave, path)
        yield from results

    def _predict_one_safely(self, wave: np.ndarray, path: str | None) -> Prediction | VoxemoError:
        try:
            return self._predict_waveforms([wave], [path])[0]
        except VoxemoError as exc:
            return type(exc)(f"{path}: {exc}" if path else str(exc))

    # ------------------------------------------------------------------ long and live audio

    def timeline(
        self,
        source: Source,
        window: float = 2.0,
        hop: float = 1.0,
        *,
        sample_rate: int | None = None,
        **options: Any,
    ) -> Timeline:
        """Speech segments with scores and a smoothed emotion curve of a (long) recording.

        Paths are decoded block by block, so memory stays flat however long the file; ``options``
        go to :func:`~voxemo.inference.timeline.compute_timeline` (``smooth``, ``min_speech``, ...).
        """
        from voxemo.inference.timeline import compute_timeline

        return compute_timeline(self, source, sample_rate, window=window, hop=hop, **options)

    def stream(self, window: float = 2.0, hop: float = 0.5) -> StreamSession:
        """A live session: ``feed(chunk)`` returns a prediction per completed hop over the last window."""
        from voxemo.inference.stream import StreamSession

        return StreamSession(self, window=window, hop=hop)

    def explain(
        self,
        source: Source,
        target: str | None = None,
        method: str | None = None,
        *,
        sample_rate: int | None = None,
        **options: Any,
    ) -> Explanation:
        """Why the model chose an emotion: an attribution map over time and frequency (spectrogram
        models), over named acoustic cues (feature models) or over time (heads on frame embeddings
        such as the Whisper encoder's); torch backend only.

        ``method`` is ``"integrated-gradients"`` or ``"occlusion"`` (None: the kind's default,
        integrated gradients except occlusion for frame-embedding heads); ``target`` defaults to the
        predicted emotion; ``options`` go to :class:`~voxemo.inference.explain.ExplainConfig`.
        """
        from voxemo.inference.explain import explain_waveform

        waveform = self.load(source, sample_rate)
        return explain_waveform(self, waveform, target, method, path=_describe(source), **options)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load_model(
    model: str | Path | None = None,
    *,
    backend: str = "torch",
    config: InferenceConfig | None = None,
    **options: Any,
) -> Recognizer:
    """A :class:`Recognizer` for ``model``: None (bundled default), a bundled name (``fast``,
    ``accurate``), a bundle folder, or an exported ``.onnx`` file (always run with onnxruntime).

    ``backend`` is ``"torch"`` or ``"onnx"``; ``options`` are :class:`InferenceConfig` fields, e.g.
    ``uncertainty_threshold=0.6`` marks predictions whose (calibrated) confidence is below 0.6
    ``uncertain`` (their emotion is still given); the default is the bundle's own threshold.

    With ``model=None``, when the bundled default cannot run here (it needs an optional extra that
    is not installed, or it is a head on frame embeddings and ``backend="onnx"``), the bundled
    ``fast`` model is loaded instead with a :class:`DefaultModelFallback` warning. A model named
    explicitly never falls back: it loads or raises.
    """
    if model is None:
        return _load_default(backend, config, options)
    return Recognizer.from_bundle(resolve_model(model), backend=backend, config=config, **options)


class DefaultModelFallback(UserWarning):
    """``load_model()`` used the bundled ``fast`` model because the default cannot run here."""


def _load_default(backend: str, config: InferenceConfig | None, options: dict[str, Any]) -> Recognizer:
    location = resolve_model(None)
    if backend == "onnx" and bundle_input_kind(location) == "frames":
        # Its frame extractor (the Whisper encoder) runs outside torch: no single ONNX graph exists.
        reason = "the default model runs on Whisper encoder frames and has no ONNX form"
        return _load_fallback(reason, backend, config, options, cause=None)
    try:
        recognizer = Recognizer.from_bundle(location, backend=backend, config=config, **options)
        extractor = getattr(recognizer.backend, "feature_extractor", None)
        if extractor is not None:
            # Backbones load their packages on first use: load them now so a missing extra shows
            # here, where the fast model can stand in, not at the user's first file.
            extractor.load_dependencies()
        return recognizer
    except FeatureError as exc:
        extra = missing_extra(exc)
        if extra is None:
            raise
        reason = f"the default model needs pip install 'voxemo[{extra}]'"
        return _load_fallback(reason, backend, config, options, cause=exc)


def _load_fallback(
    reason: str,
    backend: str,
    config: InferenceConfig | None,
    options: dict[str, Any],
    cause: VoxemoError | None,
) -> Recognizer:
    """The bundled fast model, announced by one warning; without it, the default's own problem."""
    import warnings

    try:
        location = resolve_model(FALLBACK_MODEL)
    except ModelError:
        if cause is not None:
            raise cause from None
        raise ModelError(
            f"{reason}, and no bundled {FALLBACK_MODEL!r} model is installed to use instead; "
            "use the torch backend or pass --model DIR with a spectrogram model"
        ) from None
    # stacklevel 4: the warning points at the caller of load_model, not at voxemo's internals.
    warnings.warn(f"{reason}; using the {FALLBACK_MODEL} model", DefaultModelFallback, stacklevel=4)
    return Recognizer.from_bundle(location, backend=backend, config=config, **options)
