"""Pattern specifications: ``NAME:key=value,...`` terms combined into unions and sequences.

A specification names a pattern the same way everywhere (``ylg-masks check --pattern SPEC``,
``ifg.pattern(SPEC, ...)``):

================================= ===========================================================
``NAME``                          a named pattern (``ltr``, ...) or 2-D family with its defaults
``NAME:key=value,...``            with parameters (``neighborhood:kernel=7,dilation=2``); a size
                                  takes ``K`` or ``KhxKw``, a flag ``true``/``false``
``A + B``                         union, step by step: step t allows what step t of A or of B
                                  allows (a shorter pattern repeats; lcm(P_A, P_B) steps)
``A / B``                         sequence: the steps of A, then those of B (layers that
                                  alternate); ``+`` binds tighter than ``/``
``(A / B):layers=L``, ``A:layers=L``  the steps repeated, in order, to L steps (a model of L
                                  such layers); ``layers`` is a parameter of every term and group
================================= ===========================================================

Examples: ``neighborhood:kernel=7/neighborhood:kernel=7,dilation=4`` (NATTEN's advice: dilation
1 alternating with a large one), ``neighborhood:kernel=7+global:tokens=2+random-keys:keys=3``
(BigBird on a neighbourhood), ``(swin:window=8):layers=6``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ifg.errors import InvalidArgument, check_known, check_positive_int
from ifg.families import FAMILIES, Param
from ifg.pattern import Pattern
from ifg.patterns import PATTERNS, named_pattern

__all__ = ["pattern", "Term", "Union", "Sequence", "parse", "build_steps", "pattern_of_spec", "MAX_STEPS", "names",
           "family_params"]

#: a specification builds at most this many steps (a union's lcm, layers=)
MAX_STEPS = 4096

_TOKEN = re.compile(r"\s*([+/()])\s*")


@dataclass
class Term:
    """One named pattern or family with its parameters (as given: strings from a spec)."""

    name: str
    params: dict = field(default_factory=dict)
    layers: int | None = None


@dataclass
class Union:
    """Step by step union of its parts."""

    parts: list
    layers: int | None = None


@dataclass
class Sequence:
    """The steps of its parts, one part after the other."""

    parts: list
    layers: int | None = None


Node = Term | Union | Sequence


def names() -> list[str]:
    """Every name a term can take: the named patterns, then the 2-D families.

    Examples
    --------
    >>> "neighborhood" in names() and "ltr" in names()
    True
    """
    return [*PATTERNS, *FAMILIES]


def parse(spec: str) -> Node:
    """Parse a specification into its tree (names and parameter names checked, values not).

    Raises
    ------
    InvalidArgument
        For an empty spec, unbalanced parentheses, an unknown name or parameter (the close
        ones suggested), or a parameter without ``=``.

    Examples
    --------
    >>> parse("neighborhood:kernel=3/axial")
    Sequence(parts=[Term(name='neighborhood', params={'kernel': '3'}, layers=None), \
Term(name='axial', params={}, layers=None)], layers=None)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgument(f"a pattern specification must be a non-empty string, got {spec!r}")
    tokens = [t for t in _TOKEN.split(spec.strip()) if t]
    node, pos = _sequence(tokens, 0, spec)
    if pos != len(tokens):
        raise InvalidArgument(f"unexpected {tokens[pos]!r} in pattern specification {spec!r}")
    return node


def _joined(tokens: list[str], pos: int, spec: str, op: str,
            operand: Callable[[list[str], int, str], tuple[Node, int]],
            kind: Callable[[list[Node]], Node]) -> tuple[Node, int]:
    """Operands joined by ``op``: one operand as itself, several as ``kind(parts)``."""
    node, pos = operand(tokens, pos, spec)
    parts = [node]
    while pos < len(tokens) and tokens[pos] == op:
        node, pos = operand(tokens, pos + 1, spec)
        parts.append(node)
    return (parts[0] if len(parts) == 1 else kind(parts)), pos


def _sequence(tokens: list[str], pos: int, spec: str) -> tuple[Node, int]:
    return _joined(tokens, pos, spec, "/", _union, Sequence)


def _union(tokens: list[str], pos: int, spec: str) -> tuple[Node, int]:
    return _joined(tokens, pos, spec, "+", _atom, Union)


def _atom(tokens: list[str], pos: int, spec: str) -> tuple[Node, int]:
    if pos >= len(tokens):
        raise InvalidArgument(f"pattern specification {spec!r} ends where a name is expected")
    token = tokens[pos]
    if token == "(":
        node, pos = _sequence(tokens, pos + 1, spec)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise InvalidArgument(f"unbalanced parentheses in pattern specification {spec!r}")
        pos += 1
        if pos < len(tokens) and tokens[pos].startswith(":"):  # (A / B):layers=L
            params = _params(tokens[pos][1:], spec)
            unknown = set(params) - {"layers"}
            if unknown:
                _unknown_param("a group", sorted(unknown)[0], ["layers"])
            node.layers = _layers(params["layers"])
            pos += 1
        return node, pos
    if token in "+/)":
        raise InvalidArgument(f"unexpected {token!r} in pattern specification {spec!r}")
    name, _, rest = token.partition(":")
    name = name.strip()
    check_known("pattern", name, names())
    params = _params(rest, spec) if rest else {}
    known = ["layers", *family_params(name)]
    for key in params:
        if key not in known:
            _unknown_param(name, key, known)
    layers = _layers(params.pop("layers")) if "layers" in params else None
    return Term(name, params, layers), pos + 1


