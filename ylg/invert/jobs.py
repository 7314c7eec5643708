"""Inversion jobs over a checkpoint: a folder of results, and the attention-map figure.

:func:`invert_to_folder` inverts one target (an image file, a held-out digit, or a generated
sample whose latent is known) with each method and writes images, figures and a JSON report;
:func:`draw_attention_map` draws where a query pixel attends in each head of G. The optimiser and
the objectives are :mod:`ylg.invert`'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F

from ifg.errors import InvalidArgument
from ylg.invert.optimise import Inversion  # noqa: F401 - score's doctest
from ylg.invert.optimise import (METHODS, PUBLISHED, Budget, check_attention, check_heads,
                        resolution_of, check_inversion_memory, discriminator_saliency,
                        feature_distance, invert)
from ylg.invert.saliency import mask_deviation, mask_note
from ylg.invert.targets import Label, class_index, generated_target, target_image
from ylg.invert.similarity import psnr, ssim, to_unit_range

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ylg.invert.optimise import Method
    from ylg.models.sagan import Discriminator, Generator

__all__ = ["score", "load_models", "invert_to_folder",
           "parse_head_indices", "parse_query", "draw_attention_map", "attention_map_figure",
           "inversion_lines", "attention_map_line"]


@torch.no_grad()
def score(inversion: Inversion, x: torch.Tensor, D: Discriminator | None = None, *,
          z: torch.Tensor | None = None) -> dict[str, list[float]]:
    """PSNR, SSIM (on [0, 1]), with D the feature distance, with ``z`` the latent recovery.

    Parameters
    ----------
    inversion : Inversion
    x : torch.Tensor, (n, c, h, w) in [-1, 1]
        The targets.
    D : ylg.models.Discriminator, optional
    z : torch.Tensor, (n, z_dim), optional
        The true latents of generated targets: adds ``latent_distance`` (``||z' - z||_2``) and
        ``latent_cosine`` (cosine similarity of ``z'`` and ``z``). Only meaningful when the
        kept class is the true one.

    Returns
    -------
    dict
        ``psnr``, ``ssim``, ``feature_distance`` (if D), ``latent_distance`` and
        ``latent_cosine`` (if z), each a list of n floats.

    Examples
    --------
    >>> x = torch.zeros(1, 1, 16, 16)
    >>> zero = torch.zeros(1, dtype=torch.long)
    >>> inv = Inversion("pixel", torch.ones(1, 4), zero, x + 0.2, torch.zeros(1),
    ...                 torch.zeros(1, 1, 1, 2), torch.zeros(1, 2, dtype=torch.long))
    >>> [round(v, 3) for v in score(inv, x)["psnr"]]  # MSE of 0.1 on [0, 1] -> 20 dB
    [20.0]
    >>> s = score(inv, x, z=torch.tensor([[1.0, 1.0, 1.0, -1.0]]))
    >>> s["latent_distance"], s["latent_cosine"]
    ([2.0], [0.5])
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
    if z is not None:
        found, true = inversion.z.cpu().float(), torch.as_tensor(z).cpu().float()
        out["latent_distance"] = (found - true).norm(dim=1).tolist()
        out["latent_cosine"] = F.cosine_similarity(found, true, dim=1).tolist()
    return out


def load_models(checkpoint: str | os.PathLike[str], *, device: str | torch.device = "cpu"
                ) -> tuple[Generator, Discriminator, dict[str, Any]]:
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
    from ylg.run.checkpoint import load_checkpoint
    from ylg.models.build import models_from_checkpoint

    state = load_checkpoint(checkpoint)
    _, D, ema = models_from_checkpoint(state, device=device)
    for m in (D, ema):
        m.requires_grad_(False)  # inversion trains z only
    info = {"step": int(state["step"]), "class_names": list(state.get("class_names") or []),
            "config": dict(state.get("config") or {})}
    return ema.eval(), D.eval(), info


def invert_to_folder(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *,
                     image: str | os.PathLike[str] | None = None, test_index: int | None = None,
                     sample_seed: int | None = None, label: Label = "own",
                     methods: str | Sequence[str] = METHODS, budget: Budget = PUBLISHED,
                     d_heads: Sequence[int] | None = None, seed: int = 0,
                     device: str | torch.device = "cpu",
                     progress: bool = False) -> dict[str, Any]:
    """Invert one image with each method and write the results to a folder.

    Writes ``real.png`` (the target as the model sees it), ``reconstruction_<method>.png``,
    ``comparison.png`` (the methods side by side), ``loss_curves.png`` and ``inversion.json``
    (PSNR, SSIM, feature distance, loss, class, time and kept ``z`` of each method; for a
    generated target also the distance and cosine between the kept and the true latent).

    Parameters
    ----------
    checkpoint : path
    out : path
        The output folder (created).
    image, test_index, sample_seed
        Exactly one target: an image file, an index into the held-out images of the model's
        data (:func:`held_out`: the digits' or the photos' test split), or the seed of
        a generated sample (:func:`generated_target`; its latent is known and scored).
    label : int, str, None or "own"
        The class, by index or by name (the checkpoint's ``class_names``, e.g. ``"seven"``);
        None tries every class; ``"own"`` takes a test digit's label or a sample's
        class (class 0), and tries every class for an image file.
    methods : sequence of str
        Methods to run; a method the model cannot run (``ylg`` without D attention) is refused
        when asked alone, and skipped with a note when others run.
    d_heads : sequence of int, optional
        The D heads of the ``ylg`` loss (``heads`` of :func:`ylg.invert.invert`).
    budget, seed, progress
        As :func:`ylg.invert.invert`; every method gets the same starts and budget.
    device : str or torch.device

    Returns
    -------
    dict
        What ``inversion.json`` holds.
    """
    from ifg.render import save_figure
    from ylg.viz import inversion_figure, loss_curves_figure, save_image

    if sum(v is not None for v in (image, test_index, sample_seed)) != 1:
        raise InvalidArgument("give exactly one of image, test_index and sample_seed")
    G, D, info = load_models(checkpoint, device=device)
    label = class_index(label, G.num_classes, info["class_names"])
    true_z = None
    true_label: int | None
    notes: list[str]
    if sample_seed is not None:
        x, true_z, y = generated_target(G, seed=sample_seed,
                                        label=None if label is None or label == "own" else label)
        true_label, source, notes = int(y[0]), f"sample (seed {sample_seed})", []
    else:
        x, true_label, source, notes = target_image(G, image=image, test_index=test_index,
                                                    data=info["config"].get("data", "digits"))
    if label == "own":
        label = true_label
    methods = _check_methods(methods)
    if "ylg" in methods and D.attention is None:
        if len(methods) == 1:
            check_attention(D)
        methods = tuple(m for m in methods if m != "ylg")
        notes.append("the discriminator has no attention layer: the ylg method is skipped")
    if d_heads is not None and D.attention is not None:
        d_heads = check_heads(d_heads, D.attention.heads)  # before anything is written
    check_inversion_memory(G, D, x, label=label, budget=budget,  # before anything is written
                           method="pixel" if methods == ("pixel",) else "ylg")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_image(x, out / "real.png")
    results, report = {}, {}
    for method in methods:
        inv = invert(G, D, x, label=label, method=method, budget=budget, heads=d_heads, seed=seed,
                     progress=progress)
        results[method] = inv
        metrics = {k: v[0] for k, v in score(inv, x, D, z=true_z).items()}
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
                                   kept={m: int(r.kept[0, 0] * budget.starts + r.kept[0, 1])
                                         for m, r in results.items()}),
                out / "loss_curves.png")
    summary = {
        "checkpoint": str(checkpoint), "step": info["step"], "target": source,
        "true_class": true_label, "class_given": label is not None,
        "true_z": None if true_z is None else true_z[0].tolist(),
        "resolution": resolution_of(G), "channels": G.channels,
        "settings": {"steps": budget.steps, "lr": budget.lr, "starts": budget.starts,
                     "noise": budget.noise, "seed": seed,
                     "heads": None if d_heads is None else list(d_heads)},
        "notes": notes, "methods": report,
    }
    from ifg.files import atomic_write

    atomic_write(out / "inversion.json", json.dumps(summary, indent=1))
    return summary


