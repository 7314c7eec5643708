"""Inversion: find ``z`` such that ``G(z, y)`` matches a real image (SPEC section 8).

Three objectives, each minimised over ``z`` with Adam from several truncated-normal starts:

=================  ==========================================================================
``pixel``          the baseline: ``||x - G(z, y)||_2`` on the images
``discriminator``  ``||D0(x) - D0(G(z, y))||_2``, with ``D0`` the discriminator up to (not
                   including) its attention layer
``ylg``            ``sum_h ||(D0(x) - D0(G(z, y))) * s_h||_2``, with ``s_h`` the saliency map of
                   head ``h`` of D's attention on the real image (:func:`saliency_maps`)
=================  ==========================================================================

The saliency of a key is the mean attention it receives over the queries allowed to attend it
(for dense heads: all queries), on the key grid, upsampled (nearest) to ``D0``'s grid. The
published code sums the four ``rtl`` heads of the YLG layer; that is the default here
(:func:`default_heads`), and a dense layer (SAGAN) uses all its heads. A discriminator without an
attention layer has no saliency: ``ylg`` is refused, and ``discriminator`` takes ``D0`` at the grid
where the layer would sit (the model's ``attention_resolution``).

Published settings (the defaults): Adam with learning rate 0.07, 1,000 steps, 8 starts per image
drawn from a normal truncated at +-2, class label given. When no class is given, every class is
tried and the best (class, start) kept. Two choices of this implementation: the starts run as
one batch, each minimising its own loss (the published code takes one norm over the batch of
starts); and each start keeps the lowest-loss ``z`` it visited (Adam at 0.07 can overshoot), the
kept start being the one with the lowest loss. The published code also wraps Adam in Lookahead
(k = 5, alpha = 0.5); the SPEC names Adam, which is what runs here.

The generator and discriminator run in eval mode (BatchNorm statistics and spectral-norm vectors
frozen); only ``z`` receives gradients.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ifg.errors import InvalidArgument, check_positive_int
from ylg.errors import DataError
from ylg.similarity import psnr, ssim, to_unit_range

__all__ = ["METHODS", "PUBLISHED", "Inversion", "default_heads", "key_counts", "saliency_maps",
           "discriminator_saliency", "feature_distance", "invert", "score", "load_image",
           "load_models", "target_image", "invert_to_folder", "parse_head_indices",
           "parse_query", "draw_attention_map", "attention_map_figure"]

METHODS = ("pixel", "discriminator", "ylg")

#: the published inversion settings (the official code's flags)
PUBLISHED = {"lr": 0.07, "steps": 1000, "starts": 8}


@dataclass(frozen=True, eq=False)
class Inversion:
    """The result of :func:`invert` for a batch of ``n`` target images.

    Attributes
    ----------
    method : str
    z : torch.Tensor, (n, z_dim)
        The kept latent of each image.
    labels : torch.Tensor, int64, (n,)
        The class of the kept start (the given class, or the best one found).
    images : torch.Tensor, (n, c, h, w)
        ``G(z, labels)`` in [-1, 1].
    loss : torch.Tensor, (n,)
        The method's own loss at the kept ``z``.
    curves : torch.Tensor, (n, classes, starts, steps + 1)
        Every start's loss before each update and after the last.
    kept : torch.Tensor, int64, (n, 2)
        The (class slot, start) that was kept; ``curves[i, kept[i, 0], kept[i, 1]]`` is its curve.
    heads : tuple of int
        The D heads whose saliency weighted the loss (``ylg``); empty for the other methods.
    seconds : float
        Wall time of the optimisation (all images and starts together).
    notes : tuple of str
        What the run had to decide for the user (e.g. where ``D0`` stops without attention).
    """

    method: str
    z: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor
    loss: torch.Tensor
    curves: torch.Tensor
    kept: torch.Tensor
    heads: tuple = ()
    seconds: float = 0.0
    notes: tuple = field(default=())

    def kept_curves(self) -> torch.Tensor:
        """The kept start's loss curve of each image, ``(n, steps + 1)``."""
        i = torch.arange(self.curves.shape[0])
        return self.curves[i, self.kept[:, 0], self.kept[:, 1]]


