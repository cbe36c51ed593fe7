"""Differentially private training: DP-SGD through Opacus, with the sampling its accounting assumes.

With ``privacy.epsilon`` set, :func:`voxemo.training.train` runs DP-SGD:

- every step draws a **Poisson-sampled** batch (each training example joins independently with
  probability ``q = batch_size / N``), because the privacy accountants analyse exactly that;
- the gradient of every example is computed on its own (Opacus ``GradSampleModule``), **clipped**
  to ``max_grad_norm`` and summed, and Gaussian noise of std ``noise_multiplier * max_grad_norm``
  is added (Opacus ``DPOptimizer``);
- the noise multiplier is calibrated so that all planned steps (``epochs`` of ``round(N / batch_size)``
  steps) spend at most the target epsilon at ``delta``; the **spent** epsilon is computed by the
  accountant for the steps actually taken (early stopping spends less) and lands in the bundle's
  ``config.json`` (``metadata.privacy``) and in ``TrainResult.privacy``.

Only noisy clipped gradients may see the training examples, so the feature normaliser and the
class weights are fitted on the validation speakers (which the guarantee does not cover; nor does
model selection, which looks at them too). Augmentations that mix examples (mixup) are switched
off, and so is any sampling other than uniform Poisson sampling; every such change is recorded in
the report's ``adjustments``. See ``docs/privacy.md`` for what epsilon means and what it protects.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from voxemo.config import Config
from voxemo.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from voxemo.training.config import TrainConfig
    from voxemo.training.data import UtteranceData

#: Privacy accountants (Opacus names): ``rdp`` (Rényi DP, fast, slightly loose) or ``prv``
#: (privacy random variables, tighter: a little less noise for the same epsilon).
ACCOUNTANTS = ("rdp", "prv")
INSTALL_HINT = "pip install 'voxemo[dp]'"
#: Sampling schemes that stay uniform under DP; anything else (class or corpus balancing) is replaced.
UNIFORM_BALANCING = ("none", "weights")
NOT_COVERED = [
    "validation speakers (early stopping, model selection, calibration, normaliser and class weights)",
    "the number of training examples and the label list",
    "pretrained backbones or feature extractors (trained on other data)",
]


@dataclass
class PrivacyConfig(Config):
    """Differential privacy of the training examples; off while ``epsilon`` is None."""

    #: Target epsilon of (epsilon, delta)-DP; None trains without differential privacy.
    epsilon: float | None = None
    #: Probability that the epsilon bound fails; must be below 1/N (N = training examples).
    #: 1e-5 suits any corpus under 100 000 clips.
    delta: float = 1e-5
    #: Per-example gradient clip norm C; the noise has std ``noise_multiplier * C``.
    max_grad_norm: float = 1.0
    #: ``rdp`` or ``prv`` (see :data:`ACCOUNTANTS`).
    accountant: str = "rdp"

    def __post_init__(self) -> None:
        if self.epsilon is not None and not self.epsilon > 0:
            raise ConfigError(f"privacy.epsilon must be positive (or null for no DP), got {self.epsilon}")
        if not 0.0 < self.delta < 1.0:
            raise ConfigError(f"privacy.delta must be in (0, 1), got {self.delta}; 1e-5 is usual")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"privacy.max_grad_norm must be positive, got {self.max_grad_norm}")
        if self.accountant not in ACCOUNTANTS:
            raise ConfigError(
                f"privacy.accountant must be one of {', '.join(ACCOUNTANTS)}, got {self.accountant!r}"
            )

    @property
    def enabled(self) -> bool:
        return self.epsilon is not None


def require_opacus() -> Any:
    """The ``opacus`` module, or a ConfigError saying how to install it."""
    try:
        import opacus
    except ImportError:
        raise ConfigError(
            f"differentially private training needs the opacus package: {INSTALL_HINT}"
        ) from None
    return opacus


def with_privacy(config: TrainConfig, epsilon: float | None, delta: float | None) -> TrainConfig:
    """``config`` with DP at ``epsilon`` (and ``delta`` if given); unchanged when ``epsilon`` is None.

    ``delta`` alone adjusts a recipe that already has ``privacy.epsilon``; without one it is an error
    (a delta means nothing without an epsilon).
    """
    if epsilon is None:
        if delta is None:
            return config
        if not config.privacy.enabled:
            raise ConfigError("--dp-delta needs --dp-epsilon (or privacy.epsilon in the recipe)")
        epsilon = config.privacy.epsilon
    require_opacus()
    changes: dict[str, Any] = {"epsilon": float(epsilon)}
    if delta is not None:
        changes["delta"] = float(delta)
    return config.replace(privacy=config.privacy.replace(**changes))  # replace() re-validates


# ---------------------------------------------------------------- what DP changes in a config


def adjust_for_privacy(config: TrainConfig) -> tuple[TrainConfig, list[str]]:
    """The config DP-SGD actually trains with, and why each setting changed (empty without DP)."""
    if not config.privacy.enabled:
        return config, []
    notes: list[str] = []
    augment, optim, balance = config.augment, config.optim, config.balance
    if augment.mixup_alpha > 0 and augment.mixup_prob > 0:
        augment = augment.replace(mixup_alpha=0.0)
        notes.append(
            "mixup off: a mixed example carries two people's data, so one gradient would no longer "
            "belong to one example and per-example clipping would not bound its influence"
        )
    if optim.grad_clip > 0:
        optim = optim.replace(grad_clip=0.0)
        notes.append(
            f"optim.grad_clip off: each example's gradient is clipped to privacy.max_grad_norm "
            f"({config.privacy.max_grad_norm}) instead"
        )
    if balance not in UNIFORM_BALANCING:
        notes.append(
            f"balance {balance!r} replaced by 'weights': batches are Poisson-sampled uniformly, "
            "the sampling the privacy accountant assumes"
        )
        balance = "weights"
    return config.replace(augment=augment, optim=optim, balance=balance), notes


def statistics_data(
    config: TrainConfig, train: UtteranceData, val: UtteranceData | None
) -> tuple[UtteranceData, str | None]:
    """Where the normaliser and class weights are fitted: training data, or validation data under DP."""
    if not config.privacy.enabled:
        return train, None
    if val is not None and len(val) > 0:
        return val, "normaliser and class weights fitted on the validation speakers"
    warnings.warn(
        "DP training without validation speakers: the normaliser and class weights are fitted on the "
        "training data, outside the privacy guarantee",
        stacklevel=3,
    )
    return train, "normaliser and class weights fitted on the training data (NOT covered: no validation set)"


# ---------------------------------------------------------------- sampling and calibration


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Poisson-sampled steps per epoch: ``1 / q`` with ``q = batch_size / n`` (at least one)."""
    return max(1, round(n_examples / batch_size))


