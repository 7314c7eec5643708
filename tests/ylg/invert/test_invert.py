"""Inversion: saliency laws, the published head choice, the optimisation, targets and errors."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ifg.errors import InvalidArgument
from ifg.maskset import preset
from ylg.attention import Attention2d
from ylg.errors import DataError
from ylg.invert import (METHODS, PUBLISHED, Budget, default_heads, discriminator_saliency,
                        feature_distance, invert, key_counts, saliency_maps)
from ylg.invert.jobs import score
from ylg.invert.targets import generated_target, load_image
from ylg.invert import optimise as invert_module
from ylg.models import Discriminator, Generator


def _pair(attention="ylg", width=16, seed=0):
    torch.manual_seed(seed)
    kw = dict(resolution=32, width=width, num_classes=10, channels=1, attention=attention)
    return Generator(**kw).eval(), Discriminator(**kw).eval()


@pytest.fixture(scope="module")
def ylg_pair():
    return _pair("ylg")


@pytest.fixture(scope="module")
def target(ylg_pair):
    G, _ = ylg_pair
    with torch.no_grad():  # a target the generator can make exactly: G(z*, 3)
        return G(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)),
                 torch.tensor([3]))


# --- saliency ---------------------------------------------------------------------------------


def test_uniform_dense_attention_gives_uniform_saliency():
    nq, kh, kw = 36, 3, 3
    attn = torch.full((2, 1, nq, kh * kw), 1 / (kh * kw))
    s = saliency_maps(attn, key_grid=(kh, kw), size=(6, 6))
    assert s.shape == (2, 1, 6, 6)
    assert torch.allclose(s, torch.full_like(s, 1 / 9))


def test_uniform_masked_attention_gives_the_masks_own_map():
    """Attention uniform over each query's allowed keys: its saliency is uniform_saliency, its
    deviation from uniform 0; any other attention deviates."""
    from ylg.invert.saliency import attention_uniformity, map_difference, uniform_saliency

    layer = Attention2d(64, preset("ylg", key_grid=(4, 4), query_grid=(8, 8)))
    allowed = torch.from_numpy(layer.masks.to_dense()).float()  # (8, 64, 16)
    uniform = (allowed / allowed.sum(-1, keepdim=True)).unsqueeze(0)
    s = saliency_maps(uniform, key_grid=(4, 4), counts=key_counts(layer), size=(8, 8))[0]
    mask = uniform_saliency(layer, key_grid=(4, 4), size=(8, 8))
    torch.testing.assert_close(s, mask)
    assert map_difference(s, mask) < 1e-6
    assert attention_uniformity(layer, uniform)["max"] < 1e-6
    with torch.no_grad():
        layer.gamma.fill_(1.0)
        _, attn = layer(3 * torch.randn(1, 64, 8, 8), return_attention=True)
    assert attention_uniformity(layer, attn)["max"] > 0.01
    # a dense layer's own map is flat
    assert torch.allclose(uniform_saliency(Attention2d(64, heads=2), key_grid=(4, 4)),
                          torch.full((2, 4, 4), 1 / 16))


def test_the_attention_map_figure_says_when_d_saliency_pictures_the_mask(ylg_pair, target):
    """An untrained D's saliency is the mask's own map to a fraction of a percent (measured by
    experiments/saliency_dependence.py): the figure's saliency row says so, head by head."""
    from ylg.invert.jobs import attention_map_figure
    from ylg.invert.saliency import mask_deviation

    G, D = ylg_pair
    off = mask_deviation(D.attention, discriminator_saliency(D, target))
    assert len(off) == 8 and max(off) < 0.05
    fig = attention_map_figure(G, D, target, torch.zeros(1, G.z_dim), torch.tensor([3]),
                               query=(4, 5), g_heads=[0])
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("off mask" in t for t in titles) == 8
    assert "a picture of the mask" in fig.get_supxlabel()


def test_saliency_weighted_by_allowed_queries_sums_to_the_number_of_queries():
    # every row of a masked attention sums to 1, so sum_k count_k * s_k = sum_k sum_q A[q,k] = Nq
    ms = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    layer = Attention2d(64, ms)
    with torch.no_grad():
        layer.gamma.fill_(1.0)
        _, attn = layer(torch.randn(3, 64, 8, 8), return_attention=True)
    counts = key_counts(layer)
    s = saliency_maps(attn, key_grid=(4, 4), counts=counts)  # (3, 8, 4, 4)
    total = (s.flatten(2) * counts).sum(-1)
    assert torch.allclose(total, torch.full_like(total, 64.0), atol=1e-4)
    # a head's saliency is a mean of attention weights: between 0 and 1
    assert (s >= 0).all() and (s <= 1 + 1e-6).all()


