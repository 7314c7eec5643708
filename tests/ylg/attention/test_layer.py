"""Tests of ylg.attention: the layer follows SPEC section 6, and both backends agree."""

import copy
import doctest
import json
import math
import os

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

import ylg.attention.kernels as kernels
import ylg.attention.layer as attention
from ifg.errors import InvalidArgument, YLGError
from ifg.maskset import PRESETS, Head, MaskSet, layer, preset
from ylg.attention import Attention2d

TOL = 1e-5


def random_maskset(*, key_grid, query_grid, heads=3, density=0.2, seed=0):
    """Random per-head masks (no structure at all), every query row allowed at least one key."""
    rng = np.random.default_rng(seed)
    nq, nk = query_grid[0] * query_grid[1], key_grid[0] * key_grid[1]
    densities = np.broadcast_to(density, (heads,))
    masks = []
    for h in range(heads):
        dense = rng.random((nq, nk)) < densities[h]
        dense[np.arange(nq), rng.integers(0, nk, nq)] = True  # no empty row
        masks.append(sp.csr_matrix(dense))
    return MaskSet(tuple(masks), tuple(query_grid), tuple(key_grid), "rowmajor", "official",
                   tuple(Head("random", 1) for _ in range(heads)), ())


def twin_layers(channels, masks, *, pool, gamma=0.7, seed=0, **kw):
    """A dense and a sparse layer with the same weights, gamma set away from 0 so that every
    parameter receives a gradient."""
    torch.manual_seed(seed)
    dense = Attention2d(channels, masks, pool=pool, backend="dense", **kw)
    sparse = Attention2d(channels, masks, pool=pool, backend="sparse", **kw)
    sparse.load_state_dict(dense.state_dict())
    for m in (dense, sparse):
        with torch.no_grad():
            m.gamma.fill_(gamma)
    return dense, sparse


def run(layer, x, weights):
    """Output, attention and gradients of a loss that reads both the output and the maps."""
    x = x.detach().clone().requires_grad_(True)
    layer.zero_grad()
    y, attn = layer(x, return_attention=True)
    (y * weights[0]).sum().backward(retain_graph=True)
    (attn * weights[1]).sum().backward()
    grads = {name: p.grad.clone() for name, p in layer.named_parameters()}
    return y.detach(), attn.detach(), x.grad, grads


CASES = {
    # name: (mask set, pool)
    "ylg-sagan": (lambda: preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), 2),
    "ylg-square": (lambda: preset("ylg", key_grid=(8, 8), query_grid=(8, 8)), 1),
    "ylg-no-esa": (lambda: preset("ylg-no-esa", key_grid=(4, 4), query_grid=(8, 8)), 2),
    "ylg-aligned": (lambda: preset("ylg", key_grid=(4, 4), query_grid=(8, 8),
                                   tiling="aligned"), 2),
    "ylg-non-square-grid": (lambda: preset("ylg", key_grid=(4, 6), query_grid=(8, 12)), 2),
    "mixed-patterns": (lambda: layer((("fixed", 1), ("strided", 1), ("strided", 2),
                                      ("local", 1)), key_grid=(5, 5), query_grid=(5, 5)), 1),
    "random": (lambda: random_maskset(key_grid=(4, 4), query_grid=(8, 8)), 2),
    "random-sparse-square": (lambda: random_maskset(key_grid=(6, 5), query_grid=(6, 5),
                                                    density=0.03, heads=2, seed=1), 1),
}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_sparse_backend_matches_dense_backend(case, batch):
    build, pool = CASES[case]
    masks = build()
    heads = masks.num_heads
    dense, sparse = twin_layers(16 * heads, masks, pool=pool)
    torch.manual_seed(1)
    x = torch.randn(batch, 16 * heads, *masks.query_grid)
    weights = (torch.randn(batch, 16 * heads, *masks.query_grid),
               torch.randn(batch, heads, masks.nq, masks.nk))
    yd, ad, gxd, gpd = run(dense, x, weights)
    ys, as_, gxs, gps = run(sparse, x, weights)
    torch.testing.assert_close(ys, yd, atol=TOL, rtol=TOL)
    torch.testing.assert_close(as_, ad, atol=TOL, rtol=TOL)
    torch.testing.assert_close(gxs, gxd, atol=TOL, rtol=TOL)
    assert set(gps) == set(gpd) and len(gpd) == 5  # four projections and gamma
    for name in gpd:
        assert gpd[name].abs().max() > 0, name  # the comparison below means something
        torch.testing.assert_close(gps[name], gpd[name], atol=TOL, rtol=TOL, msg=name)


