"""Tests of ylg.attention.flexcpu: flex_attention equals torch's FlexAttention forward and the
dense boolean mask's gradients, for any mask source, on CPU."""

import doctest
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask
from torch.nn.attention.flex_attention import flex_attention as torch_flex

import ylg
import ylg.attention.flexcpu as flexcpu
import ylg.attention.flexplan as flexplan
import ylg.attention.flexmasks as flexmasks
from ifg.errors import InvalidArgument
from ifg.maskset import Head, MaskSet
from ifg.pattern import Pattern
from ylg.attention.flexcpu import flex_attention
from ylg.attention.plan import largest_union

SIDE = 8  # an 8 x 8 grid of tokens: L = 64
L = SIDE * SIDE
BLOCK = 16  # torch's block size here, so that masks have full, partial and empty blocks
RANDOM = torch.from_numpy(np.random.default_rng(0).random((L, L)) < 0.15)


def _yx(i):
    return i // SIDE, i % SIDE


def neighbourhood_of(side, radius):
    """NATTEN's (2 radius + 1)^2 neighbourhood on a side x side grid: the window is moved
    inside the grid at the borders."""

    def neighbourhood(b, h, q, kv):
        qy, qx, ky, kx = q // side, q % side, kv // side, kv % side
        cy, cx = qy.clamp(radius, side - 1 - radius), qx.clamp(radius, side - 1 - radius)
        return ((ky - cy).abs() <= radius) & ((kx - cx).abs() <= radius)

    return neighbourhood


neighbourhood = neighbourhood_of(SIDE, 2)


def dilated(b, h, q, kv):
    """A 3 x 3 neighbourhood with dilation 2 (every other row and column)."""
    (qy, qx), (ky, kx) = _yx(q), _yx(kv)
    dy, dx = ky - qy, kx - qx
    return (dy.abs() <= 2) & (dx.abs() <= 2) & (dy % 2 == 0) & (dx % 2 == 0)


def swin_shifted(b, h, q, kv):
    """Swin's shifted windows: 4 x 4 windows moved by 2 (smaller windows at the borders)."""
    (qy, qx), (ky, kx) = _yx(q), _yx(kv)
    return ((qy + 2) // 4 == (ky + 2) // 4) & ((qx + 2) // 4 == (kx + 2) // 4)


def axial(b, h, q, kv):
    """The query's row and column."""
    (qy, qx), (ky, kx) = _yx(q), _yx(kv)
    return (qy == ky) | (qx == kx)


def random_with_empty_rows(b, h, q, kv):
    """About 15% of the pairs at random; every seventh query attends nothing."""
    return RANDOM.to(q.device)[q.long(), kv.long()] & (q % 7 != 3)


def by_batch_and_head(b, h, q, kv):
    """A band whose width grows with the head, with every (b + 2)-th key left out."""
    return ((q - kv).abs() <= 1 + 2 * h) & (kv % (b + 2) != 0)


def with_global_tokens(b, h, q, kv):
    """A 3 x 3 neighbourhood, and tokens 0 and 37 global: they attend, and are attended by,
    every token (BigBird's and Longformer's global tokens)."""
    (qy, qx), (ky, kx) = _yx(q), _yx(kv)
    is_global = lambda i: (i == 0) | (i == 37)  # noqa: E731
    local = ((qy - ky).abs() <= 1) & ((qx - kx).abs() <= 1)
    return local | is_global(q) | is_global(kv)


MASKS = {f.__name__: f for f in (neighbourhood, dilated, swin_shifted, axial,
                                 random_with_empty_rows, with_global_tokens)}


def dense_mask(mask_mod, B, H):
    """The mask_mod over every (b, h, q, kv): (B, H, L, L) bool."""
    i = torch.arange
    return mask_mod(i(B).view(B, 1, 1, 1), i(H).view(1, H, 1, 1), i(L).view(1, 1, L, 1),
                    i(L).view(1, 1, 1, L)).expand(B, H, L, L)


def inputs(B=2, Hq=4, Hkv=4, E=16, Ev=8, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, h, L, e, generator=g, dtype=dtype).requires_grad_(True)
            for h, e in ((Hq, E), (Hkv, E), (Hkv, Ev))]


