"""Training: typed configs, augmentation, data preparation, the loop and model bundles."""

from voxemo.training.checkpoint import BundleConfig, load_bundle, read_bundle_config, save_bundle
from voxemo.training.cli_train import load_train_config, split_validation_speakers, train_from_config
from voxemo.training.config import AugmentConfig, DataConfig, InputConfig, OptimConfig, TrainConfig
from voxemo.training.data import UtteranceData, build_dataset, load_waveforms
from voxemo.training.loop import EpochRecord, History, TrainResult, predict_logits, predict_proba, train

__all__ = [
    "AugmentConfig",
    "BundleConfig",
    "DataConfig",
    "EpochRecord",
    "History",
    "InputConfig",
    "OptimConfig",
    "TrainConfig",
    "TrainResult",
    "UtteranceData",
    "build_dataset",
    "load_bundle",
    "load_train_config",
    "load_waveforms",
    "predict_logits",
    "predict_proba",
    "read_bundle_config",
    "save_bundle",
    "split_validation_speakers",
    "train",
    "train_from_config",
]
