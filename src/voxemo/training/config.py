"""Typed training configuration; a recipe YAML file is one :class:`TrainConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voxemo.config import Config
from voxemo.errors import ConfigError
from voxemo.models.base import ModelConfig
from voxemo.training.privacy import PrivacyConfig

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
#: ``corpus``: batches where every (corpus, class) pair is equally likely (multi-corpus training).
BALANCING = ("none", "weights", "sampler", "corpus")
REFIT_UNDER_PRIVACY = (
    "refit: true cannot be combined with differential privacy (privacy.epsilon): the privacy "
    "accounting covers a single training run; set refit: false or drop privacy.epsilon"
)


@dataclass
class InputConfig(Config):
    """What the model is fed: waveforms (spectrogram models), utterance feature vectors (MLP) or
    frames of a frame-level extractor (heads on frozen embeddings)."""

    sample_rate: int = 16_000
    #: Training clips are randomly cropped to this length (seconds); 0 keeps them whole.
    crop_seconds: float = 3.0
    #: Evaluation uses the whole clip up to this length (longer clips: centre crop); 0 = no limit.
    eval_max_seconds: float = 12.0
    #: Shorter clips are zero-padded to this length so every conv stack has frames to work on.
    min_seconds: float = 0.5
    #: Feature extractor (``voxemo.features`` name) for ``input_kind == "features"`` models.
    utterance_features: str = "egemaps"
    #: Frame-level extractor for ``input_kind == "frames"`` models (heads on frozen embeddings).
    frame_features: str = "whisper-encoder"
    #: Options of whichever extractor the model uses (``utterance_features`` or ``frame_features``).
    feature_params: dict[str, Any] = field(default_factory=dict)
    #: Frames models: K augmented copies of each training clip, extracted once and cached; each
    #: epoch a clip is drawn as itself or one of its copies. Validation and test data get none.
    augment_copies: int = 0
    #: On-disk cache of decoded audio / features; None = $VOXEMO_CACHE (default ~/.cache/voxemo).
    cache_dir: str | None = None
    n_jobs: int | None = None

    def __post_init__(self) -> None:
        if self.augment_copies < 0:
            raise ConfigError(f"inputs.augment_copies must be 0 or more, got {self.augment_copies}")


@dataclass
class OptimConfig(Config):
    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-2
    #: ``onecycle`` (warm up to lr then anneal), ``cosine`` (linear warmup then cosine) or ``constant``.
    schedule: str = "onecycle"
    warmup_fraction: float = 0.1
    grad_clip: float = 5.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optim.name must be one of {', '.join(OPTIMIZERS)}, got {self.name!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.lr <= 0:
            raise ConfigError(f"optim.lr must be positive, got {self.lr}")


@dataclass
class AugmentConfig(Config):
    """Each augmentation is off when its probability (or width, or alpha) is 0."""

    #: Speed perturbation (changes tempo and pitch together, as Kaldi's): probability and range.
    speed_prob: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)
    #: Additive noise (white or pink) at a random SNR in dB.
    noise_prob: float = 0.3
    snr_db: tuple[float, float] = (10.0, 30.0)
    #: Random gain in dB (the log-mel then shifts; normalisation makes models robust to level).
    gain_prob: float = 0.5
    gain_db: tuple[float, float] = (-6.0, 6.0)
    #: Random circular time shift of the (cropped) clip, as a fraction of its length.
    shift_prob: float = 0.0
    shift_fraction: float = 0.1
    #: Pitch shift without tempo change (resample + WSOLA-free stretch); costly, off by default.
    pitch_prob: float = 0.0
    pitch_semitones: float = 2.0
    #: SpecAugment on the normalised log-mel: number and maximum width of masks.
    time_masks: int = 2
    time_mask_width: int = 20
    freq_masks: int = 2
    freq_mask_width: int = 8
    #: Mixup of the normalised log-mel (or feature vectors): Beta(alpha, alpha); 0 disables.
    mixup_alpha: float = 0.2
    mixup_prob: float = 0.5


@dataclass
class DataConfig(Config):
    """Where :func:`voxemo.training.train_from_config` reads its utterances from."""

    #: ``[{name: emodb, root: /path}]``; ``root`` may be omitted when given on the command line.
    corpora: list[dict[str, Any]] = field(default_factory=list)
    emotions: list[str] | None = None
    #: Validation speakers carved from the training speakers: a count (>= 1) or a fraction (< 1).
    val_speakers: float = 0.2
    #: Speakers (``corpus:speaker``) kept out of training and validation entirely, so the trained
    #: model can be scored on voices it never heard (``voxemo train`` reports it in heldout.json).
    test_speakers: list[str] = field(default_factory=list)


@dataclass
class TrainConfig(Config):
    model: ModelConfig = field(default_factory=ModelConfig)
    inputs: InputConfig = field(default_factory=InputConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    #: Differentially private training (DP-SGD); off unless ``privacy.epsilon`` is set.
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    #: Fixed label order (None: the sorted labels of the training set).
    labels: list[str] | None = None
    epochs: int = 40
    batch_size: int = 32
    #: ``weights`` (class-weighted loss), ``sampler`` (class-balanced batches), ``corpus``
    #: (batches balanced over (corpus, class) pairs) or ``none``.
    balance: str = "weights"
    label_smoothing: float = 0.1
    #: Stop when validation UA has not improved for this many epochs; 0 = never.
    patience: int = 12
    #: No early stop before this epoch (the one-cycle warm-up phase is noisy on small corpora).
    min_epochs: int = 0
    seed: int = 0
    #: Fit a softmax temperature on the validation speakers so confidences mean what they say.
    calibrate: bool = True
    #: When > 0, the bundle's default uncertainty threshold becomes the calibrated confidence
    #: below which validation predictions are right less often than this (0 = none by default).
    uncertain_below_accuracy: float = 0.0
    #: After model selection, train a fresh model (same seed) on training + validation speakers
    #: for exactly the selected number of epochs, and keep that one. The temperature and
    #: uncertainty threshold come from the selection run (no speaker is left to refit them on);
    #: the bundle's ``metadata["refit"]`` says so. No effect without validation speakers; not
    #: allowed under differential privacy (the privacy accounting covers a single run).
    refit: bool = False
    num_threads: int = 2
    tensorboard: bool = True
    out_dir: str = "runs/train"

    def __post_init__(self) -> None:
        if self.balance not in BALANCING:
            raise ConfigError(f"balance must be one of {', '.join(BALANCING)}, got {self.balance!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be at least 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.uncertain_below_accuracy <= 1.0:
            raise ConfigError(
                f"uncertain_below_accuracy must be in [0, 1], got {self.uncertain_below_accuracy}"
            )
        if self.refit and self.privacy.enabled:
            raise ConfigError(REFIT_UNDER_PRIVACY)
