"""The one place that decides which masks a model gets, and writes and reads the model record.

A run's ``attention`` setting is a variant name or a mask file: :func:`read_attention` resolves
it once, at the start of a run (a file is read into a MaskSet, and its bytes kept to travel in
the checkpoint). :func:`model_args` writes the record a checkpoint keeps (the constructor
arguments of G and D, ``attention`` as the name or ``"file"``, the key grid pooled 2x2);
:func:`model_kwargs_of` reads it back (the stored bytes turned into a MaskSet), and
:func:`build_models` builds G, D and the EMA of G from it, for training and for every loader.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ifg.errors import InvalidArgument, MaskFileError
from ylg.errors import CheckpointError
from ylg.models.sagan import Discriminator, Generator
from ylg.choices import attention_variants
from ylg.runtime import seed_of

if TYPE_CHECKING:
    from ifg.maskset import MaskSet
    from ylg.config import TrainConfig
    from ylg.data.sources import ImageData

__all__ = ["read_attention", "masks_from_bytes", "model_args", "model_kwargs_of", "build_models",
           "models_from_checkpoint", "load_weights"]


def masks_from_bytes(blob: bytes | torch.Tensor, *,
                     name: str = "the masks stored in the checkpoint") -> MaskSet:
    """The MaskSet of a mask file's bytes (``bytes`` or a uint8 tensor), checked by
    :func:`ifg.io.load`; ``name`` is how its error messages name them.

    Examples
    --------
    >>> import tempfile
    >>> from ifg.io import save
    >>> from ifg.maskset import preset
    >>> p = Path(tempfile.mkdtemp()) / "m.npz"
    >>> save(preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), p)
    >>> masks_from_bytes(p.read_bytes()).num_heads
    8
    """
    from ifg.io import load  # imported late: only mask-file runs need the reader

    if isinstance(blob, torch.Tensor):
        blob = blob.numpy().tobytes()
    return load(bytes(blob), name=name)


def read_attention(attention: str | os.PathLike[str]
                   ) -> tuple[str, None] | tuple[MaskSet, torch.Tensor]:
    """Resolve a run's ``attention`` setting once: a variant name, or a mask file read.

    Parameters
    ----------
    attention : str or os.PathLike
        A name of :func:`ylg.models.attention_variants` or the path of a mask file (from
        ``ylg-masks export``).

    Returns
    -------
    (str or MaskSet, torch.Tensor or None)
        What the models take, and the file's bytes (uint8) to store in the checkpoint.

    Raises
    ------
    InvalidArgument
        For a name that is neither a variant nor a file.

    Examples
    --------
    >>> read_attention("dense")
    ('dense', None)
    """
    if attention in attention_variants():
        return str(attention), None
    if not isinstance(attention, (str, Path)) or not Path(attention).is_file():
        raise InvalidArgument(f"attention must be one of {', '.join(attention_variants())} or a "
                              f"mask file, got {attention!r}")
    from ifg.io import MAX_FILE_BYTES

    if Path(attention).stat().st_size > MAX_FILE_BYTES:
        raise MaskFileError(f"{attention}: {Path(attention).stat().st_size:,} bytes, more than "
                            f"a mask file may hold ({MAX_FILE_BYTES:,})")
    raw = Path(attention).read_bytes()
    masks = masks_from_bytes(raw, name=str(attention))  # checked first: an empty file too
    return masks, torch.frombuffer(bytearray(raw), dtype=torch.uint8)


def model_kwargs_of(state: dict[str, Any], *,
                    name: str = "the masks stored in the checkpoint") -> dict[str, Any]:
    """The constructor arguments of G and D stored in a checkpoint (``attention`` resolved).

    A mask file's bytes travel inside the checkpoint, so that it loads without the file;
    ``name`` is how their errors name them.
    """
    kwargs = dict(state["model"])
    # written before W / max(1, sigma) (the published rule) became the default: trained with W / sigma
    kwargs.setdefault("sn_constraint", "equality")
    blob = state.get("masks_file")
    if blob is not None:
        kwargs["attention"] = masks_from_bytes(blob, name=name)
    return kwargs


def model_args(cfg: TrainConfig, data: ImageData, state: dict[str, Any] | None
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The models' constructor arguments (restored from ``state`` when resuming), and what the
    checkpoint must record to rebuild them (constructor arguments, the mask file's bytes)."""
    if state is not None:
        kwargs, record, blob = model_kwargs_of(state), dict(state["model"]), \
            state.get("masks_file")
        if (kwargs["num_classes"], kwargs["channels"]) != (data.num_classes, data.channels):
            raise InvalidArgument(f"the data have {data.num_classes} classes and {data.channels} "
                                  f"channel(s), the checkpoint's model {kwargs['num_classes']} "
                                  f"and {kwargs['channels']}")
    else:
        attention, blob = read_attention(cfg.attention)  # the mask file is read here, once
        record = dict(resolution=cfg.resolution, width=cfg.width, num_classes=data.num_classes,
                      channels=data.channels, z_dim=cfg.z_dim,
                      attention=cfg.attention if blob is None else "file",
                      attention_resolution=cfg.attention_resolution, pool=2,
                      sn_constraint="inequality")
        kwargs = {**record, "attention": attention}
    return kwargs, {"model": record, "masks_file": blob}


