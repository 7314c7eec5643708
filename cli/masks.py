"""ylg-masks: design sparse attention masks (a thin program over ``ifg``)."""

import os

import click

import ifg
from ifg.files import dumps_strict
from ifg.maskset import PRESETS, TILINGS
from ifg.reports import (check_mask_file, format_blocks, format_check, layer_masks, mask_figure,
                         output_kind, write_result)

from .errors import EXIT_FAILS, EXIT_OK, Group
from .options import SEED, Point, version_option


def mask_mod_options(f):
    """``--mask-mod`` (repeatable: one step each), ``--head`` and ``--batch``."""
    f = click.option("--batch", type=click.IntRange(min=0), default=0, show_default=True,
                     help="The b passed to --mask-mod.")(f)
    f = click.option("--head", type=click.IntRange(min=0), default=0, show_default=True,
                     help="The h passed to --mask-mod.")(f)
    return click.option("--mask-mod", "mask_mods", multiple=True, metavar="FILE.py:FUNC",
                        help="A FlexAttention mask_mod(b, h, q_idx, kv_idx), from a file or "
                             "MODULE:FUNC, on --grid; repeat it for several layers (steps). "
                             "Imports torch.")(f)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@version_option()
def main():
    """Design and check 2-D sparse attention masks (Your Local GAN).

    \b
    Examples:
      ylg-masks list
      ylg-masks check --pattern strided --n 81
      ylg-masks check --pattern ltr --n 256 --esa --json
      ylg-masks render --esa -o paper.png
      ylg-masks export --preset ylg -o masks.npz
      ylg-masks check --masks masks.npz
      ylg-masks extend --pattern fixed --n 81 --max-keys 10
      ylg-masks search --n 81 --steps 2 --seconds 30
      ylg-masks depth --pattern neighborhood:kernel=7 --grid 64x64
      ylg-masks order --pattern swin:window=8 --grid 64x64 --block 64
      ylg-masks check --mask-mod my_masks.py:natten_3x3 --grid 32x32 --block 128
    """


@main.command("list")
def list_():
    """List the named patterns and the enumerations.

    \b
    Example:
      ylg-masks list
    """
    from ifg.families import FAMILIES

    width = max(map(len, [*ifg.patterns(), *ifg.enumerations(), *FAMILIES]))
    click.echo("patterns:")
    for name, doc in ifg.patterns().items():
        click.echo(f"  {name:<{width}} {doc}")
    click.echo("2-D families (on --grid HxW, positions row-major):")
    for name, family in FAMILIES.items():
        click.echo(f"  {name:<{width}} {family.doc} [{family.anchor}]")
        for key, param in family.params.items():
            default = "derived" if param.default is None else str(param.default).lower()
            click.echo(f"  {'':<{width}}   {key}={default}: {param.help}")
    click.echo(SPEC_SYNTAX)
    click.echo("enumerations:")
    for name, doc in ifg.enumerations().items():
        click.echo(f"  {name:<{width}} {doc}")


#: how ``--pattern`` reads, shown by ``ylg-masks list``
SPEC_SYNTAX = """\
specifications (--pattern SPEC, ifg.pattern(SPEC, ...)):
  NAME:key=value,...   a pattern or family with parameters; a size is K or KhxKw
  A+B                  union, step by step (BigBird: neighborhood:kernel=7+global:tokens=2)
  A/B                  sequence: A's steps, then B's (alternating layers)
  NAME:layers=L, (A/B):layers=L
                       the steps repeated, in order, to L steps (L such layers)
  e.g. neighborhood:kernel=7/neighborhood:kernel=7,dilation=8"""


def _locality_of(pattern):
    return ifg.locality(pattern) if pattern.grid is not None else None


def _locality_dicts(pattern):
    loc = _locality_of(pattern)
    return None if loc is None else [s.to_dict() for s in loc]


@main.command()
@click.option("--pattern", "name", required=True, help="A named pattern (see `ylg-masks list`).")
@click.option("--n", type=int, default=None, help="Number of positions N (default: that of "
              "--grid).")
@click.option("--grid", default=None, help="The grid as HxW, when not square.")
@click.option("--enumeration", default=None, help="Lay the pattern out with this enumeration "
              "first (the added edges are then positions on the grid).")
