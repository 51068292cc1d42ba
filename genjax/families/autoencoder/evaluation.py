"""The autoencoder family's evaluation metrics: per-example values [B] of
``(settings, nets, state, batch, rng)``, with the EMA parameters when
``sample.use_ema``. Which metrics a model has is ``family.MODELS``'s table.
"""
import functools

import jax

from genjax.core.state import eval_params
from genjax.eval.likelihood import bits_per_dim
from genjax.families.autoencoder import losses
from genjax.families.autoencoder.networks import decode, encode, log_likelihood
from genjax.families.autoencoder.steps import vae_terms


# -- VAE ----------------------------------------------------------------------


def unweighted_vae_terms(settings, nets, state, batch, rng):
  """Per-example (-ELBO, -log p(x|z), KL) in nats with beta = 1 (whatever
  ``model.beta``), one z ~ q(z|x) drawn with ``rng``."""
  return vae_terms(settings, nets, eval_params(state, settings.use_ema),
                   batch["image"], rng, 1.0)


def eval_nelbo(settings, nets, state, batch, rng):
  """``nelbo``: -ELBO in nats."""
  return unweighted_vae_terms(settings, nets, state, batch, rng)[0]


def eval_vae_recon(settings, nets, state, batch, rng):
  """``recon`` of the VAE: -log p(x|z) in nats."""
  return unweighted_vae_terms(settings, nets, state, batch, rng)[1]


def eval_kl(settings, nets, state, batch, rng):
  """``kl``: KL(q(z|x) || p(z)) in nats (analytic)."""
  return unweighted_vae_terms(settings, nets, state, batch, rng)[2]


def eval_iwae_nll(settings, nets, state, batch, rng):
  """``iwae_nll``: -L_k, the IWAE estimate of -log p(x) in nats with
  k = ``eval.iwae_k`` samples (Burda et al. 2016, eq. 8)."""
  params, images = eval_params(state, settings.use_ema), batch["image"]
  mean, logvar = encode(nets, params, images)
  log_weights = losses.iwae_log_weights(
      rng, images, mean, logvar,
      functools.partial(log_likelihood, settings, nets, params),
      settings.iwae_k, settings.iwae_chunk)
  return -losses.iwae_bound(log_weights)


def eval_iwae_bpd(settings, nets, state, batch, rng):
  """``iwae_bpd``: ``iwae_nll`` in bits per sub-pixel."""
  return bits_per_dim(eval_iwae_nll(settings, nets, state, batch, rng),
                      settings.num_dims)


# -- AE and DAE ---------------------------------------------------------------


def restored_logits(nets, params, images):
  """An AE's decoder logits of its own code of ``images``."""
  return decode(nets, params, encode(nets, params, images))


def eval_recon(settings, nets, state, batch, rng):
  """``recon``: the reconstruction loss (``model.recon_loss``) of each image."""
  del rng
  images = batch["image"]
  logits = restored_logits(nets, eval_params(state, settings.use_ema), images)
  return losses.reconstruction_loss(logits, images, settings.recon_loss)


def eval_anomaly_score(settings, nets, state, batch, rng):
  """``anomaly_score``: sum (reconstruction - x)^2 of each image."""
  del rng
  images = batch["image"]
  logits = restored_logits(nets, eval_params(state, settings.use_ema), images)
  return losses.anomaly_score(jax.nn.sigmoid(logits), images)


def eval_denoise_mse(settings, nets, state, batch, rng):
  """``denoise_mse``: the mean squared error per sub-pixel between the clean
  image and the DAE's restoration of its corruption (drawn with ``rng``)."""
  images = batch["image"]
  noisy = losses.corrupt(rng, images, settings.noise, settings.noise_level)
  restored = jax.nn.sigmoid(
      restored_logits(nets, eval_params(state, settings.use_ema), noisy))
  return losses.anomaly_score(restored, images) / settings.num_dims
