"""ifg.depth: the depth, coverage and witness against brute-force boolean matrix products, SPEC
section 11's facts, and its laws (adding a key never raises it; renumbering never changes it)."""

import random

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ifg
from ifg.depth import kronecker_factors
from ifg.pattern import Pattern
from ifg.strategies import family_patterns, patterns


def brute_depth(pattern, max_layers, causal=False):
    """Boolean matrix products, dense, in the pattern's token order for the causal pairs."""
    n = pattern.n
    rank = pattern.rank if pattern.rank is not None else np.arange(n)
    wanted = (rank[None, :] <= rank[:, None]) if causal else np.ones((n, n), dtype=bool)
    reach = np.eye(n, dtype=bool)
    coverage = []
    for t in range(max_layers):
        step = pattern.steps[t % pattern.num_steps].toarray()
        reach = (step.astype(np.int64) @ reach.astype(np.int64)) > 0
        coverage.append((reach & wanted).sum() / wanted.sum())
        if (reach | ~wanted).all():
            return t + 1, coverage, reach
    return None, coverage, reach


SPECS = ["neighborhood:kernel=3", "neighborhood:kernel=3,dilation=2",
         "neighborhood:kernel=3,dilation=2/neighborhood:kernel=3", "neighborhood:kernel=2",
         "neighborhood:kernel=3,causal=true", "swin:window=4", "swin:window=2x4,shift=1x1",
         "axial", "criss-cross", "sliding-tile:tile=2,window=1", "sliding-tile:tile=2,window=3",
         "neighborhood:kernel=3+global:tokens=2", "neighborhood:kernel=3+random-keys:keys=2",
         "(axial/swin:window=2):layers=3", "ltr+global", "ltr"]


@pytest.mark.parametrize("grid", [(8, 8), (4, 10)])
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("method", ["auto", "bitsets"])
def test_depth_and_coverage_are_boolean_products(spec, grid, method):
    try:
        p = ifg.pattern(spec, grid=grid)
    except ifg.InvalidArgument:
        pytest.skip("the family does not fit this grid")
    report = ifg.depth(p, max_layers=30, method=method)
    layers, coverage, _ = brute_depth(p, 30)
    if report.never:  # stopped early: no more layer would help, as the products confirm
        assert layers is None and np.allclose(report.coverage, coverage[:len(report.coverage)])
    else:
        assert report.layers == layers
        assert np.allclose(report.coverage, coverage)


@pytest.mark.parametrize("spec", ["neighborhood:kernel=3", "swin:window=4", "axial",
                                  "neighborhood:kernel=3+global", "neighborhood:kernel=3,causal=1x0",
                                  "neighborhood:kernel=2,dilation=2", "swin:window=2x4,shift=1x3"])
@pytest.mark.parametrize("enumeration", ["snake", "rowmajor"])
@pytest.mark.parametrize("grid", [(8, 8), (4, 6)])
def test_causal_depth_is_boolean_products_over_causal_pairs(spec, enumeration, grid):
    try:
        p = ifg.pattern(spec, grid=grid, enumeration=enumeration)
    except ifg.InvalidArgument:
        pytest.skip("the family does not fit this grid")
    report = ifg.depth(p, max_layers=30, causal=True)
    layers, coverage, reach = brute_depth(p, 30, causal=True)
    if report.never:
        assert layers is None
    else:
        assert report.layers == layers
    assert np.allclose(report.coverage, coverage[:len(report.coverage)])
    if report.witness is not None:  # a causal pair with no path one layer before
        key, query = report.witness
        rank = p.rank if p.rank is not None else np.arange(p.n)
        assert rank[key] <= rank[query]


def test_spec_facts():
    r = ifg.depth(ifg.pattern("neighborhood:kernel=3", grid=(8, 8)))
    assert r.layers == 6 and r.coverage[0] == 0.140625
    dilated = ifg.depth(ifg.pattern("neighborhood:kernel=3,dilation=2", grid=(8, 8)))
    assert dilated.layers is None and dilated.never
    alternating = "neighborhood:kernel=3,dilation=2/neighborhood:kernel=3"
    assert ifg.depth(ifg.pattern(alternating, grid=(8, 8))).layers is not None
    assert ifg.depth(ifg.pattern("swin:window=4", grid=(8, 8))).layers == 3
    for grid in [(2, 2), (3, 7), (9, 9)]:
        assert ifg.depth(ifg.pattern("axial", grid=grid)).layers == 2
        assert ifg.depth(ifg.pattern("criss-cross", grid=grid)).layers == 2


@pytest.mark.parametrize("spec", ["neighborhood:kernel=3", "swin:window=4",
                                  "neighborhood:kernel=3,dilation=2", "criss-cross"])
