"""ylg.metrics.digits: the classifier, its cache, and the domain FID it gives."""

import numpy as np
import torch
import torch.nn.functional as F

from ylg.metrics import DigitClassifier, class_accuracy, digit_classifier, digits, fid, kid


def test_digit_classifier_is_accurate_and_cached(classifier_cache):
    folder, net = classifier_cache
    assert net.test_accuracy >= 0.95
    test_images, test_labels = digits._digits("test")
    assert class_accuracy(net, test_images, test_labels) == net.test_accuracy
    messages = []
    again = digit_classifier(cache=folder, log=messages.append)
    assert messages == []  # loaded, not retrained
    assert again.extractor().name == net.extractor().name  # same weights
    shuffled = test_labels[torch.randperm(len(test_labels),
                                          generator=torch.Generator().manual_seed(0))]
    assert class_accuracy(net, test_images, shuffled) < 0.3


def _fake_training(monkeypatch):
    trained = []

    def fake_train(*, seed):
        trained.append(seed)
        net = DigitClassifier()
        net.test_accuracy = 0.5
        return net

    monkeypatch.setattr(digits, "_train_digit_classifier", fake_train)
    return trained


def test_digit_classifier_says_its_test_accuracy_when_trained(tmp_path, monkeypatch):
    trained = _fake_training(monkeypatch)
    messages = []
    net = digit_classifier(cache=tmp_path, log=messages.append)
    assert trained == [0] and net.test_accuracy == 0.5
    assert messages[0].startswith("training the digits classifier")
    assert messages[1] == "digits classifier: test accuracy 50.0% on 297 held-out digits"
    assert digit_classifier(cache=tmp_path, log=messages.append).test_accuracy == 0.5
    assert trained == [0] and len(messages) == 2  # the second call read the cache


def test_digit_classifier_retrains_over_a_corrupt_cache(tmp_path, monkeypatch):
    trained = _fake_training(monkeypatch)
    (tmp_path / "digits-cnn-v2-seed0.pt").write_bytes(b"corrupt")
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


def test_two_fresh_caches_at_other_thread_counts_give_bit_identical_classifiers(
        classifier_cache, digits_features, tmp_path):
    folder, net = classifier_cache  # trained by the session at the tests' one thread
    images, _, _ = digits_features
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fresh = digit_classifier(cache=tmp_path, log=None)  # a second machine's first use
        assert torch.get_num_threads() == 2  # the caller's thread count is restored
    finally:
        torch.set_num_threads(before)
    assert (tmp_path / "digits-cnn-v2-seed0.pt").is_file() and tmp_path != folder
    for (name, a), b in zip(net.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name  # bit-identical, not merely close
    assert fresh.weights_sha256() == net.weights_sha256()
    assert fresh.test_accuracy == net.test_accuracy
    fake = images[:200].float() / 127.5 - 1 + 0.1
    assert fid(net.extractor()(images[200:]), net.extractor()(fake)) == \
        fid(fresh.extractor()(images[200:]), fresh.extractor()(fake))


def test_training_restores_the_callers_determinism_and_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with digits.deterministic_cpu():
        torch.manual_seed(0)
        torch.rand(5)
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.equal(torch.rand(3), expected)
