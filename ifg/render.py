"""Every mask figure: masks in the paper's colours, the IFG, enumerations, receptive fields.

The functions return :class:`matplotlib.figure.Figure` objects built without pyplot, so nothing
needs a display or touches pyplot's global state; :func:`save_figure` writes PNG, SVG or PDF.
Masks are drawn as one image each (never one patch per cell), downsampled above
:data:`MAX_IMAGE_SIDE` cells, so that large N stays drawable; the information-flow graph is
refused above :data:`MAX_GRAPH_N` positions, where it can no longer be read.

Colours (the paper's): a mask cell is dark blue when both steps allow it, light blue for the first
step only, green for the second only, yellow for neither.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse as sp
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ifg.enumerations import enumeration as enumeration_rank
from ifg.pattern import layout
from ifg.errors import InvalidArgument
from ifg.pattern import Pattern

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase
    from matplotlib.legend import Legend

    from ifg.check import CheckReport

__all__ = ["COLOURS", "MAX_GRAPH_N", "MAX_IMAGE_SIDE", "FORMATS", "WHAT", "mask_codes",
           "receptive_field", "masks_figure", "graph_figure", "enumeration_figure",
           "receptive_field_figure", "figure", "paper_figure", "save_figure"]

#: mask cell colours, indexed by code = (step 1 allows) + 2 * (step 2 allows)
COLOURS = ("#f6e05e", "#90cdf4", "#48a868", "#1f3c88")  # yellow, light blue, green, dark blue
_LABELS = ("neither step", "step 1 only", "step 2 only", "both steps")
_CMAP = ListedColormap(COLOURS)
#: graph edges of step t use a darker shade of the step's mask colour
_EDGE_COLOURS = ("#3b8fd0", "#2e7d46", "#8e44ad", "#c0392b")

#: the information-flow graph is refused above this many positions (it stops being readable)
MAX_GRAPH_N = 81

#: a mask image has at most this many cells a side; larger masks are pooled in blocks
MAX_IMAGE_SIDE = 1024

#: the file formats :func:`save_figure` writes
FORMATS = (".png", ".svg", ".pdf")

#: the panels :func:`figure` can draw
WHAT = ("masks", "graph", "enumeration", "field")

ORDERS = ("pixel", "enumeration")


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise InvalidArgument(f"order must be one of {', '.join(ORDERS)}, got {order!r}")


def _steps_in(pattern: Pattern, order: str) -> list[sp.csr_matrix]:
    """The steps with rows and columns in pixel order or in the pattern's 1-D order."""
    _check_order(order)
    if order == "pixel" or pattern.rank is None:
        return list(pattern.steps)
    o = pattern.order
    return [s[o][:, o].tocsr() for s in pattern.steps]


