"""The Full Information check: published facts, and laws against the networkx reference."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import ifg
from ifg.check import reachable_runs


def dense_missing(pattern, causal=False):
    """Missing pairs from a plain boolean matrix product (a third, independent path)."""
    reach = np.eye(pattern.n, dtype=np.int64)
    for step in pattern.to_dense():
        reach = (step.astype(np.int64) @ reach > 0).astype(np.int64)
    rank = np.arange(pattern.n) if pattern.rank is None else pattern.rank
    ok = rank[None, :] <= rank[:, None] if causal else np.ones_like(reach, dtype=bool)
    return int(((reach == 0) & ok).sum())


@pytest.mark.parametrize("enumeration", ["rowmajor", "manhattan"])
@pytest.mark.parametrize("name, full, causal", [
    ("ltr", True, True), ("rtl", True, True), ("fixed", False, False),
    ("strided", False, True), ("dense", True, True),
])
def test_published_full_information(name, full, causal, enumeration):
    report = ifg.check(ifg.pattern(name, 81, enumeration=enumeration))
    assert report.full_information is full
    assert report.causal_full_information is causal


def test_strided_at_81_misses_exactly_the_pairs_with_k_after_q():
    report = ifg.check(ifg.pattern("strided", 81))
    assert (report.missing_pairs, report.total_pairs) == (3240, 6561)
    assert report.missing_pairs == 81 * 80 // 2
    source, target = report.witness
    assert source > target


@pytest.mark.parametrize("name", ["ltr", "rtl"])
def test_ylg_patterns_need_step1_before_step2(name):
    p = ifg.pattern(name, 81)
    swapped = p.with_steps(p.steps[::-1])
    assert ifg.check(p).full_information
    assert not ifg.check(swapped).full_information


def test_fixed_reports_empty_rows_and_a_witness():
    report = ifg.check(ifg.pattern("fixed", 9), causal=True)
    assert report.empty_rows == [[], [0, 1]]
    assert report.witness is not None and not report.holds
    assert "empty row" in report.witness_reason


def test_witness_really_has_no_path_and_reason_names_step_1():
    p = ifg.pattern("strided", 81, enumeration="manhattan")
    report = ifg.check(p)
    source, target = report.witness
    reach = p.steps[1].astype(int) @ p.steps[0].astype(int)
    assert reach[target, source] == 0
    assert "step 1" in report.witness_reason and "step 2" in report.witness_reason


def test_report_numbers():
    report = ifg.check(ifg.pattern("ltr", 256, enumeration="manhattan"))
    assert report.edges == [2176, 4336]
    assert report.max_keys_per_query == [16, 17]
    assert report.lower_bound_edges == pytest.approx(2 * 256 ** 1.5)
    assert report.bound_ratio == pytest.approx((2176 + 4336) / 8192)
    d = report.to_dict()
    assert d["witness"] is None and d["grid"] == [16, 16]


def random_pattern(draw_bits, n, steps, density):
    rng = np.random.default_rng(draw_bits)
    masks = rng.random((steps, n, n)) < density
    return ifg.Pattern.from_dense(masks, name="random")


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), steps=st.integers(1, 3),
       density=st.floats(0.05, 0.6), causal=st.booleans())
def test_fast_check_equals_networkx_reference(seed, n, steps, density, causal):
    p = random_pattern(seed, n, steps, density)
    report = ifg.check(p, causal=causal)
    ref = ifg.reference_missing_pairs(p, causal=causal)
    missing = report.causal_missing_pairs if causal else report.missing_pairs
    assert missing == ref == dense_missing(p, causal)
    assert report.holds == (ref == 0)
    assert ifg.full_information(p, causal=causal) == (ref == 0)


@given(seed=st.integers(0, 2**32 - 1), side=st.integers(2, 5), density=st.floats(0.05, 0.5),
       name=st.sampled_from(["manhattan", "snake", "hilbert", "zorder"]))
def test_every_enumeration_preserves_full_information(seed, side, density, name):
    if name in ("hilbert", "zorder"):
        side = 4
    p = random_pattern(seed, side * side, 2, density)
    p = ifg.Pattern(p.steps, grid=(side, side), name="random")
    laid = ifg.layout(p, name)
    assert ifg.check(laid).missing_pairs == ifg.check(p).missing_pairs


@given(seed=st.integers(0, 2**32 - 1), s=st.integers(1, 5), extra=st.integers(1, 20))
def test_adding_edges_never_removes_full_information(seed, s, extra):
    rng = np.random.default_rng(seed)
    n = s * s
    base = ifg.pattern("ltr", n)
    assert ifg.check(base).full_information
    more = base.to_dense()
    more[rng.integers(0, 2, extra), rng.integers(0, n, extra), rng.integers(0, n, extra)] = True
    assert ifg.check(ifg.Pattern.from_dense(more)).full_information


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 15), density=st.floats(0.02, 0.7))
def test_reachable_runs_are_sorted_disjoint_and_exact(seed, n, density):
    p = random_pattern(seed, n, 2, density)
    ptr, starts, ends = reachable_runs(p)
    reach = (p.steps[1].astype(int) @ p.steps[0].astype(int)).toarray() > 0
    for q in range(n):
        s, e = starts[ptr[q]:ptr[q + 1]], ends[ptr[q]:ptr[q + 1]]
        assert (s < e).all() and (s[1:] > e[:-1]).all()
        got = np.zeros(n, dtype=bool)
        for a, b in zip(s, e):
            got[a:b] = True
        assert np.array_equal(got, reach[q])


def test_ltr_lacks_full_information_when_the_last_block_is_partial():
    # s = 2 does not divide N = 5: block {4} has no block end in step 2's columns
    report = ifg.check(ifg.pattern("ltr", 5))
    assert not report.full_information and report.witness[0] == 4


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 15), steps=st.integers(2, 3),
       density=st.floats(0.02, 0.7))
def test_composing_in_small_blocks_gives_the_same_runs(seed, n, steps, density):
    # a block of a few gathered runs (or products of two rows, for scattered reach sets) forces
    # many blocks
    import importlib

    check_module = importlib.import_module("ifg.check")
    p = random_pattern(seed, n, steps, density)
    whole = reachable_runs(p)
    report = ifg.check(p)
    saved = check_module._BLOCK_RUNS, check_module._PRODUCT_ENTRIES
    check_module._BLOCK_RUNS, check_module._PRODUCT_ENTRIES = 3, 2 * n  # rows of two
    try:
        blocked = reachable_runs(p)
        small = ifg.check(p)
    finally:
        check_module._BLOCK_RUNS, check_module._PRODUCT_ENTRIES = saved
    for a, b in zip(whole, blocked):
        assert np.array_equal(a, b)
    assert small.missing_pairs == report.missing_pairs == dense_missing(p)
    assert small.causal_missing_pairs == report.causal_missing_pairs == dense_missing(p, True)
    assert small.witness == report.witness


def test_own_steps_undo_the_layout():
    p = ifg.pattern("strided", 64, enumeration="hilbert")
    fresh = ifg.Pattern(p.steps, grid=p.grid, enumeration=p.enumeration, rank=p.rank)
    for laid, computed, design in zip(p.own_steps(), fresh.own_steps(),
                                      ifg.pattern("strided", 64).steps):
        assert (laid != design).nnz == 0 and (computed != design).nnz == 0


def test_check_of_a_mask_set_checks_each_group():
    ms = ifg.layer([("ltr", 1), ("ltr", 2), ("fixed", 1), ("fixed", 2), ("rtl", 1)],
                   key_grid=(4, 4), query_grid=(8, 8))
    reports = ifg.check(ms, causal=True)
    assert [r.pattern for r in reports] == ["ltr:1+ltr:2", "fixed:1+fixed:2"]
    assert [r.full_information for r in reports] == [True, False]
    assert reports[1].missing_pairs == ifg.check(ms.group_pattern(1)).missing_pairs
    assert not ifg.full_information(ms)
    assert ifg.full_information(ifg.preset("ylg", key_grid=(4, 4)))


def test_check_refuses_what_is_not_a_pattern_or_a_mask_set():
    with pytest.raises(ifg.InvalidArgument, match="expected an ifg.Pattern or an ifg.MaskSet"):
        ifg.check(np.eye(3))
    with pytest.raises(ifg.InvalidArgument, match="no multi-step group"):
        ifg.full_information(ifg.layer([("ltr", 1)], key_grid=(3, 3)))
