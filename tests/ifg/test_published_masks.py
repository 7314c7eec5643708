"""The published code's other masks (circle-grid, relay, random, sliding) as named patterns.

Each is compared with a plain transliteration of its published definition (loops over a small
N, as the published classes do), and with the facts that follow from it.
"""

import numpy as np
import pytest

import ifg


def published_circle_grid(h, w):
    """CircleGridMask.get_indices on a square layer: the four wrapped neighbours."""
    mask = np.zeros((h * w, h * w), dtype=bool)
    for i in range(h):
        for j in range(w):
            for a, b in [(h - 1 if i == 0 else i - 1, j), (i, w - 1 if j == 0 else j - 1),
                         (0 if i == h - 1 else i + 1, j), (i, 0 if j == w - 1 else j + 1)]:
                mask[i * w + j, a * w + b] = True
    return mask


def published_sliding(n, overlap=1):
    """SlidingMask.get_indices with nI = nO = n, its wrap-around included."""
    deg = -(-(n + (n - 1) * overlap) // n)
    mask = np.zeros((n, n), dtype=bool)
    start = 0
    for i in range(n):
        for k in range(deg):
            y = k + start
            if y >= n:
                y = n - y  # as published (a negative index counts from the end)
            mask[i, y] = True
        start += deg - 1
        if start >= n:
            start = n - start
    return mask


@pytest.mark.parametrize("grid", [(1, 1), (1, 5), (2, 2), (3, 3), (4, 6), (8, 8)])
def test_circle_grid_is_the_published_torus_neighbourhood(grid):
    p = ifg.pattern("circle-grid", grid[0] * grid[1], grid=grid)
    assert p.num_steps == 1
    assert np.array_equal(p.steps[0].toarray(), published_circle_grid(*grid))


def test_circle_grid_facts_on_a_square_grid():
    step = ifg.pattern("circle-grid", 81).steps[0]
    assert (np.diff(step.indptr) == 4).all() and step.diagonal().sum() == 0
    assert (step != step.T).nnz == 0  # a neighbour's neighbour is the query: symmetric
    assert list(map(int, step[0].indices)) == [1, 8, 9, 72]  # the corner wraps both ways


def test_circle_grid_needs_a_grid():
    with pytest.raises(ifg.InvalidArgument, match="circle-grid lives on a 2-D grid"):
        ifg.pattern("circle-grid", 10)


@pytest.mark.parametrize("n", [2, 9, 64])
def test_relay_is_direct_then_reverse_and_broken_as_published(n):
    p = ifg.pattern("relay", n)
    gather, spread = (s.toarray() for s in p.steps)
    want_gather = np.zeros((n, n), dtype=bool)
    want_gather[n - 1, :n - 1] = True  # DirectRelayMask: [n - 1, i] for i < n - 1
    assert np.array_equal(gather, want_gather) and np.array_equal(spread, want_gather.T)
    report = ifg.check(p)
    assert report.empty_rows == [list(range(n - 1)), [n - 1]]
    assert report.missing_pairs == 2 * n - 1  # every pair into or out of the relay


@pytest.mark.parametrize("n", [1, 2, 9, 64])
def test_relay_self_repairs_it(n):
    p = ifg.pattern("relay-self", n)
    report = ifg.check(p)
    assert report.full_information and report.empty_rows == [[], []]
    assert p.edges == [2 * n - 1, 2 * n - 1]


def test_random_is_reproducible_and_seeded():
    a, b = ifg.pattern("random", 81, seed=3), ifg.pattern("random", 81, seed=3)
    assert all((x != y).nnz == 0 for x, y in zip(a.steps, b.steps))
    c = ifg.pattern("random", 81, seed=4)
    assert any((x != y).nnz for x, y in zip(a.steps, c.steps))
    assert (a.steps[0] != a.steps[1]).nnz  # two independent draws
    with pytest.raises(ifg.InvalidArgument, match="seed"):
        ifg.pattern("random", 81, seed=-1)


@pytest.mark.parametrize("seed", range(5))
def test_random_sends_each_key_to_s_queries_drawn_with_replacement(seed):
    n = 100
    s = ifg.stride(n)
    for step in ifg.pattern("random", n, seed=seed).steps:
        per_key = np.diff(step.tocsc().indptr)
        assert ((per_key >= 1) & (per_key <= s)).all()  # s draws, duplicates merge
        assert step.nnz > 0.8 * n * s  # few draws repeat (about s / 2n of them)


@pytest.mark.parametrize("n", [1, 2, 3, 9, 64])
def test_sliding_is_the_published_square_sliding_mask(n):
    p = ifg.pattern("sliding", n)
    assert p.num_steps == 1
    assert np.array_equal(p.steps[0].toarray(), published_sliding(n))


@pytest.mark.parametrize("name", ["circle-grid", "relay", "relay-self", "random", "sliding"])
def test_published_masks_render_and_lay_out_like_the_rest(name, tmp_path):
    from ifg import render

    p = ifg.pattern(name, 64, enumeration="manhattan")
    assert p.enumeration == "manhattan" and ifg.check(p).n == 64
    render.save_figure(render.figure(p, what=("masks",)), tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 0
