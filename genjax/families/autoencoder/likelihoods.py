"""What the decoder's per-pixel outputs mean: p(x|z) and its mean image.

A decoder emits ``num_params(likelihood) * C`` numbers per pixel, laid out
as [..., :C] = location and [..., C:2C] = raw log-scale:
  bernoulli              logits of p(x=1) per sub-pixel; data in {0,1}.
  gaussian               mean and a per-pixel log-scale (predicted, not a
                         learned global one); a density over [0,1] data.
  discretized_logistic   mean and per-pixel log-scale of a logistic
                         discretised to the 256 bins k/255 (a probability).
The raw log-scale is soft-floored, log_scale = f + softplus(raw - f): without a
floor a Gaussian's density grows without bound on pixels that are always 0.
"""
import math

import jax
import jax.numpy as jnp

from genjax.errors import unknown_name
from genjax.nn.distributions import (bernoulli_log_prob, discretized_logistic_log_prob,
                                     gaussian_log_prob)

LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic")
# Gaussian: a std of 1/256, below which a [0,1] density rewards memorising 8-bit
# values; logistic: exp(-7), as PixelCNN++ (Salimans et al. 2017) clamps it.
LOG_SCALE_FLOOR = {"gaussian": -math.log(256.0), "discretized_logistic": -7.0}


def check_likelihood(likelihood):
  if likelihood not in LIKELIHOODS:
    raise unknown_name("likelihood", likelihood, LIKELIHOODS)
  return likelihood


def num_params(likelihood):
  """Decoder outputs per sub-pixel."""
  return 1 if check_likelihood(likelihood) == "bernoulli" else 2


def _location_scale(out, likelihood):
  loc, raw = jnp.split(out, 2, axis=-1)
  floor = LOG_SCALE_FLOOR[likelihood]
  return loc, floor + jax.nn.softplus(raw - floor)


def log_prob(out, x, likelihood):
  """Elementwise log p(x | decoder output ``out``), shape of ``x``."""
  if check_likelihood(likelihood) == "bernoulli":
    return bernoulli_log_prob(out, x)
  loc, log_scale = _location_scale(out, likelihood)
  if likelihood == "gaussian":
    return gaussian_log_prob(x, loc, log_scale)
  return discretized_logistic_log_prob(x, loc, log_scale)


def mean_image(out, likelihood):
  """E[x | out] clipped to [0,1] (bernoulli: the probabilities; else the location)."""
  if check_likelihood(likelihood) == "bernoulli":
    return jax.nn.sigmoid(out)
  return jnp.clip(_location_scale(out, likelihood)[0], 0.0, 1.0)
