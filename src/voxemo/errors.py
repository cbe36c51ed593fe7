"""One exception family for everything voxemo reports to a user.

Callers catch :class:`VoxemoError`; the CLI turns it into a one-line message and a non-zero
exit code instead of a traceback.
"""

from __future__ import annotations


class VoxemoError(Exception):
    """Base class of every error voxemo raises on purpose."""


class AudioError(VoxemoError):
    """Audio that cannot be used: missing, empty, truncated, not audio, silent, NaN, too long..."""


class FeatureError(VoxemoError):
    """A feature extractor cannot run (bad config, missing optional backend, unusable signal)."""


class CorpusError(VoxemoError):
    """A corpus folder or manifest that does not match the layout its loader expects."""


class ConfigError(VoxemoError):
    """A configuration value or file that is invalid."""


class ModelError(VoxemoError):
    """A model bundle that cannot be built, loaded or trained."""


class RegistryError(VoxemoError, KeyError):
    """An unknown name was asked of a registry."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""
