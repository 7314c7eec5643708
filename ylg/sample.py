"""Images from a trained generator: class-conditional samples and latent walks."""

from __future__ import annotations

import torch

from ifg.errors import InvalidArgument, check_positive_int
from ylg.checkpoint import load_checkpoint, models_from_checkpoint

__all__ = ["load_generator", "sample", "latent_walk", "latents", "parse_classes"]

TRUNCATION = 2.0  # the published generation scripts draw z from tf.random.truncated_normal: |z| < 2


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


def load_generator(checkpoint, *, weights="ema", device="cpu"):
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
        The dict holds ``step`` and ``class_names``.

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
        return G, {"step": info["step"], "class_names": info["class_names"]}
    state = load_checkpoint(checkpoint)
    g, _, ema = models_from_checkpoint(state, device=device)
    info = {"step": int(state["step"]), "class_names": list(state.get("class_names") or [])}
    return (ema if weights == "ema" else g).eval(), info


def parse_classes(text, num_classes, names=None) -> list:
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


@torch.no_grad()
def sample(G, *, classes, n=64, seed=0, truncation=TRUNCATION):
    """``n`` images, the classes in equal shares and in order (class-major), from seed ``seed``.

    The latents are a normal truncated at ``truncation`` (:func:`latents`; ``None``: plain normal).

    Returns
    -------
    torch.Tensor, (n, channels, res, res), in [-1, 1]

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
    device = next(G.parameters()).device
    labels = torch.tensor(classes)[torch.arange(n) * len(classes) // n].to(device)
    z = latents(n, G.z_dim, generator=torch.Generator().manual_seed(seed),
                truncation=truncation).to(device)
    return G(z, labels)


@torch.no_grad()
def latent_walk(G, *, label, rows=4, steps=8, seed=0, truncation=TRUNCATION):
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
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    a, b = latents(2 * rows, G.z_dim, generator=gen, truncation=truncation).reshape(
        2, rows, 1, G.z_dim)  # (rows, 1, z_dim) each
    t = torch.linspace(0, 1, steps)[None, :, None]  # (1, steps, 1)
    z = ((1 - t) * a + t * b).reshape(rows * steps, G.z_dim).to(device)
    return G(z, torch.full((rows * steps,), int(label), device=device))
