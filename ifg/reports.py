"""Results of ``ifg`` as text and files: what ``ylg-masks`` prints and writes, without click.

- :func:`format_check`: a :class:`~ifg.check.CheckReport` as an aligned table;
- :func:`check_mask_file`: every multi-step group of a mask file checked, as a
  :class:`MaskFileCheck` (its table, its JSON record, whether all hold);
- :func:`output_kind` and :func:`write_result`: an extension's or a search's result written as a
  mask file (``.npz``, for ``ylg train --masks``) or as JSON (``.json``);
- :func:`layer_masks`: the masks of one attention layer, from a preset or a list of heads, after
  checking that they fit in memory; :func:`layer_grids` derives its grids (from a model's
  resolution, or one grid from the other) and :func:`model_fit` says which models take them;
- :func:`mask_figure`: the figure ``ylg-masks render`` draws for its options.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ifg.check import CheckReport, check
from ifg.errors import InvalidArgument
from ifg.files import atomic_write, dumps_strict
from ifg.maskset import MaskSet, to_maskset
from ifg.pattern import Pattern

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ifg.blocks import StepBlocks
    from ifg.locality import StepLocality

__all__ = ["format_check", "MaskFileCheck", "check_mask_file", "output_kind", "write_result",
           "MODEL_ATTENTION", "MODEL_POOL", "layer_grids", "model_fit", "layer_masks",
           "mask_figure", "format_blocks"]


def _verdict(holds: bool, missing: int, total: int) -> str:
    return "yes" if holds else f"NO: {missing:,} of {total:,} pairs have no path"


def format_check(report: CheckReport, locality: Sequence[StepLocality] | None = None) -> str:
    """The report as an aligned table, and the witness sentence when the check fails.

    ``locality``, a list of :class:`ifg.locality.StepLocality`, adds a line per step.

    Examples
    --------
    >>> import ifg
    >>> print(format_check(ifg.check(ifg.pattern("ltr", 81))).splitlines()[7])
    Full Information  yes
    """
    grid = "x".join(map(str, report.grid)) if report.grid else "none"
    rows = [
        ("pattern", report.pattern),
        ("positions", f"{report.n:,} (grid {grid}, enumeration {report.enumeration})"),
        ("steps", str(report.steps)),
        ("edges", " + ".join(f"{e:,}" for e in report.edges) + f" = {sum(report.edges):,}"),
        ("keys per query", ", ".join(f"max {m} mean {a:.2f}" for m, a in
                                     zip(report.max_keys_per_query, report.mean_keys_per_query))),
        ("empty rows", ", ".join(str(len(e)) for e in report.empty_rows)
         + ("  (queries that attend nothing: softmax over nothing)"
            if any(report.empty_rows) else "")),
        ("balanced bound", f"{report.lower_bound_edges:,.0f} edges (P*N^(1+1/P)); "
                           f"this pattern {report.bound_ratio:.2f}x"),
        ("Full Information", _verdict(report.full_information, report.missing_pairs,
                                      report.total_pairs)),
        ("causal", _verdict(report.causal_full_information, report.causal_missing_pairs,
                            report.causal_total_pairs)),
        ("seconds", f"{report.seconds:.3f}"),
    ]
    for step in locality or []:  # 2-D locality on the grid, one line per step
        rows.insert(-1, (f"locality {step.step}", str(step).split(": ", 1)[1]))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if report.witness is not None:
        lines.append("")
        lines.append("witness: " + report.witness_reason)
    return "\n".join(lines)


@dataclass(frozen=True)
class MaskFileCheck:
    """Each multi-step group of a mask file, checked: ``groups`` holds (group, heads, report)."""

    path: str
    maskset: MaskSet
    groups: list
    causal: bool = False

    @property
    def holds(self) -> bool:
        """Whether every group has (causal, when asked) Full Information."""
        return all(report.holds for _, _, report in self.groups)

    def to_dict(self) -> dict:
        return {"file": self.path, "holds": self.holds, "groups": [
            {"group": g, "heads": list(heads), "report": report.to_dict()}
            for g, heads, report in self.groups]}

    def summary(self) -> str:
        ms = self.maskset
        lines = [f"{self.path}: {ms.num_heads} heads, {len(self.groups)} multi-step group(s), "
                 f"key grid {'x'.join(map(str, ms.key_grid))}, enumeration {ms.enumeration}"]
        for g, heads, report in self.groups:
            lines += ["", f"== group {g}: heads {', '.join(map(str, heads))} ({report.pattern})",
                      format_check(report)]
        if not self.groups:
            lines.append("no heads form a multi-step pattern: nothing to check")
        failing = sum(not report.holds for _, _, report in self.groups)
        prop = "causal Full Information" if self.causal else "Full Information"
        lines += ["", f"{len(self.groups) - failing} of {len(self.groups)} group(s) have {prop}"]
        return "\n".join(lines)


def check_mask_file(path: str | os.PathLike, *, causal: bool = False) -> MaskFileCheck:
    """Load a mask file and check each of its multi-step groups for Full Information."""
    from ifg.io import load

    maskset = load(path)
    groups = list(zip(range(len(maskset.groups)), maskset.groups,
                      check(maskset, causal=causal)))
    return MaskFileCheck(str(path), maskset, groups, causal)


def output_kind(output: str | os.PathLike[str] | None) -> str | None:
    """``npz`` (a mask file) or ``json`` from the suffix of ``output``; None for no output.

    >>> output_kind("best.npz"), output_kind("result.JSON"), output_kind(None)
    ('npz', 'json', None)
    """
    if output is None:
        return None
    suffix = os.path.splitext(str(output))[1].lower()
    if suffix not in (".npz", ".json"):
        raise InvalidArgument(f"{str(output)!r} must end in .npz (a mask file) or .json")
    return suffix[1:]


def write_result(output: str | os.PathLike[str], record: dict[str, Any], pattern: Pattern | None,
                 *, query_grid: tuple[int, int] | None = None) -> None:
    """Write ``record`` as JSON, or ``pattern`` as a one-group mask file (its steps as heads),
    by the suffix of ``output`` (its folder created if needed); the query grid defaults to twice the pattern's grid (ylg's
    models pool keys 2x2)."""
    from ifg.io import save

    if output_kind(output) == "json":
        atomic_write(output, dumps_strict(record))
        return
    if pattern is None:
        raise InvalidArgument("the search found no pattern with Full Information to write")
    if pattern.grid is None:
        raise InvalidArgument(f"a mask file needs a 2-D grid; N = {pattern.n} is not a perfect "
                              "square: give --grid HxW")
    qgrid = query_grid or (2 * pattern.grid[0], 2 * pattern.grid[1])
    save(to_maskset(pattern, query_grid=qgrid), output, mkdir=True)


#: the attention layer's grid side in ylg's models at each image resolution, by default
#: (``ylg.models.sagan.ARCHITECTURES``; a test keeps the two equal), and their key pooling
MODEL_ATTENTION = {32: 16, 64: 32, 128: 32}
MODEL_POOL = 2


def _hw(grid: tuple[int, int]) -> str:
    return f"{grid[0]}x{grid[1]}"


def layer_grids(*, query_grid: tuple[int, int] | None = None,
                key_grid: tuple[int, int] | None = None,
                resolution: int | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
    """The query and key grids of a layer to export: those of ylg's model at ``resolution``
    (default 32, that of ``ylg train``), or one grid derived from the other by the models'
    pooling (2), or both as given when some layer takes them.

    Raises
    ------
    InvalidArgument
        For ``resolution`` with a grid, an unknown resolution, an odd query grid alone, or a
        pair no attention layer takes (the query grid must be the key grid times one integer
        pooling factor).

    Examples
    --------
    >>> layer_grids(), layer_grids(resolution=64), layer_grids(key_grid=(4, 4))
    (((16, 16), (8, 8)), ((32, 32), (16, 16)), ((8, 8), (4, 4)))
    >>> layer_grids(query_grid=(16, 16), key_grid=(7, 7))
    Traceback (most recent call last):
    ...
    ifg.errors.InvalidArgument: no attention layer takes query grid 16x16 with key grid 7x7: the query grid must be the key grid scaled by one integer factor, the keys' pooling (ylg's models pool 2: key grid 8x8 for this query grid, or query grid 14x14 for this key grid)
    """
    if resolution is not None:
        if query_grid is not None or key_grid is not None:
            raise InvalidArgument("resolution derives both grids (those of ylg's model at that "
                                  "resolution): give it or the grids, not both")
        if resolution not in MODEL_ATTENTION:
            raise InvalidArgument(f"resolution must be one of "
                                  f"{', '.join(map(str, MODEL_ATTENTION))}, got {resolution!r}")
    if query_grid is None and key_grid is None:
        a = MODEL_ATTENTION[resolution or 32]
        return (a, a), (a // MODEL_POOL, a // MODEL_POOL)
    for name, grid in (("query_grid", query_grid), ("key_grid", key_grid)):
        if grid is not None and min(grid) < 1:
            raise InvalidArgument(f"{name} must be positive, got {_hw(grid)}")
    if query_grid is None:
        assert key_grid is not None
        return (key_grid[0] * MODEL_POOL, key_grid[1] * MODEL_POOL), key_grid
    if key_grid is None:
        if query_grid[0] % MODEL_POOL or query_grid[1] % MODEL_POOL:
            raise InvalidArgument(f"query_grid {_hw(query_grid)} cannot be pooled by "
                                  f"{MODEL_POOL} (ylg's models): give the key grid too")
        return query_grid, (query_grid[0] // MODEL_POOL, query_grid[1] // MODEL_POOL)
    (qh, qw), (kh, kw) = query_grid, key_grid
    if qh % kh or qw % kw or qh // kh != qw // kw:
        raise InvalidArgument(
            f"no attention layer takes query grid {_hw(query_grid)} with key grid "
            f"{_hw(key_grid)}: the query grid must be the key grid scaled by one integer "
            f"factor, the keys' pooling (ylg's models pool {MODEL_POOL}: key grid "
            f"{qh // MODEL_POOL}x{qw // MODEL_POOL} for this query grid, or query grid "
            f"{kh * MODEL_POOL}x{kw * MODEL_POOL} for this key grid)")
    return query_grid, key_grid


def model_fit(query_grid: tuple[int, int], key_grid: tuple[int, int]) -> str:
    """Which models take a layer of these grids, in words (``ylg-masks export`` prints it).

    Examples
    --------
    >>> model_fit((16, 16), (8, 8))
    'fits ylg train --resolution 32 (the default); also --resolution 64 or 128 with --attention-resolution 16'
    >>> model_fit((8, 8), (8, 8))
    'fits a layer that pools keys by 1 (ylg compare, Attention2d(pool=1)), not ylg train (its models pool 2)'
    """
    p, (qh, qw) = query_grid[0] // key_grid[0], query_grid
    if p != MODEL_POOL:
        return (f"fits a layer that pools keys by {p} (ylg compare, Attention2d(pool={p})), "
                f"not ylg train (its models pool {MODEL_POOL})")
    # a model's attention grid: a square power of two from 8 to half its resolution
    default = [r for r, a in MODEL_ATTENTION.items() if a == qh == qw]
    other = [r for r in MODEL_ATTENTION if r not in default and qh == qw and 8 <= qh <= r // 2
             and not qh & (qh - 1)]
    if not default and not other:
        return (f"fits Attention2d(pool={p}), not ylg train (its models' attention grids are "
                f"square powers of two, from 8x8 to half the image)")

    def either(values: list[int]) -> str:
        return " or ".join([", ".join(map(str, values[:-1])), str(values[-1])] if len(values) > 1
                           else [str(values[0])])

    said = []
    if default:
        said.append(f"ylg train --resolution {either(default)}"
                    + (" (the default)" if 32 in default else ""))
    if other:
        said.append(f"{'also ' if default else 'ylg train '}--resolution {either(other)} with "
                    f"--attention-resolution {qh}")
    return "fits " + "; ".join(said)


def layer_masks(*, preset_name: str | None = None, heads: str | None = None,
                query_grid: tuple[int, int], key_grid: tuple[int, int],
                tiling: str = "official",
                enumeration: str | None = None) -> MaskSet:
    """The masks of one attention layer: a preset, or heads given as ``PATTERN:STEP,...``.

    Refuses both or neither, an enumeration with a preset (it fixes its own), and a layer whose
    masks would not fit in memory.

    >>> layer_masks(preset_name="ylg", query_grid=(8, 8), key_grid=(4, 4)).num_heads
    8
    """
    from ifg.maskset import YLG_HEADS, layer, parse_heads, preset
    from ifg.memory import BYTES_PER_EDGE, check_fits, layer_edges

    if (preset_name is None) == (heads is None):
        raise InvalidArgument("give one of --preset NAME or --heads PATTERN:STEP,...")
    if preset_name is not None and enumeration:
        raise InvalidArgument("a preset fixes its enumeration; --enumeration and --esa go with "
                              "--heads")
    head_list = parse_heads(heads) if heads is not None else YLG_HEADS
    check_fits(f"a layer of {len(head_list)} heads on a {query_grid[0]}x{query_grid[1]} query "
               f"grid", layer_edges(len(head_list), query_grid, key_grid) * BYTES_PER_EDGE)
    if preset_name is not None:
        return preset(preset_name, key_grid=key_grid, query_grid=query_grid, tiling=tiling)
    return layer(head_list, enumeration=enumeration or "manhattan", key_grid=key_grid,
                 query_grid=query_grid, tiling=tiling)


def mask_figure(name: str | None = None, n: int = 64, *, grid: tuple[int, int] | None = None,
                enumeration: str | None = None, seed: int = 0, what: str | None = None,
                query: tuple[int, int] | None = None, order: str = "pixel",
                pattern: Pattern | None = None, layers: int | None = None) -> Figure:
    """The figure for a pattern's panels (``what``: comma-separated masks, graph, enumeration,
    field), or without a pattern the paper's figures (``what`` None) or two enumerations
    (``what="enumeration"``: row-major and ``enumeration``, default manhattan).

    ``pattern`` is drawn instead of the named one when given (a ``mask_mod``'s); ``layers``
    applies its steps cyclically to that many layers (the receptive field layer by layer). A
    2-D family or specification is drawn as it is on the grid (a named 1-D pattern beside its
    ESA layout)."""
    import ifg
    from ifg import render
    from ifg.patterns import PATTERNS

    panels = None if what is None else tuple(w.strip() for w in what.split(",") if w.strip())
    if pattern is not None or (name is not None and name not in PATTERNS):
        if pattern is None:
            assert name is not None
            pattern = ifg.pattern(name, n, enumeration=enumeration or "rowmajor", grid=grid,
                                  seed=seed)
        # geometric steps: drawn as they are, their token order aside
        pattern = Pattern(pattern.steps, grid=pattern.grid, name=pattern.name)
        if layers is not None:
            from ifg.errors import check_positive_int

            count = check_positive_int("layers", layers)
            pattern = pattern.with_steps([pattern.steps[t % pattern.num_steps]
                                          for t in range(count)],
                                         name=f"{pattern.name}, {count} layers")
        if panels is None:
            panels = ("field",) if pattern.grid is not None else ("masks",)
        return render.figure(pattern, what=panels, order=order, query=query,
                             compare_with=("rowmajor",))
    if layers is not None:
        raise InvalidArgument("layers goes with a 2-D family, a specification or a mask_mod; "
                              "a named 1-D pattern takes layers=L in its specification")
    if name is None:
        other = enumeration or "manhattan"
        if panels is None:
            return render.paper_figure(enumeration=other)
        if set(panels) != {"enumeration"}:
            raise InvalidArgument("--what masks, graph and field need --pattern")
        grid = grid or ifg.grid_of(n)
        if grid is None:
            raise InvalidArgument(f"--n {n} is not a perfect square; give --grid HxW")
        return render.enumeration_figure(("rowmajor", other), grid=grid)
    pattern = ifg.pattern(name, n, enumeration=enumeration or "rowmajor", grid=grid, seed=seed)
    if panels is None:
        panels = ("masks", "graph") if pattern.n <= render.MAX_GRAPH_N else ("masks",)
    return render.figure(pattern, what=panels, order=order, query=query)


def format_blocks(counts: Sequence[StepBlocks], block: int, enumeration: str) -> str:
    """A step's blocks per line: what a block-sparse kernel computes in the token order.

    >>> from ifg.blocks import StepBlocks
    >>> print(format_blocks([StepBlocks(48, 0, 256)], 16, "rowmajor"))
    blocks of 16 (rowmajor order): step 1 computes 48 of 256 (18.8%), 0 full
    """
    parts = [f"step {t} computes {c.computed:,} of {c.total:,} ({c.computed / c.total:.1%}), "
             f"{c.full:,} full" for t, c in enumerate(counts, start=1)]
    return f"blocks of {block} ({enumeration} order): " + "; ".join(parts)
