"""The KL autoencoder's state and its two-player train step: pure functions of
``(settings, nets, ...)`` that klae.py binds.

``train_step(state, batch)``, with ``rng = fold_in(state.rng, state.step)``
and the images in [-1, 1]:
  1. the autoencoder's loss, LDM's ``LPIPSWithDiscriminator`` (its
     optimizer_idx 0) without LPIPS: z ~ q(z|x) drawn with ``rng``, x_rec
     the decoding of z,
         L = L_rec + kl_weight * KL + a(t) * disc_weight * lambda * L_GAN,
     L_GAN = -mean D(x_rec), lambda the adaptive weight (Esser et al. 2021
     eq. 7) and a(t) = adopt_weight (0 before ``disc_start``). One forward
     and one backward pass of the autoencoder: ``jax.vjp`` gives x_rec; the
     gradients of L_rec and L_GAN at x_rec give their gradients at G_L (the
     last layer is linear in its kernel: ``last_layer_gradient``) and so
     lambda; the backward pass takes their weighted sum at x_rec.
  2. D's gradient of a(t) * hinge_d_loss on the real batch and the same
     x_rec (stop_gradient) (``discriminator_gradients``).
  3. both updates at once, each with its own optimiser (``apply_updates``).
     Simultaneous, not LDM's sequential Lightning steps (AE step, then a D
     step on the updated AE's reconstructions): D learns on the x_rec that
     step 1 made, which saves a second autoencoder forward pass per step,
     and both players move from the same parameters (simultaneous gradient
     descent). Then the EMA of the autoencoder's parameters (warm-started
     decay) and the latents' moments (klae_losses).
Before ``disc_start`` a(t) = 0: the adversarial terms are exact zeros, so the
autoencoder's gradient is that of L_rec + kl_weight * KL and D's is 0 (Adam
leaves D unchanged); a ``lax.cond`` skips D's passes there.
"""
import functools
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from genjax.core.optim import ema_decay_warmup, ema_update
from genjax.core.state import init_key, step_rng
from genjax.families.autoencoder import klae_losses
from genjax.families.autoencoder.losses import psnr, reparameterize


@flax.struct.dataclass
class KLAEState:
  """Everything that changes while the KL autoencoder trains (one pytree:
  the loop jits, donates, checkpoints and restores it). The field names of
  ``TrainState`` where they mean the same, so ``eval_params`` and
  ``base.trained_params`` read it."""
  step: jax.Array          # int32 scalar: train steps so far
  params: Any              # the autoencoder's
  d_params: Any            # the PatchGAN's
  opt_state: Any
  d_opt_state: Any
  ema_params: Any          # EMA of ``params``
  model_state: Any         # {"latent_moments": klae_losses.initial_latent_moments}
  rng: jax.Array           # base key (raw uint32[2]); step k uses fold_in(rng, k)


def to_pm1(images):
  """Data in [0, 1] -> the networks' [-1, 1]."""
  return 2.0 * jnp.asarray(images, jnp.float32) - 1.0


def to_unit(x):
  """The networks' [-1, 1] -> images in [0, 1] (clipped)."""
  return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


def init(settings, nets, rng, example_batch):
  """A fresh state; parameter shapes never depend on the batch."""
  ae_rng, d_rng, state_rng = jax.random.split(rng, 3)
  images = to_pm1(example_batch["image"])
  params = nets.autoencoder.init(init_key(ae_rng), images)["params"]
  d_params = nets.discriminator.init(init_key(d_rng), images)["params"]
  return KLAEState(
      step=jnp.zeros((), jnp.int32), params=params, d_params=d_params,
      opt_state=nets.optimizer.init(params), d_opt_state=nets.d_optimizer.init(d_params),
      ema_params=jax.tree.map(jnp.copy, params),
      model_state={"latent_moments":
                   klae_losses.initial_latent_moments(settings.latent_channels)},
      rng=jnp.asarray(state_rng, jnp.uint32))


def apply_ae(nets, params, *args, method):
  """The autoencoder's ``method`` at ``params``."""
  return nets.autoencoder.apply({"params": params}, *args, method=method)


def autoencoder_forward(nets, params, images, rng):
  """((x_rec, mean KL), (the last layer's input, z)): z ~ q(z|x) = N(mean,
  exp(logvar)) by the reparameterisation, x_rec its decoding."""
  mean, logvar = apply_ae(nets, params, images, method="encode")
  z = reparameterize(rng, mean, logvar)
  features = apply_ae(nets, params, z, method="decode_features")
  recon = apply_ae(nets, params, features, method="output")
  kl = jnp.mean(klae_losses.gaussian_kl(mean, logvar))
  return (recon, kl), jax.lax.stop_gradient((features, z))


def last_layer_gradient(nets, params, features, output_gradient):
  """The gradient at G_L (``decoder_out``'s kernel) of a loss whose gradient
  at the decoder's output is ``output_gradient``."""
  _, pullback = jax.vjp(lambda p: apply_ae(nets, p, features, method="output"), params)
  return pullback(output_gradient)[0]["decoder_out"]["kernel"]


def critic_logits(nets, d_params, images):
  """The PatchGAN's logits of ``images`` in [-1, 1]."""
  return nets.discriminator.apply({"params": d_params}, images)


