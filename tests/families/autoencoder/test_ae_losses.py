"""Autoencoder maths against brute force on toy models whose answer is known."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from genjax.errors import ConfigError
from genjax.families.autoencoder import likelihoods, losses
from genjax.nn.distributions import bernoulli_log_prob

# A 1-d latent model: p(z) = N(0,1), p(x|z) = prod_d Bern(x_d; sigmoid(a_d z + b_d)).
A = np.array([2.0, -1.0, 0.5])
B = np.array([0.3, 0.1, -0.5])
X = np.array([1.0, 0.0, 1.0])
Q_MEAN, Q_LOGVAR = 0.4, math.log(0.5)     # a deliberately imperfect q(z|x)


def toy_log_likelihood(z, x):
  return jnp.sum(bernoulli_log_prob(z * A + B, x), axis=-1)   # z [N,1], x [N,3]


def toy_log_px_given(z):
  logits = np.outer(z, A) + B
  return np.sum(X * special.log_expit(logits) + (1 - X) * special.log_expit(-logits), -1)


def quadrature(f):
  z = np.linspace(-14.0, 14.0, 40_001)
  return integrate.trapezoid(f(z), z)


LOG_PX = math.log(quadrature(lambda z: np.exp(toy_log_px_given(z)) * stats.norm.pdf(z)))
Q_STD = math.exp(0.5 * Q_LOGVAR)
TRUE_ELBO = (quadrature(lambda z: toy_log_px_given(z) * stats.norm.pdf(z, Q_MEAN, Q_STD))
             - 0.5 * (Q_MEAN ** 2 + math.exp(Q_LOGVAR) - 1 - Q_LOGVAR))


def toy_batch(n):
  return (jnp.tile(X, (n, 1)), jnp.full((n, 1), Q_MEAN), jnp.full((n, 1), Q_LOGVAR))


def toy_iwae(k, n, chunk=None, seed=0):
  x, mean, logvar = toy_batch(n)
  log_w = losses.iwae_log_weights(jax.random.PRNGKey(seed), x, mean, logvar,
                                  toy_log_likelihood, k, chunk)
  return losses.iwae_bound(log_w)


def test_reparameterize_has_the_moments_of_q():
  mean, logvar = jnp.array([1.0, -2.0]), jnp.array([0.5, -1.0])
  z = jax.vmap(lambda key: losses.reparameterize(key, mean, logvar))(
      jax.random.split(jax.random.PRNGKey(0), 50_000))
  np.testing.assert_allclose(z.mean(0), mean, atol=0.03)
  np.testing.assert_allclose(z.var(0), jnp.exp(logvar), rtol=0.03)


def test_elbo_is_unbiased_for_the_quadrature_elbo():
  x, mean, logvar = toy_batch(40_000)
  bound, log_px_z, kl = losses.elbo(jax.random.PRNGKey(1), x, mean, logvar,
                                    toy_log_likelihood)
  np.testing.assert_allclose(bound, log_px_z - kl)
  stderr = float(bound.std()) / math.sqrt(bound.size)
  assert abs(float(bound.mean()) - TRUE_ELBO) < 4 * stderr
  half, _, _ = losses.elbo(jax.random.PRNGKey(1), x, mean, logvar, toy_log_likelihood, 0.5)
  np.testing.assert_allclose(half, log_px_z - 0.5 * kl)


def test_elbo_le_iwae_k_le_log_px_and_iwae_increases_with_k():
  assert TRUE_ELBO < LOG_PX - 0.05             # q is imperfect, so there is a gap
  # One draw of 4000 weights per example; IWAE_k from disjoint groups of k of them.
  x, mean, logvar = toy_batch(64)
  log_w = losses.iwae_log_weights(jax.random.PRNGKey(0), x, mean, logvar,
                                  toy_log_likelihood, 4000, chunk=1000)
  means = [float(losses.iwae_bound(log_w.reshape(4000 // k, k, 64), axis=1).mean())
           for k in (1, 10, 100, 4000)]
  assert abs(means[0] - TRUE_ELBO) < 0.01      # IWAE_1 is the ELBO
  assert means[0] < means[1] < means[2] <= LOG_PX + 5e-3
  # At large k IWAE -> log p(x): bias ~ Var(w/p)/2k ~ 2.5e-4, std of this mean ~ 3e-3.
  assert abs(means[3] - LOG_PX) < 0.012


def normal_log_density(x, mean, std):  # jnp, for the linear-Gaussian model
  return -0.5 * (math.log(2 * math.pi) + 2 * math.log(std) + ((x - mean) / std) ** 2)


def test_iwae_is_exact_when_q_is_the_true_posterior():
  # Linear Gaussian: p(z) = N(0,1), p(x|z) = N(x; w z, s^2). The posterior is
  # Gaussian, so every importance weight equals p(x) exactly, and the ELBO
  # (whose one-sample estimate with analytic KL still varies) equals log p(x).
  w, s, x = 1.7, 0.6, 0.9
  post_var = 1.0 / (1.0 + w * w / s ** 2)
  post_mean = post_var * w * x / s ** 2
  log_lik = lambda z, x: normal_log_density(x[:, 0], w * z[:, 0], s)
  exact = stats.norm.logpdf(x, 0.0, math.sqrt(w * w + s * s))
  n = 20_000
  xs, mean = jnp.full((n, 1), x), jnp.full((n, 1), post_mean)
  logvar = jnp.full((n, 1), math.log(post_var))
  log_w = losses.iwae_log_weights(jax.random.PRNGKey(2), xs[:3], mean[:3], logvar[:3],
                                  log_lik, 8)
  np.testing.assert_allclose(log_w, exact, atol=1e-5)
  bound, _, _ = losses.elbo(jax.random.PRNGKey(3), xs, mean, logvar, log_lik)
  assert abs(float(bound.mean()) - exact) < 4 * float(bound.std()) / math.sqrt(n)


def test_iwae_chunking_does_not_change_the_samples():
  np.testing.assert_allclose(toy_iwae(60, 3), toy_iwae(60, 3, chunk=6), rtol=1e-6)
  with pytest.raises(ValueError, match="multiple"):
    toy_iwae(10, 2, chunk=3)


def test_iwae_bound_is_logsumexp_minus_log_k():
  log_w = jax.random.normal(jax.random.PRNGKey(4), (7, 3)) * 5
  np.testing.assert_allclose(losses.iwae_bound(log_w),
                             special.logsumexp(np.asarray(log_w), axis=0) - math.log(7),
                             rtol=1e-5)


def test_reconstruction_losses_are_per_example_sums():
  logits = jax.random.normal(jax.random.PRNGKey(5), (2, 3, 3, 1))
  x = (jax.random.uniform(jax.random.PRNGKey(6), (2, 3, 3, 1)) > 0.5).astype(jnp.float32)
  p = special.expit(np.asarray(logits, np.float64))
  bce = -np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=(1, 2, 3))
  np.testing.assert_allclose(losses.reconstruction_loss(logits, x, "bce"), bce, rtol=1e-5)
  mse = np.sum((p - x) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(losses.reconstruction_loss(logits, x, "mse"), mse, rtol=1e-5)
  np.testing.assert_allclose(losses.anomaly_score(p, x), mse, rtol=1e-6)
  with pytest.raises(ConfigError, match="bce, mse"):
    losses.reconstruction_loss(logits, x, "l1")


def test_masking_noise_zeroes_the_requested_fraction_of_each_example():
  x = jnp.ones((64, 10, 10, 1))
  noisy = losses.masking_noise(jax.random.PRNGKey(7), x, 0.25)
  zeros = (noisy == 0).reshape(64, -1).sum(1)
  assert bool(jnp.all(zeros == 25))
  assert bool(jnp.all((noisy == 0) | (noisy == x)))
  per_pixel = (noisy == 0).mean(0)               # masks differ between examples
  assert 0.1 < float(per_pixel.min()) and float(per_pixel.max()) < 0.45


def test_gaussian_noise_has_the_requested_std_and_stays_in_the_unit_interval():
  x = jnp.full((200, 10, 10, 1), 0.5)
  noisy = losses.gaussian_noise(jax.random.PRNGKey(8), x, 0.05)
  np.testing.assert_allclose(float((noisy - x).std()), 0.05, rtol=0.03)
  assert abs(float((noisy - x).mean())) < 2e-3
  wide = losses.gaussian_noise(jax.random.PRNGKey(9), x, 2.0)
  assert float(wide.min()) == 0.0 and float(wide.max()) == 1.0
  with pytest.raises(ConfigError, match="gaussian, masking"):
    losses.corrupt(jax.random.PRNGKey(0), x, "salt", 0.1)


def test_bits_per_dim():
  np.testing.assert_allclose(losses.bits_per_dim(784 * math.log(2.0), 784), 1.0)


@pytest.mark.parametrize("likelihood", likelihoods.LIKELIHOODS)
def test_likelihood_outputs_and_mean_images(likelihood):
  c = 2
  out = jax.random.normal(jax.random.PRNGKey(10), (3, 4, 4, c * likelihoods.num_params(likelihood)))
  x = jnp.round(jax.random.uniform(jax.random.PRNGKey(11), (3, 4, 4, c)) * 255) / 255
  if likelihood == "bernoulli":
    x = jnp.round(x)
  logp = likelihoods.log_prob(out, x, likelihood)
  assert logp.shape == x.shape and bool(jnp.all(jnp.isfinite(logp)))
  image = likelihoods.mean_image(out, likelihood)
  assert image.shape == x.shape and 0.0 <= float(image.min()) <= float(image.max()) <= 1.0
  if likelihood == "discretized_logistic":  # a probability over the 256 values
    grid = jnp.arange(256.0)[:, None] / 255
    total = jnp.exp(likelihoods.log_prob(jnp.broadcast_to(out[0, 0, 0], (256, 2 * c)),
                                         jnp.broadcast_to(grid, (256, c)), likelihood)).sum(0)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)
  with pytest.raises(ConfigError, match="discretized_logistic"):
    likelihoods.num_params("poisson")
