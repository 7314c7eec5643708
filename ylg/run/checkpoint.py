"""Checkpoints: the format, atomic save, safe load.

This module is the one home of the checkpoint format (:func:`checkpoint_state` writes it,
:func:`load_checkpoint` checks it, :func:`restore` reads a run back). The models it holds are
built from their record by :mod:`ylg.models.build`; the masks of a mask-file run travel inside
the checkpoint as the file's bytes, so that it loads without the file.

A checkpoint is a plain dict that ``torch.load(..., weights_only=True)`` reads: tensors, numbers,
strings, lists and dicts only (no pickled classes). It is written to a temporary file in the same
folder, flushed to disk, and renamed over the old one: a process killed at any moment (``kill -9``
included) leaves the previous complete checkpoint in place.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from ifg.errors import InvalidArgument, MaskFileError
from ylg.errors import CheckpointError
from ylg.models.build import build_models, load_weights, model_kwargs_of
from ylg.runtime import atomic_write

if TYPE_CHECKING:
    from ylg.models.sagan import Discriminator, Generator

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "checkpoint_state",
           "restore", "rng_state", "set_rng_state", "check_generator"]

FORMAT = "ylg-checkpoint"
#: 2: the attention's heads are concatenated interleaved (channel j*heads + i), as published;
#: a version 1 checkpoint is read by permuting its output projection's input channels
VERSION = 2
REQUIRED = ("format", "version", "step", "config", "model", "G", "D", "EMA", "opt_G", "opt_D",
            "rng")


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename).

    Examples
    --------
    >>> import tempfile
    >>> p = save_checkpoint(Path(tempfile.mkdtemp()) / "c.pt", {"step": torch.tensor(3)})
    >>> torch.load(p, weights_only=True)["step"].item()
    3
    """
    try:
        return atomic_write(path, lambda f: torch.save(state, f), durable=True)
    except RuntimeError as err:  # torch.save wraps its file's write error (a full disk)
        cause = err.__cause__ or err.__context__
        text = str(err).lower()
        if not (isinstance(cause, OSError) or "write" in text or "inline_container" in text):
            raise
        code = cause.errno if isinstance(cause, OSError) and cause.errno else None
        if code is None:
            code = errno.ENOSPC if "space" in str(err).lower() else errno.EIO
        raise OSError(code, os.strerror(code), str(path)) from None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
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
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder; give the checkpoint file "
                              f"(e.g. {str(path / 'checkpoint.pt')!r})")
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} is not a regular file")
    from ylg.run.ptzip import check_entries

    check_entries(path, f"checkpoint {str(path)!r}")  # loading then costs at most its size
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        # torch's own message advises weights_only=False, which would be unsafe: name the type
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: corrupt, truncated or not "
                              f"a ylg checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        if path.suffix == ".safetensors":  # torch.load reads its header as a dict
            raise CheckpointError(f"{str(path)!r} is a safetensors file, not a checkpoint: "
                                  "this needs the run's checkpoint.pt (a generator file from "
                                  "ylg export serves ylg sample, interpolate and evaluate)")
        raise CheckpointError(f"{str(path)!r} is not a ylg checkpoint")
    if state.get("version") not in (1, VERSION):
        raise CheckpointError(f"checkpoint {str(path)!r} has version {state.get('version')!r}; "
                              f"this ylg reads versions 1 and {VERSION}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}")
    _check_record(state, f"checkpoint {str(path)!r}")
    return state


#: bounds on a stored model's arguments, checked before anything is built
_MODEL_LIMITS = {"width": 4096, "num_classes": 100_000, "z_dim": 65_536, "channels": 3,
                 "pool": 8}


