"""Figures of the PyTorch stack: image grids (samples, latent walks), inversions, attention maps.

Images enter in the models' range [-1, 1]. The figures are :class:`matplotlib.figure.Figure`
objects built without pyplot (no display, no global state); write them with
:func:`ifg.render.save_figure`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ifg.errors import InvalidArgument
from ylg.data import from_model_range

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from PIL import Image as PILImage
    from ylg.attention import Attention2d

__all__ = ["image_grid", "save_image_grid", "save_image", "head_names", "query_attention",
           "attention_figure", "inversion_figure", "loss_curves_figure", "read_log",
           "training_curves_figure", "plot_training"]


def image_grid(images: torch.Tensor, *, nrow: int | None = None,
               padding: int = 2) -> np.ndarray:
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


def save_image_grid(images: torch.Tensor, path: str | os.PathLike[str], *,
                    nrow: int | None = None, scale: int = 1,
                    labels: Sequence[object] | None = None) -> Path:
    """Save :func:`image_grid` as a PNG (``scale`` enlarges small images, nearest neighbour).

    ``labels`` names the columns (e.g. the class of each column of a class-conditional grid):
    written in a strip above them, cut to the column's width.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> p = save_image_grid(torch.zeros(4, 1, 8, 8), Path(tempfile.mkdtemp()) / "g.png", nrow=2,
    ...                     scale=4, labels=["zero", "one"])
    >>> Image.open(p).size  # 4 * (2 * (8 + 2) + 2) pixels square, and a 12-pixel label strip
    (88, 100)
    """
    from PIL import Image, ImageDraw

    grid = image_grid(images, nrow=nrow)
    im = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    if labels:
        n, _, _, w = torch.as_tensor(images).shape
        cols = nrow or math.ceil(math.sqrt(n))
        strip = Image.new(im.mode, (im.width, im.height + _LABEL_HEIGHT))
        strip.paste(im, (0, _LABEL_HEIGHT))
        draw = ImageDraw.Draw(strip)
        step = (w + 2) * scale  # a column and its gap (image_grid's padding 2)
        for c, label in enumerate(list(labels)[:cols]):
            text = str(label)[:max(1, step // 6)]  # the default font: about 6 pixels a letter
            draw.text((2 * scale + c * step, 1), text, fill=255 if im.mode == "L" else
                      (255, 255, 255))
        im = strip
    return _save_pil(im, path)


_LABEL_HEIGHT = 12  # pixels of the column-label strip of save_image_grid


# --- inversion and attention figures ----------------------------------------------------------


def save_image(image: torch.Tensor, path: str | os.PathLike[str]) -> Path:
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
    return _save_pil(Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a), path)


def _save_pil(im: PILImage.Image, path: str | os.PathLike[str]) -> Path:
    """``im.save(path)``, a suffix Pillow cannot write refused first (before any folder is made)."""
    from PIL import Image

    from ylg.errors import InvalidArgument

    path = Path(path)
    if path.suffix.lower() not in Image.registered_extensions():
        raise InvalidArgument(f"{path}: unknown image suffix {path.suffix!r} (use .png)")
    from ifg.files import atomic_write

    # a temporary file renamed over the name: never half an image, never through a link
    kind = Image.registered_extensions()[path.suffix.lower()]
    return atomic_write(path, lambda f: im.save(f, format=kind))


def _display(image: torch.Tensor) -> np.ndarray:
    """An image ``(c, h, w)`` in [-1, 1] as what ``imshow`` takes: ``(h, w)`` or ``(h, w, 3)``."""
    x = ((torch.as_tensor(image).detach().cpu().float() + 1) / 2).clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def _show(ax: Axes, image: torch.Tensor, title: str | None = None) -> None:
    a = _display(image)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def head_names(layer: Attention2d) -> list[str]:
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


def query_attention(attention: torch.Tensor, *, query: tuple[int, int], image_size: int,
                    query_grid: tuple[int, int], key_grid: tuple[int, int]) -> torch.Tensor:
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


def _overlay(ax: Axes, image: torch.Tensor, heat: torch.Tensor, title: str | None = None,
             query: tuple[int, int] | None = None) -> None:
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


def attention_figure(image: torch.Tensor, maps: torch.Tensor, *, query: tuple[int, int],
                     reconstruction: torch.Tensor | None = None,
                     titles: Sequence[str] | None = None, saliency: torch.Tensor | None = None,
                     saliency_titles: Sequence[str] | None = None,
                     saliency_note: str | None = None) -> Figure:
    """The paper's attention pictures: where a query pixel attends in each head, over the image.

    Top row: the image, the reconstruction (if given), then one panel per head of ``maps``. Bottom
    row (if ``saliency``): the discriminator's saliency maps over the image. Each heat map is
    scaled to its own maximum (the colour bar reads as that fraction); the query pixel is the
    cyan square.

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
    saliency_note : str, optional
        A line under the figure that says how to read the saliency row (e.g. how close the
        maps are to the mask's own map).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = attention_figure(torch.zeros(1, 8, 8), torch.rand(2, 8, 8), query=(3, 3))
    >>> len(fig.axes)  # the image, 2 heads, the colour bar
    4
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
    if saliency is not None and bottom:
        saliency_titles = saliency_titles or [f"D head {h}" for h in range(bottom)]
        for h, s in enumerate(saliency):
            axes[1, h].set_axis_on()
            _overlay(axes[1, h], image, s, f"saliency, {saliency_titles[h]}")
        if saliency_note:
            fig.supxlabel(saliency_note, fontsize=6)
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), "magma"), ax=axes, shrink=0.8,
                       fraction=0.03, pad=0.01)
    bar.set_label("fraction of the map's maximum", fontsize=6)
    bar.ax.tick_params(labelsize=6)
    return fig