def reference(q, k, v, mask, scale=None):
    """SDPA with the dense boolean mask (keys repeated for GQA); a query with no key gives 0
    (SDPA itself gives nan there), with log-sum-exp -inf."""
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    empty = ~mask.any(dim=-1, keepdim=True)  # (B, H, L, 1)
    safe = mask | empty  # a query with no key attends every key, then is zeroed
    o = torch.where(empty, 0.0, F.scaled_dot_product_attention(q, k, v, attn_mask=safe,
                                                                  scale=scale))
    s = (q @ k.transpose(-1, -2)) * (scale if scale is not None else q.shape[-1] ** -0.5)
    return o, s.masked_fill(~mask, float("-inf")).logsumexp(dim=-1)


def torch_forward(q, k, v, block_mask, **kw):
    with warnings.catch_warnings():  # eager flex warns that it is not compiled
        warnings.simplefilter("ignore")
        return torch_flex(q.detach(), k.detach(), v.detach(), block_mask=block_mask, **kw)


def grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("name", list(MASKS))
def test_flex_attention_equals_torch_forward_and_dense_gradients(name):
    mask_mod = MASKS[name]
    q, k, v = inputs()
    block_mask = create_block_mask(mask_mod, None, None, L, L, device="cpu", BLOCK_SIZE=BLOCK)
    out, lse = flex_attention(q, k, v, block_mask=block_mask, return_lse=True)
    expected, expected_lse = torch_forward(q, k, v, block_mask, return_lse=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(lse, expected_lse, atol=1e-5, rtol=0)
    weights = torch.randn_like(out)
    ref, ref_lse = reference(q, k, v, dense_mask(mask_mod, 2, 4))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    for got, want in zip(grads((out * weights).sum(), (q, k, v)),
                         grads((ref * weights).sum(), (q, k, v))):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_a_query_with_no_key_gives_zero_and_lse_minus_infinity():
    q, k, v = inputs(B=1, Hq=1, Hkv=1)
    out, lse = flex_attention(q, k, v, block_mask=random_with_empty_rows, return_lse=True)
    rows = torch.arange(L) % 7 == 3
    assert bool((out[0, 0, rows] == 0).all()) and bool(torch.isneginf(lse[0, 0, rows]).all())
    out.sum().backward()
    assert bool(torch.isfinite(q.grad).all()) and bool((q.grad[0, 0, rows] == 0).all())


def test_gqa_return_lse_and_mask_mod_by_batch_and_head():
    """Hq = 4 query heads on Hkv = 2 key heads; the mask reads b and h; the loss reads the
    log-sum-exp as well, whose gradient flows too."""
    q, k, v = inputs(B=2, Hq=4, Hkv=2, E=8, Ev=12, seed=1)
    block_mask = create_block_mask(by_batch_and_head, 2, 4, L, L, device="cpu",
                                   BLOCK_SIZE=BLOCK)
    for source in (block_mask, by_batch_and_head):
        out, lse = flex_attention(q, k, v, block_mask=source, enable_gqa=True, return_lse=True,
                                  scale=0.3)
        expected, expected_lse = torch_forward(q, k, v, block_mask, enable_gqa=True,
                                               return_lse=True, scale=0.3)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(lse, expected_lse, atol=1e-5, rtol=0)
        ref, ref_lse = reference(q, k, v, dense_mask(by_batch_and_head, 2, 4), scale=0.3)
        w = torch.randn_like(out)
        for got, want in zip(grads((out * w).sum() + lse.sum(), (q, k, v)),
                             grads((ref * w).sum() + ref_lse.sum(), (q, k, v))):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_large_logits_take_the_shifted_softmax():
    """Logits of size ~1e3 (beyond exp's float32 range): the softmax subtracts each row's
    maximum over allowed keys, as the dense path does."""
    q, k, v = (x.detach() * 8 for x in inputs(B=1, Hq=2, Hkv=2))
    for x in (q, k, v):
        x.requires_grad_(True)
    assert flexcpu._logit_bound(q, k, 0.25) > flexcpu._NO_SHIFT_BOUND
    out = flex_attention(q, k, v, block_mask=neighbourhood, scale=0.25)
    ref, _ = reference(q, k, v, dense_mask(neighbourhood, 1, 2), scale=0.25)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-5)
    w = torch.randn_like(out)
    for got, want in zip(grads((out * w).sum(), (q, k, v)), grads((ref * w).sum(), (q, k, v))):
        torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-4)


