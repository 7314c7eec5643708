"""The budget of an inversion (:class:`Budget`) and the published one (:data:`PUBLISHED`),
without torch: ``ylg invert --help`` shows their defaults when the program starts.
:mod:`ylg.invert` re-exports both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ifg.errors import InvalidArgument, check_positive_int

__all__ = ["Budget", "PUBLISHED"]


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
