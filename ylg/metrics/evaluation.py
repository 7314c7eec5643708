"""The metric names, the evaluation settings, and evaluating images, a generator or a checkpoint.

Three entry points, each a thin layer over the next: :func:`evaluate_checkpoint` reads a
checkpoint and its data, :func:`evaluate_generator` draws seeded samples, :func:`evaluate`
compares images. They share one :class:`EvalSettings`: pass it as ``settings=``, or name any of
its fields as keywords (``samples=500``), which override it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, cast


import torch
from torch import nn

from ifg.errors import InvalidArgument, check_positive_int
from ylg.sample import load_generator
from ylg.data import load_data
from ylg.eta import duration
from ylg.memory import check_samples
from ylg.choices import (DEFAULT_METRICS, METRICS, OTHER_DATA_METRICS, check_domain,
                         default_metrics, is_digits, parse_metrics)
from ylg.metrics.digits import DigitClassifier, class_accuracy, digit_classifier
from ylg.metrics.distances import density_coverage, fid, inception_score, kid, precision_recall
from ylg.metrics.features import model_range  # noqa: F401 - the doctests' preprocessing
from ylg.metrics.features import (FeatureExtractor, MetricsError, progress_bar, cached_features,
                                  load_torchscript, real_features)
from ylg.metrics.inception import (INCEPTION_WHEEL, PT_INCEPTION_FILE, load_inception,
                                   load_inception_logits)

_logger = logging.getLogger(__name__)


def _info(message: str) -> None:
    """The default ``log``: the ``ylg.metrics.evaluation`` logger, at INFO."""
    _logger.info(message)


__all__ = ["METRICS", "DEFAULT_METRICS", "OTHER_DATA_METRICS", "parse_metrics", "is_digits",
           "default_metrics", "check_domain", "EvalSettings", "sample_images",
           "evaluate", "evaluate_generator", "evaluate_checkpoint", "format_evaluation"]

NO_INCEPTION_SCORE = ("there is no Inception score without the logits: the FID Inception network "
                      f"in {INCEPTION_WHEEL} ends at its 2048-d pool and has no classifier head; "
                      f"give inception_logits (--inception-logits FILE), pytorch-fid's "
                      f"{PT_INCEPTION_FILE}")

@dataclass(frozen=True)
class EvalSettings:
    """How an evaluation runs: which metrics, on how many samples, with which networks, where.

    Attributes
    ----------
    metrics : str or tuple of str
        Names from :data:`METRICS` (``"domain-fid,accuracy"`` or a sequence); checked and
        normalised to a tuple on construction.
    samples : int
        Generated images (:func:`evaluate_generator`, :func:`evaluate_checkpoint`).
    real_samples : int or None
        At most this many real images (a fixed seed-0 subset, the same for every run, so its
        features are cached once); None: all.
    seed : int
        Seeds the samples' latents and KID's subsets: the same seed gives the same numbers.
    features : FeatureExtractor, path or None
        For fid, kid, precision, recall, density, coverage: an extractor, a TorchScript file
        (:func:`load_torchscript`), or None for the FID Inception (:func:`load_inception`).
    classifier : DigitClassifier or None
        For the domain metrics and accuracy; None: :func:`digit_classifier` from ``cache``.
    inception_logits : FeatureExtractor, path or None
        For ``is``: an extractor of class probabilities, or pytorch-fid's
        ``pt_inception-2015-12-05-6726825d.pth`` (:func:`load_inception_logits`, checksum
        verified). ``is`` without it is a :class:`MetricsError`.
    cache : path or None
        Where real features and the classifier are cached; None: :func:`cache_dir`.
    batch_size : int
    device : str or torch.device
    progress : bool
        Progress bars on stderr.
    log : callable or None
        Receives one-line messages (default: the ``ylg.metrics.evaluation`` logger, INFO);
        None: silent.

    Examples
    --------
    >>> s = EvalSettings(metrics="domain-fid, accuracy", samples=200)
    >>> s.metrics, s.samples, replace(s, seed=3).seed
    (('domain-fid', 'accuracy'), 200, 3)
    """

    metrics: str | tuple[str, ...] = DEFAULT_METRICS
    samples: int = 1000
    real_samples: int | None = None
    seed: int = 0
    features: FeatureExtractor | str | Path | None = None
    classifier: DigitClassifier | None = None
    inception_logits: FeatureExtractor | str | Path | None = None
    cache: str | Path | None = None
    batch_size: int = 50
    device: str | torch.device = "cpu"
    progress: bool = False
    log: Callable[[str], object] | None = _info

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", parse_metrics(self.metrics))
        check_positive_int("samples", self.samples)
        if self.real_samples is not None:
            check_positive_int("real_samples", self.real_samples)
        if "is" in self.metrics and self.inception_logits is None:
            raise MetricsError(NO_INCEPTION_SCORE)
        check_positive_int("batch_size", self.batch_size)

    @property
    def field_metrics(self) -> tuple[str, ...]:
        """The metrics on the Inception (or ``features``) features."""
        return tuple(n for n in self.metrics if n in _FIELD)

    @property
    def domain_metrics(self) -> tuple[str, ...]:
        """The metrics on the digits classifier's features, without their ``domain-`` prefix."""
        return tuple(n[len("domain-"):] for n in self.metrics if n.startswith("domain-"))


