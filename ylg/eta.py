"""How long a slow job will take, in words a user reads at a glance (seconds or minutes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ifg.errors import YLGError

__all__ = ["duration", "cpu_estimate", "ESTIMATE_AFTER", "ESTIMATE_WARN", "ESTIMATE_STOP",
           "TooLongOnCPU", "stop_if_long"]


def duration(seconds: float) -> str:
    """``"45 s"`` below a minute and a half, else whole minutes (``"8 min"``).

    Examples
    --------
    >>> duration(45.2), duration(89), duration(502)
    ('45 s', '89 s', '8 min')
    """
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


#: on a CPU, the run's time is estimated from the steps after the first (a warm-up) up to this one
ESTIMATE_AFTER = 3
#: a CPU run estimated longer than this (seconds) gets a warning with smaller settings
ESTIMATE_WARN = 3600.0
#: a CPU run estimated longer than this (seconds) stops after its estimate, unless asked to go on
#: (``TrainConfig.long_ok``, ``ylg train --long-ok``)
ESTIMATE_STOP = 3 * 3600.0


def cpu_estimate(seconds_per_step: float, remaining: int, peak_bytes: float, cfg: Any) -> str:
    """The message after ``ylg train``'s first steps on a CPU: time to go and peak memory, and a
    warning with smaller settings when the run would take more than :data:`ESTIMATE_WARN` s.

    ``cfg`` is the run's :class:`ylg.config.TrainConfig` (its ``width`` and ``batch_size``).

    Examples
    --------
    >>> from ylg.config import TrainConfig
    >>> cpu_estimate(0.5, 100, 2 ** 30, TrainConfig(steps=100))
    'estimate on this CPU: 100 steps at 0.50 s/step = 50 s to go (evaluations apart); peak memory 1.1 GB'
    >>> print(cpu_estimate(22.0, 10_000, 4e9, TrainConfig(resolution=128)))
    ... # doctest: +NORMALIZE_WHITESPACE
    estimate on this CPU: 10000 steps at 22.00 s/step = 61.1 h to go (evaluations apart); peak
    memory 4.0 GB
    warning: this run takes more than an hour on a CPU (width 64, batch size 64); for a first
    look try --width 16 --batch-size 16 (or fewer --steps, or a GPU); over 3 h it stops here
    unless given --long-ok
    """
    total = seconds_per_step * remaining
    took = duration(total) if total < 5400 else f"{total / 3600:.1f} h"
    line = (f"estimate on this CPU: {remaining} steps at {seconds_per_step:.2f} s/step = {took} "
            f"to go (evaluations apart); peak memory {peak_bytes / 1e9:.1f} GB")
    if total <= ESTIMATE_WARN:
        return line
    smaller = [f"--width {min(cfg.width, 16)}" if cfg.width > 16 else "",
               f"--batch-size {min(cfg.batch_size, 16)}" if cfg.batch_size > 16 else ""]
    advice = " ".join(a for a in smaller if a)
    advice = f"try {advice} (or fewer --steps, or a GPU)" if advice else \
        "try fewer --steps, or a GPU"
    stops = f"; over {ESTIMATE_STOP / 3600:.0f} h it stops here unless given --long-ok" \
        if total > ESTIMATE_STOP and not getattr(cfg, "long_ok", False) else ""
    return (f"{line}\nwarning: this run takes more than an hour on a CPU (width {cfg.width}, "
            f"batch size {cfg.batch_size}); for a first look {advice}{stops}")


class TooLongOnCPU(YLGError):
    """A CPU run estimated at more than :data:`ESTIMATE_STOP`, without ``long_ok``."""


def stop_if_long(seconds: float, step: int, long_ok: bool,
                 discard: Callable[[], object] | None = None) -> None:
    """Stop a CPU run whose estimate (``seconds`` to go after ``step``) is over
    :data:`ESTIMATE_STOP`, unless ``long_ok``; ``discard`` (a new run's) is called first.

    Raises
    ------
    TooLongOnCPU
        Saying the estimate and the first-look settings.
    """
    if seconds <= ESTIMATE_STOP or long_ok:
        return
    if discard is not None:
        discard()
    raise TooLongOnCPU(f"stopped after step {step}: this run would take {seconds / 3600:.1f} h "
                       f"on this CPU (over {ESTIMATE_STOP / 3600:.0f} h); for a first look try "
                       "smaller settings (--width 16, --batch-size 16, fewer --steps), or give "
                       "--long-ok to run it anyway")
