"""What ``ylg compare`` compares: a MASKS item resolved into the layers of a probe.

An item is a mask file (``ylg-masks export``/``extend``/``search``), a preset (``ylg``,
``ylg-no-esa``, ``ylg-strided``), a named pattern with an optional enumeration (``ltr``,
``fixed``, ``strided:rowmajor``, ``dense``, ``local``), or a 2-D family or specification as
``ylg-masks`` takes it (``neighborhood:kernel=5``, ``swin:window=4``, ``axial``,
``sliding-tile:tile=4,window=3``, ``neighborhood:kernel=3,layers=4``, unions with ``global``
tokens; see ``ylg-masks list``). The probe runs the masks square on its token grid (a mask file's
key grid must be the task's grid; its tiling and the attention layer's pooling do not apply).

A probe has one attention layer per step. A multi-step group of heads (ifg's ``MaskSet.groups``)
becomes one head of every layer, head ``g`` of layer ``t`` taking the group's step ``t``; a pattern
is one head. An item with fewer steps than the probe has layers repeats its steps in turn (a
one-step ``dense`` or ``local`` attends in every layer). The probe's information-flow graph is the
pattern whose step ``t`` is the union of its heads' masks in layer ``t``: :attr:`Probe.pattern`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ifg.check import reachable_runs
from ifg.errors import InvalidArgument, check_known
from ifg.maskset import MaskSet

from ifg.pattern import Pattern
from ifg.spec import names

__all__ = ["Probe", "resolve", "reachable", "item_depth"]


@dataclass(frozen=True, eq=False)
class Probe:
    """The masks of a probe: ``layers[t][h]`` is head h's boolean (N, N) mask in layer t.

    Attributes
    ----------
    name : str
        The item as the user wrote it.
    layers : tuple of tuple of scipy.sparse.csr_matrix
    grid : tuple (h, w)
    order : numpy.ndarray or None
        The query order the masks were designed in (an ESA enumeration's: the 1-D design is
        compact again in it, so the sparse path tiles the queries in it); None for row-major.
        It changes how fast a probe trains, never what it computes.
    residual : bool
        The probe has a residual path around its attention layers: every position keeps its
        own token, an identity edge in each layer's graph.
    """

    name: str
    layers: tuple[tuple[sp.csr_matrix, ...], ...]
    grid: tuple[int, int]
    order: np.ndarray | None = None
    residual: bool = False

    @property
    def pattern(self) -> Pattern:
        """The probe's information-flow pattern (per layer, the union of its heads, and the
        identity with :attr:`residual`)."""
        n = self.grid[0] * self.grid[1]
        own = [sp.identity(n, dtype=np.int8, format="csr")] if self.residual else []
        steps = [sum([*own, *(m.astype(np.int8) for m in heads)]) > 0 for heads in self.layers]
        return Pattern(tuple(steps), grid=self.grid, name=self.name)

    @property
    def keys_per_query(self) -> float:
        """The budget: keys a query attends, averaged over layers and heads (a layer's work is
        this times its width, however many heads share the width)."""
        n = self.grid[0] * self.grid[1]
        return float(np.mean([m.nnz / n for heads in self.layers for m in heads]))

    def dense(self) -> np.ndarray:
        """All masks as one boolean array of shape ``(layers, heads, N, N)``."""
        return np.stack([np.stack([m.toarray() for m in heads]) for heads in self.layers])


def _from_maskset(name: str, ms: MaskSet, grid: tuple[int, int]) -> list[list[sp.csr_matrix]]:
    if tuple(ms.key_grid) != tuple(grid):
        raise InvalidArgument(f"{name}: its key grid {ms.key_grid[0]}x{ms.key_grid[1]} is not the "
                              f"task's token grid {grid[0]}x{grid[1]}")
    square = ms.key_masks()
    grouped = {h for g in ms.groups for h in g}
    heads = [[square[h] for h in g] for g in ms.groups]
    heads += [[square[h]] for h in range(ms.num_heads) if h not in grouped]
    return heads


def _steps(heads: list[list[sp.csr_matrix]],
           depth: int) -> tuple[tuple[sp.csr_matrix, ...], ...]:
    """Per layer, each head's mask: a head with fewer steps than ``depth`` repeats them."""
    layers = []
    for t in range(depth):
        layers.append(tuple(sp.csr_matrix(h[t % len(h)], dtype=bool) for h in heads))
    return tuple(layers)