def mask_codes(pattern: Pattern, *, order: str = "pixel",
               max_side: int = MAX_IMAGE_SIDE) -> tuple[np.ndarray, int]:
    """The masks of a pattern as one image of colour codes.

    Parameters
    ----------
    pattern : Pattern
        One or two steps are combined into one image; with more, use the steps one at a time.
    order : {"pixel", "enumeration"}
        Rows and columns as row-major pixels (the masks as applied) or in the pattern's 1-D
        order (the design, identical with and without ESA).
    max_side : int
        Above this many positions, cells are pooled in ``b x b`` blocks (a block allows a step
        when any of its cells does, so sparse lines stay visible).

    Returns
    -------
    codes : numpy.ndarray of uint8, shape (S, S)
        ``(step 1 allows) + 2 * (step 2 allows)``: 0 yellow, 1 light blue, 2 green, 3 dark
        blue (:data:`COLOURS`). A one-step pattern uses 3 for allowed.
    block : int
        Cells per image pixel along each side (1 when not pooled).

    Raises
    ------
    InvalidArgument
        For a pattern of more than two steps, or an unknown order.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> codes, block = mask_codes(pattern("ltr", 4))
    >>> codes
    array([[3, 2, 0, 2],
           [1, 3, 0, 2],
           [0, 2, 3, 2],
           [0, 2, 1, 3]], dtype=uint8)
    """
    if pattern.num_steps > 2:
        raise InvalidArgument(f"mask_codes combines one or two steps; pattern {pattern.name!r} "
                              f"has {pattern.num_steps} (draw its steps one at a time)")
    steps = _steps_in(pattern, order)
    n = pattern.n
    block = max(1, math.ceil(n / max_side))
    side = math.ceil(n / block)
    weights = (3,) if len(steps) == 1 else (1, 2)
    codes = np.zeros((side, side), dtype=np.uint8)
    for step, weight in zip(steps, weights):
        coo = step.tocoo()
        pooled = sp.coo_matrix((np.ones(coo.nnz, dtype=np.int32),
                                (coo.row // block, coo.col // block)), shape=(side, side))
        codes += (pooled.toarray() > 0).astype(np.uint8) * weight
    return codes, block


def _pixel(pattern: Pattern, query: int | tuple[int, ...] | list[int]) -> int:
    """A query given as a pixel index or (r, c), checked against the pattern's grid."""
    if pattern.grid is None:
        raise InvalidArgument(f"pattern {pattern.name!r} has no 2-D grid (N = {pattern.n} is not "
                              "a perfect square); give it one")
    h, w = pattern.grid
    if isinstance(query, (tuple, list)):
        if len(query) != 2:
            raise InvalidArgument(f"query must be a pixel index or (row, column), got {query!r}")
        r, c = (int(v) for v in query)
        if not (0 <= r < h and 0 <= c < w):
            raise InvalidArgument(f"query pixel ({r}, {c}) is outside the {h}x{w} grid")
        return r * w + c
    p = int(query)
    if not 0 <= p < h * w:
        raise InvalidArgument(f"query pixel {p} is outside the {h}x{w} grid (0..{h * w - 1})")
    return p


def receptive_field(pattern: Pattern, query: int | tuple) -> np.ndarray:
    """Which inputs reach one query pixel after each step.

    Parameters
    ----------
    pattern : Pattern
        With a 2-D grid.
    query : int or tuple (r, c)
        The query pixel (row-major index or row and column).

    Returns
    -------
    numpy.ndarray of bool, shape (P, h, w)
        ``field[t - 1, r, c]`` is True when input pixel ``(r, c)`` has a path to the query at
        layer ``t`` of the information-flow graph: row ``q`` of ``Mt ... M1``.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> f = receptive_field(pattern("ltr", 9), (1, 1))
    >>> f[0].astype(int)
    array([[0, 0, 0],
           [1, 1, 0],
           [0, 0, 0]])
    >>> bool(f[1].all())
    True
    """
    q = _pixel(pattern, query)  # checks that the pattern has a grid
    h, w = pattern.grid or (0, 0)
    n = pattern.n
    fields = []
    for t in range(1, pattern.num_steps + 1):
        # the row of Mt ... M1 at q, as a sparse row vector pushed back through the steps
        row = sp.csr_matrix((np.ones(1, dtype=np.int32), ([0], [q])), shape=(1, n))
        for step in reversed(pattern.steps[:t]):
            row = row @ step.astype(np.int32)
            row.data[:] = 1  # keep counts from growing; only reachability matters
        fields.append(row.toarray().ravel() > 0)
    return np.stack(fields).reshape(pattern.num_steps, h, w)


# ---------------------------------------------------------------------------------------------
# drawing on axes


def _draw_masks(ax: Axes, pattern: Pattern, order: str) -> None:
    codes, block = mask_codes(pattern, order=order)
    side = codes.shape[0]
    # the extent keeps the axes in mask cells (query and key indices) when cells are pooled
    end = side * block - 0.5
    ax.imshow(codes, cmap=_CMAP, vmin=0, vmax=3, interpolation="nearest",
              extent=(-0.5, end, end, -0.5))
    if side <= 40:  # cell borders help only while cells are large
        ax.set_xticks(np.arange(-0.5, side, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, side, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.6)
        ax.tick_params(which="minor", length=0)
    if side <= 16:
        ax.set_xticks(range(side))
        ax.set_yticks(range(side))
    ax.tick_params(labelsize=7)
    where = "pixel" if order == "pixel" or pattern.rank is None else "1-D index"
    pooled = f"  (each image cell = {block}x{block} mask cells)" if block > 1 else ""
    ax.set_xlabel(f"key ({where}){pooled}", fontsize=8)
    ax.set_ylabel(f"query ({where})", fontsize=8)
    ax.set_title(f"{pattern.name}: masks, N = {pattern.n}, {pattern.enumeration}", fontsize=9)


def _legend(fig_or_ax: FigureBase | Axes, one_step: bool) -> Legend:
    used = (3, 0) if one_step else (3, 1, 2, 0)
    labels = ("allowed", "not allowed") if one_step else tuple(_LABELS[c] for c in used)
    handles = [Patch(facecolor=COLOURS[c], edgecolor="grey", linewidth=0.3) for c in used]
    return fig_or_ax.legend(handles, labels, loc="outside lower center", ncol=len(used),
                            fontsize=7, frameon=False)


def _check_graph_size(pattern: Pattern) -> None:
    if pattern.n > MAX_GRAPH_N:
        raise InvalidArgument(
            f"the information-flow graph of N = {pattern.n} positions is too large to read "
            f"(limit {MAX_GRAPH_N} positions); draw the masks instead, or use a smaller N")


def _cone(steps: Sequence[sp.csr_matrix], start: int, forward: bool) -> list[np.ndarray]:
    """Per layer, the nodes reachable from ``start`` (forward from V0 or backward from VP)."""
    n = steps[0].shape[0]
    layers: list[Any] = [None] * (len(steps) + 1)  # every layer is set below
    cur = np.zeros(n, dtype=bool)
    cur[start] = True
    if forward:
        layers[0] = cur
        for t, step in enumerate(steps, start=1):
            cur = np.asarray(step[:, np.flatnonzero(cur)].sum(axis=1)).ravel() > 0
            layers[t] = cur
    else:
        layers[-1] = cur
        for t in range(len(steps), 0, -1):
            cur = np.asarray(steps[t - 1][np.flatnonzero(cur)].sum(axis=0)).ravel() > 0
            layers[t - 1] = cur
    return layers


def _draw_graph(ax: Axes, pattern: Pattern, order: str, report: CheckReport | None) -> None:
    from ifg.check import check

    _check_graph_size(pattern)
    steps = _steps_in(pattern, order)
    n, P = pattern.n, pattern.num_steps
    report = check(pattern) if report is None else report
    witness = None
    if report.witness is not None:
        src, tgt = report.witness  # pixel indices; map to the drawn order
        if order == "enumeration" and pattern.rank is not None:
            src, tgt = int(pattern.rank[src]), int(pattern.rank[tgt])
        witness = (src, tgt)
        fwd, back = _cone(steps, src, True), _cone(steps, tgt, False)
    thin = max(0.15, 0.8 - n / 120)
    for t, step in enumerate(steps, start=1):
        coo = step.tocoo()
        segs = np.stack([np.column_stack([np.full(coo.nnz, t - 1), coo.col]),
                         np.column_stack([np.full(coo.nnz, t), coo.row])], axis=1)
        # matplotlib's stubs take a sequence of segments; an (edges, 2, 2) array is one
        ax.add_collection(LineCollection(cast(Sequence[np.ndarray], segs),
                                         colors=_EDGE_COLOURS[(t - 1) % 4],
                                         linewidths=thin, alpha=0.55, zorder=1))
        if witness is not None:
            # the source's forward cone (red) and the target's backward cone (purple) never meet
            hot = fwd[t - 1][coo.col]
            ax.add_collection(LineCollection(segs[hot], colors="#d62728", linewidths=thin * 2.2,
                                             alpha=0.9, zorder=2))
            cold = back[t][coo.row]
            ax.add_collection(LineCollection(segs[cold], colors="#7b2cbf", linewidths=thin * 2.2,
                                             alpha=0.9, zorder=2))
    ys = np.arange(n)
    size = 30 if n <= 16 else 8
    for t in range(P + 1):
        ax.scatter(np.full(n, t), ys, s=size, color="#333333", zorder=3, linewidths=0)
    if n <= 16:
        ax.set_yticks(range(n))
    if witness is not None:
        ax.scatter([0], [witness[0]], s=size * 4, color="#d62728", zorder=4, marker="o")
        ax.scatter([P], [witness[1]], s=size * 4, color="#7b2cbf", zorder=4, marker="s")
        ax.text(0.5, -0.08, f"no path from input {witness[0]} (red) to output {witness[1]} "
                f"(purple): {report.missing_pairs:,} of {report.total_pairs:,} pairs lack one",
                transform=ax.transAxes, ha="center", va="top", fontsize=7, color="#b00020",
                wrap=True)
        verdict = "lacks Full Information"
    else:
        verdict = "Full Information"
    ax.set_xlim(-0.4, P + 0.4)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(range(P + 1))
    ax.set_xticklabels([f"V{t}" for t in range(P + 1)], fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("pixel" if order == "pixel" or pattern.rank is None else "1-D index",
                  fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{pattern.name}: information-flow graph ({verdict})", fontsize=9)


def _draw_enumeration(ax: Axes, name: str, grid: tuple[int, int]) -> None:
    h, w = grid
    rank = enumeration_rank(name, grid).reshape(h, w)
    labelled = h * w <= 256
    if labelled:  # the numbers tell the order; a plain grid keeps them legible
        ax.imshow(np.zeros((h, w)), cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
        ax.grid(which="minor", color="#cccccc", linewidth=0.6)
        ax.tick_params(which="minor", length=0)
    else:  # too many cells to label: shade by index
        ax.imshow(rank, cmap="YlGnBu", interpolation="nearest")
    if h * w <= 1024:  # the path through consecutive indices shows the order at a glance
        r, c = np.divmod(np.argsort(rank.ravel()), w)
        ax.plot(c, r, color="#1f3c88", linewidth=0.8, alpha=0.35)
    if labelled:
        size = max(5, min(10, 90 / max(h, w)))
        for (r, c), v in np.ndenumerate(rank):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=size)
    ax.set_xticks([])
    ax.set_yticks([])
    label = "ESA (manhattan)" if name == "manhattan" else name
    ax.set_title(f"{label}, {h}x{w}", fontsize=9)


def _draw_field(ax: Axes, pattern: Pattern, query: int | tuple[int, ...], t: int,
                field: np.ndarray) -> None:
    assert pattern.grid is not None  # the caller checked (_need_grid)
    h, w = pattern.grid
    q = _pixel(pattern, query)
    ax.imshow(field.astype(np.uint8) * 3, cmap=_CMAP, vmin=0, vmax=3, interpolation="nearest")
    r, c = divmod(q, w)
    ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="#d62728",
                           linewidth=1.6))
    ax.set_xticks([])
    ax.set_yticks([])
    label = "ESA" if pattern.enumeration == "manhattan" else pattern.enumeration
    ax.set_title(f"{label}, after step {t}: {int(field.sum())}/{h * w}", fontsize=8)


# ---------------------------------------------------------------------------------------------
# figures


def _companion(pattern: Pattern, name: str) -> Pattern:
    """The same 1-D pattern laid out with another enumeration (undoing its own first)."""
    o = pattern.order
    one_d = Pattern(tuple(s[o][:, o] for s in pattern.steps), grid=pattern.grid,
                    name=pattern.name)
    if name == "rowmajor":
        return one_d
    return layout(one_d, name, pattern.grid)


def _comparison(pattern: Pattern, compare: str) -> tuple[str, str]:
    """The enumerations to compare: row-major beside the pattern's own (or ``compare``)."""
    other = pattern.enumeration if pattern.enumeration != "rowmajor" else compare
    return ("rowmajor", other)


def _part_masks(sub: FigureBase, pattern: Pattern, order: str) -> None:
    if pattern.num_steps <= 2:
        ax = sub.subplots()
        _draw_masks(ax, pattern, order)
        _legend(sub, pattern.num_steps == 1)
        return
    axes = sub.subplots(1, pattern.num_steps, squeeze=False)[0]
    for t, ax in enumerate(axes):
        _draw_masks(ax, pattern.with_steps([pattern.steps[t]], name=f"{pattern.name} step "
                                           f"{t + 1}"), order)
    _legend(sub, True)


def _part_graph(sub: FigureBase, pattern: Pattern, order: str,
                report: CheckReport | None) -> None:
    _draw_graph(sub.subplots(), pattern, order, report)


def _part_enumerations(sub: FigureBase, names: Sequence[str], grid: tuple[int, int]) -> None:
    axes = sub.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        _draw_enumeration(ax, name, grid)


def _part_fields(sub: FigureBase, patterns: Sequence[Pattern],
                 query: int | tuple[int, ...]) -> None:
    P = patterns[0].num_steps
    axes = sub.subplots(len(patterns), P, squeeze=False)
    for row, p in zip(axes, patterns):
        fields = receptive_field(p, query)
        for t, ax in enumerate(row, start=1):
            _draw_field(ax, p, query, t, fields[t - 1])
    assert patterns[0].grid is not None  # the caller checked (_need_grid)
    h, w = patterns[0].grid
    q = _pixel(patterns[0], query)
    sub.suptitle(f"{patterns[0].name}: inputs that reach query pixel {divmod(q, w)} (red box)",
                 fontsize=9)


def _need_grid(pattern: Pattern, what: str) -> None:
    if pattern.grid is None:
        raise InvalidArgument(f"--what {what} needs a 2-D grid, but pattern {pattern.name!r} "
                              f"over N = {pattern.n} positions has none")


def masks_figure(pattern: Pattern, *, order: str = "pixel") -> Figure:
    """The masks of a pattern in the paper's colours.

    Parameters
    ----------
    pattern : Pattern
    order : {"pixel", "enumeration"}
        See :func:`mask_codes`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> len(masks_figure(pattern("ltr", 9)).axes)
    1
    """
    return figure(pattern, what=("masks",), order=order)


def graph_figure(pattern: Pattern, *, order: str = "pixel",
                 report: CheckReport | None = None) -> Figure:
    """The information-flow graph as layered columns, a missing path highlighted.

    Parameters
    ----------
    pattern : Pattern
        At most :data:`MAX_GRAPH_N` positions.
    order : {"pixel", "enumeration"}
    report : CheckReport, optional
        The pattern's check; computed when not given. Its witness (an input with no path to an
        output) is drawn in red and purple, with the edges each can reach.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidArgument
        Above :data:`MAX_GRAPH_N` positions, naming the limit.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> graph_figure(pattern("fixed", 9)).axes[0].get_title()
    'fixed: information-flow graph (lacks Full Information)'
    """
    return figure(pattern, what=("graph",), order=order, report=report)


def enumeration_figure(names: Sequence[str] = ("rowmajor", "manhattan"), *,
                       grid: tuple = (8, 8)) -> Figure:
    """Enumerations of a grid side by side, each cell labelled with its 1-D index.

    The default is the paper's Figure 3: row-major beside ESA on an 8x8 grid. Cells are
    labelled up to 16x16; the path through consecutive indices is drawn up to 32x32.

    Parameters
    ----------
    names : sequence of str
        Enumerations (see :func:`ifg.enumerations`).
    grid : tuple (h, w)

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> [ax.get_title() for ax in enumeration_figure().axes]
    ['rowmajor, 8x8', 'ESA (manhattan), 8x8']
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    fig = Figure(figsize=(3.6 * len(names), 3.8), layout="constrained")
    _part_enumerations(fig, names, tuple(grid))
    return fig


def receptive_field_figure(pattern: Pattern, *, query: int | tuple | None = None,
                           enumerations: Sequence[str] | None = None) -> Figure:
    """The receptive field of one query pixel after each step, under several enumerations.

    Parameters
    ----------
    pattern : Pattern
        With a 2-D grid; its 1-D design is laid out again with each enumeration.
    query : int or tuple (r, c), optional
        Defaults to the centre pixel.
    enumerations : sequence of str, optional
        One row each; defaults to row-major beside the pattern's own enumeration (ESA when the
        pattern is row-major): the picture of why ESA keeps 2-D locality.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> len(receptive_field_figure(pattern("ltr", 64)).axes)
    4
    """
    return figure(pattern, what=("field",), query=query, compare_with=enumerations)


def _default_query(pattern: Pattern) -> tuple[int, int]:
    assert pattern.grid is not None  # the caller checked (_need_grid)
    h, w = pattern.grid
    return (h // 2, w // 2)


def figure(pattern: Pattern, *, what: Sequence[str] = ("masks", "graph"),
           query: int | tuple | None = None, order: str = "pixel",
           report: CheckReport | None = None,
           compare_with: Sequence[str] | None = None) -> Figure:
    """Several views of one pattern side by side.

    Parameters
    ----------
    pattern : Pattern
    what : sequence of {"masks", "graph", "enumeration", "field"}
        The panels, left to right: the masks, the information-flow graph, the pattern's
        enumeration beside row-major, the receptive field of ``query`` after each step.
    query : int or tuple (r, c), optional
        For ``field``; defaults to the centre pixel.
    order : {"pixel", "enumeration"}
        For ``masks`` and ``graph``: row-major pixels or the pattern's 1-D order.
    report : CheckReport, optional
        For ``graph``: the pattern's check, computed when not given.
    compare_with : sequence of str, optional
        For ``enumeration`` and ``field``: the enumerations shown; defaults to row-major beside
        the pattern's own (ESA when the pattern is row-major).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidArgument
        For an unknown panel, a graph above :data:`MAX_GRAPH_N` positions, or an enumeration or
        receptive field of a pattern without a 2-D grid.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> fig = figure(pattern("ltr", 64, enumeration="manhattan"), what=("masks", "field"))
    >>> len(fig.axes)
    5
    """
    what = (what,) if isinstance(what, str) else tuple(what)
    unknown = [w for w in what if w not in WHAT]
    if unknown or not what:
        raise InvalidArgument(f"unknown figure panel {', '.join(unknown) or '(none)'!r}; "
                              f"known: {', '.join(WHAT)}")
    _check_order(order)
    if "graph" in what:
        _check_graph_size(pattern)
    if "enumeration" in what or "field" in what:
        _need_grid(pattern, "enumeration" if "enumeration" in what else "field")
    names = tuple(compare_with) if compare_with else _comparison(pattern, "manhattan")
    if "field" in what:
        query = _default_query(pattern) if query is None else query
        _pixel(pattern, query)
    widths = {"masks": 4.2 if pattern.num_steps <= 2 else 3.2 * pattern.num_steps,
              "graph": 3.4 + 0.4 * pattern.num_steps,
              "enumeration": 3.2 * len(names),
              "field": 2.2 * pattern.num_steps}
    height = 4.4 if "field" not in what else max(4.4, 2.3 * len(names) + 0.6)
    fig = Figure(figsize=(sum(widths[w] for w in what), height), layout="constrained")
    subs = fig.subfigures(1, len(what), width_ratios=[widths[w] for w in what], squeeze=False)[0]
    for sub, part in zip(subs, what):
        if part == "masks":
            _part_masks(sub, pattern, order)
        elif part == "graph":
            _part_graph(sub, pattern, order, report)
        elif part == "enumeration":
            assert pattern.grid is not None  # checked above
            _part_enumerations(sub, names, pattern.grid)
        else:
            assert query is not None  # set above
            _part_fields(sub, [_companion(pattern, name) for name in names], query)
    return fig


def paper_figure(*, enumeration: str = "manhattan") -> Figure:
    """The paper's mask figures: ``fixed``, ``ltr`` and ``rtl`` at N = 9 with their graphs, and
    the 8x8 row-major and ESA enumerations (Figure 3).

    Parameters
    ----------
    enumeration : str
        The enumeration drawn beside row-major (ESA by default). The N = 9 masks are the 1-D
        patterns, as the paper draws them.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> len(paper_figure().axes)
    8
    """
    from ifg.spec import pattern

    fig = Figure(figsize=(8.4, 15.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3 * 4.0, 3.9])  # type: ignore[misc]
    rows = top.subfigures(3, 1)
    for sub, name in zip(rows, ("fixed", "ltr", "rtl")):
        p = pattern(name, 9)
        left, right = sub.subfigures(1, 2, width_ratios=[4.4, 4.0])
        _part_masks(left, p, "pixel")
        _part_graph(right, p, "pixel", None)
    _part_enumerations(bottom, ("rowmajor", enumeration), (8, 8))
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 150) -> None:
    """Write a figure as PNG, SVG or PDF, chosen by the file's suffix (a missing folder is
    made).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
    dpi : int
        For PNG.

    Raises
    ------
    InvalidArgument
        For another suffix.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "esa.svg")
    >>> save_figure(enumeration_figure(), path)
    >>> open(path).read(5)
    '<?xml'
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise InvalidArgument(f"figure file {os.fspath(path)!r} must end in one of "
                              f"{', '.join(FORMATS)}, got {suffix or 'no suffix'!r}")
    from ifg.files import atomic_write

    # a temporary file renamed over the name: never half a figure, never through a link; a
    # missing folder is made, as for the other outputs
    atomic_write(path, lambda f: fig.savefig(f, format=suffix[1:], dpi=dpi,
                                             metadata=_metadata(suffix)), mkdir=True)


def _metadata(suffix: str) -> dict[str, None] | None:
    # no creation dates: the same figure gives the same bytes (diffable docs figures)
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return None
