"""The VQ-VAE's evaluation metrics, samples, grids and exports: pure functions
of ``(settings, nets, ...)``, with the EMA parameters when ``sample.use_ema``.

Metrics. Per example: ``recon`` (-log p(x|z_q) in nats for ``bce``, the sum
of squared errors for ``mse``), ``recon_mse`` (per sub-pixel), ``psnr`` (dB).
Of the whole split (``SplitMetric``): ``code_perplexity``, exp of the entropy
of the codes' frequencies over every position of every image, and
``code_usage``, the share of the K codes chosen at least once.

Samples. The VQ-VAE alone has no prior over its codes: ``sample`` decodes
code maps drawn independently per position from the codes' training
frequencies (the usage EMA), a unigram baseline that a learned prior
(``experiments/autoregressive/vq_prior_mnist.py``) is read against. It is
not uniform random codes, which decode to noise.
"""
import functools

import jax
import jax.numpy as jnp

from genjax.core.state import eval_params
from genjax.families.autoencoder import losses, quantize
from genjax.families.autoencoder.sampling import grid_examples, interleave_rows
from genjax.families.autoencoder.vq_steps import codebook_of, quantize_map
from genjax.families.base import SplitMetric


def encode_map(nets, params, images):
  """z_e [B,h,w,D] of images [B,H,W,C] in [0, 1]."""
  return nets.model.apply({"params": params}, images, method="encode")


def decode_logits(nets, params, z_q):
  return nets.model.apply({"params": params}, z_q, method="decode")


def codes_of(settings, nets, params, model_state, images):
  """The nearest codes int32 [B,h,w] of images."""
  z_e = encode_map(nets, params, images)
  return quantize_map(z_e, codebook_of(settings.vq, params, model_state))[1]


def logits_of_codes(settings, nets, params, model_state, codes):
  """The decoder's logits [N,H,W,C] of code maps int [N,h,w]."""
  codebook = codebook_of(settings.vq, params, model_state)
  return decode_logits(nets, params, codebook[codes])


def reconstruction_logits(settings, nets, state, images):
  params = eval_params(state, settings.use_ema)
  codes = codes_of(settings, nets, params, state.model_state, images)
  return logits_of_codes(settings, nets, params, state.model_state, codes)


def eval_recon(settings, nets, state, batch, rng):
  """``recon``: -log p(x|z_q(x)) in nats (bce) or the squared error (mse)."""
  del rng
  logits = reconstruction_logits(settings, nets, state, batch["image"])
  return losses.reconstruction_loss(logits, batch["image"], settings.recon_loss)


def eval_recon_mse(settings, nets, state, batch, rng):
  """``recon_mse``: the mean squared error per sub-pixel of the reconstruction."""
  del rng
  image = jax.nn.sigmoid(reconstruction_logits(settings, nets, state, batch["image"]))
  return losses.mean_squared_error(image, batch["image"])


def eval_psnr(settings, nets, state, batch, rng):
  """``psnr``: 10 log10(1 / MSE) of each reconstruction, dB."""
  del rng
  image = jax.nn.sigmoid(reconstruction_logits(settings, nets, state, batch["image"]))
  return losses.psnr(image, batch["image"])


def code_histograms(settings, nets, state, batch, rng):
  """Per-example code counts [B, K] (summed over the split by the loop)."""
  del rng
  params = eval_params(state, settings.use_ema)
  codes = codes_of(settings, nets, params, state.model_state, batch["image"])
  return jax.nn.one_hot(codes.reshape(codes.shape[0], -1), settings.vq.num_codes
                        ).sum(axis=1)


def split_metrics(settings, nets):
  """``code_perplexity`` and ``code_usage`` of the codes over the eval split."""
  stats = functools.partial(code_histograms, settings, nets)
  return {"code_perplexity": SplitMetric(stats, lambda total, n: quantize.perplexity(total)),
          "code_usage": SplitMetric(stats, lambda total, n: quantize.share_in_use(total))}


def unigram_sample(settings, nets, state, rng, num, cond=None):
  """``num`` images [num,H,W,C]: codes drawn per position from the usage EMA."""
  del cond  # unconditional
  latent = latent_map_shape(settings)
  logp = jnp.log(jnp.maximum(state.model_state["vq"]["usage"], 1e-12))
  codes = jax.random.categorical(rng, logp, shape=(num,) + latent)
  params = eval_params(state, settings.use_ema)
  return jax.nn.sigmoid(logits_of_codes(settings, nets, params, state.model_state, codes))


def image_grids(settings, nets, state, batch, rng):
  """``reconstructions``: rows of test images and of their reconstructions."""
  del rng
  images = grid_examples(batch["image"])
  recon = jax.nn.sigmoid(reconstruction_logits(settings, nets, state, images))
  return {"reconstructions": interleave_rows(images, recon)}


def latent_map_shape(settings):
  """(h, w) of the code map: H and W over 2 ** len(model.channels)."""
  scale = 2 ** len(settings.channels)
  return (settings.image_shape[0] // scale, settings.image_shape[1] // scale)
