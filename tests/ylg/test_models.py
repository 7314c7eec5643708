"""SAGAN / YLG-SAGAN: shapes at every resolution, the attention's place, spectral norm, masks."""

import pytest
import torch
from torch import nn

from ifg.errors import InvalidArgument
from ifg.maskset import preset
from ylg.models import Discriminator, Generator, attention_resolutions, resolve_masks
from ylg.models.layers import ConditionalBatchNorm2d


def _pair(**kw):
    torch.manual_seed(0)
    d_kw = {k: v for k, v in kw.items() if k != "z_dim"}
    return Generator(**kw), Discriminator(**d_kw)


@pytest.mark.parametrize("resolution,a", [(32, 16), (32, 8), (64, 32), (128, 32), (128, 64)])
def test_shapes_and_the_attention_grid_in_both_networks(resolution, a):
    G, D = _pair(resolution=resolution, width=4 if resolution == 32 else 8, num_classes=2,
                 channels=3, attention="dense", attention_resolution=a, z_dim=16)
    y = torch.tensor([0, 1])
    x, g_attn = G(torch.randn(2, 16), y, return_attention=True)
    assert x.shape == (2, 3, resolution, resolution) and G.resolution == resolution
    assert x.abs().max() <= 1  # tanh output
    logits, d_attn = D(x, y, return_attention=True)
    assert logits.shape == (2,)
    for attn in (g_attn, d_attn):
        assert attn.shape == (2, 1, a * a, (a // 2) ** 2)  # (b, heads, nq, nk)
    assert D.features_before_attention(x).shape[-1] == a


def test_paper_placement_is_the_default():
    assert Generator(resolution=128, width=1, attention="none").attention_resolution == 32
    assert Discriminator(resolution=32, width=4, attention="none").attention_resolution == 16
    assert attention_resolutions(128) == (8, 16, 32, 64)


def test_the_paper_128_model_has_the_published_channels():
    G = Generator(resolution=128, width=64, attention="none")
    D = Discriminator(resolution=128, width=64, attention="none")
    assert G.linear.out_features == 4 * 4 * 1024
    assert [b.conv2.out_channels for b in G.blocks] == [1024, 512, 256, 128, 64]
    assert [b.conv2.out_channels for b in D.blocks] == [64, 128, 256, 512, 1024, 1024]
    assert D.blocks[-1].downsample is False and all(b.downsample for b in D.blocks[1:-1])


@pytest.mark.parametrize("attention,heads", [("none", 0), ("dense", 1), ("dense8", 8), ("ylg", 8)])
def test_attention_variants(attention, heads):
    G, D = _pair(resolution=32, width=16, num_classes=2, channels=1, attention=attention)
    for net in (G, D):
        assert (net.attention is None) == (heads == 0)
    if heads:
        _, attn = G(torch.randn(2, 128), torch.tensor([0, 1]), return_attention=True)
        assert attn.shape == (2, heads, 256, 64)


def test_ylg_masks_are_obeyed():
    ms = preset("ylg", key_grid=(8, 8), query_grid=(16, 16))
    G = Generator(resolution=32, width=16, num_classes=2, channels=1, attention=ms)
    _, attn = G(torch.randn(2, 128), torch.tensor([0, 1]), return_attention=True)
    allowed = torch.as_tensor(ms.to_dense())  # (heads, nq, nk)
    assert (attn[:, ~allowed] == 0).all()
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 8, 256))


def test_mismatched_masks_are_refused_with_the_grids_that_fit():
    ms = preset("ylg", key_grid=(16, 16), query_grid=(32, 32))
    with pytest.raises(InvalidArgument, match="needs query grid 16x16 and key grid 8x8"):
        Generator(resolution=32, width=16, attention=ms)
    with pytest.raises(InvalidArgument, match="attention_resolution=32 for these masks"):
        resolve_masks(ms, resolution=128, attention_resolution=16)
    assert resolve_masks(ms, resolution=128)[0] == 8


def test_too_narrow_for_eight_heads_names_the_channels():
    with pytest.raises(InvalidArgument, match="multiple of 64"):
        Generator(resolution=32, width=8, attention="dense8")


@pytest.mark.parametrize("bad", [dict(resolution=48), dict(attention="sparse"),
                                 dict(attention_resolution=32)])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(InvalidArgument):
        Generator(**{"resolution": 32, "width": 4, **bad})


