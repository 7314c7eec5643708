"""Any mask as a pattern: a FlexAttention ``mask_mod``, a torch ``BlockMask``, a dense array.

A ``mask_mod(b, h, q_idx, kv_idx)`` returns True where query ``q_idx`` may attend key ``kv_idx``
(PyTorch's FlexAttention). On an ``H x W`` grid the tokens are row-major pixels. The function is
evaluated on blocks of queries against every key at once (``q_idx`` of shape ``(rows, 1)``,
``kv_idx`` of shape ``(1, N)``, broadcasting as torch's own elementwise operations do; a function
that does not broadcast is evaluated through ``torch.vmap``, as ``create_mask`` does), so the
memory stays that of one block: a 256 x 256 grid has 4.3e9 pairs and never holds them at once.

torch is imported only by these functions: ``import ifg`` stays torch-free. A user's file is
imported as Python imports it (it is the user's own code: that is the point).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument, check_positive_int
from ifg.memory import BYTES_PER_EDGE, check_fits
from ifg.pattern import Pattern

__all__ = ["load_mask_mod", "from_mask_mod", "from_block_mask", "from_array"]

#: a mask_mod is evaluated on blocks of at most this many (query, key) pairs
_PAIRS = 1 << 22


def load_mask_mod(ref: str) -> Callable[..., Any]:
    """The function named by ``FILE.py:FUNCTION`` or ``MODULE:FUNCTION``.

    Raises
    ------
    InvalidArgument
        For a reference without ``:``, a file that does not exist, a module or function that
        cannot be found (the close names suggested), or an import that raises.

    Examples
    --------
    >>> load_mask_mod("operator:and_")
    <built-in function and_>
    """
    where, sep, name = str(ref).rpartition(":")
    if not sep or not where or not name:
        raise InvalidArgument(f"a mask_mod must read FILE.py:FUNCTION or MODULE:FUNCTION, got "
                              f"{ref!r}")
    is_file = where.endswith(".py") or os.sep in where or "/" in where
    try:
        if is_file:
            if not os.path.isfile(where):
                raise InvalidArgument(f"mask_mod file {where!r} does not exist")
            module_name = "_ylg_mask_mod_" + os.path.splitext(os.path.basename(where))[0]
            spec = importlib.util.spec_from_file_location(module_name, where)
            if spec is None or spec.loader is None:
                raise InvalidArgument(f"mask_mod file {where!r} cannot be imported")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module  # dataclasses and pickling look modules up there
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except InvalidArgument:
        raise
    except ModuleNotFoundError as err:
        raise InvalidArgument(f"mask_mod module {where!r} cannot be found ({err})") from None
    except Exception as err:  # noqa: BLE001 - the user's module: any error is bad input
        raise InvalidArgument(f"importing the mask_mod's {'file' if is_file else 'module'} "
                              f"{where!r} raised {type(err).__name__}: {err}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        import difflib

        names = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_")]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InvalidArgument(f"{where!r} has no function {name!r}{hint}")
    return fn  # type: ignore[no-any-return]


def _label(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


def _evaluate(fn: Callable[..., Any], b: Any, h: Any, q: Any, kv: Any) -> np.ndarray:
    """``fn`` on the pairs ``q x kv`` as a boolean numpy array of shape ``(len(q), len(kv))``."""
    import torch

    shape = (q.shape[0], kv.shape[0])
    try:
        out = fn(b, h, q.view(-1, 1), kv.view(1, -1))
        out = torch.broadcast_to(out, shape) if isinstance(out, torch.Tensor) else out
    except Exception as first:  # noqa: BLE001 - not elementwise: vmap it, as create_mask does
        try:
            inner = torch.vmap(lambda qi, ki: fn(b, h, qi, ki), in_dims=(None, 0))
            out = torch.vmap(inner, in_dims=(0, None))(q, kv)
        except Exception:  # noqa: BLE001 - the user's function: report its first error
            raise InvalidArgument(f"mask_mod {_label(fn)} raised {type(first).__name__}: "
                                  f"{first}") from None
    if not isinstance(out, torch.Tensor) or out.dtype != torch.bool:
        what = f"a {out.dtype} tensor" if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvalidArgument(f"mask_mod {_label(fn)} must return a boolean tensor, got {what}")
    if tuple(out.shape) != shape:
        raise InvalidArgument(f"mask_mod {_label(fn)} returned shape {tuple(out.shape)} for "
                              f"{shape[0]} queries and {shape[1]} keys")
    return np.asarray(out.detach().cpu().numpy(), dtype=bool)


def _step(fn: Callable[..., Any], n: int, batch: int, head: int) -> sp.csr_matrix:
    import torch

    rows = max(1, _PAIRS // n)
    # int32 indices, as FlexAttention passes them (and half the memory traffic of int64)
    b, h = torch.tensor(batch, dtype=torch.int32), torch.tensor(head, dtype=torch.int32)
    kv = torch.arange(n, dtype=torch.int32)
    indptr, indices = [np.zeros(1, dtype=np.int64)], []
    nnz = 0
    for q0 in range(0, n, rows):
        q1 = min(n, q0 + rows)
        block = _evaluate(fn, b, h, torch.arange(q0, q1, dtype=torch.int32), kv)
        counts = block.sum(axis=1, dtype=np.int64)
        indices.append(np.nonzero(block)[1].astype(np.int32))
        indptr.append(nnz + np.cumsum(counts))
        nnz += int(counts.sum())
        check_fits(f"the mask of {_label(fn)} over {n:,} positions (projected from "
                   f"{q1:,} queries)", nnz * n / q1 * BYTES_PER_EDGE)
    return sp.csr_matrix((np.ones(nnz, dtype=bool), np.concatenate(indices),
                          np.concatenate(indptr)), shape=(n, n))


def from_mask_mod(mask_mods: Callable[..., Any] | Sequence[Callable[..., Any]],
                  grid: tuple[int, int], *, batch: int = 0, head: int = 0,
                  name: str | None = None, enumeration: str = "rowmajor") -> Pattern:
    """A pattern whose steps are FlexAttention ``mask_mod`` functions on a grid.

    Parameters
    ----------
    mask_mods : callable or sequence of callables
        One per step (layer): ``mask_mod(b, h, q_idx, kv_idx) -> bool tensor``.
    grid : tuple (h, w)
        Tokens are the row-major pixels, ``N = h * w`` (queries and keys).
    batch, head : int
        The ``b`` and ``h`` passed to the functions.
    name : str, optional
        The pattern's label (default: the functions' names joined by ``/``).
    enumeration : str
        The token order recorded as the pattern's ``rank`` (for block counts).

    Returns
    -------
    Pattern

    Raises
    ------
    InvalidArgument
        For a function that raises or returns anything but a boolean tensor of the pairs' shape,
        or a mask that would not fit in memory.

    Examples
    --------
    >>> def window(b, h, q, kv):
    ...     return ((q // 8 - kv // 8).abs() <= 1) & ((q % 8 - kv % 8).abs() <= 1)
    >>> p = from_mask_mod(window, (8, 8))
    >>> p.edges, p.name
    ([484], 'window')
    """
    from ifg.enumerations import enumeration as enumeration_rank
    from ifg.enumerations import grid_of

    fns = [mask_mods] if callable(mask_mods) else list(mask_mods)
    if not fns or not all(callable(f) for f in fns):
        raise InvalidArgument("mask_mods must be one or more callables")
    h, w = grid_of(check_positive_int("grid height", grid[0]) * grid[1], (grid[0], grid[1]))
    n = h * w
    steps = [_step(f, n, batch, head) for f in fns]
    rank = None if enumeration == "rowmajor" else enumeration_rank(enumeration, (h, w))
    return Pattern(tuple(steps), grid=(h, w), enumeration=enumeration,
                   name=name or "/".join(_label(f) for f in fns), rank=rank)


def from_block_mask(block_mask: Any, grid: tuple[int, int], *, batch: int = 0, head: int = 0,
                    name: str | None = None) -> Pattern:
    """The one-step pattern a torch ``BlockMask`` computes, on a grid.

    What FlexAttention computes: every pair of a full block, and in a partial block the pairs
    its ``mask_mod`` allows. The token order is taken as row-major on ``grid``.

    Raises
    ------
    InvalidArgument
        For a block mask whose sequence lengths are not the grid's ``N``, or whose ``mask_mod``
        raises or returns a non-boolean.
    """
    import torch

    from ifg.enumerations import grid_of

    h, w = grid_of(check_positive_int("grid height", grid[0]) * grid[1], (grid[0], grid[1]))
    n = h * w
    q_len, kv_len = (int(x) for x in block_mask.seq_lengths)
    if (q_len, kv_len) != (n, n):
        raise InvalidArgument(f"the block mask covers {q_len} queries and {kv_len} keys, but "
                              f"the grid {h}x{w} has {n} positions")
    bq, bk = (int(x) for x in block_mask.BLOCK_SIZE)
    bsel = min(batch, block_mask.kv_num_blocks.shape[0] - 1)
    hsel = min(head, block_mask.kv_num_blocks.shape[1] - 1)

    def blocks(num: Any, idx: Any, i: int) -> list[int]:
        if num is None:
            return []
        return [int(j) for j in idx[bsel, hsel, i, :int(num[bsel, hsel, i])]]

    fn = block_mask.mask_mod
    b, hh = torch.tensor(batch, dtype=torch.int32), torch.tensor(head, dtype=torch.int32)
    rows, cols = [], []
    for i in range(-(-n // bq)):
        q = torch.arange(i * bq, min(n, (i + 1) * bq), dtype=torch.int32)
        for kinds, full in ((blocks(block_mask.kv_num_blocks, block_mask.kv_indices, i), False),
                            (blocks(block_mask.full_kv_num_blocks, block_mask.full_kv_indices,
                                    i), True)):
            for j in kinds:
                kv = torch.arange(j * bk, min(n, (j + 1) * bk), dtype=torch.int32)
                if full:
                    allowed = np.ones((len(q), len(kv)), dtype=bool)
                else:
                    allowed = _evaluate(fn, b, hh, q, kv)
                r, c = np.nonzero(allowed)
                rows.append(r + i * bq)
                cols.append(c + j * bk)
    r_all = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c_all = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(r_all), dtype=bool), (r_all, c_all)), shape=(n, n))
    return Pattern((m,), grid=(h, w), name=name or f"block-mask:{_label(fn)}")


def from_array(masks: Any, grid: tuple[int, int], *, name: str = "array") -> Pattern:
    """A pattern from a dense boolean array (numpy or torch) of shape ``(N, N)`` or ``(P, N, N)``.

    Raises
    ------
    InvalidArgument
        For an array that is not boolean, or whose shape does not match the grid.

    Examples
    --------
    >>> import numpy as np
    >>> from_array(np.eye(4, dtype=bool), (2, 2)).edges
    [4]
    """
    if hasattr(masks, "detach"):  # a torch tensor
        masks = masks.detach().cpu().numpy()
    arr = np.asarray(masks)
    if arr.dtype != bool:
        raise InvalidArgument(f"masks must be a boolean array, got dtype {arr.dtype}")
    h, w = grid
    if arr.ndim not in (2, 3) or arr.shape[-2:] != (h * w, h * w):
        raise InvalidArgument(f"masks must have shape (N, N) or (P, N, N) with N = {h * w} for "
                              f"the grid {h}x{w}, got {arr.shape}")
    return Pattern.from_dense(arr, grid=(h, w), name=name)
