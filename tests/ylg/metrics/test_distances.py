"""ylg.metrics.distances: FID, KID, precision/recall, density/coverage against plain references."""

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from ifg.errors import InvalidArgument
from ylg.metrics import (density_coverage, distances, fid, frechet_distance, inception_score, kid,
                         precision_recall)


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
    monkeypatch.setattr(distances, "_KID_GRAM_ROWS", gram_rows)
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
    monkeypatch.setattr(distances, "_BLOCK_ROWS", block)  # 7: many blocks, ragged last one
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


# --------------------------------------------------------------------------------- Inception Score


def _reference_is(p, splits):
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0)
        kl = [sum(q * np.log(q / m) for q, m in zip(row, py) if q > 0) for row in part]
        scores.append(np.exp(np.mean(kl)))
    return np.mean(scores), np.std(scores)


def test_inception_score_equals_the_textbook_formula():
    rng = np.random.default_rng(13)
    p = rng.dirichlet(np.full(7, 0.3), size=53)
    p[0] = np.eye(7)[2]  # a row with zeros: 0 log 0 counts as 0
    assert inception_score(p, splits=5) == pytest.approx(_reference_is(p, 5), rel=1e-10)


def test_inception_score_is_the_class_count_when_sure_and_spread_and_one_when_unsure():
    assert inception_score(np.eye(10)[np.arange(100) % 10]) == (pytest.approx(10.0), 0.0)
    assert inception_score(np.eye(10)[np.zeros(100, int)])[0] == pytest.approx(1.0)  # one class
    assert inception_score(np.full((20, 5), 0.2), splits=2)[0] == pytest.approx(1.0)


def test_inception_score_rejects_what_are_not_probabilities():
    with pytest.raises(InvalidArgument, match="sum to 1"):
        inception_score(np.ones((4, 3)), splits=2)
    with pytest.raises(InvalidArgument, match="splits must be at most the number of rows"):
        inception_score(np.eye(3), splits=10)