def test_a_mask_file_path_is_refused_models_take_a_maskset(tmp_path):
    from ifg.io import save

    save(preset("ylg", key_grid=(8, 8), query_grid=(16, 16)), tmp_path / "m.npz")
    with pytest.raises(InvalidArgument, match="read_attention"):
        Generator(resolution=32, width=16, attention=str(tmp_path / "m.npz"))


def _plain_weight_modules(net):
    cbn = {id(m) for c in net.modules() if isinstance(c, ConditionalBatchNorm2d)
           for m in c.modules()}
    return [(name, m) for name, m in net.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)) and id(m) not in cbn]


def test_spectral_norm_on_every_weight():
    G, D = _pair(resolution=32, width=16, num_classes=3, channels=1, attention="ylg")
    for net in (G, D):
        modules = _plain_weight_modules(net)
        assert len(modules) > 10
        for name, m in modules:
            assert torch.nn.utils.parametrize.is_parametrized(m, "weight"), name


def _sigma(w):
    return torch.linalg.matrix_norm(w.detach().reshape(w.shape[0], -1), ord=2).item()


@pytest.mark.parametrize("constraint", ["inequality", "equality"])
def test_spectral_norm_bounds_each_weight_by_one(constraint):
    G, D = _pair(resolution=32, width=4, num_classes=3, channels=1, attention="none",
                 sn_constraint=constraint)
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([0, 1, 2, 0])
    for _ in range(30):  # power iterations converge over forward passes in train mode
        D(x, y)
    scaled = 0
    for name, m in _plain_weight_modules(D):
        sigma, raw = _sigma(m.weight), _sigma(m.parametrizations.weight.original)
        if constraint == "equality" or raw > 1.05:
            assert abs(sigma - 1) < 0.05, name
            scaled += 1
        else:  # the published inequality: a weight with sigma <= 1 is left as it is
            assert sigma <= 1.05 and torch.allclose(m.weight, m.parametrizations.weight.original,
                                                    rtol=0.05), name
    assert scaled > 0


def test_inequality_leaves_a_weight_with_sigma_below_one_unscaled_and_equality_scales_it():
    from ylg.models.layers import spectral_norm
    w = torch.diag(torch.tensor([0.5, 0.25, 0.1]))  # sigma = 0.5
    weights = {}
    for constraint in ("inequality", "equality"):
        lin = nn.Linear(3, 3, bias=False)
        with torch.no_grad():
            lin.weight.copy_(w)
        weights[constraint] = spectral_norm(lin, constraint=constraint).eval().weight.detach()
    assert torch.allclose(weights["inequality"], w, atol=1e-6)
    assert torch.allclose(weights["equality"], w / 0.5, atol=1e-4)


def test_the_constraint_is_a_model_argument_and_the_attention_always_divides_by_sigma():
    for constraint in ("inequality", "equality"):
        G, D = _pair(resolution=32, width=16, num_classes=3, channels=1, attention="ylg",
                     sn_constraint=constraint)
        for net in (G, D):
            found = {type(m.parametrizations.weight[0]).__name__ + ":"
                     + getattr(m.parametrizations.weight[0], "constraint", "sigma")
                     for _, m in _plain_weight_modules(net)}
            # torch's own spectral norm (divides by sigma) only in the attention's projections
            assert found == {f"_BoundedSpectralNorm:{constraint}", "_SpectralNorm:sigma"}
    with pytest.raises(InvalidArgument, match="constraint"):
        Generator(resolution=32, width=4, sn_constraint="strict")


def test_spectral_norm_starts_as_torchs_and_does_not_iterate_on_the_meta_device(monkeypatch):
    from torch.nn.utils.parametrizations import _SpectralNorm, spectral_norm as torch_sn

    from ylg.spectral import sn_conv1x1 as _sn_conv1x1
    from ylg.models.layers import spectral_norm

    torch.manual_seed(0)
    ours = _sn_conv1x1(8, 4).state_dict()
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 4, 1, bias=False)
    nn.init.xavier_uniform_(conv.weight)
    theirs = torch_sn(conv).state_dict()
    torch.manual_seed(1)
    bounded = spectral_norm(nn.Linear(6, 5), constraint="equality").state_dict()
    torch.manual_seed(1)
    plain = torch_sn(nn.Linear(6, 5)).state_dict()
    for a, b in ((ours, theirs), (bounded, plain)):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    iterated = []  # the devices torch's power iterations ran on
    power = _SpectralNorm._power_method
    monkeypatch.setattr(_SpectralNorm, "_power_method",
                        lambda self, w, n: iterated.append(w.device.type) or power(self, w, n))
    with torch.device("meta"):
        G = Generator(resolution=32, width=16, num_classes=3, channels=1, attention="ylg")
    assert G.attention.query.parametrizations.weight.original.is_meta and iterated == []
    Generator(resolution=32, width=16, num_classes=3, channels=1, attention="ylg")
    assert iterated and set(iterated) == {"cpu"}


