"""Autoencoder maths as pure functions: ELBO, IWAE, reconstruction, corruption.

``log_likelihood(z, x) -> [N]`` below is any function giving log p(x|z) summed
over a batch of N examples (the family closes it over the decoder's params),
so these functions know nothing of networks and are tested on toy models.
"""
import math

import jax
import jax.numpy as jnp

from genjax.errors import unknown_name
from genjax.eval.likelihood import bits_per_dim  # noqa: F401  (re-exported)
from genjax.nn.distributions import (bernoulli_log_prob, log_normal, log_normal_standard,
                                     normal_kl_standard)

RECON_LOSSES = ("mse", "bce")
NOISES = ("gaussian", "masking")


def sum_per_example(v):
  """Sum over every axis but the first."""
  return v.reshape(v.shape[0], -1).sum(axis=1)


def reparameterize(rng, mean, logvar):
  """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I).

  Kingma & Welling (2014), Sec. 2.4 and eq. 4 (the reparameterisation trick).
  """
  eps = jax.random.normal(rng, mean.shape, mean.dtype)
  return mean + jnp.exp(0.5 * logvar) * eps


def elbo(rng, x, mean, logvar, log_likelihood, beta=1.0):
  """Per-example ELBO with one sample and analytic KL; returns (elbo, log p(x|z), KL).

  Kingma & Welling (2014), eq. 10:
    L(x) = -KL(q(z|x) || p(z)) + log p(x|z),  z ~ q(z|x) by eq. 4,
  with the KL weighted by ``beta`` (Higgins et al. 2017, beta-VAE; 1 = the ELBO).
  """
  z = reparameterize(rng, mean, logvar)
  log_px_z = log_likelihood(z, x)
  kl = normal_kl_standard(mean, logvar).sum(axis=-1)
  return log_px_z - beta * kl, log_px_z, kl


def iwae_log_weights(rng, x, mean, logvar, log_likelihood, k, chunk=None):
  """log w_i = log p(x, z_i) - log q(z_i|x), z_i ~ q(z|x), i < k; shape [k, B].

  Burda et al. (2016), eq. 8. Sample i uses the key ``fold_in(rng, i)``, so the
  result does not depend on ``chunk``: the number of samples decoded per step
  of a ``lax.map`` (bounding memory to chunk * B decoder passes at a time).
  """
  chunk = chunk or k
  if k % chunk:
    raise ValueError(f"iwae: k={k} is not a multiple of chunk={chunk}.")
  batch = x.shape[0]

  def chunk_log_weights(start):
    keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(start + jnp.arange(chunk))
    z = jax.vmap(lambda key: reparameterize(key, mean, logvar))(keys)       # [chunk,B,D]
    log_q = log_normal(z, mean, logvar).sum(-1)
    log_pz = log_normal_standard(z).sum(-1)
    xs = jnp.broadcast_to(x, (chunk, *x.shape)).reshape(chunk * batch, *x.shape[1:])
    log_px_z = log_likelihood(z.reshape(chunk * batch, -1), xs).reshape(chunk, batch)
    return log_px_z + log_pz - log_q

  starts = jnp.arange(0, k, chunk)
  return jax.lax.map(chunk_log_weights, starts).reshape(k, batch)


def iwae_bound(log_w, axis=0):
  """L_k = log (1/k) sum_i w_i = logsumexp(log w) - log k (Burda et al. 2016, eq. 8)."""
  return jax.nn.logsumexp(log_w, axis=axis) - math.log(log_w.shape[axis])


def reconstruction_loss(logits, x, kind):
  """Per-example reconstruction loss of decoder ``logits`` (image = sigmoid(logits)).

  'bce': sum of binary cross-entropies (-log Bernoulli, stable in the logits);
  'mse': sum of squared errors of sigmoid(logits) against x.
  """
  if kind == "bce":
    return -sum_per_example(bernoulli_log_prob(logits, x))
  if kind == "mse":
    return anomaly_score(jax.nn.sigmoid(logits), x)
  raise unknown_name("recon_loss", kind, RECON_LOSSES)


def anomaly_score(recon, x):
  """Per-example reconstruction error sum (recon - x)^2; high = unlike the training data."""
  return sum_per_example(jnp.square(recon - x))


def gaussian_noise(rng, x, std):
  """Additive isotropic Gaussian corruption, clipped back to [0,1] (Vincent et al. 2010)."""
  return jnp.clip(x + std * jax.random.normal(rng, x.shape, x.dtype), 0.0, 1.0)


def masking_noise(rng, x, fraction):
  """Masking corruption (Vincent et al. 2008, 2010): in each example, a random
  ``fraction`` of the components (round(fraction * D) of them) is set to 0."""
  flat = x.reshape(x.shape[0], -1)
  num_masked = int(round(fraction * flat.shape[1]))
  ranks = jnp.argsort(jnp.argsort(jax.random.uniform(rng, flat.shape), axis=1), axis=1)
  return jnp.where(ranks < num_masked, 0.0, flat).astype(x.dtype).reshape(x.shape)


def corrupt(rng, x, noise, level):
  """The denoising autoencoder's corruption q_D(x~|x): 'gaussian' (std) or 'masking' (fraction)."""
  if noise == "gaussian":
    return gaussian_noise(rng, x, level)
  if noise == "masking":
    return masking_noise(rng, x, level)
  raise unknown_name("noise", noise, NOISES)


def mean_squared_error(recon, x):
  """Per-example mean of (recon - x)^2 over every sub-pixel: [N]."""
  return anomaly_score(recon, x) / math.prod(x.shape[1:])


def psnr(recon, x, peak=1.0):
  """Per-example peak signal-to-noise ratio in dB, 10 log10(peak^2 / MSE), of
  images in [0, peak] (a perfect reconstruction is capped at 100 dB)."""
  mse = jnp.maximum(mean_squared_error(recon, x), peak * peak * 1e-10)
  return 10.0 * jnp.log10(peak * peak / mse)
