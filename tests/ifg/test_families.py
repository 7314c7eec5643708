"""ifg.families: every family against a brute-force reading of its anchor's definition.

The brute forces loop over (query, key) pairs in plain Python, written from the definitions
(SPEC section 11), not from the vectorised builders: NATTEN's window as a list of the dilation
group's positions; Swin's second step as the masked cyclic shift itself (roll by -S, cut windows,
mask the regions that wrapped); tiles by their indices.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ifg
from ifg.families import axis_neighborhood, families
from ifg.strategies import family_specs, grids


def _neighbours_1d(i, length, kernel, dilation, causal):
    group = [x for x in range(length) if x % dilation == i % dilation]
    j = group.index(i)
    if causal:
        return set(group[max(0, j - kernel + 1):j + 1])
    start = min(max(j - kernel // 2, 0), len(group) - kernel)
    return set(group[start:start + kernel])


def brute_neighborhood(grid, kernel, dilation=(1, 1), causal=(False, False)):
    h, w = grid
    m = np.zeros((h * w, h * w), dtype=bool)
    for r, c in itertools.product(range(h), range(w)):
        rows = _neighbours_1d(r, h, kernel[0], dilation[0], causal[0])
        cols = _neighbours_1d(c, w, kernel[1], dilation[1], causal[1])
        for r2, c2 in itertools.product(rows, cols):
            m[r * w + c, r2 * w + c2] = True
    return m


def _swin_labels_1d(length, window, shift):
    """Swin's masked cyclic shift along one axis: (window, region) of each original position."""
    labels = {}
    for x in range(length):
        rolled = (x - shift) % length  # torch.roll(x, -shift): position x moves to x - shift
        window_id = rolled // window
        # the regions Swin masks: the slices (0, -W), (-W, -S), (-S, None) of the rolled axis
        region = 0 if rolled < length - window else (1 if rolled < length - shift else 2)
        labels[x] = (window_id, region)
    return labels


def brute_swin(grid, window, shift):
    h, w = grid
    steps = []
    for s in ((0, 0), shift):
        rows = _swin_labels_1d(h, window[0], s[0])
        cols = _swin_labels_1d(w, window[1], s[1])
        m = np.zeros((h * w, h * w), dtype=bool)
        for (r, c), (r2, c2) in itertools.product(itertools.product(range(h), range(w)),
                                                 repeat=2):
            m[r * w + c, r2 * w + c2] = rows[r] == rows[r2] and cols[c] == cols[c2]
        steps.append(m)
    return steps


def brute_axial(grid):
    h, w = grid
    pos = list(itertools.product(range(h), range(w)))
    row = np.array([[r == r2 for r2, _ in pos] for r, _ in pos])
    col = np.array([[c == c2 for _, c2 in pos] for _, c in pos])
    return [row, col]


