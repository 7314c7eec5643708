"""Figures of the PyTorch stack: image grids (samples, latent walks), inversions, attention maps.

Images enter in the models' range [-1, 1]. The figures are :class:`matplotlib.figure.Figure`
objects built without pyplot (no display, no global state); write them with
:func:`ifg.render.save_figure`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ifg.errors import InvalidArgument
from ylg.data import from_model_range

__all__ = ["image_grid", "save_image_grid", "save_image", "head_names", "query_attention",
           "attention_figure", "inversion_figure", "loss_curves_figure"]


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


# --- inversion and attention figures ----------------------------------------------------------


def save_image(image, path) -> Path:
    """Save one image ``(c, h, w)`` or ``(1, c, h, w)`` in [-1, 1] as a PNG at its own size.

    Examples
    --------
    >>> import tempfile
    >>> p = save_image(torch.zeros(1, 1, 8, 8), Path(tempfile.mkdtemp()) / "x.png")
    >>> from PIL import Image; Image.open(p).size
    (8, 8)
    """
    from PIL import Image

    x = torch.as_tensor(image).detach().cpu()
    x = x[0] if x.ndim == 4 else x
    a = from_model_range(x).permute(1, 2, 0).numpy()  # (h, w, c) uint8
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).save(path)
    return path


def _display(image):
    """An image ``(c, h, w)`` in [-1, 1] as what ``imshow`` takes: ``(h, w)`` or ``(h, w, 3)``."""
    x = ((torch.as_tensor(image).detach().cpu().float() + 1) / 2).clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def _show(ax, image, title=None):
    a = _display(image)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def head_names(layer) -> list:
    """Figure labels of an attention layer's heads: ``head 0 (rtl:1)``, or ``head 0 (dense)``.

    Examples
    --------
    >>> from ylg.attention import Attention2d
    >>> head_names(Attention2d(16, heads=2))
    ['head 0 (dense)', 'head 1 (dense)']
    """
    if layer.masks is None:
        return [f"head {h} (dense)" for h in range(layer.heads)]
    return [f"head {h} ({head.pattern}:{head.step})" for h, head in enumerate(layer.masks.heads)]


def query_attention(attention, *, query, image_size, query_grid, key_grid) -> torch.Tensor:
    """Where one query pixel attends, per head, upsampled (nearest) to the image.

    Parameters
    ----------
    attention : torch.Tensor, (b, heads, Nq, Nk)
        Maps of an attention layer, queries row-major on ``query_grid``, keys on ``key_grid``.
    query : (int, int)
        A pixel ``(row, col)`` of the ``image_size x image_size`` image; it falls into the query
        cell ``(row * qh // image_size, col * qw // image_size)``.
    image_size : int
    query_grid, key_grid : tuple (h, w)

    Returns
    -------
    torch.Tensor, (b, heads, image_size, image_size)
        Each head's attention row of the query (it sums to 1 over the keys).

    Examples
    --------
    >>> attn = torch.zeros(1, 1, 16, 4); attn[0, 0, :, 3] = 1  # every query attends key (1, 1)
    >>> m = query_attention(attn, query=(0, 0), image_size=8, query_grid=(4, 4), key_grid=(2, 2))
    >>> m[0, 0, :, 4:].sum().item(), m[0, 0, 4:, :4].sum().item()
    (16.0, 0.0)
    """
    b, heads, nq, nk = attention.shape
    (qh, qw), (kh, kw) = query_grid, key_grid
    if qh * qw != nq or kh * kw != nk:
        raise InvalidArgument(f"grids {qh}x{qw} (queries) and {kh}x{kw} (keys) do not fit the "
                              f"attention's {nq} queries and {nk} keys")
    r, c = query
    if not (0 <= r < image_size and 0 <= c < image_size):
        raise InvalidArgument(f"query pixel ({r}, {c}) lies outside the {image_size}x"
                              f"{image_size} image")
    q = (r * qh // image_size) * qw + c * qw // image_size
    row = attention[:, :, q].reshape(b, heads, kh, kw)
    return torch.nn.functional.interpolate(row, size=(image_size, image_size), mode="nearest")


def _overlay(ax, image, heat, title=None, query=None):
    """The image in grey under a heat map (magma), each map scaled to its own maximum."""
    base = _display(image)
    base = base if base.ndim == 2 else base.mean(axis=2)
    h = torch.as_tensor(heat).detach().cpu().float().numpy()
    ax.imshow(base, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.imshow(h / h.max() if h.max() > 0 else h, cmap="magma", vmin=0, vmax=1, alpha=0.65,
              interpolation="nearest")
    if query is not None:
        ax.plot(query[1], query[0], marker="s", markersize=4, markerfacecolor="none",
                markeredgecolor="#00e5ff", markeredgewidth=1.2)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def attention_figure(image, maps, *, query, reconstruction=None, titles=None, saliency=None,
                     saliency_titles=None):
    """The paper's attention pictures: where a query pixel attends in each head, over the image.

    Top row: the image, the reconstruction (if given), then one panel per head of ``maps``. Bottom
    row (if ``saliency``): the discriminator's saliency maps over the image. Each heat map is
    scaled to its own maximum; the query pixel is the cyan square.

    Parameters
    ----------
    image : torch.Tensor, (c, h, w) in [-1, 1]
    maps : torch.Tensor, (heads, h, w)
        From :func:`query_attention`.
    query : (int, int)
    reconstruction : torch.Tensor, (c, h, w), optional
    titles : list of str, optional
        One per head.
    saliency : torch.Tensor, (heads_d, h, w), optional
    saliency_titles : list of str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = attention_figure(torch.zeros(1, 8, 8), torch.rand(2, 8, 8), query=(3, 3))
    >>> len(fig.axes)
    3
    """
    from matplotlib.figure import Figure

    top = 1 + (reconstruction is not None) + len(maps)
    bottom = 0 if saliency is None else len(saliency)
    cols, rows = max(top, bottom), 1 + (bottom > 0)
    fig = Figure(figsize=(1.35 * cols, 1.5 * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.flat:
        ax.set_axis_off()
    _show(axes[0, 0], image, "image")
    axes[0, 0].set_axis_on()
    axes[0, 0].plot(query[1], query[0], marker="s", markersize=4, markerfacecolor="none",
                    markeredgecolor="#00e5ff", markeredgewidth=1.2)
    col = 1
    if reconstruction is not None:
        _show(axes[0, 1], reconstruction, "G(z), inverted")
        axes[0, 1].set_axis_on()
        col = 2
    titles = titles or [f"head {h}" for h in range(len(maps))]
    for h, m in enumerate(maps):
        axes[0, col + h].set_axis_on()
        _overlay(axes[0, col + h], image, m, titles[h], query)
    if bottom:
        saliency_titles = saliency_titles or [f"D head {h}" for h in range(bottom)]
        for h, s in enumerate(saliency):
            axes[1, h].set_axis_on()
            _overlay(axes[1, h], image, s, f"saliency, {saliency_titles[h]}")
    return fig


def inversion_figure(real, reconstructions, metrics=None):
    """Real images and each method's reconstructions side by side.

    Parameters
    ----------
    real : torch.Tensor, (n, c, h, w) or (c, h, w), in [-1, 1]
    reconstructions : dict
        Method name -> images of the same shape.
    metrics : dict, optional
        Method name -> dict with ``psnr`` and ``ssim`` (floats for one image, shown in titles).

    Returns
    -------
    matplotlib.figure.Figure
        One image: a row (real, then the methods); several: a row per method, a column per image.

    Examples
    --------
    >>> fig = inversion_figure(torch.zeros(3, 1, 8, 8), {"pixel": torch.zeros(3, 1, 8, 8)})
    >>> len(fig.axes)
    6
    """
    from matplotlib.figure import Figure

    real = torch.as_tensor(real)
    if real.ndim == 3:
        names = ["real", *reconstructions]
        fig = Figure(figsize=(1.6 * len(names), 1.9), layout="constrained")
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        _show(axes[0], real, "real")
        for ax, (name, rec) in zip(axes[1:], reconstructions.items()):
            m = (metrics or {}).get(name)
            title = name if m is None else f"{name}\nPSNR {m['psnr']:.1f}, SSIM {m['ssim']:.2f}"
            _show(ax, torch.as_tensor(rec).reshape(real.shape), title)
        return fig
    n = real.shape[0]
    rows = ["real", *reconstructions]
    fig = Figure(figsize=(0.75 * n + 0.9, 0.8 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, name in enumerate(rows):
        images = real if r == 0 else torch.as_tensor(reconstructions[name])
        for i in range(n):
            _show(axes[r, i], images[i])
        axes[r, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    return fig


def loss_curves_figure(curves, *, kept=None):
    """Each method's loss along the optimisation: every start thin, the kept start bold.

    Parameters
    ----------
    curves : dict
        Method name -> ``(starts, steps + 1)`` losses.
    kept : dict, optional
        Method name -> the index of the kept start.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per method (the methods' losses have different units), log-scaled.

    Examples
    --------
    >>> fig = loss_curves_figure({"pixel": torch.rand(2, 5) + 1, "ylg": torch.rand(2, 5) + 1})
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.0 * len(curves), 2.4), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (name, c) in zip(axes, curves.items()):
        c = torch.as_tensor(c).detach().cpu().double().numpy()
        steps = np.arange(c.shape[1])
        for s in range(c.shape[0]):
            ax.plot(steps, c[s], color="0.7", linewidth=0.6)
        if kept is not None and name in kept:
            ax.plot(steps, c[kept[name]], color="#c0392b", linewidth=1.4, label="kept start")
            ax.legend(fontsize=6, frameon=False)
        if (c > 0).all():
            ax.set_yscale("log")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("step", fontsize=7)
        ax.set_ylabel("loss", fontsize=7)
        ax.tick_params(which="both", labelsize=6)
    return fig