def test_ifg_pattern_and_maskset_give_the_mask_mods_answer():
    dense = dense_mask(neighbourhood, 1, 1)[0, 0].numpy()
    pattern = Pattern(steps=(sp.csr_matrix(dense), sp.csr_matrix(dense.T)), grid=(SIDE, SIDE))
    maskset = MaskSet(tuple(pattern.steps), (SIDE, SIDE), (SIDE, SIDE), "rowmajor", "official",
                      (Head("a", 1), Head("a", 2)), ())
    q, k, v = inputs(B=1, Hq=2, Hkv=2)
    transposed = lambda b, h, qi, kv: torch.where(h == 0, neighbourhood(b, h, qi, kv),  # noqa
                                                  neighbourhood(b, h, kv, qi))
    expected = flex_attention(q, k, v, block_mask=transposed)
    for source in (pattern, maskset):
        torch.testing.assert_close(flex_attention(q, k, v, block_mask=source), expected,
                                   atol=1e-6, rtol=0)


def test_the_plan_tiles_an_esa_layout_in_its_design_order():
    """YLG's masks laid out by ESA scatter on the raster, but are the compact 1-D design again in
    the enumeration's order: the plan finds that order (from the MaskSet, or a Pattern's rank)
    and gathers as few keys a tile as the raster layout of the same design, and the attention
    is the same as the dense one's."""
    import ifg
    from ylg.attention.plan import query_order

    esa, raster = ifg.preset("ylg", key_grid=(16, 16)), ifg.preset("ylg-no-esa", key_grid=(16, 16))

    def keys(source):  # the plan's keys a tile, for 1 batch and 8 heads of width 16
        return flexcpu._compile(source, 1, 8, 256, 256, 32).keys_per_tile

    plain = Pattern(tuple(esa.masks), grid=(16, 16))  # the same masks, design order forgotten
    ranked = Pattern(tuple(esa.masks), grid=(16, 16), rank=np.argsort(query_order(esa)))
    assert keys(esa) == keys(ranked) == keys(raster) < keys(plain) / 2
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 8, 256, 16, generator=g) for _ in range(3))
    dense = torch.from_numpy(np.stack([m.toarray() for m in esa.masks]))[None]
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
    torch.testing.assert_close(flex_attention(q, k, v, block_mask=esa), expected,
                               atol=1e-5, rtol=0)


def test_tiles_of_global_tokens_are_padded_apart_from_the_others():
    """The tiles that hold a global query gather every key; the other tiles are padded to their
    own largest union, not to all L keys (the outputs and gradients are checked against the
    dense reference with the other masks above)."""
    rows = [sp.csr_matrix(dense_mask(with_global_tokens, 1, 1)[0, 0].numpy())]
    plan = flexplan.make_plan(rows, 1, 1, (SIDE, SIDE), 24)
    heavy = [g for g in plan.groups if g.keys.shape[-1] == L]
    assert len(plan.groups) == 2 and len(heavy) == 1
    assert heavy[0].stop - heavy[0].start <= 2  # the tiles of queries 0 and 37
    assert plan.groups[0].keys.shape[-1] <= 6 * 6 + 2  # a 4 x 4 tile's 3 x 3 windows, the globals
    assert plan.slots < len(plan.order) * L * 0.8  # against every tile padded to L keys
    held = plan.order[heavy[0].start * plan.t:heavy[0].stop * plan.t].tolist()
    assert {0, 37} <= set(held)
    # the split is a saving only: a mask whose tiles gather alike stays one group
    assert len(flexplan.make_plan([sp.csr_matrix(dense_mask(neighbourhood, 1, 1)[0, 0].numpy())],
                             1, 1, (SIDE, SIDE), 24).groups) == 1