@click.option("--esa", is_flag=True, help="Same as --enumeration manhattan (the paper's ESA).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of a random pattern (random).")
@click.option("--max-keys", type=int, default=None,
              help="Budget: no query attends more keys than this in any step.")
@click.option("--causal", is_flag=True, help="Extend to causal Full Information, adding only "
              "causal edges.")
@click.option("--no-exact", is_flag=True, help="Skip the exact integer program (small problems).")
@click.option("--seconds", type=float, default=300.0, show_default=True,
              help="Time limit: past it the greedy search stops and the hub is the answer, "
                   "or the command fails when there is none.")
@click.option("-o", "--out", "--output", "output", default=None, type=click.Path(dir_okay=False),
              help="Write the extended pattern: FILE.npz a mask file (for `ylg train --masks`), "
                   "FILE.json every added edge, the bound, the method.")
@click.option("--query-grid", default=None, help="With -o FILE.npz: the layer's query grid HxW "
              "(default: twice the pattern's grid, as ylg's models pool keys 2x2).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def extend(name, n, grid, enumeration, esa, seed, max_keys, causal, no_exact, seconds, output,
           query_grid, as_json):
    """Add few edges to a pattern so that it has Full Information.

    Prints what was added, by step and query, and a proved lower bound on what any extension
    must add.

    \b
    Examples:
      ylg-masks extend --pattern fixed --n 81 --max-keys 10
      ylg-masks extend --pattern strided --n 256 --max-keys 17 -o strided-ext.json
      ylg-masks extend --pattern fixed --n 64 --esa --max-keys 9 -o fixed-ext.npz
      ylg-masks extend --pattern fixed --n 81            # without a budget: a hub
    """
    output_kind(output)  # a bad suffix is refused before the work
    n = _positions(n, grid, needed="give --n or --grid")
    pattern = ifg.pattern(name, n, enumeration=_enumeration_option(enumeration, esa),
                          grid=_grid_option(grid), seed=seed)
    ext = ifg.extend(pattern, causal=causal, max_keys_per_query=max_keys,
                     exact=False if no_exact else None, seconds=seconds)
    if output:
        write_result(output, ext.to_dict(), ext.pattern, query_grid=_grid_option(query_grid, "--query-grid"))
    click.echo(dumps_strict(ext.to_dict()) if as_json else ext.summary(edges=True))
    if output and not as_json:
        click.echo(f"\nwrote {output}")


@main.command()
@click.option("--n", type=int, default=None, help="Number of positions N (a square grid unless "
              "--grid; default: that of --grid).")
@click.option("--steps", type=int, default=2, show_default=True, help="Steps per pattern.")
@click.option("--seconds", type=float, default=30.0, show_default=True, help="Time limit.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the sampler.")
@click.option("--grid", default=None, help="The grid as HxW, when not square.")
@click.option("--max-keys", type=int, default=None,
              help="Keep only patterns within this many keys per query per step.")
@click.option("--top", type=int, default=5, show_default=True, help="Results to show.")
@click.option("--no-windows", is_flag=True, help="Skip the window family (each runs extend).")
@click.option("-o", "--out", "--output", "output", default=None, type=click.Path(dir_okay=False),
              help="FILE.npz: the best pattern as a mask file (for `ylg train --masks`); "
                   "FILE.json: the results (best, Pareto front, baseline).")
@click.option("--query-grid", default=None, help="With -o FILE.npz: the layer's query grid HxW "
              "(default: twice the grid, as ylg's models pool keys 2x2).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def search(n, steps, seconds, seed, grid, max_keys, top, no_windows, output, query_grid,
           as_json):
    """Search for sparse patterns with Full Information that are local in 2-D.

    Scores edges against the balanced bound and the mean query-key distance on the grid, against
    ltr with ESA as the baseline; every result is re-checked. Progress goes to stderr.

    \b
    Examples:
      ylg-masks search --n 81 --steps 2 --seconds 30
      ylg-masks search --n 256 --seconds 60 --max-keys 17 -o search-256.json
      ylg-masks search --n 64 --seconds 20 -o best-64.npz
    """
    import contextlib
    import sys  # the bar goes to stderr, so that stdout stays one JSON object with --json

    output_kind(output)  # a bad suffix is refused before the work
    n = _positions(n, grid, needed="give --n or --grid")
    with contextlib.ExitStack() as stack:
        bars = []  # shown from the first candidate on: after the parameters are checked

        def progress(done, elapsed, best):
            if not bars:
                bars.append(stack.enter_context(click.progressbar(
                    length=1000, label="searching", file=sys.stderr, show_eta=False)))
            bars[0].update(min(1000, int(1000 * elapsed / seconds)) - bars[0].pos)

        result = ifg.search(n, steps=steps, seconds=seconds, seed=seed, grid=_grid_option(grid),
                            max_keys_per_query=max_keys, top=top, windows=not no_windows,
                            progress=progress)
        if bars:
            bars[0].update(1000 - bars[0].pos)
    if output:
        write_result(output, result.to_dict(), result.results[0].pattern if result.results
                     else None, query_grid=_grid_option(query_grid, "--query-grid"))
    click.echo(dumps_strict(result.to_dict()) if as_json else result.summary())
    if output and not as_json:
        click.echo(f"wrote {output}")


