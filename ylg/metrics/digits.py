"""The digits classifier: a domain metric that is fast on a CPU.

A small CNN the project trains on the digits train split in seconds, cached; its 128-d hidden
layer gives a *domain* FID and its predictions the class accuracy of conditional samples.
Domain numbers are **not comparable with published FIDs**, which all use the Inception features.

The domain FID is only comparable between runs scored by the same classifier, so its training is
deterministic: a fixed seed and data order, one thread and deterministic algorithms inside the
training (the caller's thread count and settings are restored), whatever the caller's thread
count. The weights' sha256 on the reference machine is :data:`REFERENCE_SHA256`; a machine whose
training ends elsewhere (another CPU's kernels can round differently) says so when it trains, and
the extractor's name (in every result's ``domain_features``) carries the weights' hash.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ifg.errors import InvalidArgument
from ylg.data import Split, digits
from ylg.metrics.features import FeatureExtractor, unit_range, cache_dir
from ylg.runtime import atomic_write

_logger = logging.getLogger(__name__)

__all__ = ["DigitClassifier", "REFERENCE_SHA256", "deterministic_cpu", "digit_classifier",
           "class_accuracy"]


def _digits(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits ``split`` at 32x32 grey: uint8 ``(n, 1, 32, 32)`` and labels ``(n,)``."""
    d = digits(resolution=DigitClassifier.SIZE, split=split, channels=1)
    return d.images, d.labels


class DigitClassifier(nn.Module):
    """A small CNN for the ten digits: three conv blocks, a 128-d hidden layer, ten logits.

    Its input is :meth:`prepare`'s: grey 32x32 in [-1, 1]. :meth:`features` gives the 128-d
    hidden layer (the domain FID's features), ``forward`` the logits.

    Examples
    --------
    >>> net = DigitClassifier()
    >>> x = DigitClassifier.prepare(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    >>> x.shape, net.features(x).shape, net(x).shape
    (torch.Size([2, 1, 32, 32]), torch.Size([2, 128]), torch.Size([2, 10]))
    """

    SIZE = 32
    VERSION = 2  # bump when the architecture or training changes: invalidates the cache

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (b, 16, 16, 16)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (b, 32, 8, 8)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (b, 64, 4, 4)
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU())          # (b, 128)
        self.head = nn.Linear(128, 10)
        self.test_accuracy = float("nan")

    @staticmethod
    def prepare(images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Any images -> grey 32x32 in [-1, 1], ``(n, 1, 32, 32)``."""
        x = unit_range(images).mean(dim=1, keepdim=True)  # replicated grey stays exact
        if x.shape[-2:] != (DigitClassifier.SIZE, DigitClassifier.SIZE):
            # antialias: shrinking a 64 or 128 sample averages rather than drops pixels
            x = F.interpolate(x, size=(DigitClassifier.SIZE,) * 2, mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > DigitClassifier.SIZE)
        return x.clamp(0, 1) * 2 - 1

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def weights_sha256(self) -> str:
        """sha256 of the weights' bytes, in state-dict order: equal hashes, equal classifiers."""
        h = hashlib.sha256()
        for t in self.state_dict().values():
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def extractor(self) -> FeatureExtractor:
        """This classifier's hidden layer as a :class:`FeatureExtractor` (named by its weights)."""
        device = next(self.parameters()).device
        return FeatureExtractor(f"digits-cnn-v{self.VERSION}-{self.weights_sha256()[:12]}",
                                self.eval().features, DigitClassifier.prepare, device)


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random small affine moves of grey images in [0, 1] (background 0), ``(b, 1, h, w)``."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=gen) - 0.5) * (2 * np.pi / 18)  # +-10 degrees
    scale = 0.9 + 0.2 * torch.rand(b, generator=gen)
    shift = (torch.rand(b, 2, generator=gen) - 0.5) * 0.25  # +-1/8 of the image
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # (b, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)  # zeros outside: the background


@contextmanager
def deterministic_cpu() -> Iterator[None]:
    """One thread, deterministic algorithms and a private random state; the caller's restored.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with deterministic_cpu():
    ...     torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    (1, True)
    >>> torch.get_num_threads() == before
    True
    """
    threads = torch.get_num_threads()
    algorithms = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)  # a sum split over threads rounds by the thread count
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.set_num_threads(threads)


#: sha256 of the seed-0 classifier's weights (:meth:`DigitClassifier.weights_sha256`) as trained on
#: the reference machine (x86-64, torch 2.x CPU)
REFERENCE_SHA256 = "7a9722aa2bbf5cb759a138d041a2fcd71fb6ecbe0631a9bb67d0f09b8d686bad"


