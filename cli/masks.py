"""ylg-masks: design sparse attention masks (a thin program over ``ifg``)."""

import json

import click

import ifg
from cli.errors import EXIT_FAILS, EXIT_OK, Group


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Design and check 2-D sparse attention masks (Your Local GAN).

    \b
    Examples:
      ylg-masks list
      ylg-masks check --pattern strided --n 81
      ylg-masks check --pattern ltr --n 256 --esa --json
      ylg-masks extend --pattern fixed --n 81 --max-keys 10
      ylg-masks search --n 81 --steps 2 --seconds 30
    """


@main.command("list")
def list_():
    """List the named patterns and the enumerations.

    \b
    Example:
      ylg-masks list
    """
    click.echo("patterns:")
    for name, doc in ifg.patterns().items():
        click.echo(f"  {name:<10} {doc}")
    click.echo("enumerations:")
    for name, doc in ifg.enumerations().items():
        click.echo(f"  {name:<10} {doc}")


def _locality_of(pattern):
    return ifg.locality(pattern) if pattern.grid is not None else None


def _locality_dicts(pattern):
    loc = _locality_of(pattern)
    return None if loc is None else [s.to_dict() for s in loc]


@main.command()
@click.option("--pattern", "name", required=True, help="A named pattern (see `ylg-masks list`).")
@click.option("--n", type=int, required=True, help="Number of positions N.")
@click.option("--grid", default=None, help="The grid as HxW, when not square.")
@click.option("--enumeration", default=None, help="Lay the pattern out with this enumeration "
              "first (the added edges are then positions on the grid).")
@click.option("--esa", is_flag=True, help="Same as --enumeration manhattan (the paper's ESA).")
@click.option("--max-keys", type=int, default=None,
              help="Budget: no query attends more keys than this in any step.")
@click.option("--causal", is_flag=True, help="Extend to causal Full Information, adding only "
              "causal edges.")
@click.option("--no-exact", is_flag=True, help="Skip the exact integer program (small problems).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write the extension as JSON: every added edge, the bound, the method.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def extend(name, n, grid, enumeration, esa, max_keys, causal, no_exact, output, as_json):
    """Add few edges to a pattern so that it has Full Information.

    Prints what was added, by step and query, and a proved lower bound on what any extension
    must add.

    \b
    Examples:
      ylg-masks extend --pattern fixed --n 81 --max-keys 10
      ylg-masks extend --pattern strided --n 256 --max-keys 17 -o strided-ext.json
      ylg-masks extend --pattern fixed --n 81            # without a budget: a hub
    """
    if esa and enumeration not in (None, "manhattan"):
        raise click.UsageError("--esa means --enumeration manhattan; give one of them")
    enumeration = "manhattan" if esa else (enumeration or "rowmajor")
    pattern = ifg.pattern(name, n, enumeration=enumeration, grid=_grid_option(grid))
    ext = ifg.extend(pattern, causal=causal, max_keys_per_query=max_keys,
                     exact=False if no_exact else None)
    if output:
        with open(output, "w") as f:
            json.dump(ext.to_dict(), f)
    if as_json:
        click.echo(json.dumps(ext.to_dict()))
        return
    click.echo(ext.summary())
    for step in range(1, pattern.num_steps + 1):
        edges = [(q, k) for s, q, k in ext.added if s == step]
        if not edges:
            continue
        click.echo(f"\nstep {step}: {len(edges)} added (query <- keys)")
        for q in sorted({q for q, _ in edges}):
            keys = ", ".join(str(k) for qq, k in edges if qq == q)
            click.echo(f"  {q:>5} <- {keys}")
    if output:
        click.echo(f"\nwrote {output}")


@main.command()
@click.option("--n", type=int, required=True, help="Number of positions N (a square grid unless "
              "--grid).")
@click.option("--steps", type=int, default=2, show_default=True, help="Steps per pattern.")
@click.option("--seconds", type=float, default=30.0, show_default=True, help="Time limit.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler.")
@click.option("--grid", default=None, help="The grid as HxW, when not square.")
@click.option("--max-keys", type=int, default=None,
              help="Keep only patterns within this many keys per query per step.")
@click.option("--top", type=int, default=5, show_default=True, help="Results to show.")
@click.option("--no-windows", is_flag=True, help="Skip the window family (each runs extend).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write the results (best, Pareto front, baseline) as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def search(n, steps, seconds, seed, grid, max_keys, top, no_windows, output, as_json):
    """Search for sparse patterns with Full Information that are local in 2-D.

    Scores edges against the balanced bound and the mean query-key distance on the grid, against
    ltr with ESA as the baseline; every result is re-checked. Progress goes to stderr.

    \b
    Examples:
      ylg-masks search --n 81 --steps 2 --seconds 30
      ylg-masks search --n 256 --seconds 60 --max-keys 17 -o search-256.json
    """
    import sys  # the bar goes to stderr, so that stdout stays one JSON object with --json

    with click.progressbar(length=1000, label="searching", file=sys.stderr,
                           show_eta=False) as bar:
        def progress(done, elapsed, best):
            bar.update(min(1000, int(1000 * elapsed / seconds)) - bar.pos)

        result = ifg.search(n, steps=steps, seconds=seconds, seed=seed, grid=_grid_option(grid),
                            max_keys_per_query=max_keys, top=top, windows=not no_windows,
                            progress=progress)
        bar.update(1000 - bar.pos)
    if output:
        with open(output, "w") as f:
            json.dump(result.to_dict(), f)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(result.summary())
        if output:
            click.echo(f"wrote {output}")


def _grid_option(value):
    if value is None:
        return None
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW such as 16x16, got {value!r}") from None
    return (h, w)


@main.command()
@click.option("--pattern", "name", required=True, help="A named pattern (see `ylg-masks list`).")
@click.option("--n", type=int, required=True, help="Number of positions N (a square grid when N "
              "is a perfect square).")
@click.option("--grid", default=None, help="The grid as HxW, when not square.")
@click.option("--enumeration", default=None, help="Lay the pattern out with this enumeration.")
@click.option("--esa", is_flag=True, help="Same as --enumeration manhattan (the paper's ESA).")
@click.option("--causal", is_flag=True, help="Ask for causal Full Information (pairs k <= q).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(name, n, grid, enumeration, esa, causal, as_json):
    """Check a pattern for Full Information and report its sparsity.

    Exit code 0 when Full Information holds (causal with --causal), 1 when it does not, 2 for
    bad input.

    \b
    Examples:
      ylg-masks check --pattern strided --n 81
      ylg-masks check --pattern strided --n 81 --causal
      ylg-masks check --pattern ltr --n 1024 --esa --json
    """
    if esa and enumeration not in (None, "manhattan"):
        raise click.UsageError("--esa means --enumeration manhattan; give one of them")
    enumeration = "manhattan" if esa else (enumeration or "rowmajor")
    pattern = ifg.pattern(name, n, enumeration=enumeration, grid=_grid_option(grid))
    report = ifg.check(pattern, causal=causal)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "locality": _locality_dicts(pattern)}))
    else:
        click.echo(format_report(report, locality=_locality_of(pattern)))
    raise SystemExit(EXIT_OK if report.holds else EXIT_FAILS)


def _verdict(holds, missing, total):
    return "yes" if holds else f"NO: {missing:,} of {total:,} pairs have no path"


def format_report(report, locality=None) -> str:
    """The report as an aligned table, and the witness sentence when the check fails.

    ``locality``, a list of :class:`ifg.locality.StepLocality`, adds a line per step.
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


if __name__ == "__main__":
    main()