@pytest.mark.parametrize("case", ["ylg-sagan", "random"])
def test_sparse_matches_dense_with_one_query_channel_a_head(case):
    """qk_head_dim=1 (YLG-SAGAN at width 16): the sparse logits are one broadcast product."""
    build, pool = CASES[case]
    masks = build()
    heads = masks.num_heads
    dense, sparse = twin_layers(8 * heads, masks, pool=pool)
    assert sparse.qk_head_dim == 1
    torch.manual_seed(1)
    x = torch.randn(3, 8 * heads, *masks.query_grid)
    weights = (torch.randn(3, 8 * heads, *masks.query_grid),
               torch.randn(3, heads, masks.nq, masks.nk))
    yd, ad, gxd, gpd = run(dense, x, weights)
    ys, as_, gxs, gps = run(sparse, x, weights)
    torch.testing.assert_close(ys, yd, atol=TOL, rtol=TOL)
    torch.testing.assert_close(as_, ad, atol=TOL, rtol=TOL)
    torch.testing.assert_close(gxs, gxd, atol=TOL, rtol=TOL)
    for name in gpd:
        assert gpd[name].abs().max() > 0, name
        torch.testing.assert_close(gps[name], gpd[name], atol=TOL, rtol=TOL, msg=name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_flex_backend_forward_matches_dense_backend(case):
    """FlexAttention (forward only on CPU) with the exported block mask: every tiling, pooled
    keys, each head its own mask; outputs and maps as the dense reference."""
    build, pool = CASES[case]
    masks = build()
    torch.manual_seed(0)
    dense = Attention2d(8 * masks.num_heads, masks, pool=pool, backend="dense").eval()
    flex = Attention2d(8 * masks.num_heads, masks, pool=pool, backend="flex").eval()
    flex.load_state_dict(dense.state_dict())  # eval: no power iteration between the calls
    x = torch.randn(2, 8 * masks.num_heads, *masks.query_grid)
    with torch.no_grad():
        for m in (dense, flex):
            m.gamma.fill_(0.7)
        yd, ad = dense(x, return_attention=True)
        yf, af = flex(x, return_attention=True)
        assert flex.backend == "flex" and (yd - x).abs().max() > 0
        torch.testing.assert_close(yf, yd, atol=TOL, rtol=TOL)
        torch.testing.assert_close(af, ad, atol=TOL, rtol=TOL)
        torch.testing.assert_close(flex(x), yd, atol=TOL, rtol=TOL)


def _axial_32():
    """Axial attention on 32 x 32 tokens: Z-order computes 48 blocks of 128, row-major 72."""
    import ifg
    from ifg.maskset import to_maskset

    return to_maskset(ifg.pattern("axial", grid=(32, 32)), query_grid=(32, 32))


def test_flex_backend_runs_in_the_order_with_fewest_blocks_and_answers_as_dense():
    masks = _axial_32()
    torch.manual_seed(0)
    dense = Attention2d(8 * masks.num_heads, masks, pool=1, backend="dense").eval()
    flex = Attention2d(8 * masks.num_heads, masks, pool=1, backend="flex").eval()
    flex.load_state_dict(dense.state_dict())
    assert flex.flex_order == "zorder"
    x = torch.randn(1, 8 * masks.num_heads, 32, 32)
    with torch.no_grad():
        for m in (dense, flex):
            m.gamma.fill_(0.7)
        yd, ad = dense(x, return_attention=True)
        yf, af = flex(x, return_attention=True)
    torch.testing.assert_close(yf, yd, atol=TOL, rtol=TOL)
    torch.testing.assert_close(af, ad, atol=TOL, rtol=TOL)


def test_ordered_flex_mask_computes_the_blocks_ifg_counts():
    """torch's own BlockMask in the chosen order computes the blocks ifg.blocks.order counted
    (48 against row-major's 72), and attends as the row-major block mask does."""
    from torch.nn.attention.flex_attention import flex_attention

    from ifg.blocks import order
    from ylg.attention.flex import ordered_flex_mask

    masks = _axial_32()
    report = {o["enumeration"]: o["computed"] for o in order(masks, 128).orders}

    def computed(block_mask):
        return int(block_mask.kv_num_blocks.sum() + block_mask.full_kv_num_blocks.sum())

    fm = ordered_flex_mask(masks)
    row_major = ordered_flex_mask(masks, "rowmajor")
    assert fm.enumeration == "zorder"
    assert (computed(fm.block_mask), computed(row_major.block_mask)) == (
        report["zorder"], report["rowmajor"]) == (48, 72)
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 2, 1024, 8)
    block_mask, _ = attention.flex_mask(masks)
    torch.testing.assert_close(fm.attend(q, k, v), flex_attention(q, k, v, block_mask=block_mask),
                               atol=TOL, rtol=TOL)


