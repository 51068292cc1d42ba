"""Likelihoods and Gaussian densities shared by the families (pure functions).

Every function returns elementwise values (nats); callers sum over the axes
they need. Scales are parameterised by their log: ``log_scale`` is log(std),
``logvar`` is log(variance).
"""
import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def bernoulli_log_prob(logits, x):
  """log Bern(x; sigmoid(logits)) = x log s(l) + (1 - x) log s(-l), stable via log_sigmoid.

  Also the negative binary cross-entropy for targets ``x`` in [0,1].
  """
  return x * jax.nn.log_sigmoid(logits) + (1.0 - x) * jax.nn.log_sigmoid(-logits)


def log_normal(z, mean, logvar):
  """log N(z; mean, exp(logvar))."""
  return -0.5 * (LOG_2PI + logvar + jnp.square(z - mean) * jnp.exp(-logvar))


def log_normal_standard(z):
  """log N(z; 0, 1)."""
  return -0.5 * (LOG_2PI + jnp.square(z))


def gaussian_log_prob(x, mean, log_scale):
  """log N(x; mean, exp(log_scale)^2)."""
  return log_normal(x, mean, 2.0 * log_scale)


def normal_kl_standard(mean, logvar):
  """KL(N(mean, exp(logvar)) || N(0, 1)) = -1/2 (1 + logvar - mean^2 - exp(logvar)).

  Kingma & Welling (2014), Appendix B (the negative of its -D_KL term).
  """
  return -0.5 * (1.0 + logvar - jnp.square(mean) - jnp.exp(logvar))


def _log1mexp(d):
  """log(1 - exp(d)) for d <= 0, accurate for d near 0 and very negative."""
  # Maechler (2012): each branch gets inputs from its own side, so neither
  # produces inf (which would make the where's gradient NaN).
  cut = -math.log(2.0)
  near = jnp.log(-jnp.expm1(jnp.maximum(d, cut)))
  far = jnp.log1p(-jnp.exp(jnp.minimum(d, cut)))
  return jnp.where(d > cut, near, far)


def log_sigmoid_diff(a, b):
  """log(sigmoid(a) - sigmoid(b)) for a > b, without cancellation.

  Below 0 it is log s(a) + log(1 - s(b)/s(a)); above, by s(t) = 1 - s(-t), the
  same expression in (-b, -a), so neither form subtracts two numbers near 1.
  """
  flip = (a + b) > 0
  hi = jnp.where(flip, -b, a)
  lo = jnp.where(flip, -a, b)
  log_hi = jax.nn.log_sigmoid(hi)
  d = jnp.minimum(jax.nn.log_sigmoid(lo) - log_hi, -1e-30)  # keep log(1 - e^d) finite
  return log_hi + _log1mexp(d)


def discretized_logistic_log_prob(x, mean, log_scale, num_bins=256):
  """log P(x) of a logistic(mean, exp(log_scale)) discretised to ``num_bins`` bins on [0,1].

  x lies on the grid k / (num_bins - 1); bin k is [x - h, x + h] with
  h = 1 / (2 (num_bins - 1)), except the edge bins, which extend to -inf (k = 0)
  and +inf (k = num_bins - 1), so the probabilities of the bins sum to one
  (Salimans et al. 2017, PixelCNN++, eq. 2, here on [0,1] instead of [-1,1]).
  """
  half = 0.5 / (num_bins - 1)
  inv_scale = jnp.exp(-log_scale)
  upper = inv_scale * (x - mean + half)
  lower = inv_scale * (x - mean - half)
  log_cdf_upper = jax.nn.log_sigmoid(upper)            # first bin: P(X < x + h)
  log_sf_lower = jax.nn.log_sigmoid(-lower)            # last bin: P(X > x - h)
  log_mass = log_sigmoid_diff(upper, lower)            # interior: CDF(x+h) - CDF(x-h)
  return jnp.where(x < half, log_cdf_upper,
                   jnp.where(x > 1.0 - half, log_sf_lower, log_mass))
