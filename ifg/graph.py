"""The information-flow graph (IFG) of a pattern, and the slow reference path search.

The IFG of ``[M1, ..., MP]`` is a DAG with layers ``V0 .. VP`` of N nodes each; an edge runs
from node ``(t - 1, k)`` to node ``(t, q)`` iff ``Mt[q, k]`` (SPEC section 3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ifg.pattern import Pattern

if TYPE_CHECKING:  # networkx is imported where a graph is built: ``import ifg`` spares it
    import networkx as nx

__all__ = ["information_flow_graph", "reference_missing_pairs"]


def information_flow_graph(pattern: Pattern) -> nx.DiGraph:
    """The information-flow graph as a networkx DiGraph.

    Parameters
    ----------
    pattern : Pattern

    Returns
    -------
    networkx.DiGraph
        Nodes ``(t, i)`` for layer ``t = 0..P`` and position ``i``, with node attribute
        ``layer``; edges ``(t - 1, k) -> (t, q)`` with attribute ``step = t``.

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> g = information_flow_graph(pattern("ltr", 9))
    >>> g.number_of_nodes(), g.number_of_edges()
    (27, 51)
    """
    import networkx as nx

    g = nx.DiGraph()
    n = pattern.n
    for t in range(pattern.num_steps + 1):
        g.add_nodes_from(((t, i) for i in range(n)), layer=t)
    for t, step in enumerate(pattern.steps, start=1):
        coo = step.tocoo()
        g.add_edges_from((((t - 1, int(k)), (t, int(q))) for q, k in zip(coo.row, coo.col)),
                         step=t)
    return g


def reference_missing_pairs(pattern: Pattern, *, causal: bool = False) -> int:
    """Count (key, query) pairs without a path by searching the IFG (slow; the reference).

    Parameters
    ----------
    pattern : Pattern
    causal : bool
        Count only pairs with ``rank[k] <= rank[q]``.

    Returns
    -------
    int

    Examples
    --------
    >>> from ifg.spec import pattern
    >>> reference_missing_pairs(pattern("strided", 9)), reference_missing_pairs(
    ...     pattern("strided", 9), causal=True)
    (36, 0)
    """
    import networkx as nx

    g = information_flow_graph(pattern)
    n, last = pattern.n, pattern.num_steps
    rank = np.arange(n) if pattern.rank is None else pattern.rank
    missing = 0
    for k in range(n):
        reached = {i for (t, i) in nx.descendants(g, (0, k)) if t == last}
        targets = [q for q in range(n) if not causal or rank[k] <= rank[q]]
        missing += sum(q not in reached for q in targets)
    return missing
