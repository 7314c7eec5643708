"""Distances between two sets of feature vectors: FID, KID, precision/recall, density/coverage.

Every function compares ``real`` ``(n, d)`` with ``fake`` ``(m, d)`` (numpy arrays or tensors)
and returns plain floats. FID is biased upwards with few samples (the bias falls roughly as
``1/n``): compare FIDs only at the same sample count. Published numbers use 50,000 samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Union

import numpy as np
import numpy.typing as npt
import torch

from ifg.errors import InvalidArgument, check_positive_int

__all__ = ["feature_statistics", "frechet_distance", "fid", "kid", "precision_recall",
           "density_coverage", "inception_score"]

#: a set of feature vectors ``(n, d)``: an array, a nested list or a tensor
Features = Union[npt.ArrayLike, torch.Tensor]


def _features(name: str, x: Features, *, min_rows: int = 2) -> np.ndarray:
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


def _pair(real: Features, fake: Features, *,
          min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    real = _features("real", real, min_rows=min_rows)
    fake = _features("fake", fake, min_rows=min_rows)
    if real.shape[1] != fake.shape[1]:
        raise InvalidArgument(f"real and fake features differ in width: {real.shape[1]} vs "
                              f"{fake.shape[1]}")
    return real, fake


def feature_statistics(features: Features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` (unbiased, ``n - 1``) of ``(n, d)`` features.

    Examples
    --------
    >>> mu, sigma = feature_statistics([[0.0, 1.0], [2.0, 3.0]])
    >>> mu.tolist(), sigma.tolist()
    ([1.0, 2.0], [[2.0, 2.0], [2.0, 2.0]])
    """
    x = _features("features", features)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1: npt.ArrayLike, sigma1: npt.ArrayLike, mu2: npt.ArrayLike,
                     sigma2: npt.ArrayLike) -> float:
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


def fid(real: Features, fake: Features) -> float:
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


def _cubic_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``k(a_i, b_j) = (a_i.b_j / d + 1)^3``, ``(len(a), len(b))``."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def _unbiased_mmd2(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from the three kernel blocks (the diagonals k(a, a) left out)."""
    m, n = len(kxx), len(kyy)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean())


_KID_GRAM_ROWS = 8192  # up to n + m rows, the kernel of all pairs is computed once (512 MiB)


def kid(real: Features, fake: Features, *, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
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


def _distance_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, D)`` with ``D[i, j] = |a[start + i] - b[j]|``, a block of rows at a time."""
    b2 = (b * b).sum(axis=1)
    for start in range(0, len(a), _BLOCK_ROWS):
        block = a[start:start + _BLOCK_ROWS]
        d2 = (block * block).sum(axis=1)[:, None] + b2[None, :] - 2 * block @ b.T
        yield start, np.sqrt(np.clip(d2, 0, None))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    radii = np.empty(len(x))
    for start, dist in _distance_blocks(x, x):
        # column k of the sorted row: column 0 is the point itself (distance 0)
        radii[start:start + len(dist)] = np.partition(dist, k, axis=1)[:, k]
    return radii


def _check_k(k: int, *sets: Sized) -> int:
    k = check_positive_int("k", k)
    if any(len(s) <= k for s in sets):
        raise InvalidArgument(f"k must be smaller than each set's size, got k={k} with sizes "
                              f"{', '.join(str(len(s)) for s in sets)}")
    return k


def precision_recall(real: Features, fake: Features, *, k: int = 3) -> tuple[float, float]:
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


def density_coverage(real: Features, fake: Features, *, k: int = 5) -> tuple[float, float]:
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


def inception_score(probs: Features, *, splits: int = 10) -> tuple[float, float]:
    """Inception Score: ``exp(E_x KL(p(y|x) || p(y)))`` in splits, mean and standard deviation.

    ``probs`` are class probabilities of generated images (rows sum to 1); the rows are cut into
    ``splits`` consecutive parts (the original code's 10), each part's score uses its own
    marginal ``p(y)``. High when each image is confidently one class and the classes are
    spread: at most the number of classes.

    Parameters
    ----------
    probs : array_like, (n, k)
        Non-negative rows summing to 1 (to 1e-3).
    splits : int
        At most n.

    Returns
    -------
    (float, float)

    Raises
    ------
    InvalidArgument
        For rows that are not probabilities, or more splits than rows.

    Examples
    --------
    >>> inception_score(np.eye(4)[[0, 1, 2, 3] * 5], splits=5)  # sure of each, all 4 classes
    (4.0, 0.0)
    >>> inception_score(np.full((10, 4), 0.25), splits=2)  # no class is clear
    (1.0, 0.0)
    """
    from scipy.special import rel_entr

    p = _features("probs", probs, min_rows=1)
    if (p < 0).any() or not np.allclose(p.sum(axis=1), 1, atol=1e-3):
        raise InvalidArgument("probs must be non-negative rows that sum to 1")
    splits = check_positive_int("splits", splits)
    if splits > len(p):
        raise InvalidArgument(f"splits must be at most the number of rows ({len(p)}), got "
                              f"{splits}")
    scores = [np.exp(rel_entr(part, part.mean(axis=0, keepdims=True)).sum(axis=1).mean())
              for part in np.array_split(p, splits)]
    return float(np.mean(scores)), float(np.std(scores))
