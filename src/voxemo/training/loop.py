"""The training loop: augmentation, early stopping on validation UA, resumable checkpoints.

``train(config, train_set, val_set, out_dir)`` fits one model and writes its bundle into
``out_dir`` (``model.safetensors`` + ``config.json``), TensorBoard logs into ``out_dir/tb`` and
the resumable state of the last finished epoch into ``out_dir/last``. Model selection and early
stopping look at the validation set only (UA, ties broken by lower validation loss), and so does
calibration: the softmax temperature of the kept model is fitted on the validation speakers
(:mod:`voxemo.training.calibration`) and saved in the bundle with the validation ECE before/after.

With ``config.refit`` the run above is only the *selection run*: it picks the epoch count E and the
calibration; then a fresh model (same seed) trains on training + validation speakers for exactly E
epochs (state in ``out_dir/refit/last``, logs in ``out_dir/refit/tb``) and is the one kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from voxemo.errors import ConfigError, ModelError
from voxemo.models import EmotionModel, build_model, model_input_kind
from voxemo.training import augment, calibration, privacy
from voxemo.training.checkpoint import load_state, save_bundle, save_state
from voxemo.training.config import InputConfig, TrainConfig
from voxemo.training.data import (
    LabelEncoder,
    UtteranceData,
    as_data,
    augmented_frame_copies,
    class_weights,
    epoch_order,
    frame_extractor,
    length_sorted_batches,
    pad_frames,
    pad_waveforms,
    stack_features,
)

LAST_DIR = "last"
#: Under ``out_dir``: the refit run's resumable state (``refit/last``) and TensorBoard logs.
REFIT_DIR = "refit"


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    val_ua: float
    val_wa: float
    lr: float
    seconds: float


@dataclass
class History:
    """Per-epoch curves, one list per quantity (index i = epoch ``epoch[i]``)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_ua: list[float] = field(default_factory=list)
    val_wa: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @classmethod
    def from_records(cls, records: Sequence[EpochRecord]) -> History:
        history = cls()
        for record in records:
            for name, value in asdict(record).items():
                getattr(history, name).append(value)
        return history

    def records(self) -> list[EpochRecord]:
        return [EpochRecord(*values) for values in zip(*asdict(self).values(), strict=True)]

    def __len__(self) -> int:
        return len(self.epoch)


@dataclass
class TrainResult:
    model: EmotionModel
    labels: list[str]
    history: History
    best_epoch: int
    config: TrainConfig
    out_dir: Path | None
    #: Softmax temperature fitted on the validation speakers (1.0 when not calibrated).
    temperature: float = 1.0
    #: ``temperature``, ``ece_before``/``ece_after`` (validation) and ``uncertainty_threshold``.
    calibration: dict[str, Any] = field(default_factory=dict)
    #: Under DP: spent ``epsilon``, ``delta``, ``noise_multiplier``, ``max_grad_norm``, ... (else None).
    privacy: dict[str, Any] | None = None
    #: With ``config.refit``: ``selected_epoch``, ``n_train_refit``, ``calibration_from``, ... of the
    #: model trained on training + validation speakers (``history`` is then the selection run's).
    refit: dict[str, Any] | None = None

    @property
    def best(self) -> EpochRecord | None:
        return next((r for r in self.history.records() if r.epoch == self.best_epoch), None)


# ---- metrics (kept local: evaluation is downstream of training)


