"""Figures of the PyTorch stack: image grids (samples, latent walks)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ylg.data import from_model_range

__all__ = ["image_grid", "save_image_grid"]


def image_grid(images, *, nrow=None, padding=2) -> np.ndarray:
    """Tile images ``(n, c, h, w)`` in [-1, 1] into one uint8 picture ``(H, W, c)``.

    ``nrow`` is the number of images per row (default: a square grid). Gaps are black.

    Examples
    --------
    >>> image_grid(torch.zeros(6, 3, 4, 4), nrow=3).shape
    (14, 20, 3)
    """
    images = from_model_range(torch.as_tensor(images).detach().cpu())  # (n, c, h, w) uint8
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.zeros(c, rows * (h + padding) + padding, nrow * (w + padding) + padding,
                       dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = images[i]
    return grid.permute(1, 2, 0).numpy()


def save_image_grid(images, path, *, nrow=None, scale=1) -> Path:
    """Save :func:`image_grid` as a PNG (``scale`` enlarges small images, nearest neighbour).

    Examples
    --------
    >>> import tempfile
    >>> save_image_grid(torch.zeros(4, 1, 8, 8), Path(tempfile.mkdtemp()) / "g.png").suffix
    '.png'
    """
    from PIL import Image

    grid = image_grid(images, nrow=nrow)
    im = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path