def build_models(kwargs: dict[str, Any], *, backend: str = "auto", seed: int | None = None,
                 device: str | torch.device = "cpu") -> tuple[Generator, Discriminator, Generator]:
    """G, D and the EMA of G (a copy of G, in eval mode, without gradients).

    The masks are compiled once for G and once for D; the EMA copies G's compiled layer.

    Parameters
    ----------
    kwargs : dict
        The constructor arguments of :class:`ylg.models.Generator` (D takes them without
        ``z_dim``); ``attention`` a variant name or a MaskSet.
    backend : str
        The attention backend.
    seed : int, optional
        Seed the initial weights with ``seed_of(seed, "init")`` (the same on every rank).
    device : str or torch.device

    Returns
    -------
    (Generator, Discriminator, Generator)

    Examples
    --------
    >>> g, d, ema = build_models(dict(resolution=32, width=4, num_classes=10, channels=1,
    ...                               attention="dense"), seed=0)
    >>> bool(torch.equal(g.linear.parametrizations.weight.original,
    ...                  ema.linear.parametrizations.weight.original)), ema.training
    (True, False)
    """
    kwargs = {**kwargs, "backend": backend}
    if seed is not None:
        torch.manual_seed(seed_of(seed, "init"))
    g = Generator(**kwargs).to(device)
    d = Discriminator(**{k: v for k, v in kwargs.items() if k != "z_dim"}).to(device)
    ema = copy.deepcopy(g).eval().requires_grad_(False)
    return g, d, ema


def models_from_checkpoint(state: dict[str, Any], *, device: str | torch.device = "cpu"
                           ) -> tuple[Generator, Discriminator, Generator]:
    """Rebuild ``(G, D, EMA)`` from a loaded checkpoint, weights restored.

    Raises
    ------
    CheckpointError
        When the stored weights do not match the stored architecture (one line).
    """
    models = build_models(model_kwargs_of(state))
    for model, key in zip(models, ("G", "D", "EMA")):
        load_weights(model, state[key], what=key)
    if not all(torch.isfinite(p).all() for p in models[2].parameters()):
        raise CheckpointError("the checkpoint's generator holds NaN or infinite weights (a "
                              "diverged run); use an earlier checkpoint")
    g, d, ema = models
    return g.to(device), d.to(device), ema.to(device)


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], *, what: str) -> None:
    """``model.load_state_dict(weights)``, with a mismatch reported as one CheckpointError line."""
    try:
        model.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError) as e:
        first = " ".join(str(e).split())[:300]
        raise CheckpointError(f"checkpoint's {what} weights do not match the model: {first}") \
            from None