def _grid_option(value, option="--grid"):
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW such as 16x16, got {value!r}",
                                 param_hint=option) from None
    return (h, w)


def _positions(n, grid, *, needed):
    """--n, else the positions of --grid; else a usage error saying ``needed`` (None: None)."""
    if n is None and grid is not None:
        h, w = _grid_option(grid)
        return h * w
    if n is None and needed is not None:
        raise click.UsageError(needed)
    return n


def _enumeration_option(enumeration, esa, default="rowmajor"):
    """--esa and --enumeration as one enumeration name."""
    if esa and enumeration not in (None, "manhattan"):
        raise click.UsageError("--esa means --enumeration manhattan; give one of them")
    return "manhattan" if esa else (enumeration or default)


@main.command()
@click.option("--pattern", "name", default=None, help="A named pattern (see `ylg-masks list`).")
@click.option("--n", type=int, default=None, help="Number of positions N (a square grid when N "
              "is a perfect square; default: that of --grid).")
@click.option("--grid", default=None, help="The grid as HxW, when not square.")
@click.option("--enumeration", default=None, help="Lay the pattern out with this enumeration.")
@click.option("--esa", is_flag=True, help="Same as --enumeration manhattan (the paper's ESA).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of a random pattern (random).")
@click.option("--causal", is_flag=True, help="Ask for causal Full Information (pairs k <= q).")
@click.option("--masks", "masks_file", default=None, type=click.Path(dir_okay=False),
              help="Check every multi-step group of a mask file instead of a named pattern.")
@mask_mod_options
@click.option("--block", type=click.IntRange(min=1), default=None,
              help="Also count the BxB blocks a block-sparse kernel computes per step, in the "
                   "pattern's token order (its --enumeration).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(name, n, grid, enumeration, esa, seed, causal, masks_file, mask_mods, head, batch,
          block, as_json):
    """Check a pattern, or each multi-step group of a mask file, for Full Information.

    --pattern takes a named pattern, a 2-D family or a specification (see `ylg-masks list`);
    --mask-mod a FlexAttention mask_mod instead (one step each). Exit code 0 when Full
    Information holds (causal with --causal; for a mask file, in every group), 1 when it does
    not, 2 for bad input (a mask file that does not load included).

    \b
    Examples:
      ylg-masks check --pattern strided --n 81
      ylg-masks check --pattern strided --n 81 --causal
      ylg-masks check --pattern ltr --n 1024 --esa --json
      ylg-masks check --masks masks.npz
      ylg-masks check --pattern swin:window=4 --grid 8x8
      ylg-masks check --pattern neighborhood:kernel=3 --grid 16x16 --block 16
      ylg-masks check --mask-mod my_masks.py:natten_3x3 --grid 32x32
    """
    if masks_file is not None:
        if name or n is not None or grid or enumeration or esa or mask_mods or block:
            raise click.UsageError("--masks checks a file; it takes no --pattern, --n, --grid, "
                                   "--enumeration, --esa, --mask-mod or --block")
        result = check_mask_file(masks_file, causal=causal)
        click.echo(dumps_strict(result.to_dict()) if as_json else result.summary())
        raise SystemExit(EXIT_OK if result.holds else EXIT_FAILS)
    if name is None and not mask_mods:
        raise click.UsageError("give --pattern and --n, or --masks FILE")
    pattern = _analysed(name, n, grid, enumeration, esa, seed, mask_mods, head, batch,
                        needed="give --pattern and --n, or --masks FILE")
    report = ifg.check(pattern, causal=causal)
    counts = ifg.block_counts(pattern, block) if block else None
    if as_json:
        extra = {"blocks": None if counts is None else [c.to_dict() for c in counts]}
        click.echo(dumps_strict({**report.to_dict(), "locality": _locality_dicts(pattern),
                                 **extra}))
    else:
        text = format_check(report, locality=_locality_of(pattern))
        if counts is not None:
            text += "\n" + format_blocks(counts, block, pattern.enumeration)
        click.echo(text)
    raise SystemExit(EXIT_OK if report.holds else EXIT_FAILS)


