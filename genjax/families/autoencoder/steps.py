"""The autoencoder family's state and training losses: pure functions of
``(settings, nets, ...)``; ``make_family`` binds those two.

Each loss has the signature ``make_train_step`` takes once bound:
``(params, model_state, batch, rng) -> (loss, (metrics, model_state))``.
"""
import functools

import jax
import jax.numpy as jnp

from genjax.core.state import create_train_state
from genjax.families.autoencoder import losses
from genjax.families.autoencoder.code_prior import initial_code_stats, update_code_stats
from genjax.families.autoencoder.networks import decode, encode, log_likelihood
from genjax.families.autoencoder.vq_steps import initial_vq_state
from genjax.families.autoencoder.vqvae2 import LEVELS, state_key


def initial_model_state(settings, rng):
  """What a model keeps besides its parameters: an AE's or DAE's codes'
  statistics (code_prior.py), a VQ-VAE's codebook state (vq_steps.py), one
  per level for VQ-VAE-2. A VAE keeps nothing: its prior is N(0, I)."""
  if settings.name == "vqvae":
    return {"vq": initial_vq_state(settings.vq, rng)}
  if settings.name == "vqvae2":
    return {state_key(level): initial_vq_state(settings.vq, key)
            for level, key in zip(LEVELS, jax.random.split(rng))}
  if settings.variational:
    return {}
  return {"code_stats": initial_code_stats(settings.latent_dim)}


def init(settings, nets, rng, example_batch):
  """A fresh train state, with an EMA of the parameters; parameter shapes
  never depend on the batch."""
  init_rng, state_rng = jax.random.split(rng)
  images = jnp.asarray(example_batch["image"], jnp.float32)
  params = nets.model.init(init_rng, images)["params"]
  return create_train_state(
      state_rng, params, nets.optimizer, ema=True,
      model_state=initial_model_state(settings, jax.random.fold_in(init_rng, 1)))


def vae_terms(settings, nets, params, images, rng, beta):
  """Per-example (loss, -log p(x|z), KL) of the VAE, one z ~ q(z|x) drawn
  with ``rng``; the loss is -ELBO with the KL weighted by ``beta``."""
  mean, logvar = encode(nets, params, images)
  bound, log_px_z, kl = losses.elbo(
      rng, images, mean, logvar,
      functools.partial(log_likelihood, settings, nets, params), beta)
  return -bound, -log_px_z, kl


def vae_loss(settings, nets, params, model_state, batch, rng):
  """The VAE's loss: the batch mean of -ELBO, its KL weighted by
  ``model.beta`` (Kingma & Welling 2014, eq. 10; Higgins et al. 2017). The
  metric ``nelbo`` is the unweighted bound."""
  loss, recon, kl = vae_terms(settings, nets, params, batch["image"], rng,
                              settings.beta)
  metrics = {"nelbo": jnp.mean(recon + kl), "recon": jnp.mean(recon),
             "kl": jnp.mean(kl)}
  return jnp.mean(loss), (metrics, model_state)


def reconstruction_objective(settings, nets, params, model_state, inputs, targets):
  """The batch mean of ``model.recon_loss`` between decode(encode(inputs))
  and ``targets``; the codes of ``inputs`` update the codes' statistics."""
  codes = encode(nets, params, inputs)
  recon = jnp.mean(losses.reconstruction_loss(decode(nets, params, codes), targets,
                                              settings.recon_loss))
  model_state = dict(model_state,
                     code_stats=update_code_stats(model_state["code_stats"], codes))
  return recon, ({"recon": recon}, model_state)


def ae_loss(settings, nets, params, model_state, batch, rng):
  """The AE's loss: the reconstruction loss of the batch (draws nothing)."""
  del rng
  images = batch["image"]
  return reconstruction_objective(settings, nets, params, model_state, images, images)


def dae_loss(settings, nets, params, model_state, batch, rng):
  """The denoising AE's loss (Vincent et al. 2008): reconstruct the clean
  batch from its corruption by ``model.noise`` at ``model.noise_level``."""
  images = batch["image"]
  noisy = losses.corrupt(rng, images, settings.noise, settings.noise_level)
  return reconstruction_objective(settings, nets, params, model_state, noisy, images)
