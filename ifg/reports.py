"""Results of ``ifg`` as text and files: what ``ylg-masks`` prints and writes, without click.

- :func:`format_check`: a :class:`~ifg.check.CheckReport` as an aligned table;
- :func:`check_mask_file`: every multi-step group of a mask file checked, as a
  :class:`MaskFileCheck` (its table, its JSON record, whether all hold);
- :func:`output_kind` and :func:`write_result`: an extension's or a search's result written as a
  mask file (``.npz``, for ``ylg train --masks``) or as JSON (``.json``);
- :func:`layer_masks`: the masks of one attention layer, from a preset or a list of heads, after
  checking that they fit in memory;
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
           "layer_masks", "mask_figure", "analysed_pattern", "format_blocks"]


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


def analysed_pattern(name: str | None, n: int | None = None, *,
                     grid: tuple[int, int] | None = None, enumeration: str = "rowmajor",
                     seed: int = 0, mask_mods: Sequence[str] = (), head: int = 0,
                     batch: int = 0) -> Pattern:
    """The pattern a command analyses: a named pattern or specification (``name``), or the
    ``mask_mod`` functions given as ``FILE.py:FUNC`` / ``MODULE:FUNC`` (one step each) on
    ``grid``; exactly one of the two.

    >>> analysed_pattern("axial", grid=(4, 4)).edges
    [64, 64]
    """
    import ifg

    if (name is None) == (not mask_mods):
        raise InvalidArgument("give a pattern (--pattern SPEC) or --mask-mod FILE.py:FUNC, "
                              "not both and not neither")
    if mask_mods:
        from ifg.maskmod import from_mask_mod, load_mask_mod

        if grid is None:
            raise InvalidArgument("--mask-mod needs the grid: --grid HxW")
        if n is not None and n != grid[0] * grid[1]:
            raise InvalidArgument(f"--n {n} is not the {grid[0] * grid[1]} positions of the grid")
        fns = [load_mask_mod(ref) for ref in mask_mods]
        return from_mask_mod(fns, grid, batch=batch, head=head, enumeration=enumeration,
                             name="/".join(mask_mods))
    assert name is not None
    return ifg.pattern(name, n, enumeration=enumeration, grid=grid, seed=seed)


def format_blocks(counts: Sequence[StepBlocks], block: int, enumeration: str) -> str:
    """A step's blocks per line: what a block-sparse kernel computes in the token order.

    >>> from ifg.blocks import StepBlocks
    >>> print(format_blocks([StepBlocks(48, 0, 256)], 16, "rowmajor"))
    blocks of 16 (rowmajor order): step 1 computes 48 of 256 (18.8%), 0 full
    """
    parts = [f"step {t} computes {c.computed:,} of {c.total:,} ({c.computed / c.total:.1%}), "
             f"{c.full:,} full" for t, c in enumerate(counts, start=1)]
    return f"blocks of {block} ({enumeration} order): " + "; ".join(parts)