def _analysed(name, n, grid, enumeration, esa, seed, mask_mods, head, batch, *, needed,
              default="rowmajor"):
    """The pattern of a command's --pattern/--n/--grid or --mask-mod options: a named pattern
    or specification, or the mask_mod functions (one step each) evaluated on the grid by ylg
    (torch is imported only then)."""
    if (name is None) == (not mask_mods):
        raise ifg.InvalidArgument("give a pattern (--pattern SPEC) or --mask-mod FILE.py:FUNC, "
                                  "not both and not neither")
    if mask_mods and grid is None:
        raise click.UsageError("--mask-mod needs --grid HxW")
    n = _positions(n, grid, needed=None if mask_mods else needed)
    grid = _grid_option(grid)
    enumeration = _enumeration_option(enumeration, esa, default=default)
    if not mask_mods:
        return ifg.pattern(name, n, enumeration=enumeration, grid=grid, seed=seed)
    from ifg.maskmod import load_mask_mod

    if n is not None and n != grid[0] * grid[1]:
        raise ifg.InvalidArgument(f"--n {n} is not the {grid[0] * grid[1]} positions of the "
                                  f"grid")
    fns = [load_mask_mod(ref) for ref in mask_mods]
    from ylg.attention.flexmasks import from_mask_mod

    return from_mask_mod(fns, grid, batch=batch, head=head, enumeration=enumeration,
                         name="/".join(mask_mods))


@main.command()
@click.option("--pattern", "name", default=None, help="A pattern, 2-D family or specification "
              "(see `ylg-masks list`).")
@click.option("--n", type=int, default=None, help="Number of positions N (default: that of "
              "--grid).")
@click.option("--grid", default=None, help="The grid as HxW.")
@click.option("--enumeration", default=None, help="The token order (for --causal pairs).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of a random pattern (random, random-keys).")
@mask_mod_options
@click.option("--max-layers", type=click.IntRange(min=1), default=None,
              help="Give up after this many layers (default 2 * (H + W) + steps).")
@click.option("--causal", is_flag=True, help="Ask only for pairs whose key comes at or before "
              "the query in the token order.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def depth(name, n, grid, enumeration, seed, mask_mods, head, batch, max_layers, causal,
          as_json):
    """How many layers before every key reaches every query.

    The pattern's steps are applied in order, cyclically, one step per layer. Prints the depth
    (JSON `layers`, null when not within --max-layers or never), the share of the (key, query)
    pairs with a path after each layer (`coverage`) and a `witness`: a pair with no path one
    layer earlier, and why. Exit code 0 when a depth is found, 1 when not.

    \b
    Examples:
      ylg-masks depth --pattern neighborhood:kernel=3 --grid 8x8
      ylg-masks depth --pattern neighborhood:kernel=7,dilation=4 --grid 56x56
      ylg-masks depth --pattern 'neighborhood:kernel=7/neighborhood:kernel=7,dilation=8' --grid 56x56
      ylg-masks depth --pattern swin:window=7 --grid 56x56 --json
      ylg-masks depth --mask-mod my_masks.py:natten_3x3 --grid 32x32
    """
    pattern = _analysed(name, n, grid, enumeration, False, seed, mask_mods, head, batch,
                        needed="give --pattern with --grid (or --n), or --mask-mod with --grid")
    report = ifg.depth(pattern, max_layers=max_layers, causal=causal)
    click.echo(dumps_strict(report.to_dict()) if as_json else report.summary())
    raise SystemExit(EXIT_OK if report.holds else EXIT_FAILS)


@main.command()
@click.option("--pattern", "name", default=None, help="A pattern, 2-D family or specification "
              "(see `ylg-masks list`).")
