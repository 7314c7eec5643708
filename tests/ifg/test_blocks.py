"""ifg.blocks: block counts against a dense reading of the permuted mask; the orders' ranking."""

import numpy as np
import pytest
from hypothesis import given, settings

import ifg
from ifg.blocks import ORDERS, block_counts, order
from ifg.strategies import family_patterns


def brute_blocks(step, rank, block):
    n = step.shape[0]
    perm = np.empty(n, dtype=np.int64)
    perm[rank] = np.arange(n)  # token i is position perm[i]
    m = step.toarray()[perm][:, perm]
    nb = -(-n // block)
    computed = full = 0
    for i in range(nb):
        for j in range(nb):
            cell = m[i * block:(i + 1) * block, j * block:(j + 1) * block]
            computed += bool(cell.any())
            full += bool(cell.all())
    return computed, full, nb * nb


def test_spec_fact_neighbourhood_blocks():
    counts = block_counts(ifg.pattern("neighborhood:kernel=3", grid=(16, 16)), 16)
    assert [(c.computed, c.full, c.total) for c in counts] == [(48, 0, 256)]


@pytest.mark.parametrize("enumeration", ["rowmajor", "snake", "manhattan", "hilbert", "zorder",
                                         "tiled"])
@pytest.mark.parametrize("block", [3, 8, 16])
def test_counts_are_the_permuted_masks_blocks(enumeration, block):
    p = ifg.pattern("swin:window=4+global", grid=(8, 8), enumeration=enumeration)
    for step, counts in zip(p.steps, block_counts(p, block), strict=True):
        assert (counts.computed, counts.full, counts.total) == brute_blocks(step, p.rank if
                                                                            p.rank is not None
                                                                            else np.arange(64),
                                                                            block)


@settings(max_examples=30, deadline=None)
@given(family_patterns(max_side=6))
def test_counts_of_any_family(p):
    for step, counts in zip(p.steps, block_counts(p, 4), strict=True):
        assert (counts.computed, counts.full, counts.total) == brute_blocks(step, np.arange(p.n),
                                                                            4)


def test_order_ranks_fewest_first_and_says_the_saving():
    report = order(ifg.pattern("swin:window=8", grid=(64, 64)), 64)
    computed = [o["computed"] for o in report.orders]
    assert computed == sorted(computed)
    assert {o["enumeration"] for o in report.orders} == set(ORDERS)
    assert report.best["computed"] < report.rowmajor["computed"]
    assert report.saved == pytest.approx(1 - 548 / 992)
    assert "fewer" in report.summary()
    d = report.to_dict()
    assert d["best"] == report.best["enumeration"] and d["orders"][0]["steps"]


def test_orders_that_cannot_lay_out_the_grid_are_skipped_with_the_reason():
    report = order(ifg.pattern("axial", grid=(6, 10)), 8)
    assert {s["enumeration"] for s in report.skipped} == {"hilbert", "zorder"}
    assert "power-of-two" in report.skipped[0]["reason"]


def test_bad_arguments():
    p = ifg.pattern("axial", grid=(4, 4))
    with pytest.raises(ifg.InvalidArgument):
        block_counts(p, 0)
    with pytest.raises(ifg.InvalidArgument):
        block_counts(p, 4, rank=np.zeros(16, dtype=int))
    with pytest.raises(ifg.InvalidArgument, match="did you mean"):
        order(p, 4, enumerations=["rowmajr"])
    with pytest.raises(ifg.InvalidArgument):
        order(ifg.pattern("ltr", 10), 4)
