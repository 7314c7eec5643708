"""The named patterns against SPEC section 2's published facts."""

import numpy as np
import pytest

import ifg
from ifg.errors import InvalidArgument


def rows(step):
    return [list(map(int, step[q].indices)) for q in range(step.shape[0])]


def test_ltr_n9_step1_matches_spec():
    assert rows(ifg.pattern("ltr", 9).steps[0]) == [
        [0], [0, 1], [0, 1, 2], [3], [3, 4], [3, 4, 5], [6], [6, 7], [6, 7, 8]]


def test_ltr_n9_step2_matches_spec():
    assert rows(ifg.pattern("ltr", 9).steps[1]) == [
        [0, 2, 5, 8], [1, 2, 5, 8], [2, 5, 8], [2, 3, 5, 8], [2, 4, 5, 8], [2, 5, 8],
        [2, 5, 6, 8], [2, 5, 7, 8], [2, 5, 8]]


def test_rtl_n9_step2_matches_spec():
    assert rows(ifg.pattern("rtl", 9).steps[1]) == [
        [0, 3, 6], [0, 1, 3, 6], [0, 2, 3, 6], [0, 3, 6], [0, 3, 4, 6], [0, 3, 5, 6],
        [0, 3, 6], [0, 3, 6, 7], [0, 3, 6, 8]]


@pytest.mark.parametrize("name, n, edges", [
    ("ltr", 9, [18, 33]), ("rtl", 9, [18, 33]), ("ltr", 256, [2176, 4336]),
    ("rtl", 256, [2176, 4336]), ("fixed", 9, [18, 12]), ("strided", 9, [30, 18]),
])
def test_edge_counts_match_spec(name, n, edges):
    assert ifg.pattern(name, n).edges == edges


@pytest.mark.parametrize("s", [2, 3, 4, 7, 16])
def test_ltr_edge_count_formula(s):
    n = s * s
    assert ifg.pattern("ltr", n).edges == [n * (s + 1) // 2, n * n // s + n - n // s]


def test_fixed_has_empty_rows_in_step2():
    step2 = ifg.pattern("fixed", 9).steps[1]
    assert np.flatnonzero(np.diff(step2.indptr) == 0).tolist() == [0, 1]


@pytest.mark.parametrize("n", [9, 16, 30, 81])
def test_rtl_is_ltr_with_the_order_reversed(n):
    rev = np.arange(n)[::-1]
    ltr, rtl = ifg.pattern("ltr", n), ifg.pattern("rtl", n)
    if n % ifg.stride(n):  # reversal maps blocks onto blocks only when s divides N
        pytest.skip("blocks do not reverse onto blocks")
    for a, b in zip(ltr.steps, rtl.steps):
        assert (a[rev][:, rev] != b).nnz == 0


@pytest.mark.parametrize("name", sorted(ifg.patterns()))
@pytest.mark.parametrize("n", [1, 2, 7, 9, 10, 25])
def test_dense_roundtrip_and_no_empty_rows_except_fixed(name, n):
    p = ifg.pattern(name, n, grid=None if ifg.grid_of(n) else (1, n))  # circle-grid needs one
    again = ifg.Pattern.from_dense(p.to_dense(), grid=p.grid, name=name)
    assert again.edges == p.edges
    assert all((a != b).nnz == 0 for a, b in zip(p.steps, again.steps))


def test_patterns_match_their_definitions_densely():
    n = 20
    s = ifg.stride(n)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    same = i // s == j // s
    want = {
        "ltr": [same & (j <= i), (j == i) | (j % s == s - 1)],
        "rtl": [same & (j >= i), (j == i) | (j % s == 0)],
        "fixed": [same & (j <= i), (j % s == s - 1) & (j <= i)],
        "strided": [(i - s <= j) & (j <= i), ((i - j) % s == 0) & (j <= i)],
        "dense": [np.ones((n, n), dtype=bool)],
        "local": [np.abs(i - j) <= s // 2],
    }
    for name, masks in want.items():
        assert np.array_equal(ifg.pattern(name, n).to_dense(), np.stack(masks)), name


def test_unknown_pattern_suggests_close_names():
    with pytest.raises(InvalidArgument, match="did you mean strided"):
        ifg.pattern("strid", 81)


@pytest.mark.parametrize("n", [0, -3])
def test_nonpositive_n_is_rejected(n):
    with pytest.raises(InvalidArgument, match="positive"):
        ifg.pattern("ltr", n)


def test_esa_needs_a_grid_when_n_is_not_square():
    with pytest.raises(InvalidArgument, match="perfect square"):
        ifg.pattern("ltr", 80, enumeration="manhattan")
    assert ifg.pattern("ltr", 80, enumeration="manhattan", grid=(8, 10)).grid == (8, 10)


def test_pattern_rejects_mismatched_steps():
    with pytest.raises(InvalidArgument):
        ifg.Pattern((np.eye(3), np.eye(4)))
    with pytest.raises(InvalidArgument, match="grid"):
        ifg.Pattern((np.eye(4),), grid=(3, 3))


@pytest.mark.parametrize("n", [5, 10, 11, 12, 23, 80, 81])
def test_rtl_step2_takes_the_starts_of_complete_blocks_as_published(n):
    # RightRepetitiveMask: the block ends j % s == s - 1, shifted back by s - 1; and the diagonal
    s = ifg.stride(n)
    ends = np.arange(n)[np.arange(n) % s == s - 1]
    want = np.zeros((n, n), dtype=bool)
    want[:, ends - (s - 1)] = True
    want[np.arange(n), np.arange(n)] = True
    assert np.array_equal(ifg.pattern("rtl", n).steps[1].toarray(), want)


def test_rtl_lacks_full_information_like_ltr_when_the_last_block_is_partial():
    # N = 10, s = 3: the block {9} is partial and neither step 2 has a column for it
    assert rows(ifg.pattern("rtl", 10).steps[1])[1] == [0, 1, 3, 6]
    assert ifg.check(ifg.pattern("rtl", 10)).missing_pairs == 9
    assert ifg.check(ifg.pattern("ltr", 10)).missing_pairs == 9


@pytest.mark.parametrize("name", sorted(ifg.patterns()))
def test_every_name_works_in_pattern_layer_and_the_strategies(name):
    p = ifg.pattern(name, 64, enumeration="manhattan")
    assert p.name == name and p.grid == (8, 8)
    ms = ifg.layer([(name, t + 1) for t in range(p.num_steps)], key_grid=(8, 8))
    assert all((a != b).nnz == 0 for a, b in zip(ms.key_masks(), p.steps))


def test_strided_ext_is_a_named_pattern_equal_to_strided_extension():
    p = ifg.pattern("strided-ext", 81)
    assert p.edges == [765, 765] and ifg.check(p).full_information
    esa = ifg.strided_extension(81)
    assert all((a != b).nnz == 0 for a, b in zip(
        esa.steps, ifg.pattern("strided-ext", 81, enumeration="manhattan").steps))


def test_import_ifg_alone_reaches_io_load_save_and_version():
    import subprocess
    import sys

    code = "import ifg; print(ifg.io.load is ifg.load, ifg.save is ifg.io.save, ifg.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second, version = out.stdout.split()
    assert first == second == "True" and version[0].isdigit()
