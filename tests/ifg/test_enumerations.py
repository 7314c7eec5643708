"""Enumerations: the published ESA grids and the permutation laws."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import ifg
from ifg.errors import InvalidArgument
from .spec_facts import ESA_8X8


def test_manhattan_3x3_matches_spec():
    assert ifg.enumeration("manhattan", (3, 3)).reshape(3, 3).tolist() == [
        [0, 1, 3], [2, 4, 6], [5, 7, 8]]


def test_manhattan_8x8_matches_spec():
    assert np.array_equal(ifg.enumeration("manhattan", (8, 8)).reshape(8, 8), ESA_8X8)


def test_rowmajor_is_identity():
    assert np.array_equal(ifg.enumeration("rowmajor", (3, 5)), np.arange(15))


@pytest.mark.parametrize("name", ["snake", "hilbert"])
@pytest.mark.parametrize("side", [2, 4, 8, 16])
def test_curves_step_to_a_grid_neighbour(name, side):
    order = np.argsort(ifg.enumeration(name, (side, side)))
    r, c = np.divmod(order, side)
    assert (np.abs(np.diff(r)) + np.abs(np.diff(c)) == 1).all()


@given(h=st.integers(1, 12), w=st.integers(1, 12),
       name=st.sampled_from(["rowmajor", "manhattan", "snake"]))
def test_every_enumeration_is_a_permutation(h, w, name):
    rank = ifg.enumeration(name, (h, w))
    assert sorted(rank.tolist()) == list(range(h * w))


@given(k=st.integers(0, 5), name=st.sampled_from(["hilbert", "zorder"]))
def test_power_of_two_curves_are_permutations(k, name):
    side = 2 ** k
    assert sorted(ifg.enumeration(name, (side, side)).tolist()) == list(range(side * side))


@pytest.mark.parametrize("name", ["hilbert", "zorder"])
def test_power_of_two_curves_refuse_other_grids(name):
    with pytest.raises(InvalidArgument, match="power-of-two"):
        ifg.enumeration(name, (6, 6))


def test_unknown_enumeration_names_the_known_ones():
    with pytest.raises(InvalidArgument, match="manhattan"):
        ifg.enumeration("manhatan", (3, 3))


def test_layout_applies_the_same_permutation_to_queries_and_keys():
    one_d = ifg.pattern("ltr", 9)
    esa = ifg.layout(one_d, "manhattan")
    rank = ifg.enumeration("manhattan", (3, 3))
    for m1, m2 in zip(one_d.to_dense(), esa.to_dense()):
        assert np.array_equal(m2, m1[np.ix_(rank, rank)])
    assert np.array_equal(esa.rank, rank)


# the published Hilbert enumeration (hilbertcurve 1.0.3, the first h*h cells of
# HilbertCurve(p=h, n=2), coordinates read as (row, col)), printed once from that package
PUBLISHED_HILBERT_4 = [[0, 3, 4, 5], [1, 2, 7, 6], [14, 13, 8, 9], [15, 12, 11, 10]]
PUBLISHED_HILBERT_8 = [
    [0, 3, 4, 5, 58, 59, 60, 63], [1, 2, 7, 6, 57, 56, 61, 62],
    [14, 13, 8, 9, 54, 55, 50, 49], [15, 12, 11, 10, 53, 52, 51, 48],
    [16, 17, 30, 31, 32, 33, 46, 47], [19, 18, 29, 28, 35, 34, 45, 44],
    [20, 23, 24, 27, 36, 39, 40, 43], [21, 22, 25, 26, 37, 38, 41, 42]]


@pytest.mark.parametrize("side, published", [(4, PUBLISHED_HILBERT_4), (8, PUBLISHED_HILBERT_8)])
def test_hilbert_is_the_published_orientation(side, published):
    assert ifg.enumeration("hilbert", (side, side)).reshape(side, side).tolist() == published


@pytest.mark.parametrize("side", [2, 4, 8, 16, 32, 64])
def test_hilbert_starts_at_the_corner_and_steps_down_first_as_published(side):
    rank = ifg.enumeration("hilbert", (side, side)).reshape(side, side)
    assert rank[0, 0] == 0 and rank[1, 0] == 1
    # it ends on the top row when log2(side) is odd, on the left column when even
    end = np.argwhere(rank == side * side - 1)[0].tolist()
    assert end == ([0, side - 1] if (side.bit_length() - 1) % 2 else [side - 1, 0])


def test_tiled_goes_tile_by_tile_row_major_inside():
    rank = ifg.enumeration("tiled", (4, 10)).reshape(4, 10)
    assert rank[0, :8].tolist() == list(range(8)) and rank[1, 0] == 8
    assert rank[0, 8] == 32  # the partial tile at the right edge comes after the full one
    assert sorted(rank.ravel().tolist()) == list(range(40))
