"""VQ-VAE-2's metrics, samples and grids: pure functions of ``(settings,
nets, ...)``, with the EMA parameters when ``sample.use_ema``.

Metrics per example: ``recon``, ``recon_mse``, ``psnr`` of the reconstruction
from both maps (as the VQ-VAE's, vq_evaluation.py), and what each level
carries alone, Razavi et al. 2019, fig. 3: ``psnr_top`` decodes the top map
with the bottom map zeroed, ``psnr_bottom`` the bottom with the top zeroed.
Of the whole split (``SplitMetric``): ``code_perplexity_<level>`` and
``code_usage_<level>`` of each level's codes. ``sample`` decodes code maps
drawn per position from each level's training frequencies (a unigram
baseline for ``experiments/autoregressive/vq2_prior_fashion_mnist.py``).
"""
import functools

import jax
import jax.numpy as jnp

from genjax.core.state import eval_params
from genjax.families.autoencoder import losses, quantize
from genjax.families.autoencoder.sampling import grid_examples, interleave_rows
from genjax.families.autoencoder.vq_steps import codebook_of
from genjax.families.autoencoder.vqvae2 import (LEVELS, decode_maps, quantized_levels,
                                                state_key)
from genjax.families.base import SplitMetric


def codes_of(settings, nets, params, model_state, images):
  """{"top": int32 [B,ht,wt], "bottom": int32 [B,hb,wb]} of images."""
  levels = quantized_levels(settings, nets, params, model_state, images)
  return {level: levels[level].codes for level in LEVELS}


def embed(settings, params, model_state, codes):
  """{level: z_q [N,h,w,D]} of code maps {level: int [N,h,w]}."""
  return {level: codebook_of(settings.vq, params, model_state, state_key(level))
          [codes[level]] for level in LEVELS}


def logits_of_codes(settings, nets, params, model_state, codes, keep=LEVELS):
  """The decoder's logits of code maps; the levels not in ``keep`` are zeroed."""
  z_q = embed(settings, params, model_state, codes)
  z_q = {k: v if k in keep else jnp.zeros_like(v) for k, v in z_q.items()}
  return decode_maps(nets, params, z_q["top"], z_q["bottom"])


def reconstruction(settings, nets, state, images, keep=LEVELS):
  """sigmoid of the logits of ``images``' codes, the levels in ``keep`` only."""
  params = eval_params(state, settings.use_ema)
  codes = codes_of(settings, nets, params, state.model_state, images)
  return jax.nn.sigmoid(logits_of_codes(settings, nets, params, state.model_state,
                                        codes, keep))


def eval_recon(settings, nets, state, batch, rng):
  """``recon``: -log p(x|z_q(x)) in nats (bce) or the squared error (mse)."""
  del rng
  params = eval_params(state, settings.use_ema)
  codes = codes_of(settings, nets, params, state.model_state, batch["image"])
  logits = logits_of_codes(settings, nets, params, state.model_state, codes)
  return losses.reconstruction_loss(logits, batch["image"], settings.recon_loss)


def eval_recon_mse(settings, nets, state, batch, rng):
  del rng
  return losses.mean_squared_error(reconstruction(settings, nets, state, batch["image"]),
                                   batch["image"])


def psnr_metric(keep):
  """The PSNR metric of the reconstruction from the levels ``keep``."""
  def metric(settings, nets, state, batch, rng):
    del rng
    image = reconstruction(settings, nets, state, batch["image"], keep)
    return losses.psnr(image, batch["image"])
  return metric


EVAL_METRICS = {"recon": eval_recon, "recon_mse": eval_recon_mse,
                "psnr": psnr_metric(LEVELS), "psnr_top": psnr_metric(("top",)),
                "psnr_bottom": psnr_metric(("bottom",))}


def code_histograms(settings, nets, state, batch, rng, level):
  """Per-example counts [B, K] of one level's codes."""
  del rng
  params = eval_params(state, settings.use_ema)
  codes = codes_of(settings, nets, params, state.model_state, batch["image"])[level]
  return jax.nn.one_hot(codes.reshape(codes.shape[0], -1), settings.vq.num_codes
                        ).sum(axis=1)


def split_metrics(settings, nets):
  """``code_perplexity_<level>`` and ``code_usage_<level>`` over the eval split."""
  metrics = {}
  for level in LEVELS:
    stats = functools.partial(code_histograms, settings, nets, level=level)
    metrics[f"code_perplexity_{level}"] = SplitMetric(
        stats, lambda total, n: quantize.perplexity(total))
    metrics[f"code_usage_{level}"] = SplitMetric(
        stats, lambda total, n: quantize.share_in_use(total))
  return metrics


def code_map_shapes(settings):
  """{"top": (ht, wt), "bottom": (hb, wb)}: the bottom at H / 2^n, the top
  one stride-2 stage further (n = len(model.channels))."""
  scale = 2 ** len(settings.channels)
  bottom = (settings.image_shape[0] // scale, settings.image_shape[1] // scale)
  return {"top": (bottom[0] // 2, bottom[1] // 2), "bottom": bottom}


def unigram_sample(settings, nets, state, rng, num, cond=None):
  """``num`` images: each level's codes drawn per position from its usage EMA."""
  del cond  # unconditional
  shapes, codes = code_map_shapes(settings), {}
  for level, key in zip(LEVELS, jax.random.split(rng)):
    logp = jnp.log(jnp.maximum(state.model_state[state_key(level)]["usage"], 1e-12))
    codes[level] = jax.random.categorical(key, logp, shape=(num,) + shapes[level])
  params = eval_params(state, settings.use_ema)
  return jax.nn.sigmoid(logits_of_codes(settings, nets, params, state.model_state,
                                        codes))


def image_grids(settings, nets, state, batch, rng):
  """``reconstructions``: rows of 8 test images, then of their decoding from
  the top map only, the bottom only and both levels (fig. 3), in turn."""
  del rng
  images = grid_examples(batch["image"])
  return {"reconstructions": interleave_rows(
      images, *[reconstruction(settings, nets, state, images, keep)
                for keep in (("top",), ("bottom",), LEVELS)])}
