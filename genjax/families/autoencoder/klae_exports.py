"""What a trained KL autoencoder offers: its exports (for latent diffusion
over a frozen first stage), evaluation metrics, samples and grids. Pure
functions of ``(settings, nets, ...)`` that klae.py binds.

``family.trained`` is ``base.trained_params``: {"params": the autoencoder's
EMA (``use_ema``) or raw parameters, "model_state": {"latent_moments"}}, never
an optimiser state or the discriminator. Images are [B,H,W,C] in [0, 1] (the
data's ``scale_01``); the networks work in [-1, 1] inside. Latents are
[B, h, w, c] with (h, w) = (H, W) / model.klae.downsample.

  encode(bundle, images)        {"mean", "logvar"} of q(z|x), each [B,h,w,c]
  code(bundle, images)          the posterior mean [B,h,w,c]
  sample_latent(bundle, images, rng)   z ~ q(z|x) [B,h,w,c]
  decode(bundle, latents)       latents [N,h,w,c] -> images [N,H,W,C] in [0, 1]
  latent_shape(bundle=None)     (h, w, c), a Python tuple
  latent_stats(bundle)          {"mean": [c], "std": [c], "scale": scalar}:
                                per-channel moments of the training latents
                                (posterior samples) and 1 / their pooled std,
                                the scale_factor LDM multiplies latents by
"""
import functools

import jax
import jax.numpy as jnp

from genjax.core.state import eval_params
from genjax.families.autoencoder import klae_losses
from genjax.families.autoencoder.losses import mean_squared_error, psnr, reparameterize
from genjax.families.autoencoder.sampling import grid_examples, interleave_rows
from genjax.families.autoencoder.klae_steps import apply_ae, to_pm1, to_unit


def posterior(nets, params, images):
  """(mean, logvar) of q(z|x) for ``images`` in [0, 1]."""
  return apply_ae(nets, params, to_pm1(images), method="encode")


def decoded(nets, params, latents):
  """Images in [0, 1] of ``latents``."""
  return to_unit(apply_ae(nets, params, latents, method="decode"))


def reconstruction(nets, params, images):
  """The decoding of each image's posterior mean, in [0, 1]."""
  return decoded(nets, params, posterior(nets, params, images)[0])


# -- exports -------------------------------------------------------------------


def trained_of(bundle):
  return bundle["trained"]


def encode(settings, nets, bundle, images):
  """{"mean", "logvar"} of q(z|x), each [B,h,w,c] (logvar clipped to [-30, 20])."""
  del settings
  mean, logvar = posterior(nets, trained_of(bundle)["params"], images)
  return {"mean": mean, "logvar": logvar}


def code(settings, nets, bundle, images):
  """The posterior mean [B,h,w,c]: the deterministic code."""
  return encode(settings, nets, bundle, images)["mean"]


def sample_latent(settings, nets, bundle, images, rng):
  """z = mean + exp(logvar / 2) * eps ~ q(z|x) [B,h,w,c], eps drawn with ``rng``."""
  out = encode(settings, nets, bundle, images)
  return reparameterize(rng, out["mean"], out["logvar"])


def decode(settings, nets, bundle, latents):
  """Images [N,H,W,C] in [0, 1] of ``latents`` [N,h,w,c] (clipped)."""
  del settings
  return decoded(nets, trained_of(bundle)["params"], latents)


def latent_shape(settings, nets, bundle=None):
  """(H / f, W / f, c); needs no parameters."""
  del nets, bundle
  h, w = (d // settings.downsample for d in settings.image_shape[:2])
  return (h, w, settings.latent_channels)


def latent_stats(settings, nets, bundle):
  """{"mean": [c], "std": [c], "scale": scalar} of the training latents
  (klae_losses.latent_statistics of the state's running moments)."""
  del settings, nets
  return klae_losses.latent_statistics(trained_of(bundle)["model_state"]["latent_moments"])


def family_exports(settings, nets):
  """``Family.exports``: name -> f(bundle, ...), the functions above bound."""
  bind = lambda fn: functools.partial(fn, settings, nets)
  return {name: bind(fn) for name, fn in (
      ("encode", encode), ("code", code), ("sample_latent", sample_latent),
      ("decode", decode), ("latent_shape", latent_shape),
      ("latent_stats", latent_stats))}


# -- evaluation, samples, grids ------------------------------------------------


def eval_recon_mse(settings, nets, state, batch, rng):
  """``recon_mse``: the mean squared error per sub-pixel in [0, 1] of the
  decoded posterior mean."""
  del rng
  images = batch["image"]
  recon = reconstruction(nets, eval_params(state, settings.use_ema), images)
  return mean_squared_error(recon, images)


def eval_psnr(settings, nets, state, batch, rng):
  """``psnr``: 10 log10(1 / MSE) in dB of the decoded posterior mean."""
  del rng
  images = batch["image"]
  return psnr(reconstruction(nets, eval_params(state, settings.use_ema), images), images)


def eval_kl(settings, nets, state, batch, rng):
  """``kl``: KL(q(z|x) || N(0, I)) in nats, summed over the latent elements."""
  del rng
  mean, logvar = posterior(nets, eval_params(state, settings.use_ema), batch["image"])
  return klae_losses.gaussian_kl(mean, logvar)


EVAL_METRICS = {"recon_mse": eval_recon_mse, "psnr": eval_psnr, "kl": eval_kl}


def sample(settings, nets, state, rng, num, cond=None):
  """``num`` images [num,H,W,C]: z ~ N(mean, diag(std^2)) per channel of the
  latent statistics, at every position independently, decoded. An
  autoencoder has no prior of its own: this shows what the decoder makes of
  latents with the training latents' marginal moments (blobs and strokes,
  not digits); a latent diffusion model over it is what samples."""
  del cond  # unconditional
  stats = klae_losses.latent_statistics(state.model_state["latent_moments"])
  eps = jax.random.normal(rng, (num, *latent_shape(settings, nets)))
  return decoded(nets, eval_params(state, settings.use_ema),
                 stats["mean"] + stats["std"] * eps)


def image_grids(settings, nets, state, batch, rng):
  """``reconstructions``: rows of the batch's images and of their
  reconstructions (decoded posterior means) in turn."""
  del rng
  images = grid_examples(batch["image"])
  recon = reconstruction(nets, eval_params(state, settings.use_ema), images)
  return {"reconstructions": interleave_rows(images, recon)}
