"""ifg.locality: against a plain reference, laws, and what it says about ESA."""

import numpy as np
import pytest
from hypothesis import given, settings

import ifg
from ifg.locality import locality
from ifg.search import random_distance
from ifg.strategies import patterns


def reference(pattern):
    """Per step (mean distance, neighbour share), one query at a time in plain Python."""
    h, w = pattern.grid
    out = []
    for step in pattern.to_dense():
        dists, shares = [], []
        for q in range(h * w):
            r, c = divmod(q, w)
            keys = np.flatnonzero(step[q])
            if len(keys) == 0:
                continue
            dists.append(np.mean([abs(r - k // w) + abs(c - k % w) for k in keys]))
            nbrs = [(r + dr) * w + c + dc for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                    if 0 <= r + dr < h and 0 <= c + dc < w]
            if nbrs:
                shares.append(np.mean([step[q, k] for k in nbrs]))
        out.append((np.mean(dists) if dists else np.nan, np.mean(shares) if shares else np.nan))
    return out


@settings(max_examples=40)
@given(patterns(max_n=16, steps=(1, 2), density=(0.0, 0.6)))
def test_locality_matches_the_plain_reference(p):
    for got, (dist, share) in zip(locality(p), reference(p)):
        np.testing.assert_allclose([got.mean_distance, got.neighbour_share], [dist, share])


@settings(max_examples=30)
@given(patterns(max_n=16, steps=2, density=(0.0, 0.6), enumerations=False))
def test_transposing_the_grid_keeps_locality(p):
    h, w = p.grid
    t = np.arange(h * w).reshape(h, w).T.ravel()  # position of (c, r) on the transposed grid
    moved = ifg.Pattern(tuple(s[t][:, t] for s in p.steps), grid=(w, h))
    for a, b in zip(locality(p), locality(moved)):
        np.testing.assert_allclose([a.mean_distance, a.neighbour_share, a.max_distance],
                                   [b.mean_distance, b.neighbour_share, b.max_distance])


def test_identity_and_dense_extremes():
    eye = ifg.Pattern.from_dense(np.eye(12, dtype=bool), grid=(3, 4))
    (s,) = locality(eye)
    assert (s.mean_distance, s.neighbour_share, s.max_distance) == (0.0, 0.0, 0)
    (d,) = locality(ifg.pattern("dense", 36))
    assert d.neighbour_share == 1.0 and d.max_distance == 10
    assert d.mean_distance == pytest.approx(random_distance((6, 6)))


def test_row_major_ltr_first_step_is_a_row_segment():
    s1, _ = locality(ifg.pattern("ltr", 256))
    # query at offset o of its row attends the o + 1 keys to its left: mean o / 2, mean 7.5 / 2
    assert s1.mean_distance == pytest.approx(3.75)
    assert s1.max_distance == 15


def test_esa_brings_ltrs_second_step_closer():
    row = locality(ifg.pattern("ltr", 256))
    esa = locality(ifg.pattern("ltr", 256, enumeration="manhattan"))
    assert esa[1].mean_distance < 0.8 * row[1].mean_distance  # 9.51 against 12.08


def test_esas_first_step_is_a_diagonal_not_closer_than_a_row():
    """What docs/design.md reports: Manhattan ESA's local step is no closer by these measures."""
    row = locality(ifg.pattern("ltr", 256))
    esa = locality(ifg.pattern("ltr", 256, enumeration="manhattan"))
    hilbert = locality(ifg.pattern("ltr", 256, enumeration="hilbert"))
    assert esa[0].mean_distance > row[0].mean_distance  # 5.70 against 3.75
    assert esa[0].neighbour_share < row[0].neighbour_share  # 17% against 25%
    assert hilbert[0].mean_distance < row[0].mean_distance  # 1.93: runs of 16 are 4x4 squares
    assert hilbert[0].neighbour_share > row[0].neighbour_share


def test_no_grid_is_bad_input():
    p = ifg.pattern("ltr", 80)
    with pytest.raises(ifg.InvalidArgument, match="needs a 2-D grid"):
        locality(p)
