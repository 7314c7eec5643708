"""ylg.compare: probes whose information flow is the IFG, the flow task against the theory,
paired statistics, resumable comparisons."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn
from scipy.stats import ttest_rel

import ifg
from ifg.errors import InvalidArgument
from ylg.compare import (FlowTask, ImagesTask, Settings, compare, make_task, paired, reachable,
                         register_task, resolve, seeds_needed, train_probe)
from ylg.compare import probe as probe_module
from ylg.compare.probe import ProbeNet, gather_rows
from ylg.compare.report import draw_report, format_table
from ylg.compare.stats import holm
from ylg.compare.tasks import TASKS

TINY = Settings(steps=2, dim=8)
TINY_FLOW = {"grid": (2, 2), "eval_examples": 8}


# --- items -------------------------------------------------------------------------------------

def test_reachable_counts_agree_with_the_check():
    for name in ("fixed", "strided", "ltr", "local"):
        p = ifg.pattern(name, 36, enumeration="manhattan", grid=(6, 6))
        report = ifg.check(p)
        assert int((~reachable(p)).sum()) == report.missing_pairs


def test_reachable_is_the_boolean_product_of_the_steps():
    p = ifg.pattern("fixed", 25, enumeration="manhattan", grid=(5, 5))
    m1, m2 = (s.toarray().astype(int) for s in p.steps)
    assert np.array_equal(reachable(p), (m2 @ m1 > 0).T)


def test_preset_becomes_one_head_per_group_and_keeps_full_information():
    probe = resolve("ylg", (8, 8))
    ms = ifg.preset("ylg", key_grid=(8, 8))
    assert [len(layer) for layer in probe.layers] == [len(ms.groups)] * 2
    assert ifg.check(probe.pattern).full_information
    assert not ifg.check(resolve("fixed", (8, 8)).pattern).full_information


def test_one_step_items_repeat_to_the_depth():
    probe = resolve("local", (4, 4), depth=3)
    assert len(probe.layers) == 3
    assert all((layer[0] != probe.layers[0][0]).nnz == 0 for layer in probe.layers)


def test_mask_file_item(tmp_path):
    path = tmp_path / "m.npz"
    from ifg.io import save

    save(ifg.preset("ylg-no-esa", key_grid=(4, 4)), path)
    from_file = resolve(str(path), (4, 4)).dense()
    assert np.array_equal(from_file, resolve("ylg-no-esa", (4, 4)).dense())
    with pytest.raises(InvalidArgument, match="key grid 4x4 is not the task's token grid 8x8"):
        resolve(str(path), (8, 8))
    with pytest.raises(InvalidArgument, match="does not exist"):
        resolve(str(tmp_path / "missing.npz"), (4, 4))


def test_unknown_item_suggests():
    with pytest.raises(InvalidArgument, match="did you mean fixed"):
        resolve("fixd", (4, 4))


def test_unknown_item_lists_the_presets_and_suggests_the_closest():
    with pytest.raises(InvalidArgument, match=r"unknown mask set 'ylgg' \(known: ylg, "
                                              r"ylg-no-esa, ylg-strided, ltr, .*\); did you "
                                              r"mean ylg"):
        resolve("ylgg", (4, 4))
    with pytest.raises(InvalidArgument, match="unknown enumeration"):
        resolve("ltr:rowmjaor", (4, 4))  # the pattern is known: the enumeration is the typo


# --- the probe ---------------------------------------------------------------------------------

@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("item", ["fixed", "strided:manhattan", "local"])
def test_probe_output_depends_exactly_on_the_reachable_inputs(item, residual):
    """q's output has a gradient from k iff the IFG has k -> q (the fixed pattern's empty rows in
    step 2 included): the masks' graph, plus the identity with a residual path."""
    torch.manual_seed(0)
    probe = replace(resolve(item, (4, 4), depth=2), residual=residual)
    net = ProbeNet(nn.Identity(), torch.from_numpy(probe.dense()), dim=8, out_features=3,
                   grid=(4, 4), residual=residual).double()
    x = torch.randn(1, 16, 8, dtype=torch.double, requires_grad=True)
    out = net(x)
    R = reachable(probe.pattern)
    for q in range(16):
        (g,) = torch.autograd.grad(out[0, q].sum(), x, retain_graph=True)
        assert np.array_equal(g[0].abs().sum(-1).numpy() > 0, R[:, q]), q