def test_weights_start_glorot_uniform_with_zero_biases():
    G, D = _pair(resolution=32, width=16, num_classes=3, channels=1, attention="ylg")
    for net in (G, D):
        for name, m in _plain_weight_modules(net):
            w = m.parametrizations.weight.original
            receptive = w[0, 0].numel() if w.dim() > 2 else 1
            fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
            bound = (6 / (fan_in + fan_out)) ** 0.5
            assert w.abs().max() <= bound and w.abs().max() > 0.8 * bound, name
            if getattr(m, "bias", None) is not None:
                assert not m.bias.any(), name


def test_batchnorm_uses_the_published_epsilon():
    G = Generator(resolution=32, width=4, channels=1, attention="none")
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 for m in bns)


def test_generator_is_class_conditional_and_discriminator_projects():
    G, D = _pair(resolution=32, width=4, num_classes=3, channels=1, attention="none")
    for m in G.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            nn.init.normal_(m.gain.weight, std=0.5)  # trained gains; they start at zero
    G.eval()
    z = torch.randn(1, 128).repeat(2, 1)
    a, b = G(z, torch.tensor([0, 1]))
    assert not torch.allclose(a, b)
    x = torch.randn(1, 1, 32, 32).repeat(2, 1, 1, 1)
    la, lb = D(x, torch.tensor([0, 2]))
    assert not torch.isclose(la, lb)


def test_ylg_masks_export_knows_the_models_attention_grids():
    from ifg.reports import MODEL_ATTENTION, MODEL_POOL, model_fit
    from ylg.models.sagan import ARCHITECTURES

    assert MODEL_ATTENTION == {r: arch[2] for r, arch in ARCHITECTURES.items()}
    for r in ARCHITECTURES:
        for a in attention_resolutions(r):  # every grid a model takes is said to fit
            fit = model_fit((a, a), (a // MODEL_POOL, a // MODEL_POOL))
            assert fit.startswith("fits ylg train") and str(r) in fit


def test_torch_save_of_whole_models_round_trips():
    """Spectral norm's parametrised modules pickle: torch.save(model) and pickle both work, and
    the copies compute what the models compute (and pickle again)."""
    import io
    import pickle

    G, D = _pair(resolution=32, width=16, channels=1, attention="ylg")
    G, D = G.eval(), D.eval()
    z, y, x = torch.randn(2, 128), torch.tensor([1, 7]), torch.randn(2, 1, 32, 32)
    buffer = io.BytesIO()
    torch.save({"G": G, "D": D}, buffer)
    buffer.seek(0)
    back = torch.load(buffer, weights_only=False)
    assert torch.equal(back["G"](z, y), G(z, y)) and torch.equal(back["D"](x, y), D(x, y))
    again = pickle.loads(pickle.dumps(back["G"]))
    assert torch.equal(again(z, y), G(z, y))
    assert list(again.state_dict()) == list(G.state_dict())


def test_a_2d_family_mask_file_builds_and_trains_a_model(tmp_path):
    """The 2-D families reach the models through mask files (#23): a 3x3 neighbourhood exported
    at the default grids is G's and D's attention, and a step of both computes gradients."""
    import ifg
    from ifg.io import load, save
    from ifg.maskset import to_maskset

    path = tmp_path / "nat.npz"
    save(to_maskset(ifg.pattern("neighborhood:kernel=3", grid=(8, 8)), query_grid=(16, 16)), path)
    G, D = _pair(resolution=32, width=16, channels=1, attention=load(path))
    assert G.attention.masks.num_heads == 1 and G.attention.masks.key_grid == (8, 8)
    z, y = torch.randn(2, 128), torch.tensor([1, 7])
    loss = D(G(z, y), y).mean()
    loss.backward()
    assert G.attention.query.parametrizations.weight.original.grad is not None