def test_flex_mask_exports_every_head_of_a_mask_set():
    masks = CASES["mixed-patterns"][0]()
    block_mask, mask_mod = attention.flex_mask(masks)
    assert block_mask.shape == (1, masks.num_heads, masks.nq, masks.nk)
    h, q, kv = torch.meshgrid(*(torch.arange(n) for n in (masks.num_heads, masks.nq, masks.nk)),
                              indexing="ij")
    np.testing.assert_array_equal(mask_mod(0, h, q, kv).numpy(), masks.to_dense())


def test_flex_training_on_cpu_is_refused_with_one_line():
    masks = CASES["ylg-sagan"][0]()
    net = Attention2d(64, masks, backend="flex")
    with pytest.raises(attention.FlexUnsupported, match="cannot train on CPU") as info:
        net(torch.randn(1, 64, 8, 8))
    assert isinstance(info.value, InvalidArgument) and "\n" not in str(info.value)
    with pytest.raises(InvalidArgument, match="'flex' needs masks"):
        Attention2d(64, None, backend="flex")


@pytest.mark.parametrize("case", ["ylg-sagan", "random"])
def test_attention_maps_follow_the_masks(case):
    build, pool = CASES[case]
    masks = build()
    for backend in ("dense", "sparse"):
        net = Attention2d(8 * masks.num_heads, masks, pool=pool, backend=backend)
        y, attn = net(torch.randn(2, 8 * masks.num_heads, *masks.query_grid),
                      return_attention=True)
        allowed = torch.from_numpy(masks.to_dense())
        assert attn.shape == (2, masks.num_heads, masks.nq, masks.nk)
        assert (attn[:, ~allowed] == 0).all()  # masked weights are exactly 0
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, masks.num_heads, masks.nq))


def reference_layer(net, x):
    """SPEC section 6 written out independently of the module's code."""
    b, c, h, w = x.shape
    nh, d, e = net.heads, net.qk_head_dim, net.v_head_dim
    q = F.conv2d(x, net.query.weight)
    k = F.max_pool2d(F.conv2d(x, net.key.weight), net.pool)
    v = F.max_pool2d(F.conv2d(x, net.value.weight), net.pool)
    outs = []
    for i in range(nh):
        qi = q[:, i * d:(i + 1) * d].flatten(2)  # (b, d, nq)
        ki = k[:, i * d:(i + 1) * d].flatten(2)  # (b, d, nk)
        vi = v[:, i * e:(i + 1) * e].flatten(2)  # (b, e, nk)
        logits = torch.einsum("bdq,bdk->bqk", qi, ki)
        if net.masks is not None:
            allowed = torch.from_numpy(net.masks.masks[i].toarray())
            logits = logits.masked_fill(~allowed, -math.inf)
        outs.append(torch.einsum("bqk,bek->beq", logits.softmax(-1), vi))
    o = torch.stack(outs, 2).reshape(b, nh * e, h, w)  # published order: channel j*nh + i
    return x + net.gamma * F.conv2d(o, net.out.weight)


@pytest.mark.parametrize("backend", ["dense", "sparse", "flex"])
def test_heads_are_interleaved_before_the_output_projection(backend):
    """Output channel 0 reads one input channel of the projection: channel j*heads + h must be
    channel j of head h (the published order), whatever the backend."""
    masks = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    torch.manual_seed(0)
    net = Attention2d(64, masks, backend=backend).eval()
    nh, e = net.heads, net.v_head_dim
    j, h = 2, 5
    with torch.no_grad():
        net.gamma.fill_(1.0)
    net.out = torch.nn.Conv2d(nh * e, 64, 1, bias=False)  # a hand-built, plain projection
    with torch.no_grad():
        net.out.weight.zero_()
        net.out.weight[0, j * nh + h] = 1.0
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        y, attn = net(x, return_attention=True)
        v = F.max_pool2d(F.conv2d(x, net.value.weight), 2).flatten(2)  # (b, nh*e, nk)
        expected = torch.einsum("bqk,bk->bq", attn[:, h], v[:, h * e + j])
    torch.testing.assert_close((y - x)[:, 0].flatten(1), expected, atol=TOL, rtol=TOL)
    assert (y - x)[:, 1:].abs().max() == 0  # no other output channel reads anything


