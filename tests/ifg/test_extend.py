"""ifg.extend: Full Information always, the budget kept, the lower bound proved, the target met."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ifg
from ifg.extend import ExtensionInfeasible, extend, lower_bound, strided_extension
from ifg.strategies import patterns


def dense_missing(dense, rank, causal):
    """Missing pairs of (P, N, N) boolean masks by a plain matrix product (independent of ifg)."""
    reach = np.eye(dense.shape[1], dtype=np.int64)
    for step in dense:
        reach = (step.astype(np.int64) @ reach > 0).astype(np.int64)
    ok = rank[None, :] <= rank[:, None] if causal else np.ones(reach.shape, dtype=bool)
    return int(((reach == 0) & ok).sum())


def rank_of(p):
    return np.arange(p.n) if p.rank is None else p.rank


def brute_force_optimum(p, causal=False, budget=None):
    """Fewest edges any extension adds, by trying every set of candidate edges by size."""
    dense = p.to_dense()
    rank = rank_of(p)
    cand = [(t, q, k) for t, q, k in zip(*np.nonzero(~dense))
            if not causal or rank[k] <= rank[q]]
    for size in range(len(cand) + 1):
        for combo in itertools.combinations(cand, size):
            m = dense.copy()
            for t, q, k in combo:
                m[t, q, k] = True
            if budget is not None and m.sum(axis=2).max() > budget:
                continue
            if dense_missing(m, rank, causal) == 0:
                return size
    return None


def test_fixed_at_81_within_ltrs_budget_adds_fewer_edges_than_ltr():
    fixed = ifg.pattern("fixed", 81)
    ext = extend(fixed, max_keys_per_query=10)
    ltr = ifg.pattern("ltr", 81)
    assert sum((a != b).nnz for a, b in zip(ltr.steps, fixed.steps)) == 468  # the number
    assert len(ext.added) < 468
    report = ifg.check(ext.pattern)
    assert report.full_information and max(report.max_keys_per_query) <= 10
    # every query needs 9 middles of at most 10 keys: the bound is 396, and it is met
    assert ext.lower_bound == len(ext.added) == 396 and ext.optimal


def test_fixed_extended_within_ltrs_budget_is_ltr_without_its_diagonal():
    ext = extend(ifg.pattern("fixed", 81), max_keys_per_query=10).pattern
    ltr = ifg.pattern("ltr", 81).to_dense()
    i = np.arange(81)
    ltr[1, i, i] = i % 9 == 8  # the diagonal stays only where it is a block end
    assert np.array_equal(ext.to_dense(), ltr)


def test_fixed_at_9_meets_its_bound_and_no_added_edge_is_redundant():
    p = ifg.pattern("fixed", 9)
    ext = extend(p, max_keys_per_query=3)
    assert ext.optimal and len(ext.added) == 15 == ext.lower_bound
    dense = p.to_dense()
    for drop in range(len(ext.added)):
        m = dense.copy()
        for i, (t, q, k) in enumerate(ext.added):
            m[t - 1, q, k] |= i != drop
        assert dense_missing(m, rank_of(p), causal=False) > 0


def test_exact_improves_on_greedy_when_greedy_misses_the_bound():
    masks = [[[0, 1, 0, 0, 0, 0], [1, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 0], [1, 1, 0, 0, 0, 1],
              [0, 1, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1]],
             [[0, 0, 1, 1, 0, 0], [1, 0, 1, 0, 0, 0], [0, 0, 1, 0, 1, 0], [0, 1, 0, 0, 0, 0],
              [0, 0, 0, 1, 1, 0], [0, 1, 1, 0, 0, 0]]]
    p = ifg.Pattern.from_dense(masks)
    greedy = extend(p, exact=False)
    exact = extend(p)
    assert (len(greedy.added), greedy.lower_bound, greedy.optimal) == (7, 6, False)
    assert exact.method == "exact" and len(exact.added) == 6 and exact.optimal
    assert dense_missing(exact.pattern.to_dense(), rank_of(p), causal=False) == 0


@settings(max_examples=40)
@given(patterns(max_n=9, steps=(1, 3), density=(0.0, 0.4)))
def test_extension_always_has_full_information(p):
    ext = extend(p, exact=False)
    assert dense_missing(ext.pattern.to_dense(), rank_of(p), causal=False) == 0
    assert ifg.check(ext.pattern).full_information
    # only edges are added, exactly those listed, and the layout is kept
    before, after = p.to_dense(), ext.pattern.to_dense()
    assert not (before & ~after).any()
    assert int((after & ~before).sum()) == len(ext.added) >= ext.lower_bound
    for step, q, k in ext.added:
        assert after[step - 1, q, k] and not before[step - 1, q, k]
    assert ext.pattern.grid == p.grid and ext.pattern.enumeration == p.enumeration


@settings(max_examples=30)
@given(patterns(max_n=9, steps=(1, 3), density=(0.0, 0.4)))
def test_causal_extension_adds_only_causal_edges(p):
    ext = extend(p, causal=True)
    rank = rank_of(p)
    assert all(rank[k] <= rank[q] for _, q, k in ext.added)
    assert ifg.check(ext.pattern).causal_full_information


@settings(max_examples=25)
@given(patterns(max_n=3, steps=2, density=(0.2, 0.7)), st.booleans())
def test_lower_bound_is_at_most_the_optimum_and_exact_reaches_it(p, causal):
    optimum = brute_force_optimum(p, causal=causal)
    assert lower_bound(p, causal=causal) <= optimum
    ext = extend(p, causal=causal)
    assert ext.optimal and len(ext.added) == optimum


@settings(max_examples=25)
@given(patterns(max_n=3, steps=2, density=(0.2, 0.6)), st.integers(2, 3))
def test_exact_within_a_budget_matches_brute_force(p, budget):
    if max(p.to_dense().sum(axis=2).max(), 0) > budget:
        return
    optimum = brute_force_optimum(p, budget=budget)
    if optimum is None:
        with pytest.raises(ExtensionInfeasible):
            extend(p, max_keys_per_query=budget)
        return
    assert lower_bound(p, max_keys_per_query=budget) <= optimum
    assert len(extend(p, max_keys_per_query=budget).added) == optimum


@settings(max_examples=30)
@given(patterns(max_n=12, steps=2, density=(0.0, 0.3)), st.integers(3, 6))
def test_budget_is_kept_or_the_extension_says_it_cannot(p, budget):
    if p.to_dense().sum(axis=2).max() > budget:
        with pytest.raises(ifg.InvalidArgument, match="max_keys_per_query"):
            extend(p, max_keys_per_query=budget)
        return
    try:
        ext = extend(p, max_keys_per_query=budget, exact=False)
    except ExtensionInfeasible as err:
        assert "max_keys_per_query" in str(err)
        return
    assert max(ifg.check(ext.pattern).max_keys_per_query) <= budget
    assert ifg.check(ext.pattern).full_information


@settings(max_examples=20)
@given(patterns(max_n=9, steps=2, density=(0.0, 0.4), enumerations=False),
       st.sampled_from(["manhattan", "snake"]))
def test_extension_does_not_depend_on_the_layout(p, name):
    """Extending then laying out adds the same edges as laying out then extending."""
    if p.grid is None or p.grid[0] != p.grid[1]:
        return
    first = ifg.layout(extend(p, exact=False).pattern, name)
    second = extend(ifg.layout(p, name), exact=False).pattern
    assert all((a != b).nnz == 0 for a, b in zip(first.steps, second.steps))


def test_without_a_budget_a_hub_is_said_to_be_the_answer():
    alone = ifg.Pattern.from_dense([np.eye(9), np.eye(9)], grid=(3, 3))
    ext = extend(alone, exact=False)
    assert ext.method == "hub" and ext.hub is not None
    assert len(ext.added) == 16 and "a hub: position" in ext.summary()
    # the hub is optimal here: the exact program finds nothing smaller
    assert len(extend(alone).added) == 16


def test_a_budget_too_small_for_any_extension_is_proved_infeasible():
    alone = ifg.Pattern.from_dense([np.eye(9), np.eye(9)])
    with pytest.raises(ExtensionInfeasible, match="at least 4 more keys"):
        extend(alone, max_keys_per_query=2)


def test_a_budget_below_an_existing_row_is_bad_input():
    with pytest.raises(ifg.InvalidArgument, match="max_keys_per_query=5"):
        extend(ifg.pattern("fixed", 81), max_keys_per_query=5)
    with pytest.raises(ifg.InvalidArgument, match="max_keys_per_query"):
        extend(ifg.pattern("fixed", 81), max_keys_per_query=0)


def test_a_pattern_with_full_information_needs_nothing():
    ext = extend(ifg.pattern("ltr", 81, enumeration="manhattan"))
    assert ext.added == [] and ext.lower_bound == 0 and ext.optimal
    assert "nothing to add" in ext.summary()
    assert ext.pattern.name == "ltr"


def test_three_steps_and_causal_strided():
    ext = extend(ifg.pattern("strided", 16), causal=True)
    assert ext.added == []  # strided already has causal Full Information
    three = ifg.Pattern.from_dense([np.eye(8)] * 3)
    ext = extend(three, max_keys_per_query=3)
    assert ifg.check(ext.pattern).full_information
    assert max(ifg.check(ext.pattern).max_keys_per_query) <= 3
    # at 2 keys only a butterfly works (2^3 = 8 exactly); the greedy does not find it, and says so
    with pytest.raises(ExtensionInfeasible, match="heuristic's failure, not a proof"):
        extend(three, max_keys_per_query=2)


def test_to_dict_is_json_ready():
    import json

    d = extend(ifg.pattern("fixed", 16), max_keys_per_query=5).to_dict()
    assert json.loads(json.dumps(d))["added_edges"] == len(d["added"])


@pytest.mark.parametrize("n", [2, 3, 10, 16, 50, 81, 99, 256])
def test_strided_extension_has_full_information(n):
    p = strided_extension(n, enumeration="rowmajor")
    assert ifg.check(p).full_information
    base = ifg.pattern("strided", n)
    assert not (base.steps[0] != p.steps[0]).nnz  # step 1 untouched


@pytest.mark.parametrize("n", [81, 256])
def test_strided_extension_is_what_extend_finds_at_ltrs_budget(n):
    s = int(np.sqrt(n))
    greedy = extend(ifg.pattern("strided", n), max_keys_per_query=s + 1)
    closed = strided_extension(n, enumeration="rowmajor")
    assert all((a != b).nnz == 0 for a, b in zip(greedy.pattern.steps, closed.steps))
    assert max(ifg.check(closed).max_keys_per_query) == s + 1
    assert len(greedy.added) == {81: 360, 256: 2040}[n]


def test_strided_extension_with_esa_at_4096():
    p = strided_extension(4096)
    assert p.enumeration == "manhattan" and p.grid == (64, 64)
    assert ifg.check(p).full_information
