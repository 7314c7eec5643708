"""Masks from outside ``ifg``: a FlexAttention ``mask_mod`` found by name, a dense array.

A ``mask_mod(b, h, q_idx, kv_idx)`` returns True where query ``q_idx`` may attend key ``kv_idx``
(PyTorch's FlexAttention). :func:`load_mask_mod` finds one by ``FILE.py:FUNCTION`` or
``MODULE:FUNCTION`` (a user's file is imported as Python imports it: it is the user's own code,
that is the point); evaluating it needs torch, so it is ``ylg``'s work:
:func:`ylg.attention.flexmasks.from_mask_mod` and ``from_block_mask`` give the Pattern. ``ifg``
never imports torch. :func:`from_array` takes a dense boolean array (numpy, or anything with
``.detach().cpu().numpy()`` such as a torch tensor).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ifg.errors import InvalidArgument
from ifg.pattern import Pattern

__all__ = ["load_mask_mod", "from_array"]


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
