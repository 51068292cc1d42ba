"""genjax.nn.distributions against scipy, Monte Carlo and normalisation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from genjax.nn.distributions import (bernoulli_log_prob, discretized_logistic_log_prob,
                                     gaussian_log_prob, log_normal, log_normal_standard,
                                     log_sigmoid_diff, normal_kl_standard)


def test_bernoulli_log_prob_matches_scipy_and_is_stable():
  logits = np.array([-30.0, -2.0, -0.1, 0.0, 0.5, 3.0, 30.0], np.float32)
  moderate = np.abs(logits) < 10
  for x in (0.0, 1.0):
    got = bernoulli_log_prob(logits, x)
    p = special.expit(logits.astype(np.float64))
    np.testing.assert_allclose(got[moderate], stats.bernoulli.logpmf(x, p)[moderate],
                               rtol=1e-5, atol=1e-6)
    exact = special.log_expit(logits) if x else special.log_expit(-logits)
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=1e-7)
  extreme = bernoulli_log_prob(jnp.array([-200.0, 200.0]), jnp.array([1.0, 0.0]))
  np.testing.assert_allclose(extreme, [-200.0, -200.0], rtol=1e-6)


def test_gaussian_densities_match_scipy():
  rng = np.random.default_rng(0)
  x, mean, log_scale = rng.normal(size=(3, 50)).astype(np.float32)
  want = stats.norm.logpdf(x, mean, np.exp(log_scale))
  np.testing.assert_allclose(gaussian_log_prob(x, mean, log_scale), want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(log_normal(x, mean, 2 * log_scale), want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(log_normal_standard(x), stats.norm.logpdf(x), rtol=1e-6)


def test_normal_kl_standard_matches_monte_carlo():
  mean = jnp.array([0.0, 1.5, -0.7, 0.3])
  logvar = jnp.array([0.0, -1.0, 0.8, -3.0])
  kl = normal_kl_standard(mean, logvar)
  assert float(kl[0]) == 0.0
  eps = jax.random.normal(jax.random.PRNGKey(0), (400_000, 4))
  z = mean + jnp.exp(0.5 * logvar) * eps
  mc = jnp.mean(log_normal(z, mean, logvar) - log_normal_standard(z), axis=0)
  np.testing.assert_allclose(kl, mc, atol=0.01)


GRID = jnp.arange(256, dtype=jnp.float32) / 255.0


@pytest.mark.parametrize("mean,log_scale", [
    (0.5, -3.0), (0.0, -2.0), (1.0, -5.0), (0.37, -7.0), (0.2, 1.0),
    (-0.4, -4.0), (1.6, -1.0), (0.5, -12.0), (0.5, 6.0)])
def test_discretized_logistic_sums_to_one_over_the_256_bins(mean, log_scale):
  logp = discretized_logistic_log_prob(GRID, mean, log_scale)
  assert bool(jnp.all(jnp.isfinite(logp)))
  np.testing.assert_allclose(jnp.sum(jnp.exp(logp)), 1.0, atol=2e-5)


def test_discretized_logistic_matches_the_cdf_in_float64():
  mean, scale = 0.43, 0.07
  cdf = lambda t: stats.logistic.cdf(t, mean, scale)
  g = np.arange(256) / 255.0
  half = 0.5 / 255.0
  want = cdf(g + half) - cdf(g - half)
  want[0], want[-1] = cdf(half), 1 - cdf(1 - half)
  got = discretized_logistic_log_prob(GRID, mean, np.log(scale))
  np.testing.assert_allclose(got, np.log(want), rtol=2e-4, atol=2e-4)


def test_log_sigmoid_diff_has_no_cancellation_far_in_the_tails():
  # sigmoid(40.1) - sigmoid(40) ~ 4e-19: float32 sigmoids round both to 1.
  a = np.float32([40.1, -40.0, 0.3, 5.0]).astype(np.float64)
  b = np.float32([40.0, -40.1, -0.3, 4.9999]).astype(np.float64)
  # float64 reference, subtracting the small tails on each side.
  want = np.log(np.where(a > 0, stats.logistic.sf(b) - stats.logistic.sf(a),
                         stats.logistic.cdf(a) - stats.logistic.cdf(b)))
  got = log_sigmoid_diff(jnp.float32(a), jnp.float32(b))
  np.testing.assert_allclose(got, want, rtol=1e-3)


def test_discretized_logistic_gradients_are_finite_at_extremes():
  x = jnp.array([0.0, 1.0, 0.5, 0.5, 0.0, 1.0])
  mean = jnp.array([0.9, 0.1, 0.5, 3.0, -5.0, 0.5])
  log_scale = jnp.array([-7.0, -7.0, -9.0, -6.0, 3.0, 8.0])
  grads = jax.grad(lambda m, s: jnp.sum(discretized_logistic_log_prob(x, m, s)),
                   argnums=(0, 1))(mean, log_scale)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
