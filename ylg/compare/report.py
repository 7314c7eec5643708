"""The report of a comparison: a table and a figure."""

from __future__ import annotations

import math
import os


from ylg.compare.run import Comparison

__all__ = ["format_table", "interval_bars", "draw_report"]


def _num(v: float | None, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}"


def format_table(c: Comparison) -> str:
    """The comparison as a plain-text table, one row per mask set.

    Columns: the score's mean over seeds and its 95 % interval, the paired difference from the
    first mask set with its interval, its p-value (paired t-test) and that p adjusted by Holm's
    method for the number of comparisons in the table, and the seeds a paired t-test would need
    to resolve that difference (80 % power, at level 0.05 divided by the number of comparisons)
    when it is not resolved (adjusted p >= 0.05); each mask set's budget (keys a query attends,
    averaged over layers and heads) and depth (the layers its own steps take to Full
    Information; ``never``). The flow task adds the accuracy on reachable and unreachable pairs.

    Examples
    --------
    >>> from ylg.compare.run import compare, Settings
    >>> c = compare(["dense", "local"], seeds=2, settings=Settings(steps=1, dim=8),
    ...             task_options={"grid": (2, 2), "eval_examples": 4})
    >>> format_table(c).splitlines()[0].split()[:3]
    ['mask', 'set', 'accuracy']
    """
    flow = any("reachable" in r or "unreachable" in r for r in c.rows)
    about = any("keys_per_query" in r for r in c.rows)
    better = "higher" if c.higher_is_better else "lower"
    width = max(22, *(len(r["item"]) for r in c.rows))
    head = (f"{'mask set':<{width}} {c.unit:>9} {'+-95%':>8} {'diff':>9} {'+-95%':>8} {'p':>7} "
            f"{'p(Holm)':>7} {'seeds needed':>12}")
    if about:
        head += f" {'keys/q':>7} {'depth':>5}"
    if flow:
        head += f" {'reachable':>9} {'unreachable':>11}"
    lines = [head]
    for r in c.rows:
        line = f"{r['item']:<{width}} {_num(r['score']):>9} {_num(r['interval']):>8}"
        if "difference" in r:
            if r.get("p_holm") is not None and r["p_holm"] < 0.05:
                need = "resolved"
            elif r["difference"] == 0:
                need = "-"  # no difference measured: no number of seeds resolves it
            else:
                need = str(r["seeds_needed"]) if r["seeds_needed"] else ">10000"
            line += (f" {r['difference']:>+9.4f} {_num(r['diff_interval']):>8} "
                     f"{_num(r['p'], 3):>7} {_num(r.get('p_holm'), 3):>7} {need:>12}")
        else:
            line += f" {'(ref)':>9} {'':>8} {'':>7} {'':>7} {'':>12}"
        if about:
            depth = r.get("depth")
            line += f" {_num(r.get('keys_per_query'), 1):>7} {'never' if depth is None else depth:>5}"
        if flow:
            line += f" {_num(r.get('reachable'), 3):>9} {_num(r.get('unreachable'), 3):>11}"
        lines.append(line)
    lines.append(f"task {c.task}: {c.unit}, {better} is better; {len(c.seeds)} paired seeds; "
                 f"differences against {c.items[0]}"
                 + (f"; chance {c.rows[0]['chance']:.3f}" if "chance" in c.rows[0] else ""))
    return "\n".join(lines)


def interval_bars(mean: float, half: float, bounds: tuple[float, float]
                  ) -> list[list[float]]:
    """The error bars ``[[below], [above]]`` of ``mean +- half`` cut at the score's ``bounds``
    (an MSE is never below 0, an accuracy stays in [0, 1]); none for an undefined interval.

    Examples
    --------
    >>> interval_bars(0.05, 0.2, (0.0, float("inf"))), interval_bars(0.9, 0.2, (0.0, 1.0))
    ([[0.05], [0.2]], [[0.2], [0.09999999999999998]])
    """
    if not math.isfinite(half):
        return [[0.0], [0.0]]
    low, high = bounds
    return [[max(0.0, min(half, mean - low))], [max(0.0, min(half, high - mean))]]


def draw_report(c: Comparison, path: str | os.PathLike[str]) -> None:
    """A figure: each mask set's score over seeds with its 95 % interval (cut at the score's
    range, :func:`interval_bars`), and for the flow task
    the accuracy against the (Manhattan) distance of the source, reachable and unreachable pairs.

    Examples
    --------
    >>> import tempfile, os
    >>> from ylg.compare.run import compare, Settings
    >>> c = compare(["dense"], seeds=1, settings=Settings(steps=1, dim=8),
    ...             task_options={"grid": (2, 2), "eval_examples": 4})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     draw_report(c, os.path.join(d, "r.png")); os.path.getsize(os.path.join(d, "r.png")) > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ifg.render import save_figure  # the one figure writer (imports matplotlib: here)

    flow = any("by_distance" in run for runs in c.runs.values() for run in runs)
    fig, axes = plt.subplots(1, 2 if flow else 1, figsize=(11 if flow else 6, 4), squeeze=False)
    ax = axes[0, 0]
    for i, r in enumerate(c.rows):
        ax.scatter([i] * len(r["scores"]), r["scores"], color="0.6", s=12, zorder=2)
        ax.errorbar([i], [r["score"]], yerr=interval_bars(r["score"], r["interval"], c.bounds),
                    fmt="o", color="C0", capsize=5, zorder=3)
    ax.set_xticks(range(len(c.rows)), [r["item"] for r in c.rows], rotation=30, ha="right")
    ax.set_ylabel(f"{c.unit} ({'higher' if c.higher_is_better else 'lower'} is better)")
    ax.set_title(f"task {c.task}: mean and 95% interval over {len(c.seeds)} seeds")
    if flow:
        ax = axes[0, 1]
        for i, item in enumerate(c.items):
            for label, style in (("reachable", "-"), ("unreachable", ":")):
                rows = [run["by_distance"] for run in c.runs[item]]
                d = [row["distance"] for row in rows[0]]
                acc = [np.mean([r[k][label] for r in rows]) if rows[0][k][label] is not None
                       else np.nan for k in range(len(d))]
                if not np.all(np.isnan(acc)):
                    ax.plot(d, acc, style, color=f"C{i}", marker=".",
                            label=f"{item} ({label})")
        ax.axhline(c.rows[0]["chance"], color="k", lw=0.8, ls="--", label="chance")
        ax.set_xlabel("Manhattan distance from the source")
        ax.set_ylabel("accuracy")
        ax.set_title("accuracy by distance (solid: reachable, dotted: unreachable)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=110)  # PNG, SVG or PDF, written whole or not at all
    finally:
        plt.close(fig)