def default_heads(D) -> tuple:
    """The published head selection for the ``ylg`` loss: the ``rtl`` heads of a YLG layer.

    A dense layer (SAGAN, one or eight heads) and a mask set without ``rtl`` heads use all their
    heads; a discriminator without attention has none.

    Examples
    --------
    >>> from ylg.models import Discriminator
    >>> default_heads(Discriminator(resolution=32, width=16, channels=1, attention="ylg"))
    (0, 1, 2, 3)
    >>> default_heads(Discriminator(resolution=32, width=4, channels=1, attention="dense"))
    (0,)
    """
    layer = D.attention
    if layer is None:
        return ()
    if layer.masks is not None:
        rtl = tuple(h for h, head in enumerate(layer.masks.heads) if head.pattern == "rtl")
        if rtl:
            return rtl
    return tuple(range(layer.heads))


def key_counts(layer) -> torch.Tensor:
    """How many queries may attend each key, per head: ``(heads, Nk)``, float.

    Dense heads: every query (``Nq``). Masked heads: the column sums of each head's mask.

    Examples
    --------
    >>> from ylg.attention import Attention2d
    >>> from ifg.maskset import preset
    >>> layer = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))
    >>> c = key_counts(layer)
    >>> tuple(c.shape), int(c.sum(1)[0]) == int(layer.masks.masks[0].nnz)
    ((8, 16), True)
    """
    if layer.masks is None:
        raise InvalidArgument("a dense layer needs the grid sizes: every query attends every key "
                              "(pass counts=None to saliency_maps)")
    counts = np.stack([np.asarray(m.sum(axis=0), dtype=np.float64).ravel()
                       for m in layer.masks.masks])
    return torch.from_numpy(counts).float()


def saliency_maps(attention, *, key_grid, counts=None, size=None) -> torch.Tensor:
    """Per-head saliency: each key's mean attention over the queries allowed to attend it.

    Parameters
    ----------
    attention : torch.Tensor, (b, heads, Nq, Nk)
        Attention maps (rows sum to 1; masked entries 0), keys row-major on ``key_grid``.
    key_grid : tuple (kh, kw)
    counts : torch.Tensor, (heads, Nk), optional
        Queries allowed to attend each key (:func:`key_counts`); None: dense, all ``Nq``.
        A key no query may attend gets saliency 0.
    size : tuple (h, w), optional
        Upsample (nearest) to this grid, e.g. ``D0``'s.

    Returns
    -------
    torch.Tensor, (b, heads, kh, kw) or (b, heads, h, w)

    Examples
    --------
    >>> uniform = torch.full((1, 1, 16, 4), 0.25)  # 16 queries, 4 keys on a 2x2 grid
    >>> saliency_maps(uniform, key_grid=(2, 2), size=(4, 4))[0, 0]
    tensor([[0.2500, 0.2500, 0.2500, 0.2500],
            [0.2500, 0.2500, 0.2500, 0.2500],
            [0.2500, 0.2500, 0.2500, 0.2500],
            [0.2500, 0.2500, 0.2500, 0.2500]])
    """
    b, heads, nq, nk = attention.shape
    kh, kw = key_grid
    if kh * kw != nk:
        raise InvalidArgument(f"key_grid {kh}x{kw} does not hold the attention's {nk} keys")
    received = attention.sum(dim=2)  # (b, heads, nk)
    if counts is None:
        s = received / nq
    else:
        counts = torch.as_tensor(counts, dtype=received.dtype, device=received.device)
        if counts.shape != (heads, nk):
            raise InvalidArgument(f"counts must have shape ({heads}, {nk}), got "
                                  f"{tuple(counts.shape)}")
        s = torch.where(counts > 0, received / counts.clamp(min=1), torch.zeros_like(received))
    s = s.reshape(b, heads, kh, kw)
    if size is not None and tuple(size) != (kh, kw):
        s = F.interpolate(s, size=tuple(size), mode="nearest")
    return s


def _features_and_attention(D, x):
    """``D0(x)`` ``(b, c, a, a)`` and D's attention on it ``(b, heads, Nq, Nk)``."""
    f = D.features_before_attention(x)
    _, attn = D.attention(f, return_attention=True)
    return f, attn