def test_key_counts_are_the_masks_column_sums_and_unattended_keys_get_zero():
    ms = preset("ylg", key_grid=(4, 4), query_grid=(8, 8))
    counts = key_counts(Attention2d(64, ms))
    assert counts.tolist() == [np.asarray(m.sum(0)).ravel().tolist() for m in ms.masks]
    attn = torch.rand(1, 2, 4, 4)
    c = torch.tensor([[4.0, 0.0, 2.0, 4.0], [4.0, 4.0, 4.0, 4.0]])
    s = saliency_maps(attn, key_grid=(2, 2), counts=c)
    assert s[0, 0, 0, 1] == 0  # no query may attend key 1 of head 0
    assert torch.allclose(s[0, 0, 1, 0], attn[0, 0, :, 2].sum() / 2)


def test_saliency_is_upsampled_nearest_to_the_feature_grid():
    attn = torch.softmax(torch.randn(1, 1, 16, 4), dim=-1)
    s = saliency_maps(attn, key_grid=(2, 2), size=(4, 4))[0, 0]
    small = saliency_maps(attn, key_grid=(2, 2))[0, 0]
    assert torch.equal(s, small.repeat_interleave(2, 0).repeat_interleave(2, 1))


def test_the_published_heads_are_the_four_rtl_heads_and_dense_layers_use_all():
    _, D = _pair("ylg")
    assert default_heads(D) == (0, 1, 2, 3)
    assert [D.attention.masks.heads[h].pattern for h in default_heads(D)] == ["rtl"] * 4
    assert default_heads(_pair("dense8", width=16)[1]) == tuple(range(8))
    assert default_heads(_pair("dense", width=4)[1]) == (0,)
    assert default_heads(_pair("none", width=4)[1]) == ()


def test_discriminator_saliency_lies_on_d0s_grid(ylg_pair, target):
    _, D = ylg_pair
    s = discriminator_saliency(D, target, heads=(0, 5))
    assert s.shape == (1, 2, 16, 16)
    assert s.shape[-2:] == D.features_before_attention(target).shape[-2:]


# --- the objectives ----------------------------------------------------------------------------


class _ZeroQuery(nn.Module):
    """Queries of zero: every logit is 0, so dense attention is uniform."""

    def __init__(self, channels):
        super().__init__()
        self.channels = channels

    def forward(self, x):
        return x.new_zeros(x.shape[0], self.channels, *x.shape[2:])