def _random_masks(rng, layers, heads, n, density):
    masks = rng.random((layers, heads, n, n)) < density
    masks[:, :, rng.integers(n)] = False  # an empty row: the query outputs zeros
    return torch.from_numpy(masks)


def _sdpa_nan_where_nothing_is_allowed(q, k, v, attn_mask=None):
    """SDPA as torch < 2.5's math kernel computed it: a row of -inf scores is NaN."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(scores if attn_mask is None else scores + attn_mask, -1) @ v


@pytest.mark.parametrize("gather", ["by cost", "always", "never"])
@pytest.mark.parametrize("seed", range(8))
def test_probe_at_wanted_rows_is_the_full_probe_at_those_rows(seed, gather, monkeypatch):
    """`net(x, rows)` computes only what the outputs at `rows` depend on (padded key sets, empty
    rows, gathered and full layers mixed): outputs and every gradient as the full network's,
    also where an attention row with no key allowed would be NaN."""
    if gather != "by cost":
        monkeypatch.setattr(ProbeNet, "worth_gathering", lambda *args: gather == "always")
    monkeypatch.setattr(probe_module.F, "scaled_dot_product_attention",
                        _sdpa_nan_where_nothing_is_allowed)
    rng = np.random.default_rng(seed)
    layers, heads = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    masks = _random_masks(rng, layers, heads, 16, rng.choice([0.1, 0.3, 1.0]))
    torch.manual_seed(seed)
    net = ProbeNet(nn.Linear(3, 8), masks, dim=8, out_features=2, grid=(4, 4),
                   residual=seed % 2 == 1).double()
    x = torch.randn(5, 16, 3, dtype=torch.double)
    rows = torch.stack([torch.from_numpy(rng.choice(16, 3, replace=False)) for _ in range(5)])
    # by cost, the last layer at least is computed at the rows only
    assert (len(net.needed(rows)) > 1) == (gather != "never")
    full, part = gather_rows(net(x), rows), net(x, rows)
    torch.testing.assert_close(part, full, rtol=0, atol=1e-12)
    weights = torch.randn(full.shape, dtype=torch.double)
    params = list(net.parameters())
    g_full = torch.autograd.grad((full * weights).sum(), params, allow_unused=True)
    g_part = torch.autograd.grad((part * weights).sum(), params, allow_unused=True)
    for a, b in zip(g_full, g_part):
        if a is None or b is None:
            assert a is None or not a.any()
            assert b is None or not b.any()
        else:
            torch.testing.assert_close(b, a, rtol=0, atol=1e-10)


def test_probe_at_wanted_rows_computes_a_local_masks_few_positions():
    """A 2-layer 3x3 neighbourhood at 16x16 and a hidden 4x4 patch: the last layer computes 16
    queries over their 36 keys, the first those 36 over 64 inputs."""
    probe = resolve("neighborhood:kernel=3", (16, 16), depth=2)
    net = ProbeNet(nn.Linear(2, 8), torch.from_numpy(probe.dense()), dim=8, out_features=1,
                   grid=(16, 16))
    patch = (torch.arange(4)[:, None] * 16 + torch.arange(4)).flatten() + 5 * 16 + 7
    sets = net.needed(patch[None])
    assert [index.shape[1] for index, _ in sets] == [16, 36, 64]
    assert not net.worth_gathering(0, 256, 256)  # every position: its own (tiled) path
    assert not any(pad.any() for _, pad in sets)  # one example: nothing to pad
    assert set(sets[2][0][0].tolist()) == {r * 16 + c for r in range(3, 11) for c in range(5, 13)}


def test_a_residual_probe_keys_its_own_cache_and_leaves_the_old_keys_as_they_were():
    import hashlib

    from ylg.compare.run import _key

    task, probe = FlowTask(grid=(2, 2)), resolve("dense", (2, 2))
    before = ["flow", task.options(), {"steps": 400, "batch_size": 64, "dim": 64, "lr": 3e-3}]
    h = hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode())
    h.update(np.packbits(probe.dense()).tobytes())
    assert _key(task, probe, Settings()) == h.hexdigest()[:16]
    assert _key(task, probe, Settings(residual=True)) != _key(task, probe, Settings())


def test_a_residual_stack_learns_the_flow_its_graph_allows():
    """The 2-layer 3x3 neighbourhood on a 6x6 grid, with the residual path: the reachable pairs
    are learnt, the others (the corners' far pairs) stay at chance."""
    task = FlowTask(grid=(6, 6), symbols=4, eval_examples=1024)
    probe = resolve("neighborhood:kernel=3,layers=2", task.grid)
    r = train_probe(task, probe, 0, Settings(steps=200, dim=32, residual=True))
    assert r["unreachable_pairs"] > 0
    assert abs(r["unreachable"] - 0.25) < 0.05
    assert r["reachable"] > 0.9


def test_images_task_loss_at_its_rows_is_the_loss_over_every_position():
    task = ImagesTask(resolution=8, patch=3, eval_patches=1)
    x, y = task.batch(torch.Generator().manual_seed(0), 4)
    rows = task.rows(y)
    assert rows.shape == (4, 9) and bool(gather_rows(y, rows)[..., -1].eq(1).all())
    out = torch.randn(4, 64, task.out_features)
    torch.testing.assert_close(task.loss(gather_rows(out, rows), gather_rows(y, rows)),
                               task.loss(out, y))


# --- the flow task against the theory ----------------------------------------------------------

def test_flow_without_full_information_is_at_chance_exactly_where_the_ifg_says():
    """A real training run: `fixed` lacks Full Information; its unreachable pairs stay at chance
    and its reachable pairs are learnt."""
    task = FlowTask(grid=(4, 4), symbols=4, eval_examples=2048)
    r = train_probe(task, resolve("fixed", task.grid), 0, Settings(steps=150, dim=32))
    assert (r["reachable_pairs"], r["unreachable_pairs"]) == (112, 144)
    assert abs(r["unreachable"] - 0.25) < 0.05
    assert r["reachable"] > 0.9
    for row in r["by_distance"]:
        if row["unreachable"] is not None:
            assert abs(row["unreachable"] - 0.25) < 0.1
        if row["reachable"] is not None:
            assert row["reachable"] > 0.8


def test_flow_with_full_information_is_above_chance_in_every_pair_class():
    task = FlowTask(grid=(4, 4), symbols=4, eval_examples=1024)
    r = train_probe(task, resolve("ltr", task.grid), 0, Settings(steps=150, dim=32))
    assert r["unreachable_pairs"] == 0 and r["unreachable"] is None
    assert r["reachable"] > 0.9
    assert all(row["reachable"] > 0.8 for row in r["by_distance"])


def test_flow_batches_mark_one_source_and_ask_for_its_symbol():
    task = FlowTask(grid=(3, 3), symbols=5)
    x, y = task.batch(torch.Generator().manual_seed(1), 50)
    marked = x >= 5
    assert marked.sum(1).eq(1).all()
    assert torch.equal(y[:, 0], x[marked] - 5)
    assert (y == y[:, :1]).all()


def test_images_task_hides_one_patch_and_scores_it():
    task = ImagesTask(resolution=8, patch=3, eval_patches=2)
    x, y = task.batch(torch.Generator().manual_seed(0), 4)
    hidden = x[..., -1]
    assert hidden.sum(1).eq(9).all()
    assert (x[..., 0][hidden.bool()] == 0).all()
    assert torch.equal(y[..., -1], hidden)
    r = train_probe(task, resolve("dense", task.grid), 0, TINY)
    assert r["hidden_pixels"] == 297 * 2 * 9
    assert 0 <= r["score"] <= 1


def test_images_task_rejects_a_patch_as_big_as_the_image():
    with pytest.raises(InvalidArgument, match="smaller than the resolution"):
        ImagesTask(resolution=4, patch=4)


# --- statistics --------------------------------------------------------------------------------

def test_paired_matches_scipy_and_orders_the_difference():
    a, b = [0.5, 0.6, 0.55, 0.7], [0.6, 0.65, 0.6, 0.8]
    r = paired(a, b)
    assert r["difference"] == pytest.approx(np.mean(np.subtract(b, a)))
    assert r["p"] == pytest.approx(ttest_rel(b, a).pvalue)
    assert paired(a, a)["p"] == 1.0


def test_seeds_needed_grows_with_the_noise():
    assert seeds_needed([0.1, 0.1]) == 2
    small, big = seeds_needed([1.0, 1.5, 0.5, 1.2]), seeds_needed([1.0, 3.0, -1.0, 1.2])
    assert small < big
    assert seeds_needed([0.0, 0.0]) is None


def test_holm_adjusts_for_the_number_of_comparisons():
    ps = [0.039, 0.018, 0.004, 0.077]
    adjusted = holm(ps)
    # step-down: sorted 0.004*4, 0.018*3, 0.039*2, 0.077*1, made non-decreasing
    assert adjusted == pytest.approx([0.078, 0.054, 0.016, 0.078])
    assert all(a >= p for a, p in zip(adjusted, ps))
    assert holm([0.6, 0.9])[1] == 1.0  # capped at 1
    assert math.isnan(holm([None, 0.01])[0]) and holm([None, 0.01])[1] == 0.01


# --- compare -----------------------------------------------------------------------------------

def test_compare_is_paired_cached_and_resumes(tmp_path, monkeypatch):
    first = compare(["dense", "local"], seeds=2, settings=TINY, task_options=TINY_FLOW,
                    cache=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 4
    # a rerun trains nothing: every (mask set, seed) comes from the folder
    import ylg.compare.run as run

    monkeypatch.setattr(run, "train_probe", lambda *a, **k: pytest.fail("retrained"))
    again = compare(["dense", "local"], seeds=2, settings=TINY, task_options=TINY_FLOW,
                    cache=tmp_path)
    assert again.rows == first.rows
    # other settings are other results
    with pytest.raises(pytest.fail.Exception):
        compare(["dense"], seeds=1, settings=Settings(steps=3, dim=8), task_options=TINY_FLOW,
                cache=tmp_path)


def test_same_seed_same_batches_for_every_mask_set(monkeypatch):
    seen = {}
    original = FlowTask.batch

    def spy(self, generator, size):
        x, y = original(self, generator, size)
        seen.setdefault(self._item, []).append(x)
        return x, y

    import ylg.compare.run as run

    real = run.train_probe

    def tag(task, probe, seed, settings, **kw):
        task._item = probe.name
        return real(task, probe, seed, settings, **kw)

    monkeypatch.setattr(FlowTask, "batch", spy)
    monkeypatch.setattr(run, "train_probe", tag)
    compare(["dense", "fixed"], seeds=1, settings=Settings(steps=3, dim=8),
            task_options=TINY_FLOW)
    assert all(torch.equal(a, b) for a, b in zip(seen["dense"], seen["fixed"]))
    assert len(seen["dense"]) == 3


def test_compare_refuses_bad_items_before_training(monkeypatch):
    import ylg.compare.run as run

    monkeypatch.setattr(run, "train_probe", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(InvalidArgument, match="unknown mask set 'nope'"):
        compare(["dense", "nope"], task_options=TINY_FLOW)
    with pytest.raises(InvalidArgument, match="named twice"):
        compare(["dense", "dense"], task_options=TINY_FLOW)
    with pytest.raises(InvalidArgument, match="unknown task"):
        compare(["dense"], task="nope")


def test_a_registered_task_runs(monkeypatch):
    monkeypatch.setitem(TASKS, "flow-3", lambda **kw: FlowTask(grid=(1, 3), **kw))
    c = compare(["dense"], task="flow-3", seeds=1, settings=TINY,
                task_options={"eval_examples": 4})
    assert c.task_options["grid"] == [1, 3]
    register_task("flow-3b", lambda **kw: FlowTask(grid=(1, 2), **kw))
    try:
        assert make_task("flow-3b").grid == (1, 2)
    finally:
        del TASKS["flow-3b"]


def test_table_json_and_figure(tmp_path):
    c = compare(["fixed", "dense"], seeds=2, settings=TINY, task_options=TINY_FLOW)
    table = format_table(c)
    assert table.splitlines()[1].startswith("fixed") and "(ref)" in table
    assert "dense" in table.splitlines()[2]
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert d["rows"][1]["p"] is None or 0 <= d["rows"][1]["p"] <= 1
    assert d["rows"][1]["p_holm"] == d["rows"][1]["p"]  # one comparison: nothing to adjust
    assert "p(Holm)" in table.splitlines()[0]
    assert math.isfinite(d["rows"][0]["score"])
    draw_report(c, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_images_task_on_the_users_data_holds_out_the_last_tenth(tmp_path):
    rng = np.random.default_rng(0)
    f = tmp_path / "d.npz"
    np.savez(f, images=rng.integers(0, 256, (20, 6, 6, 3), dtype=np.uint8),
             labels=np.zeros(20, int))
    task = ImagesTask(data=str(f), resolution=4, patch=2, eval_patches=1)
    assert (len(task.train), len(task.test), task.channels) == (18, 2, 3)
    r = train_probe(task, resolve("local", task.grid), 0, TINY)
    assert r["hidden_pixels"] == 2 * 4
    one = tmp_path / "one.npz"
    np.savez(one, images=np.zeros((1, 4, 4, 1), np.uint8))
    with pytest.raises(InvalidArgument, match="at least 2 images"):
        ImagesTask(data=str(one), resolution=4)


def test_a_changed_mask_file_is_trained_again(tmp_path):
    from ifg.io import save

    path = tmp_path / "m.npz"
    save(ifg.preset("ylg", key_grid=(2, 2)), path)
    compare([str(path)], seeds=1, settings=TINY, task_options=TINY_FLOW, cache=tmp_path / "c")
    save(ifg.preset("ylg-no-esa", key_grid=(3, 3)), path)  # other masks, same name
    with pytest.raises(InvalidArgument, match="key grid 3x3"):
        compare([str(path)], seeds=1, settings=TINY, task_options=TINY_FLOW, cache=tmp_path / "c")
    save(ifg.layer((("ltr", 1), ("ltr", 2)), key_grid=(2, 2), enumeration="rowmajor"), path)
    compare([str(path)], seeds=1, settings=TINY, task_options=TINY_FLOW, cache=tmp_path / "c")
    assert len(list((tmp_path / "c").glob("*.json"))) == 2


def test_compare_says_how_long_its_runs_take_before_they_train(tmp_path, caplog):
    import logging

    settings = Settings(steps=6, dim=8)
    with caplog.at_level(logging.INFO, logger="ylg.compare"):
        compare(["dense", "local"], seeds=2, settings=settings, task_options=TINY_FLOW,
                cache=tmp_path)
    [said] = [r.getMessage() for r in caplog.records]
    assert said.startswith("compare: 4 runs to train of 6 steps at about ")
    assert said.endswith("(evaluations apart)")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ylg.compare"):
        compare(["dense", "local"], seeds=3, settings=settings, task_options=TINY_FLOW,
                cache=tmp_path)
    [said] = [r.getMessage() for r in caplog.records]
    assert said.startswith("compare: 2 runs to train (4 cached) of 6 steps")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ylg.compare"):  # all cached: nothing to say
        compare(["dense", "local"], seeds=3, settings=settings, task_options=TINY_FLOW,
                cache=tmp_path)
    assert not caplog.records


def test_the_figure_keeps_each_interval_inside_the_scores_range(tmp_path, monkeypatch):
    import matplotlib.axes

    from ylg.compare.report import interval_bars
    from ylg.compare.run import Comparison

    assert FlowTask.bounds == (0.0, 1.0) and ImagesTask.bounds == (0.0, math.inf)
    assert interval_bars(0.1, 0.3, (0.0, math.inf)) == [[0.1], [0.3]]
    assert interval_bars(0.95, 0.2, (0.0, 1.0)) == [[0.2], [pytest.approx(0.05)]]
    runs = {"a": [{"score": s, "seconds": 1.0} for s in (0.01, 0.30, 0.02)],
            "b": [{"score": s, "seconds": 1.0} for s in (1.0, 0.7, 1.0)]}
    drawn = []
    errorbar = matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar",
                        lambda self, x, y, yerr, **kw: drawn.append((y[0], yerr))
                        or errorbar(self, x, y, yerr=yerr, **kw))
    for bounds in ((0.0, math.inf), (0.0, 1.0)):
        drawn.clear()
        c = Comparison("t", "MSE", False, ["a", "b"], [0, 1, 2], runs, {}, {}, bounds=bounds)
        assert c.rows[0]["score"] - c.rows[0]["interval"] < 0  # the raw interval leaves it
        draw_report(c, tmp_path / "r.png")
        for mean, ((below,), (above,)) in drawn:
            assert bounds[0] <= mean - below and mean + above <= bounds[1]


# --- the 2-D families and stacks (#24) ----------------------------------------------------------

def test_family_items_resolve_to_their_ifg_patterns():
    for spec in ("neighborhood:kernel=3", "swin:window=2", "axial", "sliding-tile:tile=2,window=3",
                 "neighborhood:kernel=3+global:tokens=1", "neighborhood:kernel=3,layers=3"):
        probe = resolve(spec, (6, 6))
        want = ifg.pattern(spec, grid=(6, 6))
        assert len(probe.layers) == want.num_steps, spec
        for heads, step in zip(probe.layers, want.steps):
            assert (heads[0] != step).nnz == 0, spec
    assert resolve("strided:manhattan", (4, 4)).pattern.num_steps == 2  # PATTERN:ENUMERATION


def test_keys_per_query_and_depth_are_what_ifg_says():
    from ylg.compare.items import item_depth

    assert resolve("neighborhood:kernel=3", (8, 8)).keys_per_query == 9.0
    assert resolve("dense", (4, 4)).keys_per_query == 16.0
    assert item_depth("neighborhood:kernel=3", (8, 8)) == ifg.depth(
        ifg.pattern("neighborhood:kernel=3", grid=(8, 8))).layers == 6
    assert item_depth("fixed", (4, 4)) is None  # no Full Information, however many layers


@pytest.mark.parametrize("spec", ["neighborhood:kernel=3", "swin:window=2",
                                  "neighborhood:kernel=3,dilation=2", "ylg", "ylg-strided"])
def test_the_sparse_probe_attention_equals_the_dense_one(spec):
    """Sparse masks run through ylg.flex_attention (tiled in the masks' design order when they
    have one): the same outputs and gradients as SDPA."""
    from ylg.compare.probe import MaskedAttention

    torch.manual_seed(0)
    probe = resolve(spec, (8, 8))
    assert (probe.order is not None) == spec.startswith("ylg")  # ESA's enumeration
    masks = torch.from_numpy(probe.dense()[0])
    sparse = MaskedAttention(16, masks, (8, 8), probe.order).double()
    dense = MaskedAttention(16, masks, (8, 8)).double()
    dense.load_state_dict(sparse.state_dict())
    dense.pattern = None  # the SDPA path
    assert sparse.pattern is not None
    x = torch.randn(3, 64, 16, dtype=torch.double, requires_grad=True)
    q = torch.randn(64, 16, dtype=torch.double)
    y1, y2 = sparse(x, q), dense(x, q)
    torch.testing.assert_close(y1, y2)
    g1, = torch.autograd.grad(y1.square().sum(), x)
    g2, = torch.autograd.grad(y2.square().sum(), x)
    torch.testing.assert_close(g1, g2)


def test_a_full_mask_runs_sdpa_without_a_mask_and_gives_the_masked_answer():
    from ylg.compare.probe import MaskedAttention

    torch.manual_seed(0)
    full = MaskedAttention(16, torch.ones(2, 64, 64, dtype=torch.bool)).double()
    masked = MaskedAttention(16, torch.ones(2, 64, 64, dtype=torch.bool)).double()
    masked.load_state_dict(full.state_dict())
    masked.full = False  # the zero bias's path
    assert full.full and full.pattern is None
    assert not MaskedAttention(16, torch.ones(2, 64, 64, dtype=torch.bool).tril()).full
    x = torch.randn(3, 64, 16, dtype=torch.double, requires_grad=True)
    q = torch.randn(64, 16, dtype=torch.double)
    y1, y2 = full(x, q), masked(x, q)
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(torch.autograd.grad(y1.square().sum(), x)[0],
                               torch.autograd.grad(y2.square().sum(), x)[0])


def test_a_stack_learns_what_its_layers_connect_and_nothing_else():
    """A 2-layer 3x3 neighbourhood on 6x6: the pairs its 2-layer graph connects (ifg's reach,
    checked here against the boolean product of its steps) are learnt, the others stay at
    chance."""
    task = FlowTask(grid=(6, 6), symbols=8, eval_examples=1024)
    probe = resolve("neighborhood:kernel=3,layers=2", task.grid)
    step = probe.layers[0][0].toarray().astype(int)
    product = (step @ step > 0).T  # (k, q): k reaches q through the two layers
    assert np.array_equal(reachable(probe.pattern), product)
    r = train_probe(task, probe, 0, Settings(steps=250, dim=32))
    assert r["reachable_pairs"] == int(product.sum()) and r["unreachable_pairs"] > 0
    assert r["reachable"] > 0.9
    assert abs(r["unreachable"] - 1 / 8) < 0.06


def test_parallel_runs_give_the_runs_of_one_process(tmp_path):
    settings = Settings(steps=3, dim=8)
    options = {"grid": (3, 3), "eval_examples": 16}
    one = compare(["dense", "axial"], seeds=2, settings=settings, task_options=options)
    two = compare(["dense", "axial"], seeds=2, settings=settings, task_options=options, jobs=2,
                  cache=tmp_path)
    for item in ("dense", "axial"):
        assert [r["score"] for r in one.runs[item]] == [r["score"] for r in two.runs[item]]
    assert len(list(tmp_path.glob("*.json"))) == 4  # each result cached as it came
    assert two.rows[1]["keys_per_query"] == 3.0 and two.rows[1]["depth"] == 2  # row, column
    assert "keys/q" in format_table(two) and "depth" in format_table(two)