def _check_record(state: dict[str, Any], name: str) -> None:
    """Check a loaded checkpoint's fields and types, its model arguments against the model's
    signature, and every stored tensor's name and shape against the model built on the meta
    device (no memory): a hostile record fails here, in one line, before anything is built."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{name}: {why}")

    step = state["step"]
    if isinstance(step, torch.Tensor) and step.numel() == 1 and not step.is_floating_point():
        step = int(step)
    if type(step) is not int or step < 0:
        raise bad(f"step is {state['step']!r}, expected a non-negative integer")
    for key in ("config", "model", "G", "D", "EMA", "opt_G", "opt_D", "rng"):
        if not isinstance(state[key], dict):
            raise bad(f"{key} is a {type(state[key]).__name__}, expected a dict")
    for key in ("G", "D", "EMA"):
        if not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                   for k, v in state[key].items()):
            raise bad(f"{key} must map names to tensors")
    rng = state["rng"]  # what set_rng_state hands to torch, numpy and random, typed
    np_state, py_state = rng.get("numpy"), rng.get("python")

    def ints(x: Any, n: int) -> bool:
        return isinstance(x, list) and len(x) == n and all(type(v) is int for v in x)

    if not (isinstance(rng.get("torch"), torch.Tensor) and rng["torch"].dtype == torch.uint8
            and rng["torch"].dim() == 1
            and isinstance(rng.get("cuda", []), list)
            and all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8
                    for t in rng.get("cuda", []))
            and isinstance(np_state, dict) and isinstance(np_state.get("keys"), torch.Tensor)
            and np_state["keys"].shape == (624,) and not np_state["keys"].is_floating_point()
            and type(np_state.get("pos")) is int and type(np_state.get("has_gauss")) is int
            and type(np_state.get("cached")) in (int, float)
            and isinstance(py_state, dict) and type(py_state.get("version")) is int
            and ints(py_state.get("state"), 625)
            and (py_state.get("gauss") is None or type(py_state.get("gauss")) is float)):
        raise bad("rng does not hold the random generators' states (torch, cuda, numpy, "
                  "python) of the types ylg writes")
    names = state.get("class_names")
    if names is not None and not (isinstance(names, list) and len(names) <= 100_000 and all(
            isinstance(n, str) and len(n) <= 200 for n in names)):
        raise bad(f"class_names is {str(names)[:60]!r}, expected a list of at most 100,000 "
                  "names (strings of at most 200 characters)")
    blob = state.get("masks_file")
    if blob is not None and not (isinstance(blob, torch.Tensor) and blob.dtype == torch.uint8
                                 and blob.dim() == 1):
        raise bad("masks_file must be the mask file's bytes (a 1-D uint8 tensor)")
    built = _built_on_meta(state["model"], blob, name)
    if state["version"] == 1:
        _interleave_heads(state, built)
    for model_, key in zip(built, ("G", "D", "EMA")):
        _same_tensors(model_, state[key], f"{name}: {key}")


def check_generator(model: dict[str, Any], masks_file: torch.Tensor | None,
                    weights: dict[str, torch.Tensor], name: str) -> None:
    """Check a generator's stored arguments and weights (names, shapes) before building it.

    The checks of :func:`load_checkpoint` for a generator alone (``ylg export`` files).

    Raises
    ------
    CheckpointError
    """
    if not isinstance(model, dict):
        raise CheckpointError(f"{name}: model is a {type(model).__name__}, expected a dict")
    _same_tensors(_built_on_meta(model, masks_file, name)[0], weights, f"{name}: the generator")


def _built_on_meta(model: dict[str, Any], blob: torch.Tensor | None,
                   name: str) -> tuple[Generator, Discriminator, Generator]:
    """G, D and EMA built on the meta device (no memory) from checked arguments."""
    import inspect

    from ylg.models import Generator

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{name}: {why}")

    allowed = inspect.signature(Generator.__init__).parameters
    unknown = sorted(set(model) - set(allowed) - {"self"})
    if unknown:
        raise bad(f"model has unknown argument(s) {', '.join(map(repr, unknown))}")
    for key, value in model.items():
        default = allowed[key].default
        if key == "attention":
            if not isinstance(value, str):
                raise bad(f"model.attention is {value!r}, expected a name")
        elif key == "sn_constraint":
            from ylg.models.layers import SN_CONSTRAINTS
            if value not in SN_CONSTRAINTS:
                raise bad(f"model.sn_constraint is {value!r}, expected one of "
                          f"{', '.join(SN_CONSTRAINTS)}")
        elif value is None and default is None:
            continue
        elif type(value) is not int or value <= 0 or value > _MODEL_LIMITS.get(key, 1 << 16):
            raise bad(f"model.{key} is {value!r}, expected an integer in "
                      f"[1, {_MODEL_LIMITS.get(key, 1 << 16)}]")
    if model.get("attention") == "file" and blob is None:
        raise bad("model.attention is 'file' but the checkpoint holds no masks_file")
    try:
        kwargs = model_kwargs_of({"model": model, "masks_file": blob},
                                 name=f"{name}: its masks")
        with torch.device("meta"):
            return build_models(kwargs, device="meta")
    except MaskFileError as err:
        raise CheckpointError(str(err)) from None  # it names the checkpoint already
    except InvalidArgument as err:
        raise bad(f"its model cannot be built: {err}") from None


#: the attention layer's fingerprint of its masks, which older files lack (and still load)
_FINGERPRINT = "mask_fingerprint"


def _same_tensors(model: torch.nn.Module, weights: dict[str, torch.Tensor], what: str) -> None:
    """The stored ``weights`` have exactly the model's tensor names and shapes."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in weights.items()}
    for k in set(want) - set(have):  # saved before the masks' fingerprint travelled with them
        if k.endswith(_FINGERPRINT):
            del want[k]
    if want != have:
        extra, lost = sorted(set(have) - set(want)), sorted(set(want) - set(have))
        shapes = [k for k in set(want) & set(have) if want[k] != have[k]]
        detail = (f"unknown tensors {extra[:3]}" if extra else
                  f"missing tensors {lost[:3]}" if lost else
                  f"{shapes[0]} is {have[shapes[0]]}, the model's {want[shapes[0]]}")
        raise CheckpointError(f"{what} does not match the stored model arguments ({detail})")


