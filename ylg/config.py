"""The training configuration: :class:`TrainConfig`, everything a run needs.

It is saved into every checkpoint; :mod:`ylg.train` re-exports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ifg.errors import InvalidArgument
from ylg.augment import parse_policy
from ylg.metrics import parse_metrics
from ylg.models import attention_resolutions, attention_variants

__all__ = ["TrainConfig"]


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
    """

    out: str = "runs/ylg"
    data: str = "digits"             # "digits", an image folder, or an .npz
    channels: int | None = None      # None: the data's own (digits: 1)
    attention: str = "dense"         # none | dense | dense8 | ylg | ylg-no-esa | path to masks.npz
    attention_resolution: int | None = None  # None: the architecture's (16 at 32, 32 at 64/128)
    resolution: int = 32
    width: int = 64                  # channel multiplier; the paper's 64 (use 16 on a CPU)
    z_dim: int = 128
    steps: int = 10_000              # generator steps
    batch_size: int = 64             # global, split over the processes
    d_steps: int = 1                 # D steps per G step
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    ema_decay: float = 0.999
    diffaugment: str = ""            # e.g. "color,translation,cutout"
    seed: int = 0
    device: str = "auto"
    amp: bool = False                # bfloat16 autocast, CUDA only
    backend: str = "auto"            # the attention layer's backend
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    num_samples: int = 64
    tensorboard: bool = False
    eval_every: int = 0              # 0: never; else ylg.metrics on the EMA every N steps
    eval_metrics: str = "domain-fid,accuracy"  # names from ylg.metrics.METRICS
    eval_samples: int = 500

    def __post_init__(self):
        for name in ("resolution", "width", "z_dim", "steps", "batch_size", "d_steps",
                     "log_every", "sample_every", "checkpoint_every", "num_samples",
                     "eval_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InvalidArgument(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr_g", "lr_d"):
            if not getattr(self, name) > 0:
                raise InvalidArgument(f"{name} must be positive, got {getattr(self, name)!r}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and 0 <= self.ema_decay < 1):
            raise InvalidArgument(f"beta1, beta2 and ema_decay must lie in [0, 1), got "
                                  f"{self.beta1}, {self.beta2}, {self.ema_decay}")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) \
                or self.eval_every < 0:
            raise InvalidArgument(f"eval_every must be 0 (never) or a positive integer, got "
                                  f"{self.eval_every!r}")
        parse_metrics(self.eval_metrics)
        if self.channels not in (None, 1, 3):
            raise InvalidArgument(f"channels must be 1 or 3, got {self.channels!r}")
        parse_policy(self.diffaugment)
        if self.attention_resolution is not None and \
                self.attention_resolution not in attention_resolutions(self.resolution):
            raise InvalidArgument(
                f"attention_resolution must be one of "
                f"{', '.join(map(str, attention_resolutions(self.resolution)))} for a "
                f"{self.resolution}x{self.resolution} model, got {self.attention_resolution!r}")
        if not isinstance(self.attention, str) or not self.attention:
            raise InvalidArgument(f"attention must be one of {', '.join(attention_variants())} or "
                                  f"a mask file path, got {self.attention!r}")

    @classmethod
    def from_dict(cls, d) -> TrainConfig:
        """A config from a dict; unknown keys are an error (a typo never passes silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidArgument(f"unknown TrainConfig key(s): {', '.join(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