@torch.no_grad()
def discriminator_saliency(D, x, *, heads=None) -> torch.Tensor:
    """Saliency maps of D's attention layer on images ``x``, at ``D0``'s grid.

    Parameters
    ----------
    D : ylg.models.Discriminator
        With an attention layer.
    x : torch.Tensor, (b, c, res, res) in [-1, 1]
    heads : sequence of int, optional
        Which heads (default: all).

    Returns
    -------
    torch.Tensor, (b, len(heads), a, a)

    Examples
    --------
    >>> from ylg.models import Discriminator
    >>> D = Discriminator(resolution=32, width=16, channels=1, attention="ylg").eval()
    >>> discriminator_saliency(D, torch.zeros(2, 1, 32, 32), heads=(0, 1)).shape
    torch.Size([2, 2, 16, 16])
    """
    layer = _check_attention(D)
    heads = _check_heads(heads, layer.heads)
    f, attn = _features_and_attention(D, x)
    counts = None if layer.masks is None else key_counts(layer).to(attn.device)
    a = f.shape[-2:]
    key_grid = (a[0] // layer.pool, a[1] // layer.pool)
    s = saliency_maps(attn, key_grid=key_grid, counts=counts, size=a)
    return s[:, list(heads)]


def _check_attention(D):
    if D.attention is None:
        raise InvalidArgument("the discriminator has no attention layer, so it has no saliency "
                              "maps: the ylg method needs them (use discriminator or pixel)")
    return D.attention


def _check_heads(heads, n):
    if heads is None:
        return tuple(range(n))
    heads = tuple(heads)
    if not heads or any(isinstance(h, bool) or not isinstance(h, int) or not 0 <= h < n
                        for h in heads):
        raise InvalidArgument(f"heads must be indices in 0..{n - 1}, got {list(heads)!r}")
    return heads


@torch.no_grad()
def feature_distance(D, x, y) -> torch.Tensor:
    """``||D0(x) - D0(y)||_2`` per image pair, ``(b,)`` (the ``discriminator`` loss).

    Examples
    --------
    >>> from ylg.models import Discriminator
    >>> D = Discriminator(resolution=32, width=4, channels=1, attention="dense").eval()
    >>> x = torch.zeros(2, 1, 32, 32)
    >>> feature_distance(D, x, x).tolist()
    [0.0, 0.0]
    """
    return (D.features_before_attention(x) - D.features_before_attention(y)).flatten(1).norm(dim=1)


def _objective(method, G, D, x, heads):
    """``loss(z, y) -> (B,)`` for targets ``x`` ``(B, c, h, w)`` (one per start)."""
    if method == "pixel":
        return lambda z, y: (x - G(z, y)).flatten(1).norm(dim=1)
    with torch.no_grad():
        fx = D.features_before_attention(x)  # (B, c, a, a), fixed
    if method == "discriminator":
        return lambda z, y: (fx - D.features_before_attention(G(z, y))).flatten(1).norm(dim=1)
    s = discriminator_saliency(D, x, heads=heads)  # (B, H, a, a), of the real image, fixed

    def ylg_loss(z, y):
        diff = fx - D.features_before_attention(G(z, y))  # (B, c, a, a)
        # one weighted norm per head, summed: (B, H, c, a, a) -> (B, H) -> (B,)
        return (diff[:, None] * s[:, :, None]).flatten(2).norm(dim=2).sum(1)

    return ylg_loss


def invert(G, D, x, *, label=None, method="ylg", steps=PUBLISHED["steps"], lr=PUBLISHED["lr"],
           starts=PUBLISHED["starts"], heads=None, seed=0, progress=False) -> Inversion:
    """Invert images: the best ``z`` (and class) found for each by one method.

    Parameters
    ----------
    G : ylg.models.Generator
        Use the EMA generator of a checkpoint (:func:`load_models`).
    D : ylg.models.Discriminator
        Needed by ``discriminator`` and ``ylg`` (may be None for ``pixel``).
    x : torch.Tensor, (n, c, res, res)
        Target images in [-1, 1], at G's resolution and channels.
    label : int, sequence of int, torch.Tensor (n,), or None
        The class of each image; None tries every class and keeps the best.
    method : {"pixel", "discriminator", "ylg"}
    steps : int
        Adam updates per start.
    lr : float
    starts : int
        Random starts per image (and class), truncated normal on [-2, 2].
    heads : sequence of int, optional
        D heads whose saliency weights the ``ylg`` loss (default: :func:`default_heads`).
    seed : int
        Seeds the starts: the same seed gives every method (and every class tried) the same
        starts.
    progress : bool
        A progress bar on stderr.

    Returns
    -------
    Inversion

    Raises
    ------
    InvalidArgument
        For an unknown method, bad budget, images that do not fit G, a class out of range, heads
        out of range, or ``ylg`` with a discriminator that has no attention layer.

    Examples
    --------
    >>> from ylg.models import Discriminator, Generator
    >>> G = Generator(resolution=32, width=4, channels=1, attention="dense").eval()
    >>> D = Discriminator(resolution=32, width=4, channels=1, attention="dense").eval()
    >>> inv = invert(G, D, torch.zeros(1, 1, 32, 32), label=3, method="ylg", steps=2, starts=2)
    >>> inv.images.shape, inv.labels.tolist(), inv.curves.shape
    (torch.Size([1, 1, 32, 32]), [3], torch.Size([1, 1, 2, 3]))
    """
    if method not in METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    steps = check_positive_int("steps", steps)
    starts = check_positive_int("starts", starts)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InvalidArgument(f"lr must be a positive number, got {lr!r}")
    x = torch.as_tensor(x)
    res = _resolution(G)
    if x.ndim != 4 or x.shape[1] != G.channels or x.shape[-2:] != (res, res):
        raise InvalidArgument(f"images must have shape (n, {G.channels}, {res}, {res}) for this "
                              f"generator, got {tuple(x.shape)}")
    notes = []
    if method != "pixel" and D is None:
        raise InvalidArgument(f"the {method} method needs the discriminator")
    if method == "ylg":
        layer = _check_attention(D)
        heads = default_heads(D) if heads is None else _check_heads(heads, layer.heads)
    else:
        heads = ()
        if method == "discriminator" and D.attention is None:
            a = D.attention_resolution
            notes.append(f"the discriminator has no attention layer: D0 is D up to the {a}x{a} "
                         f"grid, where the layer would sit")
    device = next(G.parameters()).device
    x = x.to(device).float()
    n, k = x.shape[0], 1 if label is not None else G.num_classes
    classes = _labels(label, n, G.num_classes).to(device)  # (n, k)
    b = n * k * starts
    # layout of the batch: image-major, then class, then start
    y = classes.repeat_interleave(starts, dim=1).reshape(b)
    targets = x.repeat_interleave(k * starts, dim=0)  # (b, c, res, res)
    gen = torch.Generator().manual_seed(seed)
    z0 = torch.nn.init.trunc_normal_(torch.empty(n, 1, starts, G.z_dim), a=-2.0, b=2.0,
                                     generator=gen)
    z0 = z0.expand(n, k, starts, G.z_dim).reshape(b, G.z_dim)  # every class tries the same starts
    nets = [m for m in (G, D) if m is not None]
    modes = [m.training for m in nets]
    for m in nets:
        m.eval()
    try:
        t0 = time.perf_counter()
        loss_of = _objective(method, G, D, targets, heads)
        best_z, best_loss, curves = _adam(loss_of, z0.to(device), y, steps=steps, lr=lr,
                                          progress=progress, desc=method)
        seconds = time.perf_counter() - t0
        # the kept start of each image: the lowest loss over its classes and starts
        pick = best_loss.view(n, k * starts).argmin(dim=1)  # (n,)
        rows = torch.arange(n, device=device) * k * starts + pick
        z, labels = best_z[rows], y[rows]
        with torch.no_grad():
            images = G(z, labels)
    finally:
        for m, mode in zip(nets, modes):
            m.train(mode)
    return Inversion(method=method, z=z.cpu(), labels=labels.cpu(), images=images.cpu(),
                     loss=best_loss[rows].cpu(),
                     curves=curves.T.reshape(n, k, starts, steps + 1).cpu(),
                     kept=torch.stack([pick // starts, pick % starts], dim=1).cpu(),
                     heads=tuple(heads), seconds=seconds, notes=tuple(notes))


def _labels(label, n, num_classes):
    """The classes to try per image, ``(n, k)``: the given class (k = 1), or all (k = classes)."""
    if label is None:
        return torch.arange(num_classes).expand(n, num_classes)
    t = torch.as_tensor(label)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise InvalidArgument(f"label must be an integer class, got {label!r}")
    t = t.long().reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise InvalidArgument(f"label must be one class or one per image ({n}), got {t.numel()}")
    bad = t[(t < 0) | (t >= num_classes)]
    if bad.numel():
        raise InvalidArgument(f"class {int(bad[0])} is outside 0..{num_classes - 1}")
    return t.reshape(n, 1)


def _adam(loss_of, z0, y, *, steps, lr, progress, desc):
    """Adam on ``z`` for the summed per-start losses; each start keeps its lowest-loss ``z``.

    Returns ``best_z (B, z_dim)``, ``best_loss (B,)`` and the curves ``(steps + 1, B)``.
    """
    from tqdm import tqdm

    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    best_z, best_loss = z0.clone(), torch.full((len(z0),), float("inf"), device=z0.device)
    curves = torch.empty(steps + 1, len(z0), device=z0.device)
    for t in tqdm(range(steps + 1), disable=not progress, desc=desc, unit="step",
                  dynamic_ncols=True, file=sys.stderr, leave=False):
        loss = loss_of(z, y)  # (B,), the loss at the current z
        with torch.no_grad():
            curves[t] = loss
            better = loss < best_loss
            best_loss = torch.where(better, loss, best_loss)
            best_z[better] = z[better]
        if t == steps:
            break
        # gradients for z only: the networks' weights need none
        (grad,) = torch.autograd.grad(loss.sum(), z)
        z.grad = grad
        opt.step()
    return best_z.detach(), best_loss, curves


@torch.no_grad()
def score(inversion, x, D=None) -> dict:
    """PSNR, SSIM (on [0, 1]) and, with D, the feature distance of each reconstruction.

    Parameters
    ----------
    inversion : Inversion
    x : torch.Tensor, (n, c, h, w) in [-1, 1]
        The targets.
    D : ylg.models.Discriminator, optional

    Returns
    -------
    dict
        ``psnr``, ``ssim`` and ``feature_distance`` (if D), each a list of n floats.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 16, 16)
    >>> zero = torch.zeros(1, dtype=torch.long)
    >>> inv = Inversion("pixel", torch.zeros(1, 4), zero, x + 0.2, torch.zeros(1),
    ...                 torch.zeros(1, 1, 1, 2), torch.zeros(1, 2, dtype=torch.long))
    >>> [round(v, 3) for v in score(inv, x)["psnr"]]  # MSE of 0.1 on [0, 1] -> 20 dB
    [20.0]
    """
    x = torch.as_tensor(x).cpu().float()
    rec = inversion.images.cpu().float()
    out = {"psnr": psnr(to_unit_range(x), to_unit_range(rec)).tolist(),
           "ssim": ssim(to_unit_range(x), to_unit_range(rec)).tolist()}
    if D is not None:
        dev = next(D.parameters()).device
        was = D.training
        D.eval()
        out["feature_distance"] = feature_distance(D, x.to(dev), rec.to(dev)).cpu().tolist()
        D.train(was)
    return out


# --- reading targets and models ---------------------------------------------------------------


def load_image(path, *, resolution, channels) -> tuple:
    """One image file as the model sees it: ``(x (1, c, res, res) in [-1, 1], notes)``.

    Centre-cropped to a square and resized (bicubic) when its size differs; a grey image for a
    colour model (or the reverse) is converted, and the notes say so.

    Raises
    ------
    DataError
        When the file is missing or not a readable image.

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> PIL.Image.new("RGB", (40, 30), "white").save(p)
    >>> x, notes = load_image(p, resolution=32, channels=1)
    >>> tuple(x.shape), x.max().item(), len(notes)
    ((1, 1, 32, 32), 1.0, 2)
    """
    from PIL import UnidentifiedImageError

    from ylg.data import decode_image, to_model_range

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {str(path)!r} does not exist")
    try:
        a, size, grey = decode_image(path, resolution, channels)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"cannot read image {str(path)!r}: {type(e).__name__}: {e}") from None
    notes = []
    if size != (resolution, resolution):
        notes.append(f"the image is {size[0]}x{size[1]}; centre-cropped and resized to the "
                     f"model's {resolution}x{resolution}")
    if grey and channels == 3:
        notes.append("the image is grey and the model colour: grey replicated to RGB")
    elif not grey and channels == 1:
        notes.append("the image is colour and the model grey: converted to grey (luma)")
    return to_model_range(torch.from_numpy(a)[None]), notes


def load_models(checkpoint, *, device="cpu") -> tuple:
    """The EMA generator and the discriminator of a checkpoint, in eval mode, and its info.

    Returns
    -------
    (Generator, Discriminator, dict)
        The dict holds ``step``, ``class_names`` and ``config`` (the training config).

    Raises
    ------
    CheckpointError
        For a missing, corrupt or mismatched checkpoint.
    """
    from ylg.checkpoint import load_checkpoint, models_from_checkpoint

    state = load_checkpoint(checkpoint)
    _, D, ema = models_from_checkpoint(state, device=device)
    for m in (D, ema):
        m.requires_grad_(False)  # inversion trains z only
    info = {"step": int(state["step"]), "class_names": list(state.get("class_names") or []),
            "config": dict(state.get("config") or {})}
    return ema.eval(), D.eval(), info


def target_image(G, *, image=None, test_index=None) -> tuple:
    """The target of an inversion: an image file or a held-out digit.

    Returns
    -------
    (torch.Tensor (1, c, res, res), int or None, str, list of str)
        The image in [-1, 1], its true class (digits only), where it came from, and notes.
    """
    from ylg.data import digits, to_model_range

    res = 4 * 2 ** len(G.blocks)
    if (image is None) == (test_index is None):
        raise InvalidArgument("give exactly one of image and test_index")
    if image is not None:
        x, notes = load_image(image, resolution=res, channels=G.channels)
        return x, None, str(image), notes
    test = digits(resolution=res, split="test", channels=G.channels)
    if isinstance(test_index, bool) or not isinstance(test_index, int) or \
            not 0 <= test_index < len(test):
        raise InvalidArgument(f"test_index must lie in 0..{len(test) - 1} (the digits test "
                              f"split), got {test_index!r}")
    x = to_model_range(test.images[test_index:test_index + 1])
    return x, int(test.labels[test_index]), f"digits:test[{test_index}]", []


def _resolution(G):
    return 4 * 2 ** len(G.blocks)


def invert_to_folder(checkpoint, out, *, image=None, test_index=None, label="own",
                     methods=METHODS, steps=PUBLISHED["steps"], lr=PUBLISHED["lr"],
                     starts=PUBLISHED["starts"], heads=None, seed=0, device="cpu",
                     progress=False) -> dict:
    """Invert one image with each method and write the results to a folder.

    Writes ``real.png`` (the target as the model sees it), ``reconstruction_<method>.png``,
    ``comparison.png`` (the methods side by side), ``loss_curves.png`` and ``inversion.json``
    (PSNR, SSIM, feature distance, loss, class, time and kept ``z`` of each method).

    Parameters
    ----------
    checkpoint : path
    out : path
        The output folder (created).
    image, test_index
        The target: an image file, or an index into the digits test split.
    label : int, None or "own"
        The class; None tries every class; ``"own"`` takes a test digit's label (and tries every
        class for an image file).
    methods : sequence of str
        Methods to run; a method the model cannot run (``ylg`` without D attention) is refused
        when asked alone, and skipped with a note when others run.
    steps, lr, starts, heads, seed, progress
        As :func:`invert`; every method gets the same starts and budget.
    device : str or torch.device

    Returns
    -------
    dict
        What ``inversion.json`` holds.
    """
    from ylg.viz import inversion_figure, loss_curves_figure, save_image
    from ifg.render import save_figure

    G, D, info = load_models(checkpoint, device=device)
    x, true_label, source, notes = target_image(G, image=image, test_index=test_index)
    if label == "own":
        label = true_label
    methods = _check_methods(methods)
    if "ylg" in methods and D.attention is None:
        if len(methods) == 1:
            _check_attention(D)
        methods = tuple(m for m in methods if m != "ylg")
        notes.append("the discriminator has no attention layer: the ylg method is skipped")
    if heads is not None and D.attention is not None:
        heads = _check_heads(heads, D.attention.heads)  # before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_image(x, out / "real.png")
    results, report = {}, {}
    for method in methods:
        inv = invert(G, D, x, label=label, method=method, steps=steps, lr=lr, starts=starts,
                     heads=heads, seed=seed, progress=progress)
        results[method] = inv
        metrics = {k: v[0] for k, v in score(inv, x, D).items()}
        save_image(inv.images, out / f"reconstruction_{method}.png")
        report[method] = {**metrics, "loss": float(inv.loss[0]), "class": int(inv.labels[0]),
                          "seconds": round(inv.seconds, 3), "heads": list(inv.heads),
                          "kept_start": inv.kept[0].tolist(),
                          "loss_curve": inv.kept_curves()[0].tolist(),
                          "z": inv.z[0].tolist()}
        notes.extend(n for n in inv.notes if n not in notes)
    fig = inversion_figure(x[0], {m: r.images[0] for m, r in results.items()},
                           {m: report[m] for m in results})
    save_figure(fig, out / "comparison.png")
    save_figure(loss_curves_figure({m: r.curves[0].flatten(0, 1) for m, r in results.items()},
                                   kept={m: int(r.kept[0, 0] * starts + r.kept[0, 1])
                                         for m, r in results.items()}),
                out / "loss_curves.png")
    summary = {
        "checkpoint": str(checkpoint), "step": info["step"], "target": source,
        "true_class": true_label, "class_given": label is not None,
        "resolution": _resolution(G), "channels": G.channels,
        "settings": {"steps": steps, "lr": lr, "starts": starts, "seed": seed,
                     "heads": None if heads is None else list(heads)},
        "notes": notes, "methods": report,
    }
    (out / "inversion.json").write_text(json.dumps(summary, indent=1))
    return summary


def _check_methods(methods):
    if isinstance(methods, str):
        methods = METHODS if methods == "all" else (methods,)
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InvalidArgument(f"method must be one of {', '.join(METHODS)} or all, got "
                              f"{bad[0] if bad else methods!r}")
    return methods


def parse_head_indices(text) -> tuple | None:
    """``"0,1,2,3"`` -> ``(0, 1, 2, 3)``; None or empty -> None (the default heads).

    Examples
    --------
    >>> parse_head_indices("0, 2"), parse_head_indices(None)
    ((0, 2), None)
    """
    if text is None or not str(text).strip():
        return None
    try:
        heads = tuple(int(h) for h in str(text).split(","))
    except ValueError:
        raise InvalidArgument(f"heads must be integers separated by commas, got {text!r}") \
            from None
    if any(h < 0 for h in heads):
        raise InvalidArgument(f"heads must be non-negative, got {text!r}")
    return heads


def parse_query(text, *, resolution) -> tuple:
    """``"R,C"`` -> ``(R, C)``, a pixel of the model's ``resolution x resolution`` image.

    Examples
    --------
    >>> parse_query("5, 20", resolution=32)
    (5, 20)
    """
    parts = str(text).split(",")
    try:
        r, c = (int(p) for p in parts)
    except ValueError:
        raise InvalidArgument(f"query must read ROW,COL (two integers), got {text!r}") from None
    if not (0 <= r < resolution and 0 <= c < resolution):
        raise InvalidArgument(f"query pixel ({r}, {c}) lies outside the model's "
                              f"{resolution}x{resolution} image")
    return r, c


def draw_attention_map(checkpoint, out, *, query, image=None, test_index=None, sample_seed=None,
                       label="own", heads=None, method="ylg", steps=PUBLISHED["steps"],
                       lr=PUBLISHED["lr"], starts=PUBLISHED["starts"], d_heads=None, seed=0,
                       device="cpu", progress=False) -> dict:
    """Where a query pixel attends in each head of G's attention layer, drawn over the image.

    For a real image (``image`` or ``test_index``) the latent is found by :func:`invert` first;
    for a generated sample (``sample_seed``) it is drawn. The figure shows the image, the
    reconstruction, one panel per head of G (the query's attention row, on the key grid,
    upsampled over the image) and, when D has attention, D's saliency maps of the image.

    Parameters
    ----------
    checkpoint, out : path
        ``out`` is the figure (PNG, SVG or PDF).
    query : (int, int)
        A pixel ``(row, col)`` of the model's image.
    image, test_index, sample_seed
        Exactly one: a file, a digits test index, or the seed of a generated sample.
    label : int, None or "own"
        As :func:`invert_to_folder`; for a sample, None or "own" draws class 0.
    heads : sequence of int, optional
        G heads to draw (default: all).
    method, steps, lr, starts, seed
        The inversion's settings.
    d_heads : sequence of int, optional
        The D heads of the ``ylg`` inversion loss (``heads`` of :func:`invert`).

    Returns
    -------
    dict
        ``target``, ``class``, ``query``, ``query_cell`` (on G's query grid), ``heads`` and, for a
        real image, the inversion's ``psnr`` and ``ssim``.
    """
    from ifg.render import FORMATS, save_figure

    if Path(out).suffix.lower() not in FORMATS:  # before minutes of inversion, not after
        raise InvalidArgument(f"figure file {str(out)!r} must end in one of {', '.join(FORMATS)}")
    G, D, info = load_models(checkpoint, device=device)
    if G.attention is None:
        raise InvalidArgument("the generator has no attention layer: there is no attention map "
                              "to draw")
    if sum(v is not None for v in (image, test_index, sample_seed)) != 1:
        raise InvalidArgument("give exactly one of image, test_index and sample_seed")
    res = _resolution(G)
    query = parse_query(",".join(map(str, query)), resolution=res)
    heads = _check_heads(heads, G.attention.heads)
    summary = {"checkpoint": str(checkpoint), "step": info["step"], "query": list(query)}
    dev = next(G.parameters()).device
    if sample_seed is not None:
        y = torch.tensor([0 if label in (None, "own") else int(label)])
        _labels(y, 1, G.num_classes)
        z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(sample_seed))
        with torch.no_grad():
            x = G(z.to(dev), y.to(dev)).cpu()
        recon, target = None, f"sample (seed {sample_seed})"
    else:
        x, true_label, target, notes = target_image(G, image=image, test_index=test_index)
        if label == "own":
            label = true_label
        inv = invert(G, D, x, label=label, method=method, steps=steps, lr=lr, starts=starts,
                     heads=d_heads, seed=seed, progress=progress)
        z, y, recon = inv.z, inv.labels, inv.images
        summary.update({k: v[0] for k, v in score(inv, x, D).items()})
        summary["notes"] = notes + list(inv.notes)
    fig = attention_map_figure(G, D, x, z, y, query=query, heads=heads, reconstruction=recon)
    save_figure(fig, out)
    a = G.attention_resolution
    summary.update({"target": target, "class": int(y[0]), "heads": list(heads),
                    "query_cell": [query[0] * a // res, query[1] * a // res]})
    return summary


@torch.no_grad()
def attention_map_figure(G, D, x, z, y, *, query, heads=None, reconstruction=None):
    """The attention figure of one image and its latent: G's heads for a query, D's saliency.

    Parameters
    ----------
    G, D : the models (D may lack attention: no saliency row then)
    x : torch.Tensor, (1, c, res, res) in [-1, 1]
        The image drawn under the maps (a real image, or the sample ``G(z, y)`` itself).
    z : torch.Tensor, (1, z_dim)
    y : torch.Tensor, int64, (1,)
    query : (int, int)
        A pixel of the image.
    heads : sequence of int, optional
        G heads to draw (default: all).
    reconstruction : torch.Tensor, (1, c, res, res), optional
        Shown next to the image (an inversion's ``G(z, y)``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from ylg.models import Discriminator, Generator
    >>> G = Generator(resolution=32, width=16, channels=1, attention="ylg").eval()
    >>> D = Discriminator(resolution=32, width=16, channels=1, attention="ylg").eval()
    >>> z, y = torch.zeros(1, 128), torch.tensor([2])
    >>> fig = attention_map_figure(G, D, G(z, y), z, y, query=(4, 5), heads=[0, 4])
    >>> len([ax for ax in fig.axes if ax.axison])  # image, 2 heads of G, 8 saliency maps of D
    11
    """
    from ylg.viz import attention_figure, head_names, query_attention

    if G.attention is None:
        raise InvalidArgument("the generator has no attention layer: there is no attention map "
                              "to draw")
    heads = _check_heads(heads, G.attention.heads)
    res, a = _resolution(G), G.attention_resolution
    dev = next(G.parameters()).device
    _, g_attn = G(z.to(dev), y.to(dev), return_attention=True)
    maps = query_attention(g_attn.cpu(), query=query, image_size=res, query_grid=(a, a),
                           key_grid=(a // G.attention.pool,) * 2)[0]  # (heads, res, res)
    saliency = saliency_titles = None
    if D is not None and D.attention is not None:  # every head of D: its layer need not match G's
        s = discriminator_saliency(D, x.to(next(D.parameters()).device))
        saliency = F.interpolate(s.cpu(), size=(res, res), mode="nearest")[0]
        saliency_titles = [f"D {name}" for name in head_names(D.attention)]
    g_names = head_names(G.attention)
    return attention_figure(x[0].cpu(), maps[list(heads)], query=query,
                            reconstruction=None if reconstruction is None else
                            reconstruction[0].cpu(),
                            titles=[f"G {g_names[h]}" for h in heads], saliency=saliency,
                            saliency_titles=saliency_titles)