@pytest.mark.parametrize("masks,heads", [(None, 1), (None, 8), ("ylg", None)])
def test_layer_computes_spec_section_6(masks, heads):
    if masks is not None:
        masks = preset(masks, key_grid=(4, 4), query_grid=(8, 8))
    torch.manual_seed(0)
    net = Attention2d(64, masks, heads=heads).eval()
    with torch.no_grad():
        net.gamma.fill_(0.3)
    x = torch.randn(2, 64, 8, 8)
    torch.testing.assert_close(net(x), reference_layer(net, x), atol=TOL, rtol=TOL)


def test_heads_are_concatenated_interleaved_as_published():
    """Channel j*heads + i of the concatenation is channel j of head i (SPEC section 6)."""
    ms = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    torch.manual_seed(0)
    net = Attention2d(64, ms).eval()
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        q, k, v = net.query(x), F.max_pool2d(net.key(x), 2), F.max_pool2d(net.value(x), 2)
        nh, d, e = net.heads, net.qk_head_dim, net.v_head_dim
        o, _ = net.attend(q.view(1, nh, d, 64).transpose(-1, -2),
                          k.reshape(1, nh, d, 16).transpose(-1, -2),
                          v.reshape(1, nh, e, 16).transpose(-1, -2))  # (1, nh, nq, e)
        captured = {}
        net.out.register_forward_hook(lambda m, inp, out: captured.update(o=inp[0]))
        net(x)
    concat = captured["o"].flatten(2)  # (1, nh*e, nq)
    head, j = 5, 1
    torch.testing.assert_close(concat[0, j * nh + head], o[0, head, :, j])


def test_projections_and_gamma_follow_sagan():
    net = Attention2d(256, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))
    assert (net.heads, net.qk_head_dim, net.v_head_dim) == (8, 256 // 64, 256 // 16)
    shapes = {name: tuple(getattr(net, name).weight.shape[:2])
              for name in ("query", "key", "value", "out")}
    assert shapes == {"query": (32, 256), "key": (32, 256), "value": (128, 256),
                      "out": (256, 128)}
    for name in shapes:
        conv = getattr(net, name)
        assert conv.bias is None
        assert torch.nn.utils.parametrize.is_parametrized(conv, "weight")  # spectral norm
    assert net.gamma.item() == 0.0
    x = torch.randn(1, 256, 8, 8)
    assert torch.equal(net(x), x)  # gamma = 0: the layer starts as the identity


def test_heads_without_masks():
    assert Attention2d(64).heads == 1
    net = Attention2d(64, heads=8)
    _, attn = net(torch.randn(1, 64, 8, 8), return_attention=True)
    assert attn.shape == (1, 8, 64, 16) and (attn > 0).all()  # dense: every key gets weight


def test_return_attention_false_returns_only_the_output():
    out = Attention2d(64, preset("ylg", key_grid=(2, 2), query_grid=(4, 4)))(
        torch.randn(1, 64, 4, 4))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 64, 4, 4)


def test_a_feature_map_that_does_not_fit_the_masks_names_both_shapes():
    net = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), backend="sparse")
    with pytest.raises(InvalidArgument, match=r"8x8.*4x4.*6x6"):
        net(torch.randn(1, 64, 6, 6))
    with pytest.raises(InvalidArgument, match="5x4"):
        Attention2d(8)(torch.randn(1, 8, 5, 4))  # not poolable by 2


@pytest.mark.parametrize("kwargs,message", [
    ({"channels": 64, "masks": "ylg", "heads": 4}, "heads=4"),
    ({"channels": 60, "heads": 1}, "channels=60"),
    ({"channels": 64, "backend": "fast"}, "backend"),
    ({"channels": 64, "backend": "sparse"}, "needs masks"),
    ({"channels": 64, "masks": "ylg", "pool": 1}, "pool=1"),
    ({"channels": 64, "masks": 3}, "masks must be"),
    ({"channels": 0}, "channels"),
    ({"channels": 64, "masks": "ylg", "backend": "sparse", "tile": 0}, "tile"),
])
def test_bad_arguments_raise_one_clear_error(kwargs, message):
    if kwargs.get("masks") == "ylg":
        kwargs["masks"] = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    with pytest.raises(YLGError, match=message):
        Attention2d(kwargs.pop("channels"), kwargs.pop("masks", None), **kwargs)