def test_key_order_puts_queries_that_share_keys_in_one_tile():
    """Queries of 16 blocks of 16 that attend their block's keys, shuffled: row-major tiles
    gather about every block, the queries sorted by their keys one block a tile."""
    rng = np.random.default_rng(0)
    blocks = np.kron(np.eye(16, dtype=bool), np.ones((16, 16), dtype=bool))
    mask = sp.csr_matrix(blocks[rng.permutation(256)])
    order = flexplan.key_order(mask)
    assert sorted(order) == list(range(256))
    assert largest_union(mask, order, 16) == 16
    assert largest_union(mask, np.arange(256), 16) > 100
    assert flexplan.make_plan([mask], 1, 1, None, 32).keys_per_tile == 16


def test_no_mask_is_full_attention_with_default_scale():
    q, k, v = inputs(B=1, Hq=2, Hkv=2, E=9)
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(flex_attention(q, k, v), expected, atol=1e-5, rtol=0)


def test_the_plan_is_compiled_once_per_mask():
    q, k, v = inputs(B=1, Hq=2, Hkv=2)
    calls = []

    def counted(b, h, qi, kv):
        calls.append(1)
        return axial(b, h, qi, kv)

    flex_attention(q, k, v, block_mask=counted)
    n = len(calls)
    flex_attention(q, k, v, block_mask=counted).sum().backward()
    assert n > 0 and len(calls) == n


def test_a_block_mask_is_read_within_its_partial_blocks_only():
    """From a BlockMask, the mask_mod sees only the pairs of its partial blocks: for a 7 x 7
    neighbourhood on 32 x 32 tokens in blocks of one row, under a third of L * S."""
    n, window = 32 * 32, neighbourhood_of(32, 3)
    seen = []

    def counted(b, h, q, kv):
        seen.append(torch.broadcast_shapes(q.shape, kv.shape).numel())
        return window(b, h, q, kv)

    block_mask = create_block_mask(window, None, None, n, n, device="cpu", BLOCK_SIZE=32)
    block_mask.mask_mod = counted
    masks, _, _ = flexmasks.block_mask_rows(block_mask, 1, 1)
    i = torch.arange(n)
    want = window(0, 0, i.view(-1, 1), i.view(1, -1)).numpy()
    assert (masks[0] != sp.csr_matrix(want)).nnz == 0
    assert sum(seen) < n * n / 3


def test_bad_mask_mods_give_one_clear_error():
    q, k, v = inputs(B=1, Hq=1, Hkv=1)

    def raises(b, h, qi, kv):
        raise ValueError("boom")

    cases = {raises: "raised ValueError: boom",
             (lambda b, h, qi, kv: (qi - kv).float()): "must return a boolean tensor",
             (lambda b, h, qi, kv: torch.ones(3, 5, dtype=torch.bool)): "returned shape",
             (lambda b, h, qi, kv: True): "must return a boolean tensor"}
    for mask_mod, message in cases.items():
        with pytest.raises(InvalidArgument, match=message):
            flex_attention(q, k, v, block_mask=mask_mod)


def test_unsupported_requests_are_refused():
    q, k, v = inputs(B=1, Hq=2, Hkv=2)
    with pytest.raises(InvalidArgument, match="score_mod"):
        flex_attention(q, k, v, score_mod=lambda s, b, h, qi, kv: s)
    with pytest.raises(InvalidArgument, match="enable_gqa"):
        flex_attention(q, k[:, :1], v[:, :1])
    with pytest.raises(InvalidArgument, match="lengths"):
        flex_attention(q, k, v, block_mask=create_block_mask(axial, None, None, 2 * L, L,
                                                             device="cpu"))
    out = flex_attention(q, k, v, block_mask=axial)
    with pytest.raises(InvalidArgument, match="double backward"):
        torch.autograd.grad(out.sum(), q, create_graph=True)


def test_flex_attention_is_a_public_name():
    assert ylg.flex_attention is flex_attention


def test_the_docs_example_runs():
    doc = Path(__file__).resolve().parents[3] / "docs" / "flex-attention.md"
    result = doctest.testfile(str(doc), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
