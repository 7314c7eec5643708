"""A generator on its own, for sharing: one safetensors file (``ylg export``).

A checkpoint holds G, D, the EMA of G, both optimisers and random states: what resuming needs.
To share a trained model, :func:`export_generator` writes just one generator (the EMA by default)
into a `safetensors <https://huggingface.co/docs/safetensors>`_ file, the format model hubs
expect: tensors and a string table, and no code runs when it is read. The file holds

- the generator's weights, named ``generator.<state_dict key>``;
- ``masks_file``: the bytes of the run's mask file (uint8), for a mask-file run;
- the metadata, strings: ``format`` (``ylg-generator``), ``version``, ``weights`` (ema or g),
  ``step``, and as JSON ``model`` (the constructor arguments), ``config`` (the training config)
  and ``class_names``; and ``sha256``, a digest of everything else.

:func:`read_generator` (and so :func:`ylg.sample.load_generator`, for a ``.safetensors`` path)
checks the digest and refuses a file whose tensors or metadata were changed after the export.
The digest catches a changed or damaged file; it is not a signature (whoever rewrites the file
can rewrite the digest), so publish it beside the file: ``ylg export`` prints it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ifg.errors import InvalidArgument
from ifg.files import atomic_write
from ylg.run.checkpoint import check_generator, load_checkpoint
from ylg.models.build import load_weights, model_kwargs_of, models_from_checkpoint
from ylg.errors import CheckpointError

if TYPE_CHECKING:
    from ylg.models import Generator

__all__ = ["GENERATOR_FORMAT", "GENERATOR_VERSION", "export_generator", "read_generator"]

GENERATOR_FORMAT, GENERATOR_VERSION = "ylg-generator", "1"
_PREFIX = "generator."


def _digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """sha256 over the metadata (but the digest) and every tensor's name, dtype, shape, bytes."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in metadata.items() if k != "sha256"},
                        sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def export_generator(checkpoint: str | os.PathLike, out: str | os.PathLike, *,
                     weights: str = "ema") -> dict[str, Any]:
    """Write a checkpoint's generator, config and masks into one safetensors file.

    Parameters
    ----------
    checkpoint : path
        A checkpoint written by ``ylg train``.
    out : path
        The file to write (``.safetensors``); written atomically.
    weights : {"ema", "g"}
        The exponential moving average (the default: what samples and evaluations use) or G.

    Returns
    -------
    dict
        ``path``, ``sha256`` (the digest stored in the file), ``step`` and ``bytes``.

    Raises
    ------
    CheckpointError
        For a missing, corrupt or mismatched checkpoint.
    InvalidArgument
        For ``weights`` other than ema or g.

    Examples
    --------
    >>> import tempfile
    >>> from ylg.train import TrainConfig, train
    >>> run = tempfile.mkdtemp()
    >>> _ = train(TrainConfig(out=run, width=4, batch_size=2, steps=1, attention="none",
    ...                       device="cpu"), progress=False, log=lambda m: None)
    >>> info = export_generator(f"{run}/checkpoint.pt", f"{run}/g.safetensors")
    >>> G, meta = read_generator(info["path"])
    >>> meta["step"], G.resolution, meta["class_names"][:2]
    (1, 32, ['zero', 'one'])
    """
    from safetensors.torch import save

    if weights not in ("ema", "g"):
        raise InvalidArgument(f"weights must be ema or g, got {weights!r}")
    state = load_checkpoint(checkpoint)
    g, _, ema = models_from_checkpoint(state)  # checks that the weights fit the architecture
    G = ema if weights == "ema" else g
    tensors = {_PREFIX + k: v.detach().cpu().contiguous().clone()
               for k, v in G.state_dict().items()}
    if state.get("masks_file") is not None:
        tensors["masks_file"] = state["masks_file"].clone()
    metadata = {"format": GENERATOR_FORMAT, "version": GENERATOR_VERSION, "weights": weights,
                "step": str(int(state["step"])), "model": json.dumps(state["model"]),
                "config": json.dumps(state.get("config") or {}),
                "class_names": json.dumps(list(state.get("class_names") or []))}
    metadata["sha256"] = _digest(tensors, metadata)
    blob = save(tensors, metadata=metadata)
    path = atomic_write(out, blob)
    return {"path": path, "sha256": metadata["sha256"], "step": int(state["step"]),
            "bytes": len(blob)}


def read_generator(path: str | os.PathLike, *, device: str | torch.device = "cpu"
                   ) -> tuple[Generator, dict[str, Any]]:
    """The generator of a file written by :func:`export_generator`, in eval mode.

    Parameters
    ----------
    path : path
    device : str or torch.device

    Returns
    -------
    (Generator, dict)
        The dict holds ``step``, ``class_names``, ``config``, ``weights`` and ``sha256``.

    Raises
    ------
    CheckpointError
        When the file is missing, is not a safetensors file, is not a ylg generator, or was
        changed after the export (its content does not match its sha256); one line.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from ylg.models import Generator

    path = Path(path)
    if not path.is_file():
        from ylg.run.files import why_not_a_file

        raise CheckpointError(f"generator file {str(path)!r} {why_not_a_file(path)}")
    try:
        raw = path.read_bytes()
        tensors = load(raw)
        header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    except (SafetensorError, ValueError, OSError) as e:
        raise CheckpointError(f"cannot read {str(path)!r}: corrupt, truncated or not a "
                              f"safetensors file ({type(e).__name__})") from None
    meta = header.get("__metadata__") or {}
    if meta.get("format") != GENERATOR_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a ylg generator file")
    if meta.get("version") != GENERATOR_VERSION:
        raise CheckpointError(f"{str(path)!r} has version {meta.get('version')!r}; this ylg "
                              f"reads version {GENERATOR_VERSION}")
    if meta.get("sha256") != _digest(tensors, meta):
        raise CheckpointError(f"{str(path)!r} was changed after its export or is damaged: its "
                              f"content does not match its sha256; refusing to load it")
    try:
        model = json.loads(meta["model"])
        info = {"step": int(meta["step"]), "class_names": json.loads(meta["class_names"]),
                "config": json.loads(meta["config"]), "weights": meta["weights"],
                "sha256": meta["sha256"]}
    except (KeyError, ValueError, TypeError, RecursionError) as e:
        raise CheckpointError(f"{str(path)!r} has broken metadata ({e})") from None
    names = info["class_names"]
    if not (isinstance(names, list) and len(names) <= 100_000
            and all(isinstance(n, str) and len(n) <= 200 for n in names)):
        raise CheckpointError(f"{str(path)!r} has broken metadata: class_names is "
                              f"{str(names)[:60]!r}, expected a list of names (strings)")
    if not isinstance(info["config"], dict) or not isinstance(model, dict) \
            or info["weights"] not in ("ema", "g"):
        raise CheckpointError(f"{str(path)!r} has broken metadata: config and model must be "
                              "JSON objects, weights ema or g")
    weights = {k[len(_PREFIX):]: v for k, v in tensors.items() if k.startswith(_PREFIX)}
    check_generator(model, tensors.get("masks_file"), weights, f"generator file {str(path)!r}")
    kwargs = model_kwargs_of({"model": model, "masks_file": tensors.get("masks_file")})
    G = Generator(**kwargs)
    load_weights(G, weights, what="generator")
    if not all(torch.isfinite(p).all() for p in G.parameters()):
        raise CheckpointError(f"{str(path)!r} holds NaN or infinite weights")
    return G.to(device).eval(), info
