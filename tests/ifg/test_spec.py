"""ifg.spec: unions, sequences and layers= build what their definitions say; bad specs are one
clear error each."""

import numpy as np
import pytest

import ifg
from ifg.spec import parse


def dense(p):
    return [s.toarray() for s in p.steps]


def test_union_is_stepwise_or_with_the_shorter_repeating():
    grid = (4, 6)
    swin = dense(ifg.pattern("swin:window=2", grid=grid))
    glob = dense(ifg.pattern("global:tokens=2", grid=grid))[0]
    axial = dense(ifg.pattern("axial", grid=grid))
    assert [np.array_equal(a, b) for a, b in zip(
        dense(ifg.pattern("swin:window=2+global:tokens=2", grid=grid)),
        [swin[0] | glob, swin[1] | glob], strict=True)] == [True, True]
    # lcm(2, 3) = 6 steps: step t is swin[t % 2] | (axial / criss-cross)[t % 3]
    three = dense(ifg.pattern("axial/criss-cross", grid=grid))
    got = dense(ifg.pattern("swin:window=2+(axial/criss-cross)", grid=grid))
    assert len(got) == 6
    for t in range(6):
        assert np.array_equal(got[t], swin[t % 2] | three[t % 3])
    assert np.array_equal(three[2], axial[0] | axial[1])


def test_sequence_concatenates_and_plus_binds_tighter():
    grid = (6, 6)
    a = dense(ifg.pattern("neighborhood:kernel=3", grid=grid))[0]
    b = dense(ifg.pattern("neighborhood:kernel=3,dilation=2", grid=grid))[0]
    g = dense(ifg.pattern("global", grid=grid))[0]
    got = dense(ifg.pattern("neighborhood:kernel=3/neighborhood:kernel=3,dilation=2+global",
                            grid=grid))
    assert len(got) == 2
    assert np.array_equal(got[0], a) and np.array_equal(got[1], b | g)


@pytest.mark.parametrize("spec,grid,expected", [
    ("axial:layers=5", (3, 4), ["r", "c", "r", "c", "r"]),
    ("axial:layers=1", (3, 4), ["r"]),
    ("(axial/criss-cross):layers=4", (3, 4), ["r", "c", "rc", "r"]),
])
def test_layers_repeats_the_steps_in_order(spec, grid, expected):
    row, col = dense(ifg.pattern("axial", grid=grid))
    by = {"r": row, "c": col, "rc": row | col}
    got = dense(ifg.pattern(spec, grid=grid))
    assert len(got) == len(expected)
    assert all(np.array_equal(g, by[e]) for g, e in zip(got, expected, strict=True))


def test_keyword_parameters_are_the_specs():
    a = ifg.pattern("neighborhood", grid=(8, 8), kernel=3, dilation=(1, 2), layers=2)
    b = ifg.pattern("neighborhood:kernel=3,dilation=1x2,layers=2", grid=(8, 8))
    assert a.num_steps == 2 and all((x != y).nnz == 0 for x, y in zip(a.steps, b.steps))
    assert ifg.pattern("ltr", 81, layers=3).num_steps == 3


def test_named_1d_patterns_join_specifications_laid_out_by_the_enumeration():
    p = ifg.pattern("ltr+global", 81, enumeration="manhattan")
    ltr = ifg.pattern("ltr", 81, enumeration="manhattan")
    g = ifg.pattern("global", grid=(9, 9))
    assert p.enumeration == "manhattan" and p.rank is not None
    for got, step in zip(p.steps, ltr.steps, strict=True):
        assert (got != (step + g.steps[0]).astype(bool)).nnz == 0


def test_a_plain_name_still_builds_the_named_pattern():
    assert ifg.pattern("ltr", 9).name == "ltr" and ifg.pattern("ltr", 9).edges == [18, 33]


@pytest.mark.parametrize("spec,message", [
    ("neighborhood:kernal=3", "did you mean kernel"),
    ("neighbourhood", "did you mean neighborhood"),
    ("swin:windw=4", "did you mean window"),
    ("neighborhood:kernel=9", "needs 9 positions"),
    ("swin:window=3", "does not divide"),
    ("sliding-tile:tile=3", "does not divide"),
    ("neighborhood:kernel=0", "positive integer"),
    ("neighborhood:kernel=three", "positive integer"),
    ("neighborhood:causal=maybe", "true or false"),
    ("neighborhood:kernel", "key=value"),
    ("(axial", "unbalanced"),
    ("axial+", "ends where a name"),
    ("axial)", "unexpected"),
    ("(axial):kernel=3", "unknown parameter 'kernel' of a group"),
    ("global:tokens=65", "at most the 64"),
    ("", "non-empty"),
])
def test_bad_specifications_are_one_line_errors(spec, message):
    with pytest.raises(ifg.InvalidArgument, match=message) as err:
        ifg.pattern(spec, grid=(8, 8))
    assert "\n" not in str(err.value)


def test_a_family_needs_a_grid():
    with pytest.raises(ifg.InvalidArgument, match="2-D grid"):
        ifg.pattern("axial", 10)


def test_a_keyword_given_twice_is_refused():
    with pytest.raises(ifg.InvalidArgument, match="twice"):
        ifg.pattern("neighborhood:kernel=3", grid=(8, 8), kernel=5)
    with pytest.raises(ifg.InvalidArgument, match="did you mean layers"):
        ifg.pattern("axial/axial", grid=(8, 8), layer=5)


def test_parse_tree():
    tree = parse("axial/criss-cross+global:tokens=2")
    assert type(tree).__name__ == "Sequence" and type(tree.parts[1]).__name__ == "Union"