def sample_rate(n_examples: int, batch_size: int) -> float:
    return min(1.0, batch_size / max(n_examples, 1))


def poisson_batches(n_examples: int, rate: float, steps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``steps`` batches; each example joins each batch independently with probability ``rate``."""
    return [np.flatnonzero(rng.random(n_examples) < rate) for _ in range(steps)]


def noise_multiplier(privacy: PrivacyConfig, rate: float, steps: int) -> float:
    """The smallest noise multiplier whose ``steps`` Poisson-sampled steps spend <= the target epsilon."""
    return _calibrated_noise(float(privacy.epsilon), privacy.delta, privacy.accountant, rate, steps)


@functools.lru_cache(maxsize=64)
def _calibrated_noise(epsilon: float, delta: float, accountant: str, rate: float, steps: int) -> float:
    # Cached: the search evaluates the accountant dozens of times, and cross-validation folds
    # of one corpus ask the same question again and again.
    from opacus.accountants.utils import get_noise_multiplier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus warns about optimal RDP orders at the edges
        return float(
            get_noise_multiplier(
                target_epsilon=epsilon,
                target_delta=delta,
                sample_rate=rate,
                steps=steps,
                accountant=accountant,
                epsilon_tolerance=0.01,
            )
        )


def check_model(model: torch.nn.Module) -> None:
    """Refuse layers that DP-SGD cannot train per example (batch norm, plain RNNs), saying what to do."""
    from opacus.validators import ModuleValidator

    problems = ModuleValidator.validate(model, strict=False)
    if not problems:
        return
    names = sorted({type(m).__name__ for m in model.modules() if _is_batch_norm(m)})
    hint = (
        "batch norm mixes the examples of a batch, so one example's gradient would depend on the others"
        if names
        else "Opacus cannot compute per-example gradients of these layers"
    )
    fix = (
        "set model.params.batch_norm=false"
        if hasattr(getattr(model, "params", None), "batch_norm")
        else "choose a model without batch norm or recurrent layers "
        "(e.g. mlp with model.params.batch_norm=false)"
    )
    details = "; ".join(str(p).split(". ")[0] for p in problems[:3])
    raise ConfigError(
        f"{type(model).__name__} cannot train under differential privacy ({hint}: {details}). "
        f"{fix}. (Converting batch norm to group norm would change the architecture the bundle describes.)"
    )


def _is_batch_norm(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.modules.batchnorm._BatchNorm)


# ---------------------------------------------------------------- the private optimiser


class PrivateTraining:
    """Per-example clipping + noise around an optimiser, Poisson batches and the accountant's state."""

    def __init__(
        self,
        config: TrainConfig,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        n_examples: int,
        notes: list[str] | None = None,
    ) -> None:
        require_opacus()
        from opacus import GradSampleModule
        from opacus.accountants import create_accountant
        from opacus.optimizers import DPOptimizer

        self.privacy = config.privacy
        if n_examples < 2:
            raise ConfigError("differentially private training needs at least 2 training examples")
        if self.privacy.delta >= 1.0 / n_examples:
            raise ConfigError(
                f"privacy.delta {self.privacy.delta:g} is not below 1/N = {1.0 / n_examples:.2g} "
                f"({n_examples} training examples): such a delta lets one example leak outright; lower it"
            )
        check_model(model)
        self.n_examples = n_examples
        self.rate = sample_rate(n_examples, config.batch_size)
        self.steps_per_epoch = steps_per_epoch(n_examples, config.batch_size)
        self.planned_steps = config.epochs * self.steps_per_epoch
        self.noise_multiplier = noise_multiplier(self.privacy, self.rate, self.planned_steps)
        self.notes = list(notes or [])
        # Hooks on the model's own layers record per-example gradients whichever method runs them.
        self.grad_sample = GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True)
        self.optimizer = DPOptimizer(
            optimizer,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.privacy.max_grad_norm,
            expected_batch_size=max(1, round(self.rate * n_examples)),
            loss_reduction="mean",
        )
        self.accountant = create_accountant(self.privacy.accountant)
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.rate))

    # -- one epoch
    def run_epoch(
        self,
        train_step: Callable[[np.ndarray], float],
        rng: np.random.Generator,
        scheduler: Any,
    ) -> float:
        """Train one epoch of Poisson-sampled batches; returns the mean training loss per example."""
        total, count = 0.0, 0
        with warnings.catch_warnings():
            # Inputs never require grad here; torch warns that the full backward hooks still fire.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for batch in poisson_batches(self.n_examples, self.rate, self.steps_per_epoch, rng):
                if batch.size == 0:
                    self.noise_only_step()
                    scheduler.step()
                    continue
                total += train_step(batch) * batch.size
                count += batch.size
        return total / max(count, 1)

    def noise_only_step(self) -> None:
        """An empty Poisson batch still takes a pure-noise step: skipping it would reveal the empty batch."""
        self.optimizer.zero_grad(set_to_none=True)
        for p in self.optimizer.params:
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
        self.optimizer.step()

    @staticmethod
    def loss(
        logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None, label_smoothing: float
    ) -> torch.Tensor:
        """Plain mean of per-example (class-weighted) cross-entropies.

        ``cross_entropy(weight=...)`` would divide by the batch's weight sum, coupling one example's
        gradient to the other examples' labels, beyond the reach of per-example clipping.
        """
        per_example = torch.nn.functional.cross_entropy(
            logits, targets, weight=weight, label_smoothing=label_smoothing, reduction="none"
        )
        return per_example.mean()

    # -- accounting
    @property
    def steps(self) -> int:
        return int(sum(entry[2] for entry in self.accountant.history))

    def spent_epsilon(self) -> float:
        if self.steps == 0:
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(self.accountant.get_epsilon(delta=self.privacy.delta))

    def report(self) -> dict[str, Any]:
        """What the bundle and the result say about the privacy of this run."""
        return {
            "epsilon": self.spent_epsilon(),
            "delta": self.privacy.delta,
            "target_epsilon": self.privacy.epsilon,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.privacy.max_grad_norm,
            "accountant": self.privacy.accountant,
            "sampling": "poisson",
            "sample_rate": self.rate,
            "expected_batch_size": self.optimizer.expected_batch_size,
            "n_train": self.n_examples,
            "steps": self.steps,
            "planned_steps": self.planned_steps,
            "adjustments": list(self.notes),
            "not_covered": list(NOT_COVERED),
        }

    # -- resume
    def state_dict(self) -> dict[str, Any]:
        return {
            "accountant": self.accountant.state_dict(),
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.rate,
        }

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Continue the accountant's history; refuse a checkpoint whose noise or sampling differ."""
        if not state or "accountant" not in state:
            raise ModelError(
                "the checkpoint in last/ has no privacy accountant state, so the epsilon already spent "
                "is unknown; start without --resume"
            )
        same = np.isclose(state.get("noise_multiplier", -1.0), self.noise_multiplier) and np.isclose(
            state.get("sample_rate", -1.0), self.rate
        )
        if not same:
            raise ModelError(
                "the checkpoint in last/ was trained with another noise multiplier or sample rate "
                "(different training data?); start without --resume"
            )
        self.accountant.load_state_dict(state["accountant"])

    def close(self) -> None:
        """Remove the per-example hooks so the returned model is a plain module again."""
        self.grad_sample.to_standard_module()
        for p in self.optimizer.params:
            if hasattr(p, "summed_grad"):
                delattr(p, "summed_grad")