def test_with_uniform_dense_attention_ylg_is_the_d_feature_loss_over_nk():
    G, D = _pair("dense", width=4)
    D.attention.query = _ZeroQuery(D.attention.heads * D.attention.qk_head_dim)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    runs = {m: invert(G, D, x, label=1, method=m, budget=Budget(steps=1, starts=2), seed=3)
            for m in ("discriminator", "ylg")}
    nk = (D.attention_resolution // 2) ** 2
    assert torch.allclose(runs["ylg"].curves, runs["discriminator"].curves / nk, rtol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_decreases_its_loss_and_keeps_the_best_start(ylg_pair, target, method):
    G, D = ylg_pair
    inv = invert(G, D, target, label=3, method=method, budget=Budget(steps=6, lr=0.05, starts=3), seed=1)
    assert inv.curves.shape == (1, 1, 3, 7)
    assert inv.z.shape == (1, G.z_dim) and inv.images.shape == target.shape
    curves = inv.curves[0, 0]  # (starts, steps + 1)
    assert (curves[:, -1] < curves[:, 0]).all()  # every start improved
    # the kept loss is the lowest loss any start visited, and it is that start's
    assert inv.loss.item() == pytest.approx(curves.min().item())
    assert inv.kept[0].tolist() == [0, int(curves.min(dim=1).values.argmin())]
    with torch.no_grad():
        assert torch.allclose(inv.images, G(inv.z, inv.labels), atol=1e-6)
    assert inv.heads == ((0, 1, 2, 3) if method == "ylg" else ())


def test_the_pixel_loss_is_the_pixel_distance(ylg_pair, target):
    G, D = ylg_pair
    inv = invert(G, D, target, label=3, method="pixel", budget=Budget(steps=3, starts=2))
    assert inv.loss.item() == pytest.approx((inv.images - target).norm().item(), rel=1e-5)
    d = invert(G, D, target, label=3, method="discriminator", budget=Budget(steps=3, starts=2))
    assert d.loss.item() == pytest.approx(feature_distance(D, target, d.images).item(), rel=1e-4)


def test_the_same_seed_gives_the_same_starts(ylg_pair, target):
    G, D = ylg_pair
    a = invert(G, D, target, label=3, method="pixel", budget=Budget(steps=2, starts=2), seed=7)
    b = invert(G, D, target, label=3, method="pixel", budget=Budget(steps=2, starts=2), seed=7)
    c = invert(G, D, target, label=3, method="pixel", budget=Budget(steps=2, starts=2), seed=8)
    assert torch.equal(a.z, b.z) and not torch.equal(a.z, c.z)


def test_searching_the_classes_is_never_worse_than_the_first_class(ylg_pair, target):
    G, D = ylg_pair
    search = invert(G, D, target, label=None, method="ylg", budget=Budget(steps=3, starts=2), seed=4)
    first = invert(G, D, target, label=0, method="ylg", budget=Budget(steps=3, starts=2), seed=4)
    assert search.curves.shape == (1, 10, 2, 4)
    # every class of the search tries the starts of the run with one class given
    assert torch.allclose(search.curves[0, 0], first.curves[0, 0], rtol=1e-4)
    assert search.loss.item() <= first.loss.item() + 1e-5
    assert search.labels.item() == int(search.curves[0].amin(dim=(1, 2)).argmin())


def test_a_batch_of_images_is_inverted_image_by_image(ylg_pair):
    G, D = ylg_pair
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    inv = invert(G, D, x, label=[2, 7], method="discriminator", budget=Budget(steps=2, starts=2))
    assert inv.labels.tolist() == [2, 7] and inv.images.shape == x.shape
    m = score(inv, x, D)
    assert set(m) == {"psnr", "ssim", "feature_distance"} and len(m["psnr"]) == 2
    assert m["feature_distance"] == pytest.approx(inv.loss.tolist(), rel=1e-4)


def test_a_discriminator_without_attention(target):
    G, D = _pair("none", width=4)
    with pytest.raises(InvalidArgument, match="no attention layer.*ylg method"):
        invert(G, D, target, label=3, method="ylg", budget=Budget(steps=1, starts=1))
    inv = invert(G, D, target, label=3, method="discriminator", budget=Budget(steps=1, starts=1))
    assert "D0 is D up to the 16x16 grid" in inv.notes[0]


@pytest.mark.parametrize("budget,message", [
    ({"steps": 0}, "steps must be a positive integer"),
    ({"starts": -1}, "starts must be a positive integer"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"noise": -0.1}, "noise must be a non-negative number"),
])
def test_bad_budgets_are_refused_with_their_name(budget, message):
    with pytest.raises(InvalidArgument, match=message):
        Budget(**budget)


@pytest.mark.parametrize("kwargs,message", [
    ({"method": "lpips"}, "method must be one of"),
    ({"budget": {"steps": 1}}, "budget must be a Budget, got dict"),
    ({"label": 10}, "class 10 is outside 0..9"),
    ({"label": [1, 2]}, "one class or one per image"),
    ({"heads": (8,)}, r"heads must be indices in 0..7"),
])
def test_bad_arguments_are_refused_with_their_name(ylg_pair, target, kwargs, message):
    G, D = ylg_pair
    with pytest.raises(InvalidArgument, match=message):
        invert(G, D, target, **{"label": 3, "budget": Budget(steps=1, starts=1), **kwargs})


def test_images_that_do_not_fit_the_generator_are_refused(ylg_pair):
    G, D = ylg_pair
    with pytest.raises(InvalidArgument, match=r"shape \(n, 1, 32, 32\)"):
        invert(G, D, torch.zeros(1, 3, 32, 32), label=0, budget=Budget(steps=1, starts=1))


def test_the_published_defaults():
    assert PUBLISHED == Budget(lr=0.07, steps=1000, starts=8, noise=0.0)


# --- image files ---------------------------------------------------------------------------------


def test_a_colour_image_of_another_size_is_resized_and_converted(tmp_path):
    p = tmp_path / "c.png"
    a = np.zeros((48, 64, 3), np.uint8)
    a[:, :, 0] = 255  # pure red: luma 0.299
    Image.fromarray(a).save(p)
    x, notes = load_image(p, resolution=32, channels=1)
    assert x.shape == (1, 1, 32, 32)
    assert x.mean().item() == pytest.approx(76 / 127.5 - 1, abs=0.01)
    assert any("resized" in n for n in notes) and any("converted to grey" in n for n in notes)
    Image.fromarray(a[:32, :32, 0]).save(tmp_path / "g.png")
    x, notes = load_image(tmp_path / "g.png", resolution=32, channels=3)
    assert x.shape == (1, 3, 32, 32) and notes == ["the image is grey and the model colour: grey "
                                                   "replicated to RGB"]


def test_unreadable_images_raise_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image(tmp_path / "none.png", resolution=32, channels=1)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image"):
        load_image(tmp_path / "bad.png", resolution=32, channels=1)


# --- generated targets, noise, the CPU estimate ---------------------------------------------------


def test_inverting_a_generated_image_moves_z_towards_its_true_latent(ylg_pair):
    G, D = ylg_pair
    x, z, y = generated_target(G, seed=5, label=3)
    assert torch.equal(x, generated_target(G, seed=5, label=3)[0]) and y.tolist() == [3]
    with torch.no_grad():
        assert torch.equal(G(z, y), x)  # the target is exactly G's image of the known latent
    short = score(invert(G, D, x, label=3, method="pixel", budget=Budget(steps=1, starts=2)),
                  x, z=z)
    longer = score(invert(G, D, x, label=3, method="pixel", budget=Budget(steps=30, starts=2)),
                   x, z=z)
    assert longer["latent_cosine"][0] > short["latent_cosine"][0] + 0.2
    assert longer["latent_distance"][0] < short["latent_distance"][0]
    assert longer["psnr"][0] > short["psnr"][0]


def test_noise_is_one_seeded_draw_per_start_added_to_the_target(ylg_pair, target):
    G, D = ylg_pair
    budget = dict(steps=1, starts=4)
    clean = invert(G, D, target, label=3, method="pixel", budget=Budget(**budget), seed=2)
    noisy = invert(G, D, target, label=3, method="pixel", budget=Budget(noise=0.2, **budget),
                   seed=2)
    again = invert(G, D, target, label=3, method="pixel", budget=Budget(noise=0.2, **budget),
                   seed=2)
    assert torch.equal(noisy.curves, again.curves)
    before_clean, before_noisy = clean.curves[0, 0, :, 0], noisy.curves[0, 0, :, 0]  # same starts
    # ||x + e - G(z0)||^2 = ||x - G(z0)||^2 + ||e||^2 + 2 <e, x - G(z0)>: ||e||^2 ~ 1024 * 0.04
    excess = before_noisy ** 2 - before_clean ** 2
    assert excess.mean().item() == pytest.approx(1024 * 0.04, abs=15)
    assert len(set(excess.tolist())) == 4  # each start its own draw
    assert torch.equal(clean.z, invert(G, D, target, label=3, method="pixel",
                                       budget=Budget(**budget), seed=2).z)


def test_a_slow_cpu_inversion_logs_its_estimate_after_the_first_steps(ylg_pair, target,
                                                                      monkeypatch, caplog):
    G, D = ylg_pair
    monkeypatch.setattr(invert_module, "SLOW_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="ylg"):
        invert(G, D, target, label=3, method="pixel", budget=Budget(steps=4, starts=2),
               progress=True)
    [record] = [r for r in caplog.records if r.name == "ylg.invert"]
    assert record.levelno == logging.WARNING and record.getMessage().startswith("note: about ")
    assert "for 4 steps x 2 starts on the CPU" in record.getMessage()
    assert "--steps 200 --starts 2" in record.getMessage()
    caplog.clear()
    monkeypatch.setattr(invert_module, "SLOW_SECONDS", 1e9)
    with caplog.at_level(logging.INFO, logger="ylg"):
        invert(G, D, target, label=3, method="pixel", budget=Budget(steps=4, starts=2),
               progress=True)
    assert not [r for r in caplog.records if r.name == "ylg.invert"]