def _params(text: str, spec: str) -> dict:
    params = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument(f"parameter {item.strip()!r} in {spec!r} must read key=value")
        params[key.strip()] = value.strip()
    return params


def _unknown_param(owner: str, key: str, known: list[str]) -> None:
    import difflib

    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InvalidArgument(f"unknown parameter {key!r} of {owner} (known: "
                          f"{', '.join(known)}){hint}")


def family_params(name: str) -> dict:
    """The parameters of a term's name (empty for a named 1-D pattern), name -> Param."""
    return dict(FAMILIES[name].params) if name in FAMILIES else {}


def _layers(value: object) -> int:
    return _positive("layers", value)


def _positive(key: str, value: object, *, zero: bool = False) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{key} must be a positive integer, got {value!r}")
    try:
        number = int(value) if isinstance(value, (int, np.integer)) else int(str(value), 10)
    except ValueError:
        raise InvalidArgument(f"{key} must be a positive integer, got {value!r}") from None
    if number < (0 if zero else 1):
        raise InvalidArgument(f"{key} must be a {'non-negative' if zero else 'positive'} "
                              f"integer, got {number}")
    return number


def _flag(key: str, value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidArgument(f"{key} must be true or false (or per axis such as 1x0), got {value!r}")


def _pair(key: str, value: object, one: object) -> tuple:
    """A value per axis (rows, columns): one value for both, ``AxB``, or a 2-sequence."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidArgument(f"{key} must be one value or a pair (rows, columns), got "
                                  f"{value!r}")
        items = list(value)
    elif isinstance(value, str) and "x" in value.lower():
        items = value.lower().split("x")
        if len(items) != 2:
            raise InvalidArgument(f"{key} must read A or AxB, got {value!r}")
    else:
        items = [value, value]
    return tuple(one(key, v) for v in items)  # type: ignore[operator]


def _value(name: str, key: str, param: Param, value: object) -> object:
    if value is None:
        return None
    if param.kind == "pair":
        return _pair(key, value, _positive)
    if param.kind == "offset-pair":
        return _pair(key, value, lambda k, v: _positive(k, v, zero=True))
    if param.kind == "bool-pair":
        return _pair(key, value, _flag)
    if key == "seed":
        return _positive(key, value, zero=True)
    return _positive(key, value)


def resolve(term: Term) -> dict:
    """A family term's parameters as values, defaults filled in."""
    out = {}
    for key, param in family_params(term.name).items():
        raw = term.params.get(key, param.default)
        out[key] = _value(term.name, key, param, raw)
    return out


def build_steps(node: Node, *, n: int, grid: tuple[int, int] | None,
                rank: np.ndarray | None, seed: int) -> list[sp.csr_matrix]:
    """The steps of a parsed specification, row-major on ``grid`` (a named 1-D pattern is laid
    out with ``rank``, the enumeration's, as :func:`ifg.layout` lays it out).

    Raises
    ------
    InvalidArgument
        For a family without a grid, a bad parameter value, or more than :data:`MAX_STEPS`.
    """
    if isinstance(node, Term):
        steps = _term_steps(node, n=n, grid=grid, rank=rank, seed=seed)
    else:
        children = [build_steps(p, n=n, grid=grid, rank=rank, seed=seed) for p in node.parts]
        if isinstance(node, Sequence):
            steps = [s for child in children for s in child]
        else:
            count = 1
            for child in children:
                count = math.lcm(count, len(child))
            _check_steps(count)
            steps = []
            for t in range(count):
                m = children[0][t % len(children[0])]
                for child in children[1:]:
                    m = m + child[t % len(child)]
                steps.append(sp.csr_matrix(m, dtype=bool))
    if node.layers is not None:
        _check_steps(node.layers)
        steps = [steps[t % len(steps)] for t in range(node.layers)]
    _check_steps(len(steps))
    return steps


def _check_steps(count: int) -> None:
    if count > MAX_STEPS:
        raise InvalidArgument(f"the specification builds {count} steps; at most {MAX_STEPS}")


def _term_steps(term: Term, *, n: int, grid: tuple[int, int] | None, rank: np.ndarray | None,
                seed: int) -> list[sp.csr_matrix]:
    from ifg.memory import BYTES_PER_EDGE, check_fits, pattern_edges

    if term.name in FAMILIES:
        if grid is None:
            raise InvalidArgument(f"{term.name} lives on a 2-D grid, but N = {n} is not a "
                                  "perfect square; give the grid (h, w)")
        return FAMILIES[term.name].build(grid, resolve(term), seed)
    check_fits(f"the pattern {term.name!r} over N = {n:,} positions",
               pattern_edges(term.name, n) * BYTES_PER_EDGE)
    steps = PATTERNS[term.name][0](n, grid, seed)
    if rank is None:
        return [sp.csr_matrix(s, dtype=bool) for s in steps]
    return [sp.csr_matrix(s[rank][:, rank], dtype=bool) for s in steps]


def pattern_of_spec(spec: str, n: int, *, enumeration: str = "rowmajor",
                    grid: tuple[int, int] | None = None, seed: int = 0,
                    params: dict | None = None) -> Pattern:
    """The :class:`~ifg.Pattern` of a specification (what :func:`ifg.pattern` builds for one).

    ``params`` are keyword parameters: merged into a single term's, or ``layers`` for a union
    or sequence. The steps are row-major on the grid; ``enumeration`` is the pattern's token
    order (``rank``), and lays out any named 1-D pattern in it.

    Examples
    --------
    >>> p = pattern_of_spec("axial:layers=3", 16)
    >>> p.num_steps, p.edges, p.grid
    (3, [64, 64, 64], (4, 4))
    """
    from ifg.enumerations import enumeration as enumeration_rank
    from ifg.enumerations import grid_of
    from ifg.errors import check_positive_int

    n = check_positive_int("n", n)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgument(f"seed must be a non-negative integer, got {seed!r}")
    node = parse(spec)
    for key, value in (params or {}).items():
        if isinstance(node, Term) and key != "layers":
            known = ["layers", *family_params(node.name)]
            if key not in known:
                _unknown_param(node.name, key, known)
            if key in node.params:
                raise InvalidArgument(f"parameter {key!r} is given twice: in {spec!r} and as "
                                      "a keyword")
            node.params[key] = value
        elif key == "layers":
            node.layers = _layers(value)
        else:
            _unknown_param("a union or sequence", key, ["layers"])
    grid = grid_of(n, grid)
    rank = None
    if enumeration != "rowmajor":
        if grid is None:
            raise InvalidArgument(f"enumeration {enumeration!r} needs a 2-D grid, but n = {n} "
                                  "is not a perfect square; give the grid (h, w)")
        rank = enumeration_rank(enumeration, grid)
    steps = build_steps(node, n=n, grid=grid, rank=rank, seed=int(seed))
    label = re.sub(r"\s+", "", spec)
    if params:
        label += "".join(f"[{k}={v}]" for k, v in params.items())
    return Pattern(tuple(steps), grid=grid, enumeration=enumeration, name=label, rank=rank)


def pattern(name: str, n: int | None = None, *, enumeration: str = "rowmajor",
            grid: tuple[int, int] | None = None, seed: int = 0, **params: object) -> Pattern:
    """A named pattern, 2-D family or pattern specification over N positions.

    Parameters
    ----------
    name : str
        One of :func:`patterns`, a 2-D family of :func:`ifg.families.families`, or a
        specification that combines them (``neighborhood:kernel=7,dilation=2``, unions ``+``,
        sequences ``/``, ``layers=L``: see :mod:`ifg.spec`).
    n : int, optional
        Number of positions N; the stride is ``floor(sqrt(N))``. Defaults to that of ``grid``.
    enumeration : str
        ``"rowmajor"`` (no ESA), ``"manhattan"`` (the paper's ESA), or another of
        :func:`ifg.enumerations`. Any enumeration but ``rowmajor`` needs a grid.
    grid : tuple (h, w), optional
        The 2-D grid; by default the square one when N is a perfect square.
    seed : int
        The seed of a random pattern (``random``, ``random-keys``); the others ignore it.
    **params
        A family's parameters (``kernel=7``, ``dilation=(1, 2)``) and ``layers``, as in a
        specification; for a union or sequence, ``layers`` only. A 2-D family's steps are
        geometric: ``enumeration`` sets only its token order (``rank``, for ``--block`` counts).

    Returns
    -------
    Pattern

    Raises
    ------
    InvalidArgument
        For an unknown name (the close names are suggested), N <= 0, an enumeration that
        cannot lay out this grid, or an N whose pattern would not fit in the memory available
        (:func:`ifg.memory.check_fits`).

    Examples
    --------
    >>> p = pattern("ltr", 9)
    >>> p.edges
    [18, 33]
    >>> [list(map(int, p.steps[0][q].indices)) for q in (0, 4, 8)]
    [[0], [3, 4], [6, 7, 8]]
    >>> pattern("neighborhood", grid=(8, 8), kernel=3).edges
    [576]
    """
    if n is None:
        if grid is None:
            raise InvalidArgument(f"pattern {name!r} needs n or grid")
        n = check_positive_int("grid height", grid[0]) * check_positive_int("grid width", grid[1])
    if name not in PATTERNS or params:
        return pattern_of_spec(name, n, enumeration=enumeration, grid=grid, seed=seed,
                               params=params)
    return named_pattern(name, n, enumeration=enumeration, grid=grid, seed=seed)