def test_a_query_with_no_allowed_key_is_refused():
    masks = random_maskset(key_grid=(2, 2), query_grid=(4, 4), heads=1)
    broken = masks.masks[0].tolil()
    broken[5, :] = False
    masks = MaskSet((broken.tocsr(),), (4, 4), (2, 2), "rowmajor", "official",
                    (Head("random", 1),), ())
    for backend in ("dense", "sparse"):
        with pytest.raises(InvalidArgument, match="query 5"):
            Attention2d(8, masks, backend=backend, qk_head_dim=1)


def test_a_path_is_refused_the_caller_reads_the_mask_file(tmp_path):
    # a mask file is read once at the edge (ylg.models.build.read_attention), never by the layer
    with pytest.raises(InvalidArgument, match="must be a MaskSet or None"):
        Attention2d(64, tmp_path / "masks.npz")


def test_auto_refuses_busy_masks_at_construction_and_waits_for_the_first_forward():
    assert Attention2d(64).backend == "dense"  # no masks: SAGAN
    tiny = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    assert Attention2d(64, tiny).backend == "dense"  # unions nearly all of the 16 keys
    busy = random_maskset(key_grid=(16, 16), query_grid=(32, 32), heads=2, density=0.5)
    assert Attention2d(16, busy).backend == "dense"  # half the pairs allowed: nothing to gain
    net = Attention2d(64, preset("ylg", key_grid=(8, 8), query_grid=(16, 16)))
    assert net.backend == "auto" and "auto" in repr(net)  # the device and batch decide
    net(torch.randn(1, 64, 16, 16))
    assert net.backend in ("dense", "sparse")


def _table(edge):
    """A CPU table: dense below ``edge`` (batch * heads * Nq * Nk), sparse from it on."""
    return {"rows": {"cpu": [{"from": 0, "to": edge, "backend": "dense"},
                             {"from": edge, "to": None, "backend": "sparse"}]}}


@pytest.mark.parametrize("batch,expected", [(1, "dense"), (2, "dense"), (3, "sparse")])
def test_auto_follows_the_measured_table_for_the_first_calls_size(monkeypatch, batch, expected):
    import ylg.attention.auto as auto

    per_sample = 8 * 256 * 64  # heads * Nq * Nk
    monkeypatch.setattr(auto, "backend_table", lambda: _table(3 * per_sample))
    net = Attention2d(64, preset("ylg", key_grid=(8, 8), query_grid=(16, 16)))
    net(torch.randn(batch, 64, 16, 16))
    assert net.backend == expected
    net(torch.randn(4, 64, 16, 16))  # the first call on the device kind decided
    assert net.backend == expected


def test_auto_without_a_measurement_for_the_device_keeps_the_pairs_rule(monkeypatch):
    import ylg.attention.auto as auto

    monkeypatch.setattr(auto, "backend_table", lambda: {"rows": {"cuda": _table(1)["rows"]["cpu"]}})
    # Nq * Nk = 4,096 and 16,384 against the rule's 8,192
    for key_grid, query_grid, pool, expected in (((8, 8), (8, 8), 1, "dense"),
                                                 ((8, 8), (16, 16), 2, "sparse")):
        net = Attention2d(64, preset("ylg", key_grid=key_grid, query_grid=query_grid), pool=pool)
        net(torch.randn(1, 64, *query_grid))
        assert net.backend == expected, query_grid


def test_the_committed_table_covers_every_size_on_cpu():
    import ylg.attention.auto as auto

    table = json.loads(auto.TABLE_PATH.read_text())
    rows = table["rows"]["cpu"]
    assert rows[0]["from"] == 0 and rows[-1]["to"] is None
    assert all(a["to"] == b["from"] for a, b in zip(rows, rows[1:]))
    assert {r["backend"] for r in rows} <= {"dense", "sparse"}
    assert "bench_attention.py --auto-table" in table["measured"]["cpu"]["command"]


@pytest.mark.parametrize("edge", [1, 1 << 40])  # the table says sparse / dense
def test_auto_gives_the_dense_answer_whichever_backend_it_takes(monkeypatch, edge):
    import ylg.attention.auto as auto

    monkeypatch.setattr(auto, "backend_table", lambda: _table(edge))
    masks = preset("ylg", key_grid=(8, 8), query_grid=(16, 16))
    dense, _ = twin_layers(64, masks, pool=2)
    net = Attention2d(64, masks, pool=2, backend="auto")
    net.load_state_dict(dense.state_dict())
    torch.manual_seed(1)
    x = torch.randn(2, 64, 16, 16)
    weights = (torch.randn(2, 64, 16, 16), torch.randn(2, 8, 256, 64))
    yd, ad, gxd, gpd = run(dense, x, weights)
    ya, aa, gxa, gpa = run(net, x, weights)
    assert net.backend == ("sparse" if edge == 1 else "dense")
    torch.testing.assert_close(ya, yd, atol=TOL, rtol=TOL)
    torch.testing.assert_close(aa, ad, atol=TOL, rtol=TOL)
    torch.testing.assert_close(gxa, gxd, atol=TOL, rtol=TOL)
    for name in gpd:
        torch.testing.assert_close(gpa[name], gpd[name], atol=TOL, rtol=TOL, msg=name)


