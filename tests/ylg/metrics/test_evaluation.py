"""ylg.metrics.evaluation: the settings, and evaluating images and generators."""

import pytest
import torch
from torch import nn

from ifg.errors import InvalidArgument
from ylg.metrics import (EvalSettings, FeatureExtractor, MetricsError, digits, evaluate,
                         evaluate_generator, evaluation)


class _Replay(nn.Module):
    """A 'generator' that returns a real test digit of the asked class (or noise)."""

    z_dim = 8

    def __init__(self, noise=False):
        super().__init__()
        self.noise = noise
        images, labels = digits._digits("test")
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
    folder, net = classifier_cache
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


def _pixels():
    from ylg.metrics.features import model_range

    return FeatureExtractor("pix", lambda x: x.flatten(1), model_range, torch.device("cpu"))


def test_the_real_set_is_bounded_to_one_fixed_subset(tmp_path):
    real = torch.rand(50, 1, 2, 2) * 2 - 1
    fake = torch.rand(20, 1, 2, 2) * 2 - 1
    s = EvalSettings(metrics="fid", features=_pixels(), cache=tmp_path, log=None)
    a = evaluate(fake, real_images=real, dataset="toy", settings=s, real_samples=10)
    b = evaluate(fake, real_images=real, dataset="toy", settings=s, real_samples=10)
    assert a["real"] == 10 and a == b
    assert len(list((tmp_path / "features").iterdir())) == 1  # the same subset: one cache entry
    assert evaluate(fake, real_images=real, dataset="toy", settings=s)["real"] == 50
    assert evaluate(fake, real_images=real, dataset="toy", settings=s,
                    real_samples=500)["real"] == 50
    with pytest.raises(InvalidArgument, match="real_samples must be a positive integer"):
        EvalSettings(real_samples=0)
    with pytest.raises(InvalidArgument, match="unknown evaluation setting 'sample'"):
        evaluate(fake, real_images=real, dataset="toy", settings=s, sample=3)


def test_a_long_extraction_is_announced_with_its_estimate(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluation, "SLOW_SECONDS", 0.0)
    real, fake = torch.rand(30, 1, 2, 2) * 2 - 1, torch.rand(20, 1, 2, 2) * 2 - 1
    said = []
    s = EvalSettings(metrics="fid", features=_pixels(), cache=tmp_path, log=said.append)
    evaluate(fake, real_images=real, dataset="toy", settings=s)
    assert len(said) == 1
    assert said[0].startswith("pix features of 30 real (once: cached after) + 20 generated "
                              "images at about ")
    assert "images/s: about " in said[0] and said[0].endswith("--samples N, --real-samples N")
    evaluate(fake, real_images=real, dataset="toy", settings=s)  # the real ones now cached
    assert said[1].startswith("pix features of 20 generated images") and \
        said[1].endswith("Fewer: --samples N")
    monkeypatch.setattr(evaluation, "SLOW_SECONDS", 1e9)
    evaluate(fake, real_images=real, dataset="toy", settings=s)
    assert len(said) == 2  # quick: nothing said


def test_the_default_metrics_are_the_cpu_fast_domain_ones():
    assert all(n.startswith("domain-") or n == "accuracy" for n in EvalSettings().metrics)


def test_the_table_states_that_domain_kid_and_kid_have_other_scales():
    from ylg.metrics.evaluation import format_evaluation

    result = {"checkpoint": "c.pt", "step": 1, "weights": "ema", "data": "digits:train",
              "real": 10, "samples": 10, "seed": 0, "kid": 0.29, "kid_std": 0.01,
              "domain-kid": 341.0, "domain-kid_std": 5.0, "features": "inception",
              "classifier_test_accuracy": 0.98}
    lines = format_evaluation(result).splitlines()
    assert lines[-1].startswith("domain-kid is in the units of the digits classifier's "
                                "features, kid in the Inception's")
    assert "different scales" in lines[-1]
    del result["domain-kid"], result["domain-kid_std"]
    assert "different scales" not in format_evaluation(result)