def _interleave_heads(state: dict[str, Any], built: tuple[torch.nn.Module, ...]) -> None:
    """Rewrite a version 1 checkpoint (heads concatenated head after head) to version 2's
    interleaved order: the output projection's input channel h*e + j moves to j*heads + h."""
    from ylg.attention import Attention2d

    for model, key in zip(built, ("G", "D", "EMA")):
        weights = state[key]
        heads = {n: m.heads for n, m in model.named_modules()
                 if isinstance(m, Attention2d) and m.heads > 1}
        for layer, nh in heads.items():
            for suffix, dim in ((".out.parametrizations.weight.original", 1),
                                (".out.parametrizations.weight.0._v", 0)):
                name = layer + suffix
                if name in weights and weights[name].shape[dim] % nh == 0:
                    w = weights[name]
                    e = w.shape[dim] // nh
                    new = torch.arange(w.shape[dim]).view(nh, e).t().reshape(-1)
                    # new position j*nh + h takes old channel h*e + j
                    weights[name] = w.index_select(dim, new)
    state["version"] = VERSION


def rng_state() -> dict[str, Any]:
    """Every global random generator's state, as tensors and lists (``weights_only``-safe).

    Examples
    --------
    >>> sorted(rng_state())
    ['cuda', 'numpy', 'python', 'torch']
    """
    name, keys, pos, has_gauss, cached = cast(tuple, np.random.get_state())  # the legacy tuple
    version, mt, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "state": list(mt), "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
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


def checkpoint_state(*, step: int, config: dict[str, Any], model: dict[str, Any],
                     masks_file: torch.Tensor | None, class_names: Sequence[str],
                     world_size: int, G: torch.nn.Module, D: torch.nn.Module,
                     EMA: torch.nn.Module, opt_G: torch.optim.Optimizer,
                     opt_D: torch.optim.Optimizer) -> dict[str, Any]:
    """The checkpoint of a run at ``step``: the one place that writes the format.

    Parameters
    ----------
    step : int
    config : dict
        The run's ``TrainConfig.to_dict()``.
    model : dict
        The constructor arguments of G and D, ``attention`` as the name or ``"file"``.
    masks_file : torch.Tensor or None
        The mask file's bytes (uint8) of a mask-file run.
    class_names : list of str
    world_size : int
    G, D, EMA : torch.nn.Module
    opt_G, opt_D : torch.optim.Optimizer

    Returns
    -------
    dict
        What :func:`save_checkpoint` writes and :func:`load_checkpoint` reads; it holds the
        global random generators' states too.

    Examples
    --------
    >>> g, d, ema = build_models(dict(resolution=32, width=4, num_classes=10, channels=1,
    ...                               attention="none"))
    >>> opt = torch.optim.Adam(g.parameters())
    >>> s = checkpoint_state(step=1, config={}, model={}, masks_file=None, class_names=[],
    ...                      world_size=1, G=g, D=d, EMA=ema, opt_G=opt, opt_D=opt)
    >>> [k for k in REQUIRED if k not in s]
    []
    """
    return {"format": FORMAT, "version": VERSION, "step": step, "config": config,
            "model": model, "masks_file": masks_file, "class_names": list(class_names),
            "world_size": world_size, "G": G.state_dict(), "D": D.state_dict(),
            "EMA": EMA.state_dict(), "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
            "rng": rng_state()}


def restore(state: dict[str, Any], G: torch.nn.Module, D: torch.nn.Module, EMA: torch.nn.Module,
            opt_G: torch.optim.Optimizer, opt_D: torch.optim.Optimizer) -> None:
    """Load a checkpoint's weights, optimiser states and random generators into a run.

    Raises
    ------
    CheckpointError
        When a part does not match the model (one line).
    """
    for model, key in ((G, "G"), (D, "D"), (EMA, "EMA")):
        load_weights(model, state[key], what=key)
    for opt, key in ((opt_G, "opt_G"), (opt_D, "opt_D")):
        try:
            opt.load_state_dict(state[key])
        except (ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"checkpoint's {key} does not match the model: "
                                  f"{' '.join(str(e).split())[:200]}") from None
    set_rng_state(state["rng"])
