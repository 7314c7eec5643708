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
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(format_report(report))
    raise SystemExit(EXIT_OK if report.holds else EXIT_FAILS)


def _verdict(holds, missing, total):
    return "yes" if holds else f"NO: {missing:,} of {total:,} pairs have no path"


def format_report(report) -> str:
    """The report as an aligned table, and the witness sentence when the check fails."""
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
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if report.witness is not None:
        lines.append("")
        lines.append("witness: " + report.witness_reason)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
