"""Images from a trained generator: class-conditional samples and latent walks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from ifg.errors import InvalidArgument, check_positive_int
from ylg.run.checkpoint import load_checkpoint
from ylg.models.build import models_from_checkpoint
from ylg.memory import check_samples, image_bytes
from ylg.models import Generator

__all__ = ["load_generator", "sample", "latent_walk", "latents", "parse_classes", "parse_class",
           "class_words", "check_sample_memory"]

TRUNCATION = 2.0  # the published generation scripts draw z from tf.random.truncated_normal: |z| < 2
#: images generated at once: a large ``n`` runs in batches of this many
BATCH = 64


def latents(n: int, z_dim: int, *, generator: torch.Generator,
            truncation: float | None = TRUNCATION) -> torch.Tensor:
    """``n`` latents for generation: a standard normal truncated to ``[-truncation, truncation]``.

    Training draws plain normal noise (as published); generation draws the truncated normal of the
    published generation scripts. ``truncation=None`` draws the plain normal.

    Parameters
    ----------
    n, z_dim : int
    generator : torch.Generator
    truncation : float or None
        Each coordinate is redrawn until ``|z| <= truncation`` (TensorFlow's truncated normal at
        two standard deviations is the default); ``None`` for a plain normal.

    Returns
    -------
    torch.Tensor, (n, z_dim), float32

    Raises
    ------
    InvalidArgument
        For a truncation that is not positive.

    Examples
    --------
    >>> z = latents(1000, 8, generator=torch.Generator().manual_seed(0))
    >>> bool(z.abs().max() <= 2.0)
    True
    """
    if truncation is None:
        return torch.randn(n, z_dim, generator=generator)
    if not truncation > 0:
        raise InvalidArgument(f"truncation must be positive or None, got {truncation!r}")
    return torch.nn.init.trunc_normal_(torch.empty(n, z_dim), a=-truncation, b=truncation,
                                       generator=generator)


def load_generator(checkpoint: str | os.PathLike, *, weights: str = "ema",
                   device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    """The generator of a checkpoint, in eval mode, and the checkpoint's step and class names.

    Parameters
    ----------
    checkpoint : path
        A checkpoint, or a ``.safetensors`` generator file from ``ylg export``
        (:func:`ylg.export.read_generator`), which holds one generator.
    weights : {"ema", "g"}
        The exponential moving average (the default, used for samples and evaluation) or the
        trained weights themselves; a generator file holds the ones it was exported with.
    device : str or torch.device

    Returns
    -------
    (Generator, dict)
        The dict holds ``step``, ``class_names`` and ``config`` (the training config).

    Raises
    ------
    CheckpointError
        For a missing, corrupt or mismatched checkpoint.
    """
    if weights not in ("ema", "g"):
        raise InvalidArgument(f"weights must be ema or g, got {weights!r}")
    if str(checkpoint).endswith(".safetensors"):
        from ylg.export import read_generator

        G, info = read_generator(checkpoint, device=device)
        if weights != info["weights"]:
            raise InvalidArgument(f"{str(checkpoint)!r} holds the {info['weights']} weights, "
                                  f"not {weights}")
        return G, {"step": info["step"], "class_names": info["class_names"],
                   "config": info["config"]}
    state = load_checkpoint(checkpoint)
    g, _, ema = models_from_checkpoint(state, device=device)
    info = {"step": int(state["step"]), "class_names": list(state.get("class_names") or []),
            "config": state["config"]}
    return (ema if weights == "ema" else g).eval(), info


def parse_classes(text: str | None, num_classes: int,
                  names: Sequence[str] | None = None) -> list[int]:
    """``"0,3,7"`` or ``"zero,three,seven"`` -> ``[0, 3, 7]``, checked; None -> all classes.

    Parameters
    ----------
    text : str or None
        Class names (those of ``names``) or indices, separated by commas; a token that is a
        name is taken as the name, else as an index.
    num_classes : int
    names : sequence of str, optional
        The class names, in class order (a checkpoint's ``class_names``; older checkpoints may
        have none: then only indices work).

    Returns
    -------
    list of int

    Raises
    ------
    InvalidArgument
        For an unknown name or an index outside ``0..num_classes - 1`` (the message lists the
        names).

    Examples
    --------
    >>> parse_classes("0, 3,7", 10), parse_classes(None, 3)
    ([0, 3, 7], [0, 1, 2])
    >>> parse_classes("dog,0", 2, names=["cat", "dog"])
    [1, 0]
    """
    if text is None or str(text).strip() == "":
        return list(range(num_classes))
    index = {name: i for i, name in enumerate(names or ())}
    classes = []
    for token in (t.strip() for t in str(text).split(",")):
        if token in index:
            classes.append(index[token])
            continue
        try:
            classes.append(int(token))
        except ValueError:
            known = f" or one of {', '.join(index)}" if index else ""
            raise InvalidArgument(f"class {token!r} is not a class index 0..{num_classes - 1}"
                                  f"{known}") from None
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise InvalidArgument(f"class {bad[0]} is outside 0..{num_classes - 1}")
    return classes


def parse_class(label: int | str, num_classes: int, names: Sequence[str] | None = None) -> int:
    """One class, by index or by name (``names``: a checkpoint's ``class_names``), checked.

    Raises
    ------
    InvalidArgument
        As :func:`parse_classes`, and for more than one class.

    Examples
    --------
    >>> parse_class("dog", 2, names=["cat", "dog"]), parse_class(0, 2), parse_class("1", 2)
    (1, 0, 1)
    """
    if isinstance(label, str) and "," in label:
        raise InvalidArgument(f"give one class, got {label!r}")
    return parse_classes(str(label), num_classes, names)[0]


def class_words(classes: Sequence[int], names: Sequence[str] | None = None) -> str:
    """Classes as a user reads them: their names, then their indices; the indices alone when
    there are no names (an older checkpoint).

    Examples
    --------
    >>> class_words([1, 0], ["china", "flower"]), class_words([7, 3])
    ('flower,china (1,0)', '7,3')
    """
    indices = ",".join(map(str, classes))
    if not names or any(not 0 <= c < len(names) for c in classes):
        return indices
    return f"{','.join(names[c] for c in classes)} ({indices})"


def check_sample_memory(G: Generator, n: int, *, grid_scale: int | None = None,
                        what: str = "samples") -> None:
    """Refuse ``n`` images from ``G`` when they cannot fit in memory (before anything is drawn).

    Counts G, its activations for :data:`BATCH` images at once, the ``n`` latents and images,
    and with ``grid_scale`` the PNG grid of them (:func:`ylg.memory.image_bytes`).

    Raises
    ------
    InvalidArgument
        One line: what it would need and what the machine has.

    Examples
    --------
    >>> from ylg.models import Generator
    >>> G = Generator(resolution=32, width=4, num_classes=10, channels=1, attention="none")
    >>> check_sample_memory(G, 64, grid_scale=2)
    >>> check_sample_memory(G, 10**12)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: drawing 1,000,000,000,000 samples at 32x32 needs about ...
    """
    n, res = check_positive_int("n", n), G.resolution
    check_samples(G, n, batch=BATCH, what=f"drawing {n:,} {what} at {res}x{res}",
                  images=image_bytes(n, G.channels, res, grid_scale=grid_scale))


def _generate(G: Generator, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``G(z, labels)`` in batches of :data:`BATCH`, into one tensor."""
    if len(z) <= BATCH:
        return G(z, labels)
    return torch.cat([G(z[i:i + BATCH], labels[i:i + BATCH]) for i in range(0, len(z), BATCH)])


@torch.no_grad()
def sample(G: Generator, *, classes: Sequence[int], n: int = 64, seed: int = 0,
           truncation: float | None = TRUNCATION) -> torch.Tensor:
    """``n`` images, the classes in equal shares and in order (class-major), from seed ``seed``.

    The latents are a normal truncated at ``truncation`` (:func:`latents`; ``None``: plain normal).
    A large ``n`` runs in batches of :data:`BATCH`; one that cannot fit in memory is refused
    first (:func:`check_sample_memory`).

    Returns
    -------
    torch.Tensor, (n, channels, res, res), in [-1, 1]

    Raises
    ------
    InvalidArgument
        For no class, a class out of range, or an ``n`` that is not positive or cannot fit.

    Examples
    --------
    >>> from ylg.models import Generator
    >>> G = Generator(resolution=32, width=4, num_classes=10, channels=1, attention="none").eval()
    >>> sample(G, classes=[1, 2], n=5).shape
    torch.Size([5, 1, 32, 32])
    """
    n = check_positive_int("n", n)
    if not classes:
        raise InvalidArgument("classes must name at least one class")
    parse_classes(",".join(map(str, classes)), G.num_classes)
    check_sample_memory(G, n)
    device = next(G.parameters()).device
    labels = torch.tensor(classes)[torch.arange(n) * len(classes) // n].to(device)
    z = latents(n, G.z_dim, generator=torch.Generator().manual_seed(seed),
                truncation=truncation).to(device)
    return _generate(G, z, labels)


@torch.no_grad()
def latent_walk(G: Generator, *, label: int, rows: int = 4, steps: int = 8, seed: int = 0,
                truncation: float | None = TRUNCATION) -> torch.Tensor:
    """``rows`` straight walks in z between random end points, ``steps`` images each.

    The end points are drawn as :func:`sample`'s latents.

    Returns
    -------
    torch.Tensor, (rows * steps, channels, res, res), row-major: one walk per row

    Examples
    --------
    >>> from ylg.models import Generator
    >>> G = Generator(resolution=32, width=4, num_classes=10, channels=1, attention="none").eval()
    >>> latent_walk(G, label=3, rows=2, steps=3).shape
    torch.Size([6, 1, 32, 32])
    """
    rows, steps = check_positive_int("rows", rows), check_positive_int("steps", steps)
    if steps < 2:
        raise InvalidArgument(f"steps must be at least 2 (the two end points), got {steps}")
    parse_classes(str(label), G.num_classes)
    check_sample_memory(G, rows * steps, what="walk images")
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    a, b = latents(2 * rows, G.z_dim, generator=gen, truncation=truncation).reshape(
        2, rows, 1, G.z_dim)  # (rows, 1, z_dim) each
    t = torch.linspace(0, 1, steps)[None, :, None]  # (1, steps, 1)
    z = ((1 - t) * a + t * b).reshape(rows * steps, G.z_dim).to(device)
    return _generate(G, z, torch.full((rows * steps,), int(label), device=device))