def unweighted_accuracy(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``targets`` (balanced accuracy)."""
    recalls = [float(np.mean(predictions[targets == c] == c)) for c in np.unique(targets)]
    return float(np.mean(recalls)) if recalls else float("nan")


def weighted_accuracy(targets: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean(targets == predictions)) if targets.size else float("nan")


# ---------------------------------------------------------------- batching


def _min_samples(config: TrainConfig) -> int:
    return int(config.inputs.min_seconds * config.inputs.sample_rate)


#: Model input kind -> collate(arrays, min_samples) -> (batch tensor, lengths or None).
_COLLATE: dict[str, Callable[[Sequence[np.ndarray], int], tuple[torch.Tensor, torch.Tensor | None]]] = {
    "waveform": pad_waveforms,
    "features": lambda arrays, _min_samples: stack_features(arrays),
    "frames": lambda arrays, _min_samples: pad_frames(arrays),
}


def _collate(model: EmotionModel, arrays: Sequence[np.ndarray], min_samples: int):
    return _COLLATE[model.input_kind](arrays, min_samples)


def _eval_crop(model: EmotionModel, inputs: Sequence[np.ndarray], max_samples: int) -> list[np.ndarray]:
    """Centre crops to ``max_samples`` of audio (for frames: the matching number of frames)."""
    if max_samples <= 0 or model.input_kind == "features":
        return list(inputs)
    length = model.frames_for_samples(max_samples) if model.input_kind == "frames" else max_samples
    return [augment.center_crop(np.asarray(x), length) for x in inputs]


@torch.no_grad()
def predict_logits(
    model: EmotionModel,
    inputs: UtteranceData | Sequence[np.ndarray],
    batch_size: int = 32,
    *,
    max_samples: int = 0,
    min_samples: int = 8000,
) -> np.ndarray:
    """Eval-mode logits (n, C) in input order; waveforms (or frames) longer than ``max_samples`` of
    audio are centre-cropped."""
    model.eval()
    if isinstance(inputs, UtteranceData):
        inputs = inputs.inputs
    inputs = _eval_crop(model, inputs, max_samples)
    out = np.zeros((len(inputs), model.num_classes), dtype=np.float32)
    for batch in length_sorted_batches(inputs, batch_size):
        x, lengths = _collate(model, [inputs[i] for i in batch], min_samples)
        out[batch] = model(x, lengths).numpy()
    return out


def predict_proba(
    model: EmotionModel, inputs: UtteranceData | Sequence[np.ndarray], batch_size: int = 32, **kwargs: Any
) -> np.ndarray:
    """Class probabilities (n, C) for waveforms or feature vectors (or UtteranceData), in input order."""
    logits = torch.from_numpy(predict_logits(model, inputs, batch_size, **kwargs))
    return torch.softmax(logits, dim=1).numpy()


# ---------------------------------------------------------------- optimiser and schedule


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    opt = config.optim
    # No weight decay on norms and biases: decaying them only hurts small models.
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": opt.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if opt.name == "sgd":
        return torch.optim.SGD(groups, lr=opt.lr, momentum=0.9, nesterov=True)
    if opt.name == "adam":
        return torch.optim.Adam(groups, lr=opt.lr)
    return torch.optim.AdamW(groups, lr=opt.lr)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    opt = config.optim
    if opt.schedule == "onecycle":
        pct_start = max(opt.warmup_fraction, 1e-3)
        if pct_start * total_steps == 1.0:  # torch's warm-up would end at step 0 and divide by zero
            pct_start *= 1.01
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=opt.lr, total_steps=total_steps, pct_start=pct_start
        )
    warmup = int(opt.warmup_fraction * total_steps)

    def factor(step: int) -> float:
        if opt.schedule == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ---------------------------------------------------------------- the loop


class _Trainer:
    """State of one training run; split into methods so each step reads on its own."""

    def __init__(
        self, config: TrainConfig, train: UtteranceData, val: UtteranceData | None, out_dir: Path | None
    ) -> None:
        config, privacy_notes = privacy.adjust_for_privacy(config)  # e.g. mixup off under DP
        self.config = config
        self.out_dir = out_dir
        self.encoder = LabelEncoder(config.labels or [])
        self.train_data, self.val_data = train, val
        self.train_targets = self.encoder.encode(train.labels)
        self.val_targets = self.encoder.encode(val.labels) if val is not None else None
        self.rng = np.random.default_rng(config.seed)
        torch.manual_seed(config.seed)
        self.model = build_model(config.model, len(self.encoder.labels))
        # Under DP the training examples may reach the model through noisy clipped gradients only:
        # the normaliser and class weights then come from the validation speakers.
        stats, stats_note = privacy.statistics_data(config, train, val)
        self.model.fit_normalizer(stats.inputs)
        self.steps_per_epoch = self._batches_per_epoch()
        self.optimizer = _optimizer(self.model, config)
        self.scheduler = _scheduler(self.optimizer, config, config.epochs * self.steps_per_epoch)
        notes = privacy_notes + ([stats_note] if stats_note else [])
        self.private = privacy.make_private(config, self.model, self.optimizer, len(train), notes)
        if self.private is not None:
            self.optimizer = self.private.optimizer  # clips per example and adds noise in step()
        weights = class_weights(self.encoder.encode(stats.labels), len(self.encoder.labels))
        if self.private is not None:
            weights[weights == 0] = 1.0  # a class missing from validation still trains
        self.loss_weights = weights if config.balance == "weights" else None
        sr = config.inputs.sample_rate
        crop = int(config.inputs.crop_seconds * sr)
        self.augmenter = augment.WaveformAugmenter(config.augment, sr, crop)
        self.frame_copies = _frame_copies(config, train) if self.model.input_kind == "frames" else None
        frames_model = self.model.input_kind == "frames" and crop > 0
        self.crop_frames = self.model.frames_for_samples(crop) if frames_model else 0
        self.history: list[EpochRecord] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_key: tuple[float, float] = (-math.inf, -math.inf)
        self.best_epoch = 0
        self.bad_epochs = 0

    def _batches_per_epoch(self) -> int:
        n = len(self.train_data)
        if self.config.privacy.enabled:
            return privacy.steps_per_epoch(n, self.config.batch_size)
        full, rest = divmod(n, self.config.batch_size)
        return full + (1 if rest >= 2 else 0)  # a batch of one breaks batch norm

    # -- one epoch
    def train_epoch(self) -> float:
        cfg = self.config
        self.model.train()
        if self.private is not None:  # Poisson-sampled batches: the sampling the accountant assumes
            return self.private.run_epoch(self.train_step, self.rng, self.scheduler)
        order = epoch_order(
            self.train_targets, len(self.encoder.labels), cfg.balance, self.rng, self.train_data.corpora
        )
        total, count = 0.0, 0
        for step in range(self.steps_per_epoch):
            batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            loss = self.train_step(batch)
            total += loss * len(batch)
            count += len(batch)
        return total / max(count, 1)

    def train_step(self, batch: np.ndarray) -> float:
        cfg, model = self.config, self.model
        arrays = [self.train_data.inputs[i] for i in batch]
        if model.input_kind == "waveform":
            arrays = [self.augmenter(np.asarray(x, dtype=np.float32), self.rng) for x in arrays]
        elif model.input_kind == "frames":
            arrays = [self.training_frames(i) for i in batch]
        x, lengths = _collate(model, arrays, _min_samples(cfg))
        with torch.no_grad():
            features, lengths = model.encode_input(x, lengths)
            if model.input_kind == "waveform":
                features = augment.spec_augment(features, lengths, cfg.augment, self.rng)
            elif model.input_kind == "frames":
                features, lengths = augment.frame_time_masks(features, lengths, cfg.augment, self.rng)
        targets = torch.from_numpy(self.train_targets[batch])
        use_mixup = cfg.augment.mixup_alpha > 0 and self.rng.random() < cfg.augment.mixup_prob
        if use_mixup:
            features, lengths, partner, lam = augment.mixup(
                features, lengths, cfg.augment.mixup_alpha, self.rng
            )
        logits = model.classify(features, lengths)
        loss = self._loss(logits, targets)
        if use_mixup:
            loss = lam * loss + (1.0 - lam) * self._loss(logits, targets[partner])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    def training_frames(self, index: int) -> np.ndarray:
        """Clip ``index`` as itself or one of its augmented copies (at random), randomly cropped."""
        frames = self.train_data.inputs[index]
        if self.frame_copies:
            version = int(self.rng.integers(0, len(self.frame_copies[index]) + 1))
            frames = frames if version == 0 else self.frame_copies[index][version - 1]
        return augment.random_crop(np.asarray(frames), self.crop_frames, self.rng)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.private is not None:
            return self.private.loss(logits, targets, self.loss_weights, self.config.label_smoothing)
        return nn.functional.cross_entropy(
            logits, targets, weight=self.loss_weights, label_smoothing=self.config.label_smoothing
        )

    def validation_logits(self) -> np.ndarray:
        """Eval-mode logits of the current model on the validation set (whole clips, as in testing)."""
        cfg = self.config.inputs
        return predict_logits(
            self.model,
            self.val_data.inputs,
            self.config.batch_size,
            max_samples=int(cfg.eval_max_seconds * cfg.sample_rate),
            min_samples=_min_samples(self.config),
        )

    def validate(self) -> tuple[float, float, float]:
        if self.val_data is None or self.val_targets is None:
            return float("nan"), float("nan"), float("nan")
        logits = self.validation_logits()
        loss = nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(self.val_targets))
        predictions = logits.argmax(axis=1)
        return (
            float(loss),
            unweighted_accuracy(self.val_targets, predictions),
            weighted_accuracy(self.val_targets, predictions),
        )

    def select(self, record: EpochRecord) -> bool:
        """Keep the weights of the best validation epoch; True when training should stop."""
        has_val = self.val_data is not None
        key = (record.val_ua, -record.val_loss) if has_val else (record.epoch, 0.0)
        if key > self.best_key:
            self.best_key, self.best_epoch, self.bad_epochs = key, record.epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return False
        self.bad_epochs += 1
        return _stopped_early(self)

    # -- resumable state
    def state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "history": [asdict(r) for r in self.history],
            "best_state": self.best_state,
            "best_key": list(self.best_key),
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "config": self.config.to_dict(),
            "privacy": self.private.state_dict() if self.private is not None else None,
        }

    def restore(self, state: dict[str, Any]) -> int:
        if not _same_config(state.get("config"), self.config):
            raise ModelError("the checkpoint in last/ was made with a different config; start without resume")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.history = [EpochRecord(**r) for r in state["history"]]
        self.best_state = state["best_state"]
        self.best_key = tuple(state["best_key"])
        self.best_epoch = state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        if self.private is not None:  # the accountant goes on from the steps already taken
            self.private.load_state_dict(state.get("privacy"))
        return int(state["epoch"])


def _same_config(saved: dict[str, Any] | None, config: TrainConfig) -> bool:
    """Whether a checkpoint's config is ``config``; keys added to TrainConfig since then take defaults."""
    try:
        return TrainConfig.from_dict(saved).to_dict() == config.to_dict()
    except ConfigError:  # a key this version does not know: another config
        return False


def _resolve_config(config: TrainConfig, train: UtteranceData) -> TrainConfig:
    """Fill in what the data decides: the label list and the MLP (or frame head) input size."""
    labels = list(config.labels or train.classes or sorted(set(train.labels)))
    if len(labels) < 2:
        raise ConfigError(f"training needs at least 2 emotion classes, got {labels}")
    model = config.model
    if model_input_kind(model) == "frames":
        return _resolve_frames(config.replace(labels=labels), train)
    if model_input_kind(model) == "features":
        dims = {x.size for x in train.inputs}
        if len(dims) != 1:
            raise ModelError(f"feature vectors of different lengths {sorted(dims)}; use one extractor")
        model = model.replace(params={**model.params, "input_dim": dims.pop()})
        config = config.replace(inputs=_pin_extractor(config.inputs, config.inputs.utterance_features))
    return config.replace(labels=labels, model=model)


def _pin_extractor(inputs: InputConfig, name: str) -> InputConfig:
    """``inputs`` with the extractor's pinned params (e.g. the Whisper weights' sha256) merged into
    ``feature_params``, so a bundle refuses to run on other weights than it was trained with."""
    from voxemo.features import get_extractor

    extractor = get_extractor(name, **inputs.feature_params)
    return inputs.replace(feature_params={**inputs.feature_params, **extractor.pinned_params()})


def _resolve_frames(config: TrainConfig, train: UtteranceData) -> TrainConfig:
    """Frame width and rate from the data and extractor; the extractor's pinned params (e.g. the
    sha256 of the Whisper weights) into ``inputs.feature_params``, so the bundle refuses other ones."""
    shapes = {np.shape(x)[1:] for x in train.inputs}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ModelError(
            f"frames models need (frames, D) arrays of one width, got shapes {sorted(shapes)}; "
            "use one frame-level extractor"
        )
    extractor = frame_extractor(config.inputs)
    params = {
        **config.model.params,
        "input_dim": int(next(iter(shapes))[0]),
        "frame_rate": float(extractor.frame_rate),
        "sample_rate": int(config.inputs.sample_rate),
    }
    return config.replace(
        model=config.model.replace(params=params),
        inputs=_pin_extractor(config.inputs, config.inputs.frame_features),
    )


def _frame_copies(config: TrainConfig, train: UtteranceData) -> list[list[np.ndarray]] | None:
    """Frames of ``inputs.augment_copies`` augmented versions of every training clip (None: none asked)."""
    if config.inputs.augment_copies <= 0:
        return None
    if len(train.paths) != len(train):
        raise ConfigError(
            "inputs.augment_copies needs the audio file of every training clip; train from an "
            "utterance table (or UtteranceData with paths)"
        )
    return augmented_frame_copies(train.paths, config.inputs, config.augment, config.seed).arrays


def _tensorboard(out_dir: Path | None, enabled: bool, purge_step: int):
    if out_dir is None or not enabled:
        return None
    from torch.utils.tensorboard import SummaryWriter  # slow import; only when asked for

    return SummaryWriter(log_dir=str(out_dir / "tb"), purge_step=purge_step or None)


def _log(writer, record: EpochRecord) -> None:
    if writer is None:
        return
    for tag, value in [
        ("loss/train", record.train_loss),
        ("loss/val", record.val_loss),
        ("val/ua", record.val_ua),
        ("val/wa", record.val_wa),
        ("lr", record.lr),
    ]:
        writer.add_scalar(tag, value, record.epoch)
    writer.flush()


def train(
    config: TrainConfig,
    train_set: pd.DataFrame | UtteranceData,
    val_set: pd.DataFrame | UtteranceData | None,
    out_dir: str | Path | None,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``train_set``, select on ``val_set``, write a bundle into ``out_dir``.

    ``train_set``/``val_set``: utterance tables (``path``, ``emotion``) or prepared
    :class:`UtteranceData`. ``resume=True`` continues from ``out_dir/last`` when it exists.
    ``out_dir=None`` trains in memory only (no bundle, logs or resume).

    With ``config.refit`` and a validation set, a second run on ``train_set + val_set`` for the
    selected number of epochs follows (see the module docstring); ``on_epoch_end`` sees the epochs
    of both runs (refit records have NaN validation metrics). ``resume=True`` goes on with whichever
    run was interrupted; a finished selection run is restored, not retrained.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, config.num_threads))
    try:
        kind = model_input_kind(config.model)
        train_data = as_data(train_set, kind, config.inputs)
        val_data = as_data(val_set, kind, config.inputs) if val_set is not None else None
        config = _resolve_config(config, train_data)  # re-validates: refit under DP is refused here
        out = Path(out_dir) if out_dir is not None else None
        trainer = _Trainer(config, train_data, val_data, out)
        epochs_run = _run_epochs(trainer, out, resume, progress, on_epoch_end, "train")
        if not (config.refit and val_data is not None):
            return _finish(trainer, out)
        selection, metadata = _conclude(trainer, out)
        # Refit state left in out_dir/refit belongs to an older selection run once this one trained.
        refit_resume = resume and epochs_run == 0
        return _refit(selection, metadata, train_data, val_data, out, refit_resume, progress, on_epoch_end)
    finally:
        torch.set_num_threads(previous_threads)


