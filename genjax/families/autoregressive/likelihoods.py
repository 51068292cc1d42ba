"""Per-pixel output distributions of the autoregressive models (pure functions).

A network maps an image to distribution parameters at every position; a
*likelihood* turns those into log p(x) (the exact likelihood, summed over
pixels) and draws one position given its parameters (the sampler's step).

  bernoulli          binary images in {0, 1} (binarised MNIST); the net gives
                     one logit per sub-pixel, out [B,H,W,C,1].
  categorical        8-bit images as levels k in {0..255}, fed to the net as
                     k / 127.5 - 1 in [-1, 1]; a 256-way softmax per sub-pixel
                     (PixelRNN / PixelCNN, van den Oord et al. 2016, sec. 5.1),
                     out [B,H,W,C,256].
  codes              a map of a frozen VQ-VAE's codes (vq_prior.py); a K-way
                     softmax per position, out [B,h,w,1,K].
  logistic_mixture   8-bit images in [-1, 1]; the discretised logistic mixture
                     of PixelCNN++ (Salimans et al. 2017, sec. 2.1-2.2), the
                     channels of a pixel drawn jointly, out [B,H,W,K].

``per_channel`` likelihoods are sampled one sub-pixel at a time (R, then G,
then B: the net's channel masks make channel c see only channels < c of the
same pixel); the mixture draws a whole pixel from one network output.
"""
import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from genjax.errors import ConfigError, unknown_name
from genjax.nn.distributions import bernoulli_log_prob

LIKELIHOODS = ("bernoulli", "categorical", "logistic_mixture", "codes")
NUM_LEVELS = 256
# The data preprocessing each likelihood needs (config.data.preprocess).
DATA_OPS = {"bernoulli": ("binarize_dynamic", "binarize_static"),
            "categorical": ("scale_pm1",), "logistic_mixture": ("scale_pm1",)}


def to_levels(x):
  """[-1, 1] images on the 256-level grid -> int32 levels k (x = k / 127.5 - 1)."""
  return jnp.clip(jnp.round((x + 1.0) * (NUM_LEVELS - 1) / 2.0), 0,
                  NUM_LEVELS - 1).astype(jnp.int32)


def from_levels(k):
  return k.astype(jnp.float32) * (2.0 / (NUM_LEVELS - 1)) - 1.0


@dataclasses.dataclass(frozen=True)
class Likelihood:
  """log_prob(out, x) -> [B] nats; draw(rng, out_at, temperature) -> values.

  ``out_at`` is the network output at one position: [B, P] for a
  per-channel likelihood (one sub-pixel), [B, K] for a joint one (a pixel,
  which ``draw`` returns as [B, C]).
  """
  name: str
  per_channel: bool
  num_outputs: int            # P per sub-pixel (per-channel likelihoods)
  log_prob: Callable
  draw: Callable
  to_unit: Callable           # model-space images -> [0, 1] for pictures


def _bernoulli():
  def log_prob(out, x):
    return jnp.sum(bernoulli_log_prob(out[..., 0], x), axis=(1, 2, 3))

  def draw(rng, out_at, temperature):
    return jax.random.bernoulli(rng, jax.nn.sigmoid(out_at[..., 0] / temperature)
                                ).astype(jnp.float32)

  return Likelihood("bernoulli", True, 1, log_prob, draw, lambda x: x)


def _categorical(name="categorical", num_values=NUM_LEVELS, to_index=to_levels,
                 from_index=from_levels, to_unit=lambda x: (x + 1.0) / 2.0):
  """A ``num_values``-way softmax per sub-pixel; ``to_index`` / ``from_index``
  map the model-space values to indices k and back."""
  def log_prob(out, x):
    logp = jax.nn.log_softmax(out, axis=-1)
    k = to_index(x)
    return jnp.sum(jnp.take_along_axis(logp, k[..., None], axis=-1)[..., 0],
                   axis=(1, 2, 3))

  def draw(rng, out_at, temperature):
    return from_index(jax.random.categorical(rng, out_at / temperature, axis=-1))

  return Likelihood(name, True, num_values, log_prob, draw, to_unit)


def codes_likelihood(num_codes):
  """``codes``: a K-way softmax over a map of a VQ-VAE's codes, held as float
  indices [B,h,w,1] (vq_prior.py). Code maps are pictured only decoded."""
  return _categorical("codes", num_codes, lambda x: x.astype(jnp.int32),
                      lambda k: k.astype(jnp.float32), lambda x: x / (num_codes - 1))


def _logistic_mixture(num_mixtures):
  from genjax.families.autoregressive import mixture

  def log_prob(out, x):
    lp = mixture.discretized_logistic_mixture_log_prob(x, out, num_mixtures)
    return jnp.sum(lp, axis=(1, 2))

  def draw(rng, out_at, temperature):
    px = mixture.sample_discretized_logistic_mixture(
        rng, out_at[:, None, None, :], num_mixtures, temperature)
    return px[:, 0, 0, :]

  return Likelihood("logistic_mixture", False, 0, log_prob, draw,
                    lambda x: (x + 1.0) / 2.0)


def make_likelihood(name, num_mixtures=10):
  if name == "bernoulli":
    return _bernoulli()
  if name == "categorical":
    return _categorical()
  if name == "logistic_mixture":
    return _logistic_mixture(num_mixtures)
  raise unknown_name("likelihood", name, LIKELIHOODS)


def check_preprocess(likelihood, preprocess):
  """The data must be in the likelihood's space: say which op to use otherwise."""
  ops = [str(op).split("(")[0].strip() for op in preprocess]
  want = DATA_OPS[likelihood]
  if not any(op in want for op in ops):
    raise ConfigError(
        f"model.likelihood={likelihood!r} models images preprocessed by one of "
        f"{list(want)}, but config.data.preprocess is {list(preprocess)}. Use "
        + ("a binarisation op (binarised MNIST)" if likelihood == "bernoulli"
           else "scale_pm1 (8-bit levels mapped to [-1, 1])") + ".")
