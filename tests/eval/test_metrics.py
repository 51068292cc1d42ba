"""Metric numerics against scipy, closed forms and brute force."""
import math

import numpy as np
import pytest
from scipy import linalg

from genjax.eval import likelihood, metrics


def random_psd(rng, d, rank=None):
  a = rng.normal(size=(d, rank or d))
  return a @ a.T / d + (0 if rank else 1e-3) * np.eye(d)


@pytest.mark.parametrize("d", [2, 16, 128])
def test_sqrtm_psd_matches_scipy(d):
  rng = np.random.default_rng(d)
  a = random_psd(rng, d)
  ours = metrics.sqrtm_psd(a)
  ref = np.real(linalg.sqrtm(a))
  np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)
  np.testing.assert_allclose(ours @ ours, a, atol=1e-9)


def test_trace_sqrt_product_matches_scipy():
  rng = np.random.default_rng(1)
  s1, s2 = random_psd(rng, 64), random_psd(rng, 64)
  ref = float(np.real(np.trace(linalg.sqrtm(s1 @ s2))))
  assert metrics.trace_sqrt_product(s1, s2) == pytest.approx(ref, abs=1e-6)


def test_trace_sqrt_product_singular_is_real_and_stable():
  # Rank-deficient covariances (fewer samples than dimensions) are where a
  # Schur-based sqrtm goes complex; ours stays real and symmetric in (1, 2).
  rng = np.random.default_rng(2)
  s1, s2 = random_psd(rng, 64, rank=10), random_psd(rng, 64, rank=20)
  a, b = metrics.trace_sqrt_product(s1, s2), metrics.trace_sqrt_product(s2, s1)
  assert np.isfinite(a) and a == pytest.approx(b, rel=1e-6)


def test_fid_of_a_set_against_itself_is_zero():
  rng = np.random.default_rng(3)
  f = rng.normal(size=(600, 256)) * rng.uniform(0.1, 3, size=256)
  assert abs(metrics.fid(f, f)) < 1e-6
  # Rank-deficient covariance: still zero (with the warning).
  g = rng.normal(size=(100, 256))
  with pytest.warns(RuntimeWarning):
    assert abs(metrics.fid(g, g)) < 1e-6


def test_frechet_distance_closed_form_for_diagonal_gaussians():
  rng = np.random.default_rng(4)
  mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
  v1, v2 = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, 8)
  want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
  got = metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2))
  assert got == pytest.approx(want, abs=1e-10)


def test_fid_matches_the_scipy_formula_of_the_reference_code():
  rng = np.random.default_rng(5)
  a = rng.normal(size=(800, 32))
  b = rng.normal(size=(700, 32)) @ rng.normal(size=(32, 32)) * 0.3 + 0.5
  mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
  mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
  covmean = np.real(linalg.sqrtm(s1 @ s2))
  want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
  assert metrics.fid(a, b) == pytest.approx(want, rel=1e-8)


def test_fid_warns_with_too_few_samples_and_says_how_many():
  rng = np.random.default_rng(6)
  f = rng.normal(size=(50, 64))
  with pytest.warns(RuntimeWarning, match="at least 65 samples"):
    metrics.fid(f, f + 1)


def naive_mmd2(x, y):
  d = x.shape[1]
  k = lambda a, b: (a @ b / d + 1) ** 3
  m, n = len(x), len(y)
  sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
  return sxx + syy - 2 * sxy


def test_kid_unbiased_mmd_matches_the_definition():
  rng = np.random.default_rng(7)
  x = rng.normal(size=(12, 5)).astype(np.float32)
  y = (rng.normal(size=(12, 5)) + 0.3).astype(np.float32)
  assert float(metrics._mmd2_unbiased(x, y)) == pytest.approx(naive_mmd2(x, y), rel=1e-4)


def test_kid_is_zero_in_expectation_for_one_distribution_and_positive_otherwise():
  rng = np.random.default_rng(8)
  a, b = rng.normal(size=(4000, 16)), rng.normal(size=(4000, 16))
  same, se = metrics.kid(a, b, subset_size=1000)
  assert se > 0 and abs(same) < 4 * se
  shifted, se2 = metrics.kid(a, b + 0.5, subset_size=1000)
  assert shifted > 10 * se2


def test_knn_radii_match_brute_force():
  rng = np.random.default_rng(9)
  f = rng.normal(size=(50, 3))
  d = ((f[:, None] - f[None]) ** 2).sum(-1)
  want = np.sort(d, axis=1)[:, 3]  # index 0 is the point itself
  np.testing.assert_allclose(metrics.knn_radii(f, 3, chunk=16), want, rtol=1e-4, atol=1e-5)


def test_precision_recall_behave_as_defined():
  rng = np.random.default_rng(10)
  mode_a = rng.normal(size=(300, 2)) * 0.1
  mode_b = rng.normal(size=(300, 2)) * 0.1 + 10
  real = np.concatenate([mode_a, mode_b])
  p, r = metrics.precision_recall(real, real)
  assert p == 1.0 and r == 1.0
  # Mode collapse: every fake sits on mode A -> precise, half the recall.
  p, r = metrics.precision_recall(real, rng.normal(size=(600, 2)) * 0.1)
  assert p > 0.95 and 0.4 < r < 0.6
  # Far off the data: neither.
  p, r = metrics.precision_recall(real, rng.normal(size=(600, 2)) * 0.1 + 50)
  assert p == 0.0 and r == 0.0


def test_inception_score_bounds():
  k = 10
  assert metrics.inception_score(np.zeros((100, k)))[0] == pytest.approx(1.0)
  confident = np.eye(k)[np.arange(1000) % k] * 50.0
  assert metrics.inception_score(confident)[0] == pytest.approx(k, rel=1e-3)
  collapsed = np.eye(k)[np.zeros(1000, int)] * 50.0
  assert metrics.inception_score(collapsed)[0] == pytest.approx(1.0, abs=1e-3)


def test_class_histogram_and_conditional_accuracy():
  logits = np.eye(3)[[0, 0, 1, 2]]
  np.testing.assert_allclose(metrics.class_histogram(logits, 3), [0.5, 0.25, 0.25])
  assert metrics.conditional_accuracy(logits, [0, 1, 1, 2]) == 0.75


def test_likelihood_units():
  d = 784
  assert likelihood.bits_per_dim(d * math.log(2), d) == pytest.approx(1.0)
  assert likelihood.nats_from_bits_per_dim(2.0, d) == pytest.approx(2 * d * math.log(2))
  # A uniform density on [0,1]^D is the uniform distribution over 256^D images.
  nll = likelihood.discrete_nll_from_density(0.0, d, 1 / 256)
  assert likelihood.bits_per_dim(nll, d) == pytest.approx(8.0)