def _check_methods(methods: str | Sequence[str]) -> tuple[Method, ...]:
    if isinstance(methods, str):
        methods = METHODS if methods == "all" else (methods,)
    methods = tuple(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InvalidArgument(f"method must be one of {', '.join(METHODS)} or all, got "
                              f"{bad[0] if bad else methods!r}")
    return cast("tuple[Method, ...]", methods)


def parse_head_indices(text: str | None) -> tuple[int, ...] | None:
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


def parse_query(text: str, *, resolution: int) -> tuple[int, int]:
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


def draw_attention_map(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *,
                       query: tuple[int, int], image: str | os.PathLike[str] | None = None,
                       test_index: int | None = None, sample_seed: int | None = None,
                       label: Label = "own", g_heads: Sequence[int] | None = None,
                       method: Method = "ylg", budget: Budget = PUBLISHED,
                       d_heads: Sequence[int] | None = None, seed: int = 0,
                       device: str | torch.device = "cpu",
                       progress: bool = False) -> dict[str, Any]:
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
        Exactly one: a file, an index into the held-out images of the model's data
        (:func:`held_out`), or the seed of a generated sample.
    label : int, str, None or "own"
        As :func:`invert_to_folder`; for a sample, None or "own" draws class 0.
    g_heads : sequence of int, optional
        G heads to draw (default: all).
    method, budget, seed
        The inversion's settings (:func:`ylg.invert.invert`).
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
    label = class_index(label, G.num_classes, info["class_names"])
    if G.attention is None:
        raise InvalidArgument("the generator has no attention layer: there is no attention map "
                              "to draw")
    if sum(v is not None for v in (image, test_index, sample_seed)) != 1:
        raise InvalidArgument("give exactly one of image, test_index and sample_seed")
    res = resolution_of(G)
    query = parse_query(",".join(map(str, query)), resolution=res)
    g_heads = check_heads(g_heads, G.attention.heads)
    summary = {"checkpoint": str(checkpoint), "step": info["step"], "query": list(query)}
    if sample_seed is not None:
        x, z, y = generated_target(G, seed=sample_seed,
                                   label=None if label is None or label == "own" else label)

        recon, target = None, f"sample (seed {sample_seed})"
    else:
        x, true_label, target, notes = target_image(G, image=image, test_index=test_index,
                                                    data=info["config"].get("data", "digits"))
        if label == "own":
            label = true_label
        inv = invert(G, D, x, label=label, method=method, budget=budget, heads=d_heads,
                     seed=seed, progress=progress)
        z, y, recon = inv.z, inv.labels, inv.images
        summary.update({k: v[0] for k, v in score(inv, x, D).items()})
        summary["notes"] = notes + list(inv.notes)
    fig = attention_map_figure(G, D, x, z, y, query=query, g_heads=g_heads, reconstruction=recon)
    save_figure(fig, out)
    a = G.attention_resolution
    summary.update({"target": target, "class": int(y[0]), "heads": list(g_heads),
                    "query_cell": [query[0] * a // res, query[1] * a // res]})
    return summary


@torch.no_grad()
def attention_map_figure(G: Generator, D: Discriminator | None, x: torch.Tensor, z: torch.Tensor,
                         y: torch.Tensor, *, query: tuple[int, int],
                         g_heads: Sequence[int] | None = None,
                         reconstruction: torch.Tensor | None = None) -> Figure:
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
    g_heads : sequence of int, optional
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
    >>> fig = attention_map_figure(G, D, G(z, y), z, y, query=(4, 5), g_heads=[0, 4])
    >>> len([ax for ax in fig.axes if ax.axison])  # image, 2 heads of G, 8 of D, a colour bar
    12
    """
    from ylg.viz import attention_figure, head_names, query_attention

    if G.attention is None:
        raise InvalidArgument("the generator has no attention layer: there is no attention map "
                              "to draw")
    g_heads = check_heads(g_heads, G.attention.heads)
    res, a = resolution_of(G), G.attention_resolution
    dev = next(G.parameters()).device
    _, g_attn = G(z.to(dev), y.to(dev), return_attention=True)
    maps = query_attention(g_attn.cpu(), query=query, image_size=res, query_grid=(a, a),
                           key_grid=(a // G.attention.pool,) * 2)[0]  # (heads, res, res)
    saliency = saliency_titles = note = None
    if D is not None and D.attention is not None:  # every head of D: its layer need not match G's
        s = discriminator_saliency(D, x.to(next(D.parameters()).device))
        saliency = F.interpolate(s.cpu(), size=(res, res), mode="nearest")[0]
        # how far each map is from the mask's own (attention uniform over the allowed keys)
        off = mask_deviation(D.attention, s)
        saliency_titles = [f"D {name}\n{d:.2%} off mask"
                           for name, d in zip(head_names(D.attention), off)]
        note = mask_note(off)
    g_names = head_names(G.attention)
    return attention_figure(x[0].cpu(), maps[list(g_heads)], query=query,
                            reconstruction=None if reconstruction is None else
                            reconstruction[0].cpu(),
                            titles=[f"G {g_names[h]}" for h in g_heads], saliency=saliency,
                            saliency_titles=saliency_titles, saliency_note=note)


def inversion_lines(summary: dict) -> list:
    """One line per method of :func:`invert_to_folder`'s summary (``ylg invert``'s output)."""
    lines = []
    for name, m in summary["methods"].items():
        latent = (f"z distance {m['latent_distance']:.3f} (cosine {m['latent_cosine']:.3f})  "
                  if "latent_distance" in m else "")
        lines.append(f"{name:<13} class {m['class']}  PSNR {m['psnr']:6.2f} dB  SSIM "
                     f"{m['ssim']:.3f}  D-feature distance {m['feature_distance']:.3f}  "
                     f"{latent}({m['seconds']:.1f} s)")
    return lines


def attention_map_line(summary: dict[str, Any], out: str | os.PathLike[str]) -> str:
    """:func:`draw_attention_map`'s summary in one line (``ylg attention-map``'s output)."""
    fit = (f", inversion PSNR {summary['psnr']:.2f} dB, SSIM {summary['ssim']:.3f}"
           if "psnr" in summary else "")
    return (f"attention of pixel {tuple(summary['query'])} ({summary['target']}, class "
            f"{summary['class']}{fit}): {out}")
