"""Diffusion training losses and the variational bound, as pure functions.

Per-example values are returned with shape [B]: the squared errors as means
over the image axes (as Ho et al. and improved-diffusion train), the bound's
terms as sums over them in nats. Data x0 lie in [-1, 1] on the 8-bit grid
u / 127.5 - 1. The network's output enters as ``out`` (its prediction of the
``kind`` target) and, for a learned variance, ``v`` (Nichol & Dhariwal eq. 15).
"""
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

from genjax.eval.likelihood import bits_per_dim
from genjax.families.diffusion.schedules import (check_prediction, extract, p_mean_variance,
                                                 q_posterior, q_sample, split_output,
                                                 v_from)
from genjax.nn.distributions import _log1mexp

HYBRID_LAMBDA = 1e-3      # Nichol & Dhariwal (2021), sec. 3.1


def mean_per_example(a):
  return a.reshape(a.shape[0], -1).mean(axis=1)


def sum_per_example(a):
  return a.reshape(a.shape[0], -1).sum(axis=1)


def prediction_target(schedule, kind, x0, noise, t):
  """What a network predicting ``kind`` should output: eps, x0 or v."""
  check_prediction(kind)
  if kind == "eps":
    return noise
  if kind == "x0":
    return x0
  return v_from(schedule, x0, noise, t)


def l_simple(schedule, kind, out, x0, t, noise):
  """L_simple = || target - out ||^2 averaged over the image: Ho et al. eq. 14 for 'eps'.

  For 'x0' and 'v' the same unweighted MSE on that target. -> [B].
  """
  return mean_per_example(jnp.square(prediction_target(schedule, kind, x0, noise, t) - out))


def normal_kl(mean1, logvar1, mean2, logvar2):
  """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)), elementwise, nats."""
  return 0.5 * (-1.0 + logvar2 - logvar1 + jnp.exp(logvar1 - logvar2)
                + jnp.square(mean1 - mean2) * jnp.exp(-logvar2))


def _log_ndtr_diff(a, b):
  """log(Phi(a) - Phi(b)) for a > b; in the upper tail uses Phi(a)-Phi(b) = Phi(-b)-Phi(-a)."""
  flip = (a + b) > 0
  hi = jnp.where(flip, -b, a)
  lo = jnp.where(flip, -a, b)
  log_hi = log_ndtr(hi)
  d = jnp.minimum(log_ndtr(lo) - log_hi, -1e-30)
  return log_hi + _log1mexp(d)


def discretized_gaussian_log_likelihood(x, mean, log_scale, num_bins=256):
  """log P(x) of N(mean, exp(log_scale)^2) discretised to the 8-bit grid on [-1, 1].

  Ho et al. (2020), sec. 3.3, eq. 13: bin of x is [x - 1/255, x + 1/255], the
  edge bins open to -inf (x = -1) and +inf (x = 1), so the 256 probabilities
  sum to one. Elementwise, nats.
  """
  half = 1.0 / (num_bins - 1)
  inv = jnp.exp(-log_scale)
  upper = (x - mean + half) * inv
  lower = (x - mean - half) * inv
  return jnp.where(x < -1.0 + half, log_ndtr(upper),
                   jnp.where(x > 1.0 - half, log_ndtr(-lower), _log_ndtr_diff(upper, lower)))


def vlb_terms(schedule, kind, out, x0, xt, t, variance="fixed_small", v=None, clip=False):
  """Per-example term L_t of the bound, nats [B] (Ho et al. eq. 5).

  t > 0: KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t)); t = 0: the decoder's
  -log p(x0 | x_1) under the discretised Gaussian (our t = 0 is the paper's t = 1).
  """
  true_mean, _, true_log_var = q_posterior(schedule, x0, xt, t)
  mean, log_var, _ = p_mean_variance(schedule, kind, out, xt, t, variance, v, clip)
  kl = sum_per_example(normal_kl(true_mean, true_log_var, mean, log_var))
  nll = -sum_per_example(discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_var))
  return jnp.where(t == 0, nll, kl)


def prior_kl(schedule, x0):
  """L_T = KL(q(x_T | x0) || N(0, I)), nats [B]. No parameters: near 0 for a good schedule."""
  t = jnp.full((x0.shape[0],), schedule.num_timesteps - 1, jnp.int32)
  mean = extract(schedule.sqrt_alphas_cumprod, t, x0) * x0
  log_var = jnp.broadcast_to(extract(jnp.log1p(-schedule.alphas_cumprod), t, x0), x0.shape)
  return sum_per_example(normal_kl(mean, log_var, 0.0, 0.0))


def hybrid_loss(schedule, kind, out, v, x0, t, noise, lam=HYBRID_LAMBDA, clip=False):
  """L_hybrid = L_simple + lam L_vlb: Nichol & Dhariwal (2021), sec. 3.1 -> [B].

  L_vlb is estimated as T L_t (t uniform), in bits per dimension, and its mean
  is held fixed (stop-gradient on ``out``) so it trains only the variance
  output v; at T = 1000 this is improved-diffusion's ``mse + vb`` with its
  num_timesteps / 1000 rescale. Importance sampling of t (their sec. 3.1,
  L_vlb only) is not implemented.
  """
  xt = q_sample(schedule, x0, t, noise)
  simple = l_simple(schedule, kind, out, x0, t, noise)
  vb = vlb_terms(schedule, kind, jax.lax.stop_gradient(out), x0, xt, t, "learned", v, clip)
  num_dims = math.prod(x0.shape[1:])
  return simple + lam * schedule.num_timesteps * bits_per_dim(vb, num_dims)


def nll_bits_per_dim(schedule, model_fn, x0, rng, kind="eps", variance="fixed_small", clip=False):
  """The full variational bound L_0 + ... + L_{T-1} + L_T of 8-bit data, bits/dim.

  DDPM's evaluation (Ho et al. eq. 5, Table 2): every term computed exactly at
  one sample x_t ~ q(x_t | x0) per term, with a lax.scan over the schedule's
  steps. ``model_fn(x, t)`` returns the prediction, or (prediction, v) when
  ``variance == 'learned'``; it is called with the schedule's network
  timesteps. x0 [B, ...] in [-1, 1] on the 8-bit grid; the discretised decoder
  makes the bound a discrete NLL, so no dequantisation offset is needed.
  Returns dict(bpd [B], terms [B, T] nats, prior [B] nats).
  """
  B = x0.shape[0]
  num_dims = math.prod(x0.shape[1:])

  def step(_, i):
    t = jnp.full((B,), i, jnp.int32)
    noise = jax.random.normal(jax.random.fold_in(rng, i), x0.shape, x0.dtype)
    xt = q_sample(schedule, x0, t, noise)
    out, v = split_output(model_fn(xt, schedule.timesteps[t]))
    return None, vlb_terms(schedule, kind, out, x0, xt, t, variance, v, clip)

  _, terms = jax.lax.scan(step, None, jnp.arange(schedule.num_timesteps))
  terms = terms.T
  prior = prior_kl(schedule, x0)
  return dict(bpd=bits_per_dim(terms.sum(axis=1) + prior, num_dims), terms=terms, prior=prior)
