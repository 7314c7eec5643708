"""How close two images are: PSNR and SSIM, on images in [0, 1].

Both take batches ``(b, c, h, w)`` and return one value per image ``(b,)``, so that a batch of
reconstructions is scored against its targets in one call. They score images, not features; the
feature-space distances of inversion live in :mod:`ylg.invert`.

- PSNR: ``10 log10(1 / MSE)`` in dB (peak 1); identical images give ``inf``.
- SSIM (Wang, Bovik, Sheikh and Simoncelli 2004): local means, variances and covariance under a
  Gaussian window (11 taps, sigma 1.5), ``C1 = (0.01)^2``, ``C2 = (0.03)^2``, the map averaged
  over the positions where the window fits inside the image ("valid") and over the channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ifg.errors import InvalidArgument

__all__ = ["psnr", "ssim", "to_unit_range", "SSIM_WINDOW", "SSIM_SIGMA"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.shape != y.shape or x.ndim != 4:
        raise InvalidArgument(f"images must be two (b, c, h, w) batches of one shape, got "
                              f"{tuple(x.shape)} and {tuple(y.shape)}")
    return x.double(), y.double()


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the models' range) to [0, 1], clipped.

    Examples
    --------
    >>> to_unit_range(torch.tensor([-1.0, 0.0, 2.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return ((torch.as_tensor(x) + 1) / 2).clamp(0, 1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of each image pair, images in [0, 1] (peak 1).

    Parameters
    ----------
    x, y : torch.Tensor, (b, c, h, w)

    Returns
    -------
    torch.Tensor, (b,), float64
        ``inf`` where the images are identical.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 4, 4)
    >>> psnr(x, x + 0.1).round(decimals=6).tolist()  # MSE 0.01 -> 20 dB
    [20.0]
    """
    x, y = _check_pair(x, y)
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse)


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return g / g.sum()  # (size,)


def ssim(x: torch.Tensor, y: torch.Tensor, *, window: int = SSIM_WINDOW,
         sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Structural similarity of each image pair, images in [0, 1].

    Parameters
    ----------
    x, y : torch.Tensor, (b, c, h, w)
    window : int
        Gaussian window size (taps); the images must be at least this large.
    sigma : float

    Returns
    -------
    torch.Tensor, (b,), float64
        1 for identical images; at most 1.

    Raises
    ------
    InvalidArgument
        For unequal shapes, or images smaller than the window.

    Examples
    --------
    >>> x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> ssim(x, x).tolist()
    [1.0, 1.0]
    >>> bool((ssim(x, x.flip(0)) < 0.5).all())
    True
    """
    x, y = _check_pair(x, y)
    b, c, h, w = x.shape
    if min(h, w) < window:
        raise InvalidArgument(f"SSIM needs images of at least {window}x{window} pixels (its "
                              f"window), got {h}x{w}")
    g = _gaussian_window(window, sigma)
    # the 2-D Gaussian is separable: filter rows, then columns, every channel on its own
    rows = g.view(1, 1, 1, window).expand(c, 1, 1, window)
    cols = g.view(1, 1, window, 1).expand(c, 1, window, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
  # (b, c, h, w) -> (b, c, h - window + 1, w - window + 1), "valid"
        return F.conv2d(F.conv2d(t, rows, groups=c), cols, groups=c)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = _K1 ** 2, _K2 ** 2
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return ssim_map.flatten(1).mean(1)
