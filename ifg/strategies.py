"""Hypothesis strategies for property tests of attention patterns.

Small, composable, with explicit bounds, so that a user can state a law about a new pattern and
let hypothesis look for a counterexample:

>>> from hypothesis import given
>>> import ifg
>>> from ifg.strategies import full_information_patterns
>>> @given(full_information_patterns(max_n=9))
... def test_extended_patterns_have_full_information(p):
...     assert ifg.check(p).full_information
>>> test_extended_patterns_have_full_information()

Importing this module imports hypothesis (the ``hypothesis`` extra:
``pip install 'ylg-toolkit[hypothesis]'``); ``import ifg`` does not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import scipy.sparse as sp
try:
    from hypothesis import strategies as st
except ImportError:  # an optional dependency: only this module needs it
    raise ImportError("ifg.strategies needs hypothesis: pip install 'ylg-toolkit[hypothesis]'"
                      ) from None

from ifg.enumerations import ENUMERATIONS, enumeration
from ifg.pattern import layout
from ifg.errors import InvalidArgument, check_positive_int, check_known
from ifg.pattern import Pattern

__all__ = ["grids", "enumeration_names", "masks", "patterns", "named_patterns",
           "full_information_patterns", "family_specs", "family_patterns"]


def grids(*, min_side: int = 1, max_side: int = 6,
          max_n: int | None = None) -> st.SearchStrategy[tuple[int, int]]:
    """Grids ``(h, w)`` with ``min_side <= h, w <= max_side`` (and ``h * w <= max_n``).

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(grids(max_side=4))
    ... def test(grid):
    ...     assert 1 <= grid[0] <= 4 and 1 <= grid[1] <= 4
    >>> test()
    """
    min_side = check_positive_int("min_side", min_side)
    max_side = check_positive_int("max_side", max_side)
    if min_side > max_side:
        raise InvalidArgument(f"min_side={min_side} is above max_side={max_side}")
    if max_n is not None and check_positive_int("max_n", max_n) < min_side * min_side:
        raise InvalidArgument(f"max_n={max_n} leaves no grid with sides >= {min_side}")

    def widths(h: int) -> st.SearchStrategy[tuple[int, int]]:
        top = max_side if max_n is None else min(max_side, max_n // h)
        return st.integers(min_side, top).map(lambda w: (h, w))

    top_h = max_side if max_n is None else min(max_side, max_n // min_side)
    return st.integers(min_side, top_h).flatmap(widths)


def _allowed(grid: tuple[int, int]) -> list[str]:
    ok = []
    for name in ENUMERATIONS:
        try:
            enumeration(name, grid)
        except InvalidArgument:
            continue
        ok.append(name)
    return ok


def enumeration_names(grid: tuple[int, int] | None = None) -> st.SearchStrategy[str]:
    """Enumeration names; with a grid, only those that can lay it out (Hilbert needs 2^k x 2^k).

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(enumeration_names((3, 3)))
    ... def test(name):
    ...     assert name not in ("hilbert", "zorder")
    >>> test()
    """
    return st.sampled_from(list(ENUMERATIONS) if grid is None
                           else _allowed(cast("tuple[int, int]", tuple(grid))))


def _density_bounds(density: float | tuple[float, float]) -> tuple[float, float]:
    if np.isscalar(density):  # numpy's stubs narrow it to numpy scalars, not to float
        lo, hi = 0.0, float(cast(float, density))
    else:
        lo, hi = map(float, cast("tuple[float, float]", density))
    if not 0.0 <= lo <= hi <= 1.0:
        raise InvalidArgument(f"density must be (low, high) with 0 <= low <= high <= 1, "
                              f"got {density!r}")
    return lo, hi


def masks(n: int, *, density: float | tuple[float, float] = (0.0, 1.0)
          ) -> st.SearchStrategy[sp.csr_matrix]:
    """Square boolean CSR masks of side n whose share of True entries lies within ``density``.

    Parameters
    ----------
    n : int
    density : float or (float, float)
        Bounds on ``nnz / n**2``; a single number is the upper bound.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(masks(4, density=(0.25, 0.5)))
    ... def test(m):
    ...     assert m.shape == (4, 4) and 4 <= m.nnz <= 8
    >>> test()
    """
    n = check_positive_int("n", n)
    lo, hi = _density_bounds(density)
    cells = n * n
    least, most = math.ceil(lo * cells), math.floor(hi * cells)
    if least > most:
        raise InvalidArgument(f"no mask of side {n} has a density within {density!r}")

    def build(drawn: set[int]) -> sp.csr_matrix:
        flat = np.fromiter(sorted(drawn), dtype=np.int64, count=len(drawn))
        rows, cols = np.divmod(flat, n)
        return sp.csr_matrix((np.ones(len(flat), dtype=bool), (rows, cols)), shape=(n, n))

    return st.sets(st.integers(0, cells - 1), min_size=least, max_size=most).map(build)


def patterns(*, max_n: int = 16, steps: int | tuple[int, int] = 2,
             density: float | tuple[float, float] = (0.0, 0.5),
             enumerations: bool = True) -> st.SearchStrategy[Pattern]:
    """Patterns of random masks on a random grid of at most ``max_n`` positions.

    Parameters
    ----------
    max_n : int
        The most positions.
    steps : int or (int, int)
        The number of steps, or bounds on it.
    density : float or (float, float)
        Bounds on each step's density (see :func:`masks`).
    enumerations : bool
        Also draw an enumeration the grid allows and record its rank (so that causal checks use
        it); False keeps row-major order.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(patterns(max_n=6, steps=(1, 3)))
    ... def test(p):
    ...     assert p.n <= 6 and 1 <= p.num_steps <= 3
    >>> test()
    """
    max_n = check_positive_int("max_n", max_n)
    lo_steps, hi_steps = (steps, steps) if isinstance(steps, int) or np.isscalar(steps) else steps
    lo_steps = check_positive_int("steps", lo_steps)
    hi_steps = check_positive_int("steps", hi_steps)

    lo, hi = _density_bounds(density)

    def feasible(grid: tuple[int, int]) -> bool:  # a mask of this size fits the density bounds
        cells = (grid[0] * grid[1]) ** 2
        return math.ceil(lo * cells) <= math.floor(hi * cells)

    if not any(feasible((n, 1)) for n in range(1, max_n + 1)):
        raise InvalidArgument(f"no grid of at most {max_n} positions has masks with a density "
                              f"within {density!r}")

    @st.composite
    def build(draw: st.DrawFn) -> Pattern:
        grid = draw(grids(max_side=max_n, max_n=max_n).filter(feasible))
        n = grid[0] * grid[1]
        p = draw(st.integers(lo_steps, hi_steps))
        ms = [draw(masks(n, density=density)) for _ in range(p)]
        pattern = Pattern(tuple(ms), grid=grid, name="random")
        if enumerations:
            name = draw(enumeration_names(grid))
            if name != "rowmajor":
                pattern = layout(pattern, name, grid)
        return pattern

    return build()


def named_patterns(*, max_side: int = 9, names: Sequence[str] | None = None,
                   esa_only: bool = False) -> st.SearchStrategy[Pattern]:
    """The named patterns of :mod:`ifg.patterns` on square grids, under drawn enumerations.

    Parameters
    ----------
    max_side : int
        The largest grid side (N = side * side).
    names : sequence of str, optional
        Which patterns; by default all but ``dense``.
    esa_only : bool
        Only the paper's ESA (``manhattan``) instead of any enumeration the grid allows.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(named_patterns(max_side=5, names=["ltr", "rtl"]))
    ... def test(p):
    ...     assert p.name in ("ltr", "rtl")
    >>> test()
    """
    from ifg.patterns import PATTERNS
    from ifg.spec import pattern

    max_side = check_positive_int("max_side", max_side)
    names = [n for n in PATTERNS if n != "dense"] if names is None else list(names)
    for name in names:
        check_known("pattern", name, PATTERNS)

    @st.composite
    def build(draw: st.DrawFn) -> Pattern:
        side = draw(st.integers(2, max(2, max_side)))
        name = draw(st.sampled_from(names))
        enum = "manhattan" if esa_only else draw(enumeration_names((side, side)))
        return pattern(name, side * side, enumeration=enum)

    return build()


def full_information_patterns(*, max_n: int = 16, steps: int | tuple[int, int] = 2,
                              density: float | tuple[float, float] = (0.0, 0.3),
                              causal: bool = False, max_keys_per_query: int | None = None
                              ) -> st.SearchStrategy[Pattern]:
    """Random patterns extended to Full Information with :func:`ifg.extend.extend`.

    Parameters
    ----------
    max_n, steps, density
        As for :func:`patterns` (the density is before the extension).
    causal : bool
        Extend to causal Full Information only (adding causal edges only).
    max_keys_per_query : int, optional
        A budget for the extension; patterns it cannot extend within it are skipped.

    Examples
    --------
    >>> from hypothesis import given
    >>> from ifg.check import full_information
    >>> @given(full_information_patterns(max_n=8))
    ... def test(p):
    ...     assert full_information(p)
    >>> test()
    """
    from ifg.extend import ExtensionInfeasible, extend

    def extended(p: Pattern) -> Pattern | None:
        try:
            if max_keys_per_query is not None and max(
                    int(np.diff(s.indptr).max()) for s in p.steps) > max_keys_per_query:
                return None
            return extend(p, causal=causal, max_keys_per_query=max_keys_per_query,
                          exact=False).pattern
        except ExtensionInfeasible:
            return None

    found = patterns(max_n=max_n, steps=steps, density=density).map(extended)
    return cast("st.SearchStrategy[Pattern]", found.filter(lambda p: p is not None))


def _pair_text(draw: st.DrawFn, top: tuple[int, int], least: int = 1) -> tuple[str, tuple[int, int]]:
    """A size parameter as a spec writes it (``K`` or ``KhxKw``) and its value per axis."""
    rows = draw(st.integers(least, max(least, top[0])))
    if draw(st.booleans()):
        return str(rows), (rows, rows)
    cols = draw(st.integers(least, max(least, top[1])))
    return f"{rows}x{cols}", (rows, cols)


def _divisor(draw: st.DrawFn, side: int) -> int:
    return draw(st.sampled_from([d for d in range(1, side + 1) if side % d == 0]))


def family_specs(grid: tuple[int, int], *, names: Sequence[str] | None = None
                 ) -> st.SearchStrategy[str]:
    """Specifications of one 2-D family (:mod:`ifg.families`) whose parameters fit ``grid``.

    Examples
    --------
    >>> import ifg
    >>> from hypothesis import given
    >>> @given(family_specs((4, 6)))
    ... def test(spec):
    ...     assert ifg.pattern(spec, grid=(4, 6)).n == 24
    >>> test()
    """
    from ifg.families import FAMILIES

    h, w = (check_positive_int("grid height", grid[0]), check_positive_int("grid width", grid[1]))
    names = list(FAMILIES) if names is None else list(names)
    for name in names:
        check_known("family", name, FAMILIES)

    @st.composite
    def build(draw: st.DrawFn) -> str:
        name = draw(st.sampled_from(names))
        if name == "neighborhood":
            dil_text, dil = _pair_text(draw, (h, w))
            kernel = draw(st.integers(1, max(1, min(h // dil[0], w // dil[1]))))
            if kernel * dil[0] > h or kernel * dil[1] > w:
                dil_text, kernel = "1", 1
            causal = draw(st.sampled_from(["false", "true", "1x0", "0x1"]))
            return f"{name}:kernel={kernel},dilation={dil_text},causal={causal}"
        if name == "swin":
            wh, ww = _divisor(draw, h), _divisor(draw, w)
            sh, sw = draw(st.integers(0, wh - 1)), draw(st.integers(0, ww - 1))
            return f"{name}:window={wh}x{ww},shift={sh}x{sw}"
        if name == "sliding-tile":
            th, tw = _divisor(draw, h), _divisor(draw, w)
            mh, mw = draw(st.integers(1, h // th)), draw(st.integers(1, w // tw))
            return f"{name}:tile={th}x{tw},window={mh}x{mw}"
        if name == "global":
            return f"{name}:tokens={draw(st.integers(1, h * w))}"
        if name == "random-keys":
            keys = draw(st.integers(1, min(4, h * w)))
            return f"{name}:keys={keys},seed={draw(st.integers(0, 9))}"
        return name

    return build()


def family_patterns(*, max_side: int = 8, names: Sequence[str] | None = None,
                    combine: bool = True) -> st.SearchStrategy[Pattern]:
    """Patterns of the 2-D families on drawn rectangular grids: one family, or (``combine``)
    a union ``+`` or a sequence ``/`` of two, with ``layers=`` now and then.

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(family_patterns(max_side=5))
    ... def test(p):
    ...     assert p.grid is not None and p.n <= 25
    >>> test()
    """
    from ifg.spec import pattern

    max_side = check_positive_int("max_side", max_side)

    @st.composite
    def build(draw: st.DrawFn) -> Pattern:
        grid = draw(grids(max_side=max_side))
        spec = draw(family_specs(grid, names=names))
        if combine and draw(st.booleans()):
            other = draw(family_specs(grid, names=names))
            spec = f"{spec}{draw(st.sampled_from(['+', '/']))}{other}"
        if draw(st.booleans()):
            spec = f"({spec}):layers={draw(st.integers(1, 4))}"
        return pattern(spec, grid=grid)

    return build()