def make_private(
    config: TrainConfig,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    n_examples: int,
    notes: list[str] | None = None,
) -> PrivateTraining | None:
    """A :class:`PrivateTraining` around ``optimizer`` when ``config.privacy`` is on, else None."""
    if not config.privacy.enabled:
        return None
    return PrivateTraining(config, model, optimizer, n_examples, notes)


def summarize(reports: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One privacy block for several runs (cross-validation folds): the worst spent epsilon counts."""
    reports = [r for r in reports if r]
    if not reports:
        return None
    spent = [float(r["epsilon"]) for r in reports]
    return {
        "epsilon_max": max(spent),
        "epsilon_mean": float(np.mean(spent)),
        "target_epsilon": reports[0].get("target_epsilon"),
        "delta": reports[0].get("delta"),
        "noise_multiplier": [float(r["noise_multiplier"]) for r in reports],
        "max_grad_norm": reports[0].get("max_grad_norm"),
        "accountant": reports[0].get("accountant"),
        "note": "each fold's model is (epsilon, delta)-DP for its own training speakers",
    }


__all__ = [
    "ACCOUNTANTS",
    "PrivacyConfig",
    "PrivateTraining",
    "adjust_for_privacy",
    "check_model",
    "make_private",
    "noise_multiplier",
    "poisson_batches",
    "require_opacus",
    "statistics_data",
    "summarize",
    "with_privacy",
]