def _heads(item: str, grid: tuple[int, int]) -> tuple[list[list[sp.csr_matrix]], np.ndarray]:
    """The item's heads (each a list of steps) and the query order they were designed in."""
    import ifg
    from ifg.maskset import PRESETS
    from ylg.attention.plan import query_order

    n = grid[0] * grid[1]
    path = Path(item)
    if path.suffix == ".npz" or path.is_file():
        if not path.is_file():
            from ylg.run.files import why_not_a_file

            raise InvalidArgument(f"mask file {item!r} {why_not_a_file(path)}")
        from ifg.io import load

        ms = load(path)
        return _from_maskset(item, ms, grid), query_order(ms)
    if item in PRESETS:
        ms = ifg.preset(item, key_grid=grid)
        return _from_maskset(item, ms, grid), query_order(ms)
    name, _, rest = item.partition(":")
    if name in ifg.patterns() and rest and "=" not in rest:  # PATTERN:ENUMERATION
        p = ifg.pattern(name, n, enumeration=rest, grid=grid)
    else:
        if not any(c in item for c in ":+/()") and item not in names():
            # one unknown word: the presets are listed too, and the closest suggested
            check_known("mask set", item, [*PRESETS, *names()])
        p = ifg.pattern(item, n, grid=grid)  # a name, a 2-D family or a specification
    return [list(p.steps)], p.order


def resolve(item: str | os.PathLike[str], grid: Sequence[int], *,
            depth: int | None = None) -> Probe:
    """The probe masks of one MASKS item on a token grid.

    Parameters
    ----------
    item : str or os.PathLike
        A mask file, a preset, ``PATTERN[:ENUMERATION]`` or a specification (see the module).
    grid : tuple (h, w)
        The task's token grid.
    depth : int, optional
        Layers of the probe; by default the item's own number of steps.

    Returns
    -------
    Probe

    Raises
    ------
    InvalidArgument
        For an unknown name, a missing or invalid file or a grid mismatch.

    Examples
    --------
    >>> p = resolve("ylg", (8, 8))
    >>> len(p.layers), len(p.layers[0]), p.layers[0][0].shape
    (2, 4, (64, 64))
    >>> len(resolve("dense", (8, 8), depth=2).layers)
    2
    >>> p = resolve("neighborhood:kernel=3,layers=3", (8, 8))
    >>> len(p.layers), round(p.keys_per_query, 3)
    (3, 9.0)
    """
    from ylg.attention.plan import design_order

    grid = (int(grid[0]), int(grid[1]))
    heads, order = _heads(str(item), grid)
    depth = max(len(h) for h in heads) if depth is None else int(depth)
    return Probe(str(item), _steps(heads, depth), grid, design_order(order))


def reachable(pattern: Pattern) -> np.ndarray:
    """``R[k, q]``: the IFG has a path from input position k to output position q.

    Computed by :func:`ifg.check.reachable_runs` and mapped back to grid positions.

    Examples
    --------
    >>> import ifg
    >>> R = reachable(ifg.pattern("fixed", 64))
    >>> int(R.sum()), int((~R).sum())
    (1856, 2240)
    """
    n = pattern.n
    ptr, starts, ends = reachable_runs(pattern)
    order = pattern.order
    out = np.zeros((n, n), dtype=bool)
    q = np.repeat(np.arange(n), np.diff(ptr))
    for qi, s, e in zip(q, starts, ends):
        out[order[s:e], order[qi]] = True
    return out


def item_depth(item: str | os.PathLike[str], grid: Sequence[int], *,
               residual: bool = False) -> int | None:
    """The layers an item's own steps, applied in turn, take to Full Information on the grid
    (:func:`ifg.depth` of the union of its heads per step, and the identity with ``residual``);
    None when they never get there.

    Examples
    --------
    >>> item_depth("neighborhood:kernel=3", (8, 8)), item_depth("ylg", (8, 8)), item_depth("dense", (4, 4))
    (6, 2, 1)
    """
    from ifg.depth import depth

    return depth(replace(resolve(item, grid), residual=residual).pattern).layers