def _run_epochs(
    trainer: _Trainer,
    out: Path | None,
    resume: bool,
    progress: bool,
    on_epoch_end: Callable[[EpochRecord], None] | None,
    desc: str,
) -> int:
    """Train (and validate) epoch by epoch, resuming from ``out/last``; returns the epochs run now."""
    from tqdm.auto import tqdm

    config = trainer.config
    start = 0
    if resume and out is not None and (out / LAST_DIR / "state.json").is_file():
        start = trainer.restore(load_state(out / LAST_DIR))
    writer = _tensorboard(out, config.tensorboard, start)
    bar = tqdm(range(start, config.epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
    stopped = _stopped_early(trainer)
    epochs_run = 0
    for epoch in bar if not stopped else []:
        began = time.perf_counter()
        lr = trainer.optimizer.param_groups[0]["lr"]
        train_loss = trainer.train_epoch()
        val_loss, val_ua, val_wa = trainer.validate()
        record = EpochRecord(epoch + 1, train_loss, val_loss, val_ua, val_wa, lr, time.perf_counter() - began)
        trainer.history.append(record)
        epochs_run += 1
        stop = trainer.select(record)
        bar.set_postfix(loss=f"{train_loss:.3f}", val_ua=f"{val_ua:.3f}", best=trainer.best_epoch)
        _log(writer, record)
        if out is not None:
            save_state(out / LAST_DIR, trainer.state(epoch + 1))
        if on_epoch_end is not None:
            on_epoch_end(record)
        if stop:
            break
    if writer is not None:
        writer.close()
    return epochs_run


def _stopped_early(trainer: _Trainer) -> bool:
    """Patience exhausted (after ``min_epochs``) on a run with a validation set."""
    cfg = trainer.config
    past_minimum = bool(trainer.history) and trainer.history[-1].epoch >= cfg.min_epochs
    return trainer.val_data is not None and 0 < cfg.patience <= trainer.bad_epochs and past_minimum


def _finish(trainer: _Trainer, out: Path | None) -> TrainResult:
    """The kept model of a run, calibrated; its bundle goes into ``out``."""
    result, metadata = _conclude(trainer, out)
    if out is not None:
        labels, temperature = result.labels, result.temperature
        save_bundle(out, result.model, trainer.config, labels, _finite(metadata), temperature=temperature)
    return result


def _conclude(trainer: _Trainer, out: Path | None) -> tuple[TrainResult, dict[str, Any]]:
    """The best validation epoch's model, its calibration and the bundle metadata describing it."""
    model = trainer.model
    if trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    model.eval()
    labels = trainer.encoder.labels
    history = History.from_records(trainer.history)
    facts = _calibrate(trainer)
    dp_report = trainer.private.report() if trainer.private is not None else None
    if trainer.private is not None:
        trainer.private.close()
    result = TrainResult(
        model, labels, history, trainer.best_epoch, trainer.config, out, facts["temperature"], facts
    )
    result.privacy = dp_report
    best = result.best
    metadata = {
        "best_epoch": trainer.best_epoch,
        "val_ua": best.val_ua if best else None,
        "val_wa": best.val_wa if best else None,
        "val_loss": best.val_loss if best else None,
        "n_train": len(trainer.train_data),
        "n_val": len(trainer.val_data) if trainer.val_data is not None else 0,
        "train_speakers": sorted(set(trainer.train_data.speakers)),
        "val_speakers": sorted(set(trainer.val_data.speakers)) if trainer.val_data else [],
        "history": asdict(history),
        "ece_before": facts.get("ece_before"),
        "ece_after": facts.get("ece_after"),
        "calibration": facts,
    }
    if facts.get("uncertainty_threshold"):
        metadata["uncertainty_threshold"] = facts["uncertainty_threshold"]
    if dp_report is not None:
        metadata["privacy"] = dp_report
    return result, metadata


def _refit(
    selection: TrainResult,
    metadata: dict[str, Any],
    train_data: UtteranceData,
    val_data: UtteranceData,
    out: Path | None,
    resume: bool,
    progress: bool,
    on_epoch_end: Callable[[EpochRecord], None] | None,
) -> TrainResult:
    """A fresh model (same seed) trained on training + validation speakers for the selected epochs.

    Everything is training data now (normaliser and class weights included), so nothing is left
    to select on or calibrate with: the run lasts exactly ``selection.best_epoch`` epochs (its LR
    schedule laid out for that many) and keeps the selection run's temperature and threshold.
    """
    config = selection.config.replace(epochs=selection.best_epoch)
    combined = _combined(train_data, val_data)
    refit_out = out / REFIT_DIR if out is not None else None
    trainer = _Trainer(config, combined, None, refit_out)
    _run_epochs(trainer, refit_out, resume, progress, on_epoch_end, "refit")
    model = trainer.model.eval()  # without validation the last epoch is the one kept
    facts = {
        "selected_epoch": selection.best_epoch,
        "n_train_refit": len(combined),
        "calibration_from": "selection run",
        "train_speakers": sorted(set(combined.speakers)),
        "train_loss": [record.train_loss for record in trainer.history],
    }
    result = replace(selection, model=model, refit=facts)
    if out is not None:
        metadata = {**metadata, "refit": facts}
        save_bundle(
            out, model, selection.config, result.labels, _finite(metadata), temperature=result.temperature
        )
    return result


def _combined(first: UtteranceData, second: UtteranceData) -> UtteranceData:
    """Both sets as one; per-utterance lists that either set lacks (e.g. paths) are left empty."""

    def joined(a: list, b: list) -> list:
        return [*a, *b] if len(a) == len(first) and len(b) == len(second) else []

    return UtteranceData(
        inputs=[*first.inputs, *second.inputs],
        labels=[*first.labels, *second.labels],
        speakers=joined(first.speakers, second.speakers),
        paths=joined(first.paths, second.paths),
        classes=first.classes,
        corpora=joined(first.corpora, second.corpora),
    )


def _calibrate(trainer: _Trainer) -> dict[str, Any]:
    """Fit the temperature of the kept model on the validation speakers (never on test data)."""
    cfg = trainer.config
    if not cfg.calibrate or trainer.val_data is None or trainer.val_targets is None:
        return {"temperature": 1.0, "fitted_on": None}
    logits, targets = trainer.validation_logits(), trainer.val_targets
    temperature = calibration.fit_temperature(logits, targets)
    before = calibration.apply_temperature(logits, 1.0)
    after = calibration.apply_temperature(logits, temperature)
    facts: dict[str, Any] = {
        "temperature": temperature,
        "fitted_on": "validation speakers",
        "n_val": int(targets.size),
        "ece_before": calibration.expected_calibration_error(before, targets),
        "ece_after": calibration.expected_calibration_error(after, targets),
        "nll_before": calibration.nll(logits, targets, 1.0),
        "nll_after": calibration.nll(logits, targets, temperature),
    }
    if cfg.uncertain_below_accuracy > 0:
        facts["uncertainty_threshold"] = calibration.uncertainty_threshold(
            after, targets, min_accuracy=cfg.uncertain_below_accuracy
        )
    return facts


def _finite(value: Any) -> Any:
    """NaN/inf -> None so config.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