def test_sparse_work_grows_like_n_sqrt_n():
    """The padded work of the compiled plan (query-key products per head) for the YLG masks
    grows like N^1.5: quadrupling N multiplies it by about 8, never by 16."""
    def work(n):
        net = Attention2d(64, preset("ylg", key_grid=(n, n)), pool=1, backend="sparse")
        return sum(p.blocked[0].numel() * len(p.heads) for p in net.plans)

    ratio = work(32) / work(16)
    assert ratio < 4 ** 1.6
    assert work(32) < 0.15 * 8 * (32 * 32) ** 2  # far below the dense 8 * N^2


def test_mask_structure_is_compiled_once(monkeypatch):
    net = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), backend="sparse")

    def refuse(*args, **kwargs):
        raise AssertionError("mask structure rebuilt during forward")

    import ylg.attention.plan as plan

    for name in ("compile_head", "_tile_unions", "best_tile", "query_order", "pad_order"):
        for module in (plan, attention):  # the compiler, and the layer that calls it
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)
    net(torch.randn(1, 64, 8, 8)).sum().backward()


def test_buffers_move_with_the_module_and_stay_out_of_checkpoints():
    masks = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    for backend in ("dense", "sparse"):
        net = Attention2d(64, masks, backend=backend)
        compiled = {n for n, _ in net.named_buffers()
                    if "parametrizations" not in n and n != "mask_fingerprint"}
        assert compiled == ({"blocked"} if backend == "dense" else
                            {"output_index"} | {f"plans.{g}.{n}" for g in (0, 1)
                                                for n in ("query_index", "key_index",
                                                          "blocked")})
        assert all(b.device.type == "meta" for b in net.to("meta").buffers())
    # a checkpoint carries weights (and the masks' fingerprint) only: it loads into either
    dense, sparse = (Attention2d(64, masks, backend=b) for b in ("dense", "sparse"))
    assert dense.state_dict().keys() == sparse.state_dict().keys()
    sparse.load_state_dict(dense.state_dict())


@pytest.mark.parametrize("scale,shifted", [(0.5, False), (30.0, True)])
def test_sparse_softmax_skips_the_row_maximum_only_when_logits_are_bounded(scale, shifted):
    """Small queries and keys: the tile softmax leaves out the max subtraction (the logits are
    bounded well inside exp's range); large ones (logits in the thousands, where exp without
    the shift overflows): it subtracts. Either way the answer is the dense one."""
    import ylg.attention.kernels as kernels

    masks = preset("ylg", key_grid=(8, 8), query_grid=(16, 16))
    dense, sparse = twin_layers(64, masks, pool=2)
    torch.manual_seed(0)
    q = (scale * torch.randn(2, 8, 256, 4)).requires_grad_(True)
    k = (scale * torch.randn(2, 8, 64, 4)).requires_grad_(True)
    v = torch.randn(2, 8, 64, 4, requires_grad=True)
    assert kernels._needs_shift(q, k) == shifted
    weights = torch.randn(2, 8, 256, 4)
    grads = []
    for net in (dense, sparse):
        o, attn = net.attend(q, k, v, return_attention=True)
        grads.append((o.detach(), attn.detach(),
                      *torch.autograd.grad((o * weights).sum(), (q, k, v))))
        assert torch.isfinite(o).all()
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=TOL)


@pytest.mark.parametrize("d", [2, 1])  # 1: the logits as one broadcast product
def test_sparse_core_gradcheck_float64(d):
    """The sparse core (with its own softmax backward) against finite differences, first and
    second order: two heads of different union sizes (two groups) and a padded last tile."""
    masks = random_maskset(key_grid=(3, 3), query_grid=(6, 6), heads=2, density=(0.0, 0.8))
    net = Attention2d(16, masks, backend="sparse", tile=5).double()
    assert len(net.plans) == 2 and 36 % 5  # the case it means to cover
    torch.manual_seed(0)
    q = torch.randn(1, 2, 36, d, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 2, 9, d, dtype=torch.float64, requires_grad=True)
    v = torch.randn(1, 2, 9, 3, dtype=torch.float64, requires_grad=True)

    def core(q, k, v):
        return net.attend(q, k, v, return_attention=True)

    assert torch.autograd.gradcheck(core, (q, k, v), fast_mode=True)
    assert torch.autograd.gradgradcheck(core, (q, k, v), fast_mode=True)