def generator_adversarial(settings, nets, params, d_params, features, recon, rec_grad):
  """(the gradient at x_rec of disc_weight * lambda * L_GAN, metrics):
  L_GAN = -mean D(x_rec) and lambda the adaptive weight of the gradients of
  L_GAN and of L_rec (``rec_grad``, at x_rec) at the last layer G_L."""
  adv_loss = lambda y: klae_losses.generator_adversarial_loss(
      critic_logits(nets, d_params, y))
  g_adv, adv_grad = jax.value_and_grad(adv_loss)(recon)
  at_last = functools.partial(last_layer_gradient, nets, params, features)
  weight = klae_losses.adaptive_weight(at_last(rec_grad), at_last(adv_grad))
  return settings.disc_weight * weight * adv_grad, dict(
      g_adv=g_adv, adaptive_weight=weight,
      adv_loss=settings.disc_weight * weight * g_adv)


def discriminator_gradients(nets, d_params, images, recon):
  """(gradient of hinge_d_loss at ``d_params``, metrics): real ``images``
  and the reconstructions ``recon`` (no gradient to the autoencoder) in one
  call of D."""

  def objective(d_params):
    logits = critic_logits(nets, d_params, jnp.concatenate(
        [images, jax.lax.stop_gradient(recon)]))
    real, fake = jnp.split(logits, 2)
    return klae_losses.hinge_d_loss(real, fake), (jnp.mean(real), jnp.mean(fake))

  (d_loss, (d_real, d_fake)), grads = jax.value_and_grad(objective, has_aux=True)(
      d_params)
  return grads, dict(d_loss=d_loss, d_real=d_real, d_fake=d_fake,
                     d_grad_norm=optax.global_norm(grads))


def adversarial_terms(settings, nets, params, d_params, features, images, recon,
                      rec_grad):
  """Both players' adversarial terms: (the generator's gradient at x_rec,
  D's gradient, metrics)."""
  adv_grad, g_metrics = generator_adversarial(settings, nets, params, d_params,
                                              features, recon, rec_grad)
  d_grads, d_metrics = discriminator_gradients(nets, d_params, images, recon)
  return adv_grad, d_grads, dict(g_metrics, **d_metrics)


def adopted_adversarial_terms(settings, nets, step, *args):
  """``adversarial_terms`` times a(t) = adopt_weight(step, disc_start):
  exact zeros before ``disc_start``, where a ``lax.cond`` skips D's passes
  (the same values as taming's multiplication by 0, at less cost)."""
  active = functools.partial(adversarial_terms, settings, nets)
  zeros = lambda *a: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                                  jax.eval_shape(active, *a))
  return jax.lax.cond(klae_losses.adopt_weight(step, settings.disc_start) > 0,
                      active, zeros, *args)


def gradients(settings, nets, state, batch):
  """(the autoencoder's gradient of L, D's gradient of a(t) * hinge_d_loss,
  z, metrics) at the state's parameters (the module docstring, 1 and 2)."""
  images = to_pm1(batch["image"])
  (recon, kl), pullback, (features, z) = jax.vjp(
      functools.partial(autoencoder_forward, nets, images=images,
                        rng=step_rng(state.rng, state.step)), state.params, has_aux=True)
  rec_loss = lambda y: jnp.mean(klae_losses.reconstruction_loss(y, images,
                                                                settings.recon_loss))
  rec, rec_grad = jax.value_and_grad(rec_loss)(recon)
  adv_grad, d_grads, adv_metrics = adopted_adversarial_terms(
      settings, nets, state.step, state.params, state.d_params, features, images,
      recon, rec_grad)
  (grads,) = pullback((rec_grad + adv_grad, jnp.asarray(settings.kl_weight, kl.dtype)))
  metrics = dict(adv_metrics, rec_loss=rec, kl=kl,
                 loss=rec + settings.kl_weight * kl + adv_metrics["adv_loss"],
                 disc_factor=klae_losses.adopt_weight(state.step, settings.disc_start),
                 grad_norm=optax.global_norm(grads),
                 psnr=jnp.mean(psnr(to_unit(recon), to_unit(images))))
  return grads, d_grads, z, metrics


def train_step(settings, nets, state, batch):
  """One step of both players (the module docstring)."""
  grads, d_grads, z, metrics = gradients(settings, nets, state, batch)
  return apply_updates(settings, nets, state, grads, d_grads, z), metrics


def apply_updates(settings, nets, state, grads, d_grads, z):
  """The state after both optimisers' updates, the EMA of the autoencoder
  (warm-started decay) and the latents' moments."""
  updates, opt_state = nets.optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  d_updates, d_opt_state = nets.d_optimizer.update(d_grads, state.d_opt_state,
                                                   state.d_params)
  moments = klae_losses.update_latent_moments(
      state.model_state["latent_moments"], z, settings.stats_decay)
  return state.replace(
      step=state.step + 1, params=params, opt_state=opt_state,
      d_params=optax.apply_updates(state.d_params, d_updates), d_opt_state=d_opt_state,
      ema_params=ema_update(state.ema_params, params,
                            ema_decay_warmup(state.step, nets.ema_decay)),
      model_state=dict(state.model_state, latent_moments=moments))