def brute_sliding_tile(grid, tile, window):
    h, w = grid
    m = np.zeros((h * w, h * w), dtype=bool)
    for (r, c), (r2, c2) in itertools.product(itertools.product(range(h), range(w)), repeat=2):
        ok = True
        for q, k, t, win, length in ((r, r2, tile[0], window[0], h), (c, c2, tile[1], window[1], w)):
            tiles = length // t
            start = min(max(q // t - win // 2, 0), tiles - win)
            ok &= start <= k // t < start + win
        m[r * w + c, r2 * w + c2] = ok
    return m


def brute_global(grid, tokens):
    n = grid[0] * grid[1]
    m = np.zeros((n, n), dtype=bool)
    m[:tokens, :] = True
    m[:, :tokens] = True
    return m


def dense(p):
    return [s.toarray() for s in p.steps]


@pytest.mark.parametrize("grid", [(8, 8), (5, 9), (7, 4)])
@pytest.mark.parametrize("kernel,dilation", [(1, 1), (3, 1), (3, 2), (2, 1), (4, 1), (2, 3)])
@pytest.mark.parametrize("causal", [False, True])
def test_neighborhood_is_natten_window(grid, kernel, dilation, causal):
    if kernel * dilation > min(grid):
        pytest.skip("NATTEN needs kernel * dilation <= side")
    p = ifg.pattern(f"neighborhood:kernel={kernel},dilation={dilation},causal={causal}",
                    grid=grid)
    expected = brute_neighborhood(grid, (kernel, kernel), (dilation, dilation),
                                  (causal, causal))
    assert np.array_equal(dense(p)[0], expected)


def test_neighborhood_per_axis_parameters():
    p = ifg.pattern("neighborhood:kernel=3x5,dilation=2x1,causal=1x0", grid=(7, 6))
    assert np.array_equal(dense(p)[0], brute_neighborhood((7, 6), (3, 5), (2, 1), (True, False)))


def test_every_query_attends_k_squared_keys():
    p = ifg.pattern("neighborhood:kernel=3", grid=(8, 8))
    assert set(np.diff(p.steps[0].indptr)) == {9}  # SPEC: 9 keys for every query


def test_the_brute_force_tells_a_clipped_window_from_natten_shifted_one():
    """Tests that can fail: a window clipped at the edges (not shifted) is told apart."""
    clipped = np.zeros((8, 8), dtype=bool)
    for i in range(8):
        clipped[i, max(0, i - 1):i + 2] = True
    assert not np.array_equal(axis_neighborhood(8, 3).toarray(), clipped)
    assert np.array_equal(axis_neighborhood(8, 3).toarray()[1:7], clipped[1:7])


@pytest.mark.parametrize("grid,window,shift", [((8, 8), 4, None), ((8, 8), 4, 1), ((6, 9), 3, 2),
                                               ((4, 6), 2, 0), ((6, 4), (3, 2), (1, 1))])
def test_swin_second_step_is_the_masked_cyclic_shift(grid, window, shift):
    wpair = window if isinstance(window, tuple) else (window, window)
    spair = (wpair[0] // 2, wpair[1] // 2) if shift is None else (
        shift if isinstance(shift, tuple) else (shift, shift))
    text = lambda v: f"{v[0]}x{v[1]}"  # noqa: E731
    spec = f"swin:window={text(wpair)}" + ("" if shift is None else f",shift={text(spair)}")
    p = ifg.pattern(spec, grid=grid)
    for got, want in zip(dense(p), brute_swin(grid, wpair, spair), strict=True):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("grid", [(1, 1), (3, 5), (4, 4)])
def test_axial_and_criss_cross(grid):
    row, col = brute_axial(grid)
    assert all(np.array_equal(a, b) for a, b in zip(dense(ifg.pattern("axial", grid=grid)),
                                                    [row, col], strict=True))
    assert np.array_equal(dense(ifg.pattern("criss-cross", grid=grid))[0], row | col)


@pytest.mark.parametrize("grid,tile,window", [((8, 8), 2, 3), ((8, 12), 4, 2), ((6, 6), 1, 3),
                                              ((8, 6), (2, 3), (3, 1))])
def test_sliding_tile(grid, tile, window):
    tpair = tile if isinstance(tile, tuple) else (tile, tile)
    mpair = window if isinstance(window, tuple) else (window, window)
    p = ifg.pattern(f"sliding-tile:tile={tpair[0]}x{tpair[1]},window={mpair[0]}x{mpair[1]}",
                    grid=grid)
    assert np.array_equal(dense(p)[0], brute_sliding_tile(grid, tpair, mpair))


def test_global_tokens_and_random_keys():
    assert np.array_equal(dense(ifg.pattern("global:tokens=3", grid=(4, 5)))[0],
                          brute_global((4, 5), 3))
    a = ifg.pattern("random-keys:keys=3", grid=(6, 6), seed=4)
    b = ifg.pattern("random-keys:keys=3", grid=(6, 6), seed=4)
    c = ifg.pattern("random-keys:keys=3,seed=5", grid=(6, 6), seed=4)
    assert (np.diff(a.steps[0].indptr) == 3).all()  # distinct keys, as BigBird draws them
    assert (a.steps[0] != b.steps[0]).nnz == 0 and (a.steps[0] != c.steps[0]).nnz > 0
    # most of the keys (the permutation branch), all of them, and more than there are
    assert (np.diff(ifg.pattern("random-keys:keys=30", grid=(6, 6)).steps[0].indptr) == 30).all()
    assert ifg.pattern("random-keys:keys=36", grid=(6, 6)).edges == [36 * 36]
    with pytest.raises(ifg.InvalidArgument, match="only 36 positions"):
        ifg.pattern("random-keys:keys=37", grid=(6, 6))


def test_random_keys_are_uniform_over_the_positions():
    """Every key is drawn about equally often (chi-square over 200 x 8 draws on 200 keys), and a
    query attends itself as often as any other key."""
    counts = ifg.pattern("random-keys:keys=8", grid=(10, 20), seed=0).steps[0].sum(axis=0).A1
    expected = 8.0
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 199 + 4 * np.sqrt(2 * 199)  # mean 199, sd 20: four sd above


def test_families_are_listed():
    assert {"neighborhood", "swin", "axial", "criss-cross", "sliding-tile", "global",
            "random-keys"} <= set(families())


@settings(max_examples=60, deadline=None)
@given(grids(max_side=7).flatmap(lambda g: family_specs(
    g, names=["neighborhood", "swin", "sliding-tile", "global"]).map(lambda s: (g, s))))
def test_a_familys_edges_are_what_its_definition_says(case):
    grid, spec = case
    p = ifg.pattern(spec, grid=grid)
    name, _, rest = spec.partition(":")
    params = dict(item.split("=") for item in rest.split(",")) if rest else {}

    def pair(key, cast=int):
        v = params[key].split("x")
        return (cast(v[0]), cast(v[-1]))

    if name == "neighborhood":
        flag = {"true": (True, True), "false": (False, False), "1x0": (True, False),
                "0x1": (False, True)}[params["causal"]]
        want = [brute_neighborhood(grid, pair("kernel"), pair("dilation"), flag)]
    elif name == "swin":
        want = brute_swin(grid, pair("window"), pair("shift"))
    elif name == "sliding-tile":
        want = [brute_sliding_tile(grid, pair("tile"), pair("window"))]
    else:
        want = [brute_global(grid, int(params["tokens"]))]
    assert all(np.array_equal(a, b) for a, b in zip(dense(p), want, strict=True))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["kernel", "window", "tile"]))
def test_sizes_beyond_the_grid_are_refused(what):
    spec = {"kernel": "neighborhood:kernel=5", "window": "swin:window=3",
            "tile": "sliding-tile:tile=2,window=3"}[what]
    with pytest.raises(ifg.InvalidArgument):
        ifg.pattern(spec, grid=(4, 4))