@click.option("--grid", required=True, help="The grid as HxW.")
@click.option("--block", type=click.IntRange(min=1), default=128, show_default=True,
              help="The block side B of the kernel (FlexAttention's default is 128).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of a random pattern (random, random-keys).")
@mask_mod_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def order(name, grid, block, seed, mask_mods, head, batch, as_json):
    """Rank the token orders by the blocks a block-sparse kernel computes.

    Every order the toolkit has (row-major, snake, Manhattan/ESA, Hilbert, Z-order, tiled)
    renumbers the tokens; the paths stay, the BxB blocks that hold an allowed pair change.
    Fewest computed blocks (summed over the steps) first, and what the best saves against
    row-major.

    \b
    Examples:
      ylg-masks order --pattern swin:window=8 --grid 64x64 --block 64
      ylg-masks order --pattern neighborhood:kernel=7 --grid 64x64 --json
      ylg-masks order --mask-mod my_masks.py:natten_3x3 --grid 32x32 --block 64
    """
    from ifg.blocks import order as rank_orders

    pattern = _analysed(name, None, grid, None, False, seed, mask_mods, head, batch,
                        needed="give --pattern or --mask-mod, with --grid")
    report = rank_orders(pattern, block)
    click.echo(dumps_strict(report.to_dict()) if as_json else report.summary())


@main.command()
@click.option("--pattern", "name", default=None,
              help="A named pattern; without it, the paper's figures (or --what enumeration).")
@click.option("--n", type=int, default=None, help="Number of positions N (default: that of "
              "--grid, else 64).")
@click.option("--grid", default=None, help="The grid as HxW, when not square.")
@click.option("--enumeration", default=None, help="Lay the pattern out with this enumeration.")
@click.option("--esa", is_flag=True, help="Same as --enumeration manhattan (the paper's ESA).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of a random pattern (random).")
@click.option("--what", default=None,
              help="Comma-separated panels: masks, graph, enumeration, field. Default: masks,graph "
                   "(masks alone above the graph's limit of N, 81).")
@click.option("--query", default=None, type=Point(), help="The query pixel R,C of --what field "
              "(default: the centre).")
@click.option("--order", type=click.Choice(["pixel", "enumeration"]), default="pixel",
              show_default=True, help="Masks and graph in row-major pixels or in the 1-D order.")
@click.option("--dpi", type=click.IntRange(20, 600), default=150, show_default=True,
              help="Resolution of a .png.")
@mask_mod_options
@click.option("--layers", type=click.IntRange(min=1), default=None,
              help="A 2-D family, specification or --mask-mod: apply the steps cyclically to "
                   "this many layers (--what field draws the receptive field layer by layer).")
@click.option("-o", "--out", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="The figure file: .png, .svg or .pdf.")
def render(name, n, grid, enumeration, esa, seed, what, query, order, dpi, mask_mods, head,
           batch, layers, output):
    """Draw masks, information-flow graphs, enumerations and receptive fields.

    Masks use the paper's colours: dark blue where both steps allow a cell, light blue for
    step 1 only, green for step 2 only, yellow for neither. A graph that lacks Full Information
    shows one missing path (source red, target purple). With no --pattern and no --what, draws
    the paper's figures: fixed, ltr and rtl at N = 9 with their graphs, and the 8x8 row-major
    and ESA enumerations.

    \b
    Examples:
      ylg-masks render --esa -o paper.png
      ylg-masks render --pattern fixed --n 9 -o fixed.svg
      ylg-masks render --pattern ltr --n 256 --esa --what masks,field --query 8,8 -o ltr.pdf
      ylg-masks render --what enumeration --n 64 --enumeration hilbert -o hilbert.png
      ylg-masks render --pattern neighborhood:kernel=3 --grid 16x16 --layers 6 -o field.png
      ylg-masks render --mask-mod my_masks.py:natten_3x3 --grid 16x16 --layers 4 -o mod.png
    """
    from ifg.render import save_figure

    default = "manhattan" if name is None else "rowmajor"
    pattern = None
    if mask_mods:
        pattern = _analysed(None, n, grid, enumeration, esa, seed, mask_mods, head, batch,
                            needed=None)
    n = _positions(n, grid, needed=None) or 64
    fig = mask_figure(name, n, grid=_grid_option(grid), seed=seed, what=what, query=query,
                      enumeration=_enumeration_option(enumeration, esa, default=default),
                      order=order, pattern=pattern, layers=layers)
    save_figure(fig, output, dpi=dpi)
    click.echo(f"wrote {output}")