def _train_digit_classifier(*, seed: int, epochs: int = 10,
                            batch_size: int = 128) -> DigitClassifier:
    with deterministic_cpu():
        net = _train(seed=seed, epochs=epochs, batch_size=batch_size)
    if (seed, epochs, batch_size) == (0, 10, 128) and net.weights_sha256() != REFERENCE_SHA256:
        _logger.warning(f"this machine trained a digits classifier that differs from the "
                        f"reference one (sha256 {net.weights_sha256()[:12]}, reference "
                        f"{REFERENCE_SHA256[:12]}): domain numbers are comparable only between "
                        f"runs scored by the same classifier")
    return net


def _train(*, seed: int, epochs: int, batch_size: int) -> DigitClassifier:
    images, labels = _digits("train")
    x = images.float() / 255
    torch.manual_seed(seed)
    net = DigitClassifier()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=4e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=epochs * (
        -(-len(x) // batch_size)))
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            batch = _augment(x[idx], gen) * 2 - 1
            loss = F.cross_entropy(net(batch), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    test_images, test_labels = _digits("test")
    net.test_accuracy = class_accuracy(net, test_images, test_labels)
    return net


def _info(message: str) -> None:
    """The default ``log``: the ``ylg.metrics.digits`` logger, at INFO."""
    _logger.info(message)


def digit_classifier(*, cache: str | os.PathLike[str] | None = None, seed: int = 0,
                     device: str | torch.device = "cpu",
                     log: Callable[[str], object] | None = _info) -> DigitClassifier:
    """The digits classifier, trained once (seeded, under a minute on 2 CPU cores) and cached.

    Trained on the digits train split (1,500 images, 32x32 grey, small random affine moves);
    its accuracy on the 297 test images is in ``test_accuracy`` and sent to ``log`` when it is
    trained. The cache file is ``<cache>/digits-cnn-v2-seed<seed>.pt``. Training is deterministic
    (see the module's notes): two fresh caches hold bit-identical weights.

    Parameters
    ----------
    cache : path, optional
        Default :func:`cache_dir`.
    seed : int
    device : str or torch.device
        Where the returned classifier lives (it is always trained on the CPU).
    log : callable or None
        Receives one-line messages; default: the ``ylg.metrics.digits`` logger (INFO).

    Examples
    --------
    >>> net = digit_classifier(log=None)  # doctest: +SKIP
    >>> net.test_accuracy > 0.95  # doctest: +SKIP
    True
    """
    log = log or (lambda message: None)
    folder = Path(cache) if cache is not None else cache_dir()
    path = folder / f"digits-cnn-v{DigitClassifier.VERSION}-seed{seed}.pt"
    net = None
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net = DigitClassifier()
            net.load_state_dict(state["weights"])
            net.test_accuracy = float(state["test_accuracy"])
        except Exception:  # noqa: BLE001 - a corrupt cache file is retrained, not fatal
            log(f"digits classifier cache {str(path)!r} is unreadable: retraining")
            net = None
    if net is None:
        log(f"training the digits classifier (once; cached in {str(path)!r})")
        net = _train_digit_classifier(seed=seed)
        state = {"weights": net.state_dict(), "test_accuracy": net.test_accuracy}
        atomic_write(path, lambda f: torch.save(state, f))  # a reader sees no half file
        log(f"digits classifier: test accuracy {net.test_accuracy:.1%} on 297 held-out digits")
    return net.to(device).eval()


@torch.no_grad()
def class_accuracy(classifier: DigitClassifier, images: torch.Tensor, labels: torch.Tensor, *,
                   batch_size: int = 256) -> float:
    """Fraction of ``images`` that ``classifier`` assigns to their ``labels``.

    For a conditional generator: its samples with the classes they were asked for.

    Parameters
    ----------
    classifier : DigitClassifier
    images : torch.Tensor, (n, c, h, w)
        uint8 in 0..255 or floats in [-1, 1].
    labels : torch.Tensor, int, (n,)

    Examples
    --------
    >>> net = DigitClassifier()
    >>> 0.0 <= class_accuracy(net, torch.zeros(4, 1, 32, 32), torch.arange(4)) <= 1.0
    True
    """
    labels = torch.as_tensor(labels).long().cpu()
    if len(images) != len(labels) or len(labels) == 0:
        raise InvalidArgument(f"class_accuracy needs as many labels as images (at least one), "
                              f"got {len(images)} images and {len(labels)} labels")
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    hits = 0
    for start in range(0, len(labels), batch_size):
        x = DigitClassifier.prepare(torch.as_tensor(images[start:start + batch_size]).to(device))
        hits += int((classifier(x).argmax(1).cpu() == labels[start:start + batch_size]).sum())
    classifier.train(was_training)
    return hits / len(labels)
