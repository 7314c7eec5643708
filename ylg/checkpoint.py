"""Checkpoints: atomic save, safe load, random-generator states.

A checkpoint is a plain dict that ``torch.load(..., weights_only=True)`` reads: tensors, numbers,
strings, lists and dicts only (no pickled classes). It is written to a temporary file in the same
folder, flushed to disk, and renamed over the old one: a process killed at any moment (``kill -9``
included) leaves the previous complete checkpoint in place.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from ylg.errors import CheckpointError

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "rng_state",
           "set_rng_state", "model_kwargs_of", "models_from_checkpoint", "load_weights"]

FORMAT = "ylg-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "step", "config", "model", "G", "D", "EMA", "opt_G", "opt_D",
            "rng")


def save_checkpoint(path, state) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename).

    Examples
    --------
    >>> import tempfile
    >>> p = save_checkpoint(Path(tempfile.mkdtemp()) / "c.pt", {"step": torch.tensor(3)})
    >>> torch.load(p, weights_only=True)["step"].item()
    3
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new, never half
    finally:
        tmp.unlink(missing_ok=True)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def load_checkpoint(path) -> dict:
    """Read a checkpoint with ``weights_only=True`` and check that it is one of ours.

    Raises
    ------
    CheckpointError
        When the file is missing, unreadable, or not a complete ylg checkpoint; one line.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "bad.pt"
    >>> _ = p.write_bytes(b"not a checkpoint")
    >>> load_checkpoint(p)
    Traceback (most recent call last):
    ...
    ylg.errors.CheckpointError: cannot read checkpoint ...
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        # torch's own message advises weights_only=False, which would be unsafe: name the type
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: corrupt, truncated or not "
                              f"a ylg checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a ylg checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {str(path)!r} has version {state.get('version')!r}; "
                              f"this ylg reads version {VERSION}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}")
    return state


def rng_state() -> dict:
    """Every global random generator's state, as tensors and lists (``weights_only``-safe).

    Examples
    --------
    >>> sorted(rng_state())
    ['cuda', 'numpy', 'python', 'torch']
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, mt, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "state": list(mt), "gauss": gauss},
    }


def set_rng_state(state) -> None:
    """Restore what :func:`rng_state` returned.

    Examples
    --------
    >>> s = rng_state(); a = torch.rand(1); set_rng_state(s); bool(torch.rand(1) == a)
    True
    """
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][:torch.cuda.device_count()])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def model_kwargs_of(state) -> dict:
    """The constructor arguments of G and D stored in a checkpoint (``attention`` resolved).

    A mask file's bytes travel inside the checkpoint, so that it loads without the file.
    """
    kwargs = dict(state["model"])
    blob = state.get("masks_file")
    if blob is not None:
        import tempfile

        from ifg.io import load  # imported late: only checkpoints of mask-file runs need it

        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "masks.npz"
            f.write_bytes(blob.numpy().tobytes())
            kwargs["attention"] = load(f)
    return kwargs


def models_from_checkpoint(state, *, device="cpu"):
    """Rebuild ``(G, D, EMA)`` from a loaded checkpoint, weights restored.

    Raises
    ------
    CheckpointError
        When the stored weights do not match the stored architecture (one line).
    """
    from ylg.models import Discriminator, Generator

    kwargs = model_kwargs_of(state)
    d_kwargs = {k: v for k, v in kwargs.items() if k != "z_dim"}
    models = (Generator(**kwargs), Discriminator(**d_kwargs), Generator(**kwargs))
    for model, key in zip(models, ("G", "D", "EMA")):
        load_weights(model, state[key], what=key)
    return tuple(m.to(device) for m in models)


def load_weights(model, weights, *, what) -> None:
    """``model.load_state_dict(weights)``, with a mismatch reported as one CheckpointError line."""
    try:
        model.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError) as e:
        first = " ".join(str(e).split())[:300]
        raise CheckpointError(f"checkpoint's {what} weights do not match the model: {first}") \
            from None