@main.command()
@click.option("--preset", "preset_name", default=None,
              help=f"A named layer: {', '.join(PRESETS)}.")
@click.option("--heads", default=None, help="A custom layer, head by head: PATTERN:STEP,... "
              "(consecutive steps 1..P of one pattern form a group).")
@click.option("--pattern", "spec", default=None, help="A layer whose heads are the steps of a "
              "pattern, 2-D family or specification on the key grid (one group).")
@mask_mod_options
@click.option("--resolution", type=click.Choice(["32", "64", "128"]), default=None,
              help="The grids of ylg's model at this image resolution (32: query 16x16, key "
                   "8x8; 64 and 128: query 32x32, key 16x16).  [default: 32, that of ylg train]")
@click.option("--query-grid", default=None,
              help="The query grid HxW (the image grid at the attention layer).  [default: the "
                   "key grid x2, as ylg's models pool keys 2x2]")
@click.option("--key-grid", default=None,
              help="The key grid HxW (pooled; the masks are designed on it).  [default: the "
                   "query grid /2]")
@click.option("--tiling", type=click.Choice(list(TILINGS)), default="official",
              show_default=True, help="How the square key-grid masks map to the query grid.")
@click.option("--enumeration", default=None, help="With --heads: the enumeration (default "
              "manhattan, the paper's ESA).")
@click.option("--esa", is_flag=True, help="Same as --enumeration manhattan.")
@click.option("-o", "--out", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="The mask file to write (see docs/mask-format.md).")
def export(preset_name, heads, spec, mask_mods, head, batch, resolution, query_grid, key_grid,
           tiling, enumeration, esa, output):
    """Write the masks of one attention layer to a mask file.

    By default the grids of `ylg train`'s default model (32x32 images: query 16x16, key 8x8);
    one grid given alone derives the other, and a pair no attention layer takes is refused.

    \b
    Examples:
      ylg-masks export --preset ylg -o masks.npz
      ylg-masks export --preset ylg --resolution 128 -o masks128.npz
      ylg-masks export --preset ylg-no-esa --tiling aligned -o no_esa.npz
      ylg-masks export --heads ltr:1,ltr:2,rtl:1,rtl:2 --key-grid 8x8 -o custom.npz
      ylg-masks export --pattern swin:window=4 --key-grid 16x16 -o swin.npz
      ylg-masks export --mask-mod my_masks.py:natten_3x3 --key-grid 16x16 -o mod.npz
    """
    from ifg.io import save
    from ifg.maskset import to_maskset
    from ifg.reports import layer_grids, model_fit

    query_grid, key_grid = layer_grids(query_grid=_grid_option(query_grid, "--query-grid"),
                                       key_grid=_grid_option(key_grid, "--key-grid"),
                                       resolution=resolution and int(resolution))
    if spec is not None or mask_mods:
        if preset_name is not None or heads is not None:
            raise click.UsageError("give one of --preset, --heads, --pattern or --mask-mod")
        pattern = _analysed(spec, None, f"{key_grid[0]}x{key_grid[1]}", enumeration, esa, 0,
                            mask_mods, head, batch, needed=None)
        maskset = to_maskset(pattern, query_grid=query_grid, tiling=tiling)
    else:
        maskset = layer_masks(preset_name=preset_name, heads=heads, tiling=tiling,
                              query_grid=query_grid, key_grid=key_grid,
                              enumeration=_enumeration_option(enumeration, esa, default=None))
    save(maskset, output, mkdir=True)
    labels = ",".join(f"{h.pattern}:{h.step}" for h in maskset.heads)
    size = os.path.getsize(output)
    click.echo(f"wrote {output}: {maskset.num_heads} heads ({labels}), query grid "
               f"{'x'.join(map(str, maskset.query_grid))}, key grid "
               f"{'x'.join(map(str, maskset.key_grid))}, {maskset.enumeration}, "
               f"{maskset.tiling} tiling, {len(maskset.groups)} group(s), {size:,} bytes")
    click.echo(model_fit(maskset.query_grid, maskset.key_grid))


if __name__ == "__main__":
    main()