def test_gradient_penalty_matches_between_backends():
    """Double backward (an R1-style penalty on the input gradient) agrees too, to 1e-5 of each
    gradient's largest entry (second-order sums are large: an elementwise 1e-5 is below float32
    rounding here)."""
    dense, sparse = twin_layers(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), pool=2)
    torch.manual_seed(3)
    x0 = torch.randn(2, 64, 8, 8)
    grads = []
    for net in (dense, sparse):
        x = x0.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(net(x).square().sum(), x, create_graph=True)
        net.zero_grad()
        gx.square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in net.named_parameters()})
    for name, g in grads[0].items():
        assert g.abs().max() > 0, name
        assert (grads[1][name] - g).abs().max() <= TOL * g.abs().max(), name


COMPILERS = ["aot_eager"] + (["inductor"] if os.environ.get("YLG_SLOW_TESTS") else [])


@pytest.mark.parametrize("compiler", COMPILERS)
def test_torch_compile_gives_the_same_answer(compiler):
    """Compiled sparse layer against the eager dense one. ``aot_eager`` traces the graph and its
    backward in seconds; set ``YLG_SLOW_TESTS=1`` to also run inductor (about a minute on CPU)."""
    torch._dynamo.reset()
    dense, sparse = twin_layers(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), pool=2)
    torch.manual_seed(2)
    x = torch.randn(2, 64, 8, 8)
    weights = (torch.randn(2, 64, 8, 8), torch.randn(2, 8, 64, 16))
    yd, ad, gxd, gpd = run(dense, x, weights)
    ys, as_, gxs, gps = run(torch.compile(sparse, backend=compiler), x, weights)
    torch.testing.assert_close(ys, yd, atol=TOL, rtol=TOL)
    torch.testing.assert_close(as_, ad, atol=TOL, rtol=TOL)
    torch.testing.assert_close(gxs, gxd, atol=TOL, rtol=TOL)
    gps = {name.removeprefix("_orig_mod."): g for name, g in gps.items()}
    assert gps.keys() == gpd.keys()
    for name in gpd:
        torch.testing.assert_close(gps[name], gpd[name], atol=TOL, rtol=TOL, msg=name)


def test_docstring_examples_run():
    result = doctest.testmod(attention, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_presets_cover_the_ablations():
    assert {"ylg", "ylg-no-esa"} <= set(PRESETS)


@pytest.mark.parametrize("limit,expected", [(kernels.ONE_THREAD_MAX_WORK, 1), (0, 2)])
def test_sparse_core_thread_policy_and_restore(monkeypatch, limit, expected):
    """Below the work limit the sparse core's forward and backward run on one CPU thread; the
    caller's thread count comes back afterwards (and the answer does not change)."""
    seen = []
    forward, backward = attention.TileAttention.forward, attention.TileAttention._backward

    def spy(fn):
        return staticmethod(lambda *a: (seen.append(torch.get_num_threads()), fn(*a))[1])

    monkeypatch.setattr(attention.TileAttention, "forward", spy(forward))
    monkeypatch.setattr(attention.TileAttention, "_backward", spy(backward))
    monkeypatch.setattr(kernels, "ONE_THREAD_MAX_WORK", limit)
    dense, sparse = twin_layers(64, CASES["ylg-sagan"][0](), pool=2)
    x, weights = torch.randn(2, 64, 8, 8), (torch.randn(2, 64, 8, 8), torch.randn(2, 8, 64, 16))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ys, _, gxs, _ = run(sparse, x, weights)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    yd, _, gxd, _ = run(dense, x, weights)
    assert seen and set(seen) == {expected}
    torch.testing.assert_close(ys, yd, atol=TOL, rtol=TOL)
    torch.testing.assert_close(gxs, gxd, atol=TOL, rtol=TOL)


# --- torch conventions: the masks travel with the weights; pickle, export and compile work ---


def test_the_masks_fingerprint_is_saved_and_other_masks_are_refused_on_load():
    ylg = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    other = preset("ylg-no-esa", key_grid=(4, 4), query_grid=(8, 8))
    trained = Attention2d(64, ylg)
    state = trained.state_dict()
    assert bytes(state["mask_fingerprint"].tolist()).hex() == attention.mask_fingerprint(ylg)
    # the same masks, another backend or a fresh copy of the preset: accepted
    Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)),
                backend="sparse").load_state_dict(state)
    for target, named in ((Attention2d(64, other), attention.mask_fingerprint(other)[:16]),
                          (Attention2d(64, heads=8), "none (dense attention)")):
        with pytest.raises(RuntimeError) as err:
            target.load_state_dict(state)
        message = str(err.value)
        assert attention.mask_fingerprint(ylg)[:16] in message and named in message
    # a dense layer's own fingerprint refuses masked weights' layer and takes its own
    dense = Attention2d(64, heads=8)
    Attention2d(64, heads=8).load_state_dict(dense.state_dict())
    with pytest.raises(RuntimeError, match="none \\(dense attention\\) but"):
        Attention2d(64, ylg).load_state_dict(dense.state_dict())


