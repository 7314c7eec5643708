"""The settings of a job, torch-free: :class:`TrainConfig`, everything a training run needs, and
the :class:`Budget` of an inversion (:data:`PUBLISHED`, the paper's; ``ylg invert --help`` shows
its defaults when the program starts, and :mod:`ylg.invert` re-exports both).

The TrainConfig is saved into every checkpoint; :mod:`ylg.train` re-exports it. Each field carries its own
help text (``dataclasses.fields(TrainConfig)[i].metadata["help"]``) and, where it has some, its
``choices``: the ``ylg train`` options are derived from them, and :meth:`TrainConfig.validate`
checks a whole config in one place.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ifg.errors import InvalidArgument, check_positive_int
from ylg.choices import (BACKENDS, RESOLUTIONS, attention_resolutions, attention_variants,
                         parse_metrics, parse_policy)
from ylg.errors import CheckpointError

__all__ = ["RESUMABLE", "resumed_config", "TrainConfig", "Budget", "PUBLISHED"]

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
_T = TypeVar("_T")


def _check_type(f: dataclasses.Field[Any], value: object) -> None:
    """One field's value against its annotation: ints are ints (not bools), floats finite."""
    kind, optional = str(f.type).split(" | ")[0], str(f.type).endswith("| None")
    if value is None and optional:
        return
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidArgument(f"{f.name} must be an integer, got {value!r}")
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))
                            or not math.isfinite(value)):
        raise InvalidArgument(f"{f.name} must be a finite number, got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise InvalidArgument(f"{f.name} must be true or false, got {value!r}")
    if kind == "str" and not isinstance(value, str):
        raise InvalidArgument(f"{f.name} must be a string, got {value!r}")


def _field(default: _T, help: str, **meta: Any) -> _T:
    return dataclasses.field(default=default, metadata={"help": help, **meta})


@dataclass
class TrainConfig:
    """Everything a run needs; saved into every checkpoint. Defaults are the paper's.

    Examples
    --------
    >>> TrainConfig(steps=10).lr_d
    0.0004
    >>> TrainConfig.from_dict({"stpes": 10})
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: unknown TrainConfig key(s): stpes
    >>> TrainConfig(backend="sprase")
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: backend must be one of auto, dense, sparse, flex, got 'sprase'
    """

    out: str = _field("runs/ylg", "Run folder (config, log, samples, checkpoint).")
    data: str = _field("digits", "digits (embedded), photos (crops of scikit-image's "
                       "photographs), an image folder, an .npz, or a folder from `ylg prepare`.")
    channels: int | None = _field(None, "Image channels (default: the data's own; digits are "
                                  "grey).", choices=(1, 3))
    attention: str = _field("ylg", "ylg (the paper's YLG-SAGAN: 8 sparse heads) or another YLG "
                            "preset built at the model's grids, none, dense (SAGAN: 1 head), "
                            "dense8 (8 dense heads); in a config also a masks.npz path.",
                            choices=attention_variants, or_path=True)
    attention_resolution: int | None = _field(None, "Feature grid of the attention layer "
                                              "(default: 16 at 32, 32 at 64 and 128).")
    resolution: int = _field(32, "Image resolution.", choices=RESOLUTIONS)
    width: int = _field(64, "Channel multiplier (the paper's 64; 16 trains on a CPU).")
    z_dim: int = _field(128, "Dimension of the latent z.")
    steps: int = _field(10_000, "Generator steps.")
    batch_size: int = _field(64, "Global batch size (split over the processes).")
    d_steps: int = _field(1, "D steps per G step.")
    lr_g: float = _field(1e-4, "Adam learning rate of G.")
    lr_d: float = _field(4e-4, "Adam learning rate of D.")
    beta1: float = _field(0.0, "Adam beta1 (both networks).")
    beta2: float = _field(0.999, "Adam beta2 (both networks).")
    ema_decay: float = _field(0.999, "EMA decay of G's weights.")
    diffaugment: str = _field("", "DiffAugment policies, e.g. color,translation,cutout "
                              "(default: none).")
    seed: int = _field(0, "Random seed.")
    device: str = _field("auto", "auto (CUDA when available), cpu, cuda or cuda:N.")
    amp: bool = _field(False, "bfloat16 mixed precision (CUDA).")
    backend: str = _field("auto", "How a masked attention layer runs (auto: sparse where it "
                          "pays).", choices=BACKENDS)
    log_every: int = _field(10, "Log every N steps.")
    sample_every: int = _field(500, "Save a sample grid every N steps.")
    checkpoint_every: int = _field(1000, "Write the checkpoint every N steps.")
    num_samples: int = _field(64, "Images in each sample grid.")
    tensorboard: bool = _field(False, "Also log to RUN_DIR/tensorboard (needs tensorboard).")
    eval_every: int = _field(0, "Evaluate the EMA generator every N steps into log.jsonl "
                             "(0: never).")
    eval_metrics: str = _field("auto", "Metrics for --eval-every (see `ylg evaluate --help`); "
                               "auto: domain-fid,accuracy for the digits, fid,kid (Inception) "
                               "for other data.")
    eval_samples: int = _field(500, "Samples per evaluation.")
    long_ok: bool = _field(False, "Go on with a CPU run estimated at more than 3 hours (without "
                           "it, such a run stops after its estimate, with smaller settings to "
                           "try).")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field: types, choices, ranges, finite numbers (the one place).

        Raises
        ------
        InvalidArgument
            Naming the first field that is wrong and the value given.

        Examples
        --------
        >>> TrainConfig().validate()
        >>> TrainConfig(lr_g=float("inf"))
        Traceback (most recent call last):
        ...
        ifg.errors.InvalidArgument: lr_g must be a finite number, got inf
        >>> TrainConfig(steps="3")
        Traceback (most recent call last):
        ...
        ifg.errors.InvalidArgument: steps must be an integer, got '3'
        """
        for f in dataclasses.fields(self):
            _check_type(f, getattr(self, f.name))
        for name in ("resolution", "width", "z_dim", "steps", "batch_size", "d_steps",
                     "log_every", "sample_every", "checkpoint_every", "num_samples",
                     "eval_samples"):
            if getattr(self, name) <= 0:
                raise InvalidArgument(f"{name} must be a positive integer, got "
                                      f"{getattr(self, name)!r}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise InvalidArgument(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("beta1", "beta2", "ema_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise InvalidArgument(f"{name} must lie in [0, 1), got {getattr(self, name)!r}")
        if self.eval_every < 0:
            raise InvalidArgument(f"eval_every must be 0 (never) or a positive integer, got "
                                  f"{self.eval_every!r}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            choices = choices() if callable(choices) else choices
            value = getattr(self, f.name)
            if choices is None or value in choices or (value is None and f.default is None):
                continue
            if f.metadata.get("or_path") and value:
                continue
            raise InvalidArgument(f"{f.name} must be one of {', '.join(map(str, choices))}"
                                  f"{' or a mask file path' if f.metadata.get('or_path') else ''}"
                                  f", got {value!r}")
        if not _DEVICE.fullmatch(self.device):
            raise InvalidArgument(f"device must be auto, cpu, cuda or cuda:N, got "
                                  f"{self.device!r}")
        if self.eval_metrics != "auto":  # auto: by the data (ylg.train)
            parse_metrics(self.eval_metrics)
        parse_policy(self.diffaugment)
        if self.attention_resolution is not None and \
                self.attention_resolution not in attention_resolutions(self.resolution):
            raise InvalidArgument(
                f"attention_resolution must be one of "
                f"{', '.join(map(str, attention_resolutions(self.resolution)))} for a "
                f"{self.resolution}x{self.resolution} model, got {self.attention_resolution!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """A config from a dict; unknown keys are an error (a typo never passes silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidArgument(f"unknown TrainConfig key(s): {', '.join(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Budget:
    """How an inversion optimises: Adam ``steps`` at ``lr`` from ``starts`` random starts.

    Attributes
    ----------
    steps : int
        Adam updates per start.
    lr : float
        Adam's learning rate.
    starts : int
        Random starts per image (and class), truncated normal on [-2, 2].
    noise : float
        Standard deviation of the Gaussian noise added to the target, one draw per start (the
        published ``inject_noise``, std 0.2 when on); 0: none.

    Raises
    ------
    InvalidArgument
        For a non-positive steps, starts or lr, or a negative noise.

    Examples
    --------
    >>> PUBLISHED
    Budget(steps=1000, lr=0.07, starts=8, noise=0.0)
    >>> Budget(steps=100, starts=2).lr
    0.07
    """

    steps: int = 1000
    lr: float = 0.07
    starts: int = 8
    noise: float = 0.0

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps)
        check_positive_int("starts", self.starts)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise InvalidArgument(f"lr must be a positive number, got {self.lr!r}")
        if not (isinstance(self.noise, (int, float)) and math.isfinite(self.noise)
                and self.noise >= 0):
            raise InvalidArgument(f"noise must be a non-negative number, got {self.noise!r}")


#: the published inversion settings (the official code's flags)
PUBLISHED = Budget()


#: what a resumed run may change; everything else must match the checkpoint
RESUMABLE = ("steps", "device", "amp", "backend", "log_every", "sample_every",
             "checkpoint_every", "tensorboard", "eval_every", "eval_metrics", "eval_samples",
             "long_ok")


def resumed_config(saved: Mapping[str, Any], overrides: Mapping[str, Any]) -> TrainConfig:
    """A checkpoint's config (``saved``) with ``overrides``; only the :data:`RESUMABLE` keys
    may change.

    Raises
    ------
    InvalidArgument
        For an override of another key (spelt as ``ylg train``'s option).
    CheckpointError
        For a saved config that is not valid.
    """
    changed = {k: (saved.get(k), v) for k, v in overrides.items()
               if k not in RESUMABLE and saved.get(k) != v}
    if changed:  # the keys spelt as ylg train's options, which is how users give them

        def option(key: str) -> str:
            return "--" + key.replace("_", "-")

        what = "; ".join(f"{option(k)}: checkpoint {a!r}, asked {b!r}"
                         for k, (a, b) in changed.items())
        raise InvalidArgument(f"a resumed run cannot change {what} "
                              f"(it may change {', '.join(map(option, RESUMABLE))})")
    try:
        TrainConfig.from_dict(dict(saved))
    except (TypeError, InvalidArgument) as e:
        raise CheckpointError(f"checkpoint's config is not valid: {e}") from None
    return TrainConfig.from_dict({**saved, **overrides})
