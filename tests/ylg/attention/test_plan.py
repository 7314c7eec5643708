"""The sparse backend's plan: the query order of least padded work (2-D blocks for windows)."""

import numpy as np
import pytest
import torch

import ifg
from ifg.maskset import to_maskset
from ylg.attention import Attention2d
from ylg.attention.plan import best_tile, block_order, layer_order, pad_order, query_order


def _cost(ms, order, dims):
    masks = list(ms.masks)
    total = 0
    for m in {(m.indptr.tobytes(), m.indices.tobytes()): m for m in masks}.values():
        t, u = best_tile(m, order, dims)
        total += len(pad_order(order, t)) // t * u * (t + dims)
    return total


@pytest.mark.parametrize("grid", [(4, 4), (6, 8), (5, 3)])
def test_block_order_is_a_permutation_of_compact_blocks(grid):
    order = block_order(grid, 2)
    assert sorted(order.tolist()) == list(range(grid[0] * grid[1]))
    rows, cols = np.divmod(order[:4], grid[1])  # the first block: a 2 x 2 patch
    if min(grid) >= 2:
        assert set(zip(rows.tolist(), cols.tolist())) == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_a_neighbourhood_in_row_major_order_is_tiled_in_2d_blocks():
    ms = to_maskset(ifg.pattern("neighborhood:kernel=5", grid=(32, 32)), query_grid=(32, 32))
    dims = 12
    chosen = layer_order(ms, list(ms.masks), dims)
    assert _cost(ms, chosen, dims) < _cost(ms, query_order(ms), dims)
    assert not np.array_equal(chosen, query_order(ms))


def test_the_ylg_preset_keeps_its_enumeration_order():
    ms = ifg.preset("ylg", key_grid=(8, 8), query_grid=(16, 16))
    dims = 3
    chosen = layer_order(ms, list(ms.masks), dims)
    assert _cost(ms, chosen, dims) <= _cost(ms, query_order(ms), dims)


def test_the_sparse_backend_on_a_block_order_equals_the_dense_reference():
    torch.manual_seed(0)
    ms = to_maskset(ifg.pattern("neighborhood:kernel=3,dilation=2", grid=(12, 12)),
                    query_grid=(12, 12))
    dense = Attention2d(16, ms, pool=1, backend="dense", qk_head_dim=4, v_head_dim=4)
    sparse = Attention2d(16, ms, pool=1, backend="sparse", qk_head_dim=4, v_head_dim=4)
    sparse.load_state_dict(dense.state_dict())
    with torch.no_grad():
        dense.gamma.fill_(1.0), sparse.gamma.fill_(1.0)
    x = torch.randn(2, 16, 12, 12, requires_grad=True)
    y1, a1 = dense(x, return_attention=True)
    x2 = x.detach().clone().requires_grad_()
    y2, a2 = sparse(x2, return_attention=True)
    torch.testing.assert_close(y2, y1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a2, a1, atol=1e-6, rtol=1e-5)
    y1.square().sum().backward(), y2.square().sum().backward()
    torch.testing.assert_close(x2.grad, x.grad, atol=1e-4, rtol=1e-4)