def test_weights_saved_without_a_fingerprint_still_load():
    """Checkpoints written before the fingerprint existed: accepted, and the layer keeps its
    own fingerprint (the next save records it)."""
    masks = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    state = Attention2d(64, masks).state_dict()
    del state["mask_fingerprint"]
    other = preset("ylg-no-esa", key_grid=(4, 4), query_grid=(8, 8))
    layer_ = Attention2d(64, other)
    assert not layer_.load_state_dict(state).missing_keys
    assert bytes(layer_.mask_fingerprint.tolist()).hex() == attention.mask_fingerprint(other)


@pytest.mark.parametrize("backend", ["dense", "sparse", "flex"])
def test_torch_save_of_the_whole_layer_round_trips(tmp_path, backend):
    import io
    import pickle

    dense, sparse = twin_layers(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), pool=2)
    net = (dense if backend == "dense" else sparse).eval()  # eval: no power iteration a call
    if backend == "flex":  # forward only on CPU
        net = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)),
                          backend="flex").eval().requires_grad_(False)
    x = torch.randn(2, 64, 8, 8)
    net(x)  # the caches a forward fills (flex's block mask holds closures) are not pickled
    buffer = io.BytesIO()
    torch.save(net, buffer)
    buffer.seek(0)
    for back in (torch.load(buffer, weights_only=False), pickle.loads(pickle.dumps(net))):
        torch.testing.assert_close(back(x), net(x), atol=0, rtol=0)
        assert back.backend == net.backend
        assert back.fingerprint == net.fingerprint
        pickle.dumps(back)  # and again


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_torch_export_runs_and_matches(backend):
    masks = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    dense, sparse = twin_layers(64, masks, pool=2)
    net = (dense if backend == "dense" else sparse).eval()
    x = torch.randn(2, 64, 8, 8)
    exported = torch.export.export(net, (x,))
    torch.testing.assert_close(exported.module()(x), net(x), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_torch_compile_fullgraph_without_a_break_or_a_warning(backend, compiler, recwarn):
    """The whole forward and backward traced as one graph (``fullgraph``: a graph break, as a
    ``.item()`` would make, is an error), with no warning (the thread policy's
    ``torch.set_num_threads`` stays out of traced code). ``aot_eager`` traces in seconds; set
    ``YLG_SLOW_TESTS=1`` to also compile with inductor (tens of seconds each on CPU)."""
    torch._dynamo.reset()
    dense, sparse = twin_layers(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)), pool=2)
    net = dense if backend == "dense" else sparse
    twin = copy.deepcopy(net)  # training mode: each forward steps the power iteration
    x = torch.randn(2, 64, 8, 8)
    weights = (torch.randn(2, 64, 8, 8), torch.randn(2, 8, 64, 16))
    y, a, gx, gp = run(net, x, weights)
    yc, ac, gxc, gpc = run(torch.compile(twin, backend=compiler, fullgraph=True), x, weights)
    torch.testing.assert_close(yc, y, atol=TOL, rtol=TOL)
    torch.testing.assert_close(ac, a, atol=TOL, rtol=TOL)
    torch.testing.assert_close(gxc, gx, atol=TOL, rtol=TOL)
    assert {n.removeprefix("_orig_mod."): g for n, g in gpc.items()}.keys() == gp.keys()
    # torch's own deprecation notes (inductor imports torch.jit) are not the layer's
    ours = [str(w.message) for w in recwarn.list
            if "set_num_threads" in str(w.message) or "/ylg/" in w.filename]
    assert not ours, ours