_FIELD = ("fid", "kid", "precision", "recall", "density", "coverage")
_FIELDS = frozenset(f.name for f in fields(EvalSettings))


def _settings(settings: EvalSettings | None, options: dict[str, Any]) -> EvalSettings:
    """``settings`` (default :class:`EvalSettings`) with the keyword ``options`` replaced."""
    unknown = sorted(set(options) - _FIELDS)
    if unknown:
        raise InvalidArgument(f"unknown evaluation setting {unknown[0]!r}; known: "
                              f"{', '.join(sorted(_FIELDS))}")
    base = settings if settings is not None else EvalSettings()
    return replace(base, **options) if options else base


@torch.no_grad()
def sample_images(generator: nn.Module, *, n: int, num_classes: int, seed: int = 0,
                  batch_size: int = 50, progress: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` conditional samples, the classes in turn (``0, 1, ..., num_classes - 1, 0, ...``).

    The latents are drawn on the CPU from a generator seeded with ``seed``, so the same seed
    gives the same samples on any device. The generator runs in eval mode (and is put back).

    Parameters
    ----------
    generator : torch.nn.Module
        Called as ``generator(z, y)`` with ``z`` ``(b, generator.z_dim)``; returns images in
        [-1, 1].
    n, num_classes : int
    seed, batch_size : int

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        float32 images ``(n, c, h, w)`` on the CPU and their int64 classes ``(n,)``.

    Raises
    ------
    InvalidArgument
        For a size that is not positive, or ``n`` images (and a batch) that cannot fit in
        memory (:mod:`ylg.memory`), before any is drawn.

    Examples
    --------
    >>> class G(nn.Module):
    ...     z_dim = 4
    ...     def forward(self, z, y):
    ...         return torch.tanh(z[:, :1, None, None].expand(-1, 1, 8, 8))
    >>> x, y = sample_images(G(), n=5, num_classes=3)
    >>> x.shape, y.tolist()
    (torch.Size([5, 1, 8, 8]), [0, 1, 2, 0, 1])
    """
    n = check_positive_int("n", n)
    num_classes = check_positive_int("num_classes", num_classes)
    batch_size = check_positive_int("batch_size", batch_size)
    _check_sampling(generator, n, batch_size)
    labels = torch.arange(n) % num_classes
    z_dim = cast(int, generator.z_dim)  # nn.Module types its attributes as tensors or modules
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))
    params = list(generator.parameters())
    device = params[0].device if params else torch.device("cpu")
    was_training = generator.training
    generator.eval()
    out = []
    try:
        with progress_bar(n, "samples", progress) as bar:
            for start in range(0, n, batch_size):
                x = generator(z[start:start + batch_size].to(device),
                              labels[start:start + batch_size].to(device))
                out.append(x.float().cpu())
                bar.update(len(x))
    finally:
        generator.train(was_training)
    return torch.cat(out), labels


def _check_sampling(generator: nn.Module, n: int, batch_size: int) -> None:
    """Refuse ``n`` samples in batches of ``batch_size`` that cannot fit, before any is drawn
    (:func:`sample_images`, and :func:`evaluate_checkpoint` before it loads the data)."""
    check_samples(generator, n, batch=batch_size,
                  what=f"generating {n:,} samples in batches of {batch_size:,}")


def evaluate(fake_images: torch.Tensor, *, real_images: torch.Tensor,
             fake_labels: torch.Tensor | None = None, dataset: str,
             settings: EvalSettings | None = None, **options: Any) -> dict[str, Any]:
    """Compare generated images with real ones by the named metrics.

    Parameters
    ----------
    fake_images, real_images : torch.Tensor, (m, c, h, w) and (n, c, h, w)
        uint8 in 0..255 or floats in [-1, 1]; sizes and channels may differ.
    fake_labels : torch.Tensor, (m,), optional
        The classes the samples were generated for; needed by ``accuracy``.
    dataset : str
        Names the real data in the feature cache.
    settings : EvalSettings, optional
    **options
        Fields of :class:`EvalSettings` that override ``settings`` (``metrics``, ``features``,
        ``classifier``, ``cache``, ``seed`` (KID's subsets), ``batch_size``, ``device``, ...).

    Returns
    -------
    dict
        One entry per metric (``kid``, ``domain-kid`` and ``is`` add ``..._std``), plus
        ``samples``, ``real``, and the extractor names (``features``, ``domain_features``,
        ``is_features``) and ``classifier_test_accuracy`` when used. JSON-ready (plain floats, ints, strings).

    Raises
    ------
    InvalidArgument
        For an unknown metric or setting, or ``accuracy`` without labels or for other than 10
        classes.
    MetricsError
        When the Inception network is needed but missing or corrupt.

    Examples
    --------
    >>> import tempfile
    >>> ex = FeatureExtractor("pix", lambda x: x.flatten(1), model_range, torch.device("cpu"))
    >>> real = torch.rand(40, 1, 2, 2) * 2 - 1
    >>> out = evaluate(real + 0.5, real_images=real, dataset="toy", metrics="fid,precision",
    ...                features=ex, cache=tempfile.mkdtemp())
    >>> round(out["fid"], 2) > 0, out["samples"], out["features"]
    (True, 40, 'pix')
    """
    s = _settings(settings, options)
    names = s.metrics
    if "accuracy" in names:
        if fake_labels is None:
            raise InvalidArgument("accuracy needs the classes the samples were generated for")
        if int(torch.as_tensor(fake_labels).max()) >= 10:
            raise InvalidArgument("accuracy needs a generator of the 10 digit classes, got "
                                  f"class {int(torch.as_tensor(fake_labels).max())}")
    real_images = _bounded(real_images, s.real_samples)
    out: dict[str, object] = {}
    if s.field_metrics:
        extractor = _field_extractor(s)
        out["features"] = extractor.name
        out |= _feature_metrics(s.field_metrics, extractor, fake_images, real_images,
                                dataset=dataset, settings=s)
    if s.domain_metrics or "accuracy" in names:
        net = s.classifier if s.classifier is not None else digit_classifier(
            cache=s.cache, device=s.device, log=s.log)
        out["classifier_test_accuracy"] = net.test_accuracy
        if s.domain_metrics:
            extractor = net.extractor()
            out["domain_features"] = extractor.name
            found = _feature_metrics(s.domain_metrics, extractor, fake_images, real_images,
                                     dataset=dataset, settings=s)
            out |= {f"domain-{k}": v for k, v in found.items()}
        if "accuracy" in names:
            assert fake_labels is not None  # checked above
            out["accuracy"] = class_accuracy(net, fake_images, fake_labels)
    if "is" in names:
        extractor = _logits_extractor(s)
        probs = extractor(fake_images, batch_size=s.batch_size, progress=s.progress,
                          desc=f"sample probabilities ({extractor.name})")
        out["is"], out["is_std"] = inception_score(probs, splits=min(10, len(probs)))
        out["is_features"] = extractor.name
    out["samples"], out["real"] = len(fake_images), len(real_images)
    return out


def _bounded(images: torch.Tensor, n: int | None) -> torch.Tensor:
    """At most ``n`` of ``images``: a fixed (seed 0) subset in their order; all when n is None."""
    if n is None or n >= len(images):
        return images
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n]
    return images[keep.sort().values]


def _field_extractor(s: EvalSettings) -> FeatureExtractor:
    """The extractor of the field metrics: the given one, a TorchScript file, or the Inception."""
    if isinstance(s.features, FeatureExtractor):
        return s.features
    if s.features is None:
        return load_inception(device=s.device)
    return load_torchscript(s.features, device=s.device)


#: feature extraction projected to take longer than this (seconds) is announced with an estimate
SLOW_SECONDS = 20.0
_PROBE = 2  # images timed for the estimate (after a warm-up call on them)


def _announce(extractor: FeatureExtractor, fake_images: torch.Tensor, real_images: torch.Tensor,
              *, dataset: str, settings: EvalSettings) -> None:
    """Time a few images and tell the user how long the extraction will take, when it is long."""
    s = settings
    if s.log is None:  # the caller asks only when there is a log
        return
    cached, _ = cached_features(extractor, real_images, dataset=dataset, cache=s.cache)
    todo = len(fake_images) + (0 if cached is not None else len(real_images))
    probe = fake_images[:_PROBE]
    extractor(probe, batch_size=_PROBE)  # a first call pays one-off set-up (TorchScript, caches)
    t = time.perf_counter()
    extractor(probe, batch_size=_PROBE)
    rate = len(probe) / max(time.perf_counter() - t, 1e-9)
    if todo / rate > SLOW_SECONDS:
        real = ("" if cached is not None else
                f"{len(real_images):,} real (once: cached after) + ")
        s.log(f"{extractor.name} features of {real}{len(fake_images):,} generated images at "
              f"about {rate:.1f} images/s: about {duration(todo / rate)}. Fewer: --samples N"
              + (", --real-samples N" if cached is None else "")
              + ("; the domain metrics (the default) take seconds" if extractor.name.startswith(
                  "inception") else ""))


def _logits_extractor(s: EvalSettings) -> FeatureExtractor:
    if isinstance(s.inception_logits, FeatureExtractor):
        return s.inception_logits
    assert s.inception_logits is not None  # EvalSettings refuses "is" without it

    return load_inception_logits(s.inception_logits, device=s.device)


def _feature_metrics(names: tuple[str, ...], extractor: FeatureExtractor,
                     fake_images: torch.Tensor, real_images: torch.Tensor, *, dataset: str,
                     settings: EvalSettings) -> dict[str, float]:
    s = settings
    if s.log is not None:
        _announce(extractor, fake_images, real_images, dataset=dataset, settings=s)
    real = real_features(extractor, real_images, dataset=dataset, cache=s.cache,
                         batch_size=s.batch_size, progress=s.progress)
    fake = extractor(fake_images, batch_size=s.batch_size, progress=s.progress,
                     desc=f"sample features ({extractor.name})")
    out = {}
    if "fid" in names:
        out["fid"] = fid(real, fake)
    if "kid" in names:
        out["kid"], out["kid_std"] = kid(real, fake, seed=s.seed)
    if "precision" in names or "recall" in names:
        precision, recall = precision_recall(real, fake)
        out |= {k: v for k, v in (("precision", precision), ("recall", recall)) if k in names}
    if "density" in names or "coverage" in names:
        density, coverage = density_coverage(real, fake)
        out |= {k: v for k, v in (("density", density), ("coverage", coverage)) if k in names}
    return out


def evaluate_generator(generator: nn.Module, *, real_images: torch.Tensor, num_classes: int,
                       dataset: str, settings: EvalSettings | None = None,
                       **options: Any) -> dict[str, Any]:
    """Sample ``settings.samples`` images from ``generator`` (seeded) and :func:`evaluate` them.

    The same ``seed`` gives the same samples and the same numbers. See :func:`sample_images`
    for the generator's interface, :func:`evaluate` for the rest and :class:`EvalSettings` for
    the settings (``settings=`` or keywords).

    Examples
    --------
    >>> import tempfile
    >>> class G(nn.Module):
    ...     z_dim = 4
    ...     def forward(self, z, y):
    ...         return torch.tanh(z[:, :4].reshape(-1, 1, 2, 2))
    >>> ex = FeatureExtractor("pix", lambda x: x.flatten(1), model_range, torch.device("cpu"))
    >>> real = torch.rand(50, 1, 2, 2) * 2 - 1
    >>> s = EvalSettings(metrics="fid", samples=30, features=ex, log=None)
    >>> a = evaluate_generator(G(), real_images=real, num_classes=10, dataset="toy", settings=s,
    ...                        cache=tempfile.mkdtemp())
    >>> b = evaluate_generator(G(), real_images=real, num_classes=10, dataset="toy", settings=s,
    ...                        cache=tempfile.mkdtemp())
    >>> a == b
    True
    """
    s = _settings(settings, options)
    fake, labels = sample_images(generator, n=s.samples, num_classes=num_classes, seed=s.seed,
                                 batch_size=s.batch_size, progress=s.progress)
    return evaluate(fake, real_images=real_images, fake_labels=labels, dataset=dataset,
                    settings=s)


def evaluate_checkpoint(checkpoint: str | os.PathLike[str], *, data: str | None = None,
                        weights: Literal["ema", "g"] = "ema",
                        settings: EvalSettings | None = None,
                        **options: Any) -> dict[str, Any]:
    """Evaluate a checkpoint's generator against real data (see :func:`evaluate_generator`).

    Parameters
    ----------
    checkpoint : path
        Written by ``ylg train``, or a ``.safetensors`` generator file from ``ylg export``
        (which holds one set of weights: ``weights`` must name it).
    data : str, optional
        ``digits``, an image folder or an ``.npz``; default: the data the run trained on. Its
        train split is read at the model's resolution and channels.
    weights : {"ema", "g"}
        The EMA of G's weights (the default, as published) or G's own.
    settings : EvalSettings, optional
    **options
        Fields of :class:`EvalSettings` that override ``settings``; ``features`` may be the path
        of a TorchScript extractor. ``metrics`` None (or neither ``metrics`` nor ``settings``
        given) takes :func:`default_metrics` of the data: the domain metrics for the digits,
        ``fid,kid`` for other data.

    Returns
    -------
    dict
        :func:`evaluate`'s, plus ``checkpoint``, ``step``, ``weights``, ``data``, ``seed``.

    Raises
    ------
    CheckpointError, DataError, InvalidArgument, MetricsError
        For a bad checkpoint, unreadable data, a bad option, a missing or corrupt extractor;
        a domain metric or ``accuracy`` for data that are not the digits (:func:`check_domain`).
    """
    if weights not in ("ema", "g"):
        raise InvalidArgument(f"weights must be ema or g, got {weights!r}")
    chosen = options.get("metrics") is not None or (settings is not None and
                                                    "metrics" not in options)
    if not chosen:  # the data's default, once the data are known
        options = {**options, "metrics": DEFAULT_METRICS}
    s = _settings(settings, options)  # before the slow part: a typo fails at once
    generator, info = load_generator(checkpoint, weights=weights, device=s.device)
    stored = info["config"].get("data") if isinstance(info["config"], dict) else None
    if not data and not isinstance(stored, str):
        raise InvalidArgument(f"{str(checkpoint)!r} names no training data (its config's data "
                              f"is {str(stored)[:40]!r}): give --data")
    spec = data or str(stored)
    if not chosen:
        s = replace(s, metrics=default_metrics(spec))
    if s.classifier is None:  # a classifier given is the caller's judge of their data
        check_domain(s.metrics, spec)
    _check_sampling(generator, s.samples, s.batch_size)  # before the data and the networks
    real = load_data(spec, resolution=generator.resolution,
                     channels=generator.channels, split="train")
    if s.field_metrics and s.features is not None and not isinstance(s.features,
                                                                      FeatureExtractor):
        s = replace(s, features=load_torchscript(s.features, device=s.device))  # fail early
    if "is" in s.metrics and not isinstance(s.inception_logits, FeatureExtractor):
        s = replace(s, inception_logits=_logits_extractor(s))
    out = {"checkpoint": str(checkpoint), "step": info["step"], "weights": weights,
           "data": real.source, "seed": s.seed}
    out |= evaluate_generator(generator, real_images=real.images,
                              num_classes=generator.num_classes, dataset=real.source,
                              settings=s)
    return out


def format_evaluation(result: dict) -> str:
    """An evaluation's result (:func:`evaluate_checkpoint`) as aligned lines, with the caveats
    that apply (``ylg evaluate``'s table)."""
    lines = [f"checkpoint  {result['checkpoint']} (step {result['step']}, {result['weights']} "
             f"weights)", f"data        {result['data']} ({result['real']:,} images)",
             f"samples     {result['samples']:,} (seed {result['seed']})"]
    for name, value in result.items():
        if name in ("kid", "domain-kid", "is"):
            lines.append(f"{name:<17} {value:.6f} +- {result[name + '_std']:.6f}")
        elif name == "accuracy":
            lines.append(f"{name:<17} {value:.1%}")
        elif name in ("fid", "precision", "recall", "density", "coverage") or (
                name.startswith("domain-") and not name.endswith("_std")):
            lines.append(f"{name:<17} {value:.4f}")
    if "features" in result:
        lines.append(f"features: {result['features']} (FID is biased upwards at "
                     f"{result['samples']:,} samples)")
    if "classifier_test_accuracy" in result:
        lines.append(f"digits classifier: test accuracy {result['classifier_test_accuracy']:.1%};"
                     f" domain numbers are not comparable with published FIDs")
    if "domain-kid" in result:
        lines.append(KID_SCALES)
    return "\n".join(lines)


#: format_evaluation's note under a domain-kid: its scale is its features', not kid's
KID_SCALES = ("domain-kid is in the units of the digits classifier's features, kid in the "
              "Inception's: the cubic kernel grows with the features' size, so the two are on "
              "different scales; compare each only with itself")