def test_the_witness_has_no_path_one_layer_before(spec):
    p = ifg.pattern(spec, grid=(8, 8))
    report = ifg.depth(p, max_layers=20)
    assert report.witness is not None and "no path from key" in report.witness_reason
    key, query = report.witness
    before = report.layers - 1 if report.layers else len(report.coverage)
    reach = np.eye(p.n, dtype=bool)
    for t in range(before):
        reach = (p.steps[t % p.num_steps].toarray().astype(int) @ reach.astype(int)) > 0
    assert not reach[query, key]


def test_a_missing_pair_is_a_witness_for_a_limit():
    report = ifg.depth(ifg.pattern("neighborhood:kernel=3", grid=(16, 16)), max_layers=3)
    assert report.layers is None and not report.never and "--max-layers" in report.witness_reason
    assert len(report.coverage) == 3


def test_kronecker_factors_recognise_separable_steps_only():
    assert kronecker_factors(ifg.pattern("swin:window=2", grid=(4, 6)).steps[1], (4, 6))
    assert kronecker_factors(ifg.pattern("criss-cross", grid=(4, 6)).steps[0], (4, 6)) is None
    # a step that matches a product's edge count but not its edges
    m = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1]],
                               dtype=bool))
    assert kronecker_factors(m, (2, 2)) is None
    with pytest.raises(ifg.InvalidArgument, match="kronecker"):
        ifg.depth(ifg.pattern("criss-cross", grid=(4, 4)), method="kronecker")


def test_bad_arguments():
    p = ifg.pattern("axial", grid=(4, 4))
    with pytest.raises(ifg.InvalidArgument):
        ifg.depth(p, max_layers=0)
    with pytest.raises(ifg.InvalidArgument):
        ifg.depth(p, method="fast")
    with pytest.raises(ifg.InvalidArgument):
        ifg.depth("axial")


def _depth(p, limit):
    r = ifg.depth(p, max_layers=limit)
    return np.inf if r.layers is None else r.layers


@settings(max_examples=40, deadline=None)
@given(patterns(max_n=9, steps=(1, 3), density=(0.05, 0.4), enumerations=False), st.data())
def test_adding_a_key_never_raises_the_depth(p, data):
    t = data.draw(st.integers(0, p.num_steps - 1))
    q, k = data.draw(st.integers(0, p.n - 1)), data.draw(st.integers(0, p.n - 1))
    steps = list(p.steps)
    added = steps[t].tolil()
    added[q, k] = True
    steps[t] = added.tocsr()
    limit = 3 * p.n
    assert _depth(p.with_steps(steps), limit) <= _depth(p, limit)


@settings(max_examples=30, deadline=None)
@given(family_patterns(max_side=5), st.randoms(use_true_random=False))
@example(ifg.pattern("(random-keys:keys=1,seed=8):layers=2", grid=(1, 2)),
         random.Random(0))  # two positions that attend each other: never, found at 4 or 2
def test_renumbering_the_positions_never_changes_the_depth(p, rnd):
    perm = np.array(rnd.sample(range(p.n), p.n))
    renumbered = Pattern(tuple(s[perm][:, perm] for s in p.steps), name="renumbered")
    a, b = ifg.depth(p, max_layers=40), ifg.depth(renumbered, max_layers=40)
    assert a.layers == b.layers and a.never == b.never
    # a pattern that never reaches Full Information may be found so after more or fewer layers
    # (the grid's Kronecker method and the bitsets stop at different points): the curves agree
    # as far as both go
    n = min(len(a.coverage), len(b.coverage))
    assert n >= 1 and np.allclose(a.coverage[:n], b.coverage[:n])
    if not a.never:
        assert len(a.coverage) == len(b.coverage)


@settings(max_examples=30, deadline=None)
@given(family_patterns(max_side=5))
def test_families_depth_is_boolean_products(p):
    report = ifg.depth(p, max_layers=25)
    layers, coverage, _ = brute_depth(p, 25)
    if not report.never:
        assert report.layers == layers
    assert np.allclose(report.coverage, coverage[:len(report.coverage)])


@pytest.mark.parametrize("spec", ["neighborhood:kernel=3", "swin:window=2x4"])
def test_a_causal_witness_has_no_path_one_layer_before(spec):
    p = ifg.pattern(spec, grid=(4, 8))
    report = ifg.depth(p, causal=True)
    assert report.method == "kronecker" and report.layers is not None
    key, query = report.witness
    reach = np.eye(p.n, dtype=bool)
    for t in range(report.layers - 1):
        reach = (p.steps[t % p.num_steps].toarray().astype(int) @ reach.astype(int)) > 0
    assert key <= query and not reach[query, key]