def inversion_figure(real: torch.Tensor, reconstructions: Mapping[str, torch.Tensor],
                     metrics: Mapping[str, Mapping[str, Any]] | None = None) -> Figure:
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


def loss_curves_figure(curves: Mapping[str, torch.Tensor | np.ndarray], *,
                       kept: Mapping[str, int] | None = None) -> Figure:
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
            ax.plot(steps, c[s], color="0.7", linewidth=0.6,
                    label="every start" if s == 0 else None)
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


# --- training curves --------------------------------------------------------------------------


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    r"""The records of a run's ``log.jsonl`` (:func:`ylg.run.files.read_records`: a regular
    file of at most 64 MiB, typed records); a torn last line (a run killed mid-write) is skipped.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_text('{"step": 1, "loss_d": 2.0}\n{"step": 2, "lo')
    >>> read_log(p)
    [{'step': 1, 'loss_d': 2.0}]
    """
    from ylg.run.files import read_records

    return read_records(path)


_NOT_CURVES = ("step", "seconds", "steps_per_s", "samples", "real", "classifier_test_accuracy")


def training_curves_figure(records: Sequence[Mapping[str, Any]]) -> Figure:
    """The losses and each evaluation metric of a run against the training step.

    Parameters
    ----------
    records : list of dict
        :func:`read_log`'s: loss lines (``step``, ``loss_d``, ``loss_g``, ...) and evaluation
        lines (``step``, ``eval``: {metric: value}).

    Returns
    -------
    matplotlib.figure.Figure
        A panel of the losses (D's and G's hinge losses and D's mean outputs), then a panel per
        metric (``kid``'s spread as error bars).

    Raises
    ------
    InvalidArgument
        When the records hold no loss and no metric.

    Examples
    --------
    >>> rec = [{"step": 10, "loss_d": 1.9, "loss_g": 0.2},
    ...        {"step": 10, "eval": {"domain-fid": 80.0, "samples": 500}},
    ...        {"step": 20, "loss_d": 1.7, "loss_g": 0.4},
    ...        {"step": 20, "eval": {"domain-fid": 60.0, "samples": 500}}]
    >>> [ax.get_title() for ax in training_curves_figure(rec).axes]
    ['losses', 'domain-fid']
    """
    from matplotlib.figure import Figure

    losses = [r for r in records if "eval" not in r]
    evals = [r for r in records if isinstance(r.get("eval"), dict)]
    loss_keys = list(dict.fromkeys(k for r in losses for k, v in r.items()
                                   if k not in _NOT_CURVES and isinstance(v, (int, float))))
    metrics = list(dict.fromkeys(k for r in evals for k, v in r["eval"].items()
                                 if k not in _NOT_CURVES and not k.endswith("_std")
                                 and isinstance(v, (int, float)) and not isinstance(v, bool)))
    panels = (["losses"] if loss_keys else []) + metrics
    if not panels:
        raise InvalidArgument("the log holds no losses and no evaluations to draw")
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flat
    for ax, panel in zip(axes, panels):
        if panel == "losses":
            for k in loss_keys:
                pts = [(r["step"], r[k]) for r in losses if k in r]
                ax.plot(*zip(*pts), linewidth=1.0, label=k)
            ax.legend(fontsize=6, frameon=False)
            ax.set_ylabel("hinge loss / mean D output", fontsize=7)
        else:
            found = [(r["step"], r["eval"][panel], r["eval"].get(panel + "_std")) for r in evals
                     if panel in r["eval"]]
            steps, values, spread = zip(*found)

            if all(s is not None for s in spread):
                ax.errorbar(steps, values, yerr=spread, marker="o", markersize=3, capsize=2)
            else:
                ax.plot(steps, values, marker="o", markersize=3)
            ax.set_ylabel(panel, fontsize=7)
        ax.set_title(panel, fontsize=8)
        ax.set_xlabel("step", fontsize=7)
        ax.tick_params(which="both", labelsize=6)
        ax.grid(alpha=0.3)
    for ax in list(axes):  # the empty cells of the last row
        ax.set_axis_off()
    return fig


def plot_training(run_dir: str | os.PathLike[str],
                  out: str | os.PathLike[str] | None = None) -> Path:
    r"""Draw a run's training curves (:func:`training_curves_figure`) into ``run_dir/curves.png``.

    Parameters
    ----------
    run_dir : path
        A folder written by ``ylg train`` (its ``log.jsonl``).
    out : path, optional
        Another figure file (PNG, SVG or PDF).

    Returns
    -------
    Path
        The figure written.

    Raises
    ------
    InvalidArgument
        When the folder has no ``log.jsonl``, or the log nothing to draw.

    Examples
    --------
    >>> import tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = (run / "log.jsonl").write_text('{"step": 1, "loss_d": 2.0, "loss_g": 0.1}\n')
    >>> plot_training(run).name
    'curves.png'
    """
    from ifg.render import save_figure

    from ylg.run.files import refuse_links

    log = Path(run_dir) / "log.jsonl"
    if not os.path.lexists(log):
        raise InvalidArgument(f"{str(run_dir)!r} is not a run folder: it has no log.jsonl")
    refuse_links(run_dir)  # curves.png is written in it, never through a link
    path = Path(out) if out is not None else Path(run_dir) / "curves.png"
    save_figure(training_curves_figure(read_log(log)), path, dpi=110)
    return path
