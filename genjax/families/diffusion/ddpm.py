"""The denoiser (``model.name='ddpm'``): its train step's loss, evaluation
metrics, guided samplers and image grids, as top-level pure functions of
``(settings, nets, ...)``; ``family.make_family`` binds the first two.

The U-Net predicts eps, x0 or v (``settings.prediction``) and, for a learned
variance, the interpolation v of Nichol & Dhariwal (2021) eq. 15 in as many
extra channels. Data lie in [-1, 1]; ``sample`` returns [0, 1].
"""
import dataclasses
import functools
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from genjax.core.optim import optimizer_from_config
from genjax.core.state import create_train_state, eval_params
from genjax.families.base import cycle_to, pm1_to_unit, sample_labels
from genjax.families.diffusion import losses, samplers
from genjax.families.diffusion.guidance import Guide
from genjax.families.diffusion.schedules import (Schedule, draw_t_and_noise, make_schedule,
                                                 q_sample)
from genjax.families.diffusion.unet import UNet

INTERP_STEPS = 8   # frames of each slerp row of the interpolation grid


@dataclasses.dataclass(frozen=True)
class Networks:
  """What make_family builds for the denoiser."""
  model: nn.Module                      # the U-Net
  schedule: Schedule                    # the training chain of settings.timesteps steps
  sample_schedule: Schedule             # respaced to settings.steps: what samplers walk
  optimizer: optax.GradientTransformation
  ema_decay: float
  guide: Optional[Guide] = None         # a classifier run's export: classifier guidance


def build_networks(settings, guide=None, model=None):
  """The U-Net (twice the channels for a learned variance; ``model``: another
  backbone), both schedules and the optimiser; ``guide``: a classifier run's
  (guidance.classifier_guide)."""
  channels = settings.image_shape[-1]
  learned = settings.variance == "learned"
  if model is None:
    model = UNet(**settings.unet, num_classes=settings.num_classes or None,
                 out_channels=2 * channels if learned else channels, remat=settings.remat)
  optimizer, ema_decay = optimizer_from_config(settings.optim)
  return Networks(
      model=model, schedule=make_schedule(settings.schedule, settings.timesteps),
      sample_schedule=make_schedule(settings.schedule, settings.timesteps, settings.steps),
      optimizer=optimizer, ema_decay=ema_decay, guide=guide)


def sampled_classes(settings, nets):
  """The classes ``sample`` takes as ``cond``: the model's, else the guiding
  classifier's; 0 for unconditional sampling."""
  return settings.num_classes or (nets.guide.num_classes if nets.guide else 0)


def network_output(settings, nets, params, x, t, labels=None, train=False, rng=None):
  """The U-Net at (x_t, network timesteps t): the prediction, or (prediction, v)
  for a learned variance. ``labels`` reach only a class-conditional net."""
  out = nets.model.apply({"params": params}, x, t,
                         labels if settings.num_classes else None, train=train,
                         rngs={"dropout": rng} if train else None)
  return split_learned(settings, out)


def split_learned(settings, out):
  """The network's output, or (prediction, v) split on the channel axis for
  a learned variance."""
  channels = settings.image_shape[-1]
  if settings.variance == "learned":
    return out[..., :channels], out[..., channels:]
  return out


def init(settings, nets, rng, example_batch):
  """A fresh train state (EMA kept); parameter shapes never depend on the batch."""
  init_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
  images = jnp.asarray(example_batch["image"], jnp.float32)
  t = jnp.zeros((images.shape[0],), jnp.int32)
  labels = jnp.zeros((images.shape[0],), jnp.int32) if settings.num_classes else None
  params = nets.model.init({"params": init_rng, "dropout": dropout_rng},
                           images, t, labels)["params"]
  return create_train_state(state_rng, params, nets.optimizer, ema=True)


def training_labels(settings, rng, labels):
  """Each label replaced by the null class K with probability label_dropout
  (Ho & Salimans 2022, Algorithm 1); None for an unconditional model."""
  if not settings.num_classes:
    return None
  drop = jax.random.uniform(rng, labels.shape) < settings.label_dropout
  return jnp.where(drop, settings.num_classes, labels).astype(jnp.int32)


def loss_fn(settings, nets, params, model_state, batch, rng):
  """L_simple (Ho et al. 2020, eq. 14), or L_hybrid (Nichol & Dhariwal 2021,
  sec. 3.1) for a learned variance, at one uniform t per example."""
  x0 = batch["image"]
  draw_rng, label_rng, dropout_rng = jax.random.split(rng, 3)
  t, noise = draw_t_and_noise(draw_rng, x0, settings.timesteps)
  xt = q_sample(nets.schedule, x0, t, noise)
  out = network_output(settings, nets, params, xt, t,
                       training_labels(settings, label_rng, batch["label"]), True,
                       dropout_rng)
  per_example, mse = denoising_loss(settings, nets, out, x0, t, noise)
  return jnp.mean(per_example), ({"mse": jnp.mean(mse)}, model_state)


def denoising_loss(settings, nets, out, x0, t, noise):
  """(the training loss, L_simple) per example [B] of the network's output
  ``out`` at x_t = q_sample(x0, t, noise): L_simple, or L_hybrid for a
  learned variance (``out`` = (prediction, v))."""
  if settings.variance != "learned":
    mse = losses.l_simple(nets.schedule, settings.prediction, out, x0, t, noise)
    return mse, mse
  pred, v = out
  return (losses.hybrid_loss(nets.schedule, settings.prediction, pred, v, x0, t, noise),
          losses.l_simple(nets.schedule, settings.prediction, pred, x0, t, noise))


def eval_loss(settings, nets, state, batch, rng):
  """Evaluation metric ``loss``: L_simple at one uniform t per example, [B]."""
  x0 = batch["image"]
  t, noise = draw_t_and_noise(rng, x0, settings.timesteps)
  out = network_output(settings, nets, eval_params(state, settings.use_ema),
                       q_sample(nets.schedule, x0, t, noise), t, batch["label"])
  pred = out[0] if settings.variance == "learned" else out
  return losses.l_simple(nets.schedule, settings.prediction, pred, x0, t, noise)


def eval_bpd(settings, nets, state, batch, rng):
  """Evaluation metric ``bpd``: the full variational bound (T terms + prior),
  bits/dim, [B] (Ho et al. 2020, eq. 5)."""
  model_fn = functools.partial(network_output, settings, nets,
                               eval_params(state, settings.use_ema), labels=batch["label"])
  return losses.nll_bits_per_dim(nets.schedule, model_fn, batch["image"], rng,
                                 settings.prediction, settings.variance,
                                 settings.clip_x0)["bpd"]


def guided_model_fn(settings, nets, state, labels, guide_bundle=None):
  """(model_fn(x, t), its prediction kind) of the samplers, guidance applied:
  classifier-free (w > 0, Ho & Salimans 2022 eq. 6), then classifier guidance
  (Dhariwal & Nichol 2021, Algorithm 2) with the classifier run's bundle,
  which turns it into an eps-predictor."""
  params = eval_params(state, settings.use_ema)
  kind = settings.prediction
  if settings.num_classes and settings.guidance_weight > 0:
    conditional = functools.partial(network_output, settings, nets, params)
    model_fn = samplers.classifier_free_guidance(
        conditional, labels, settings.guidance_weight, settings.num_classes)
  else:
    model_fn = functools.partial(network_output, settings, nets, params, labels=labels)
  if nets.guide is not None:
    log_prob = functools.partial(nets.guide.log_prob, guide_bundle)
    model_fn = samplers.classifier_guidance(nets.schedule, model_fn, log_prob,
                                            labels, settings.classifier_scale, kind)
    kind = "eps"
  return model_fn, kind


def generate(settings, nets, state, rng, num, cond=None, x_T=None, guide_bundle=None):
  """``num`` samples in [-1, 1] from the configured sampler (from ``x_T`` if
  given); ``cond``: their labels (class-balanced when None) when conditional;
  ``guide_bundle``: the guiding classifier run's (with ``nets.guide``)."""
  labels = sample_labels(num, sampled_classes(settings, nets), cond)
  model_fn, kind = guided_model_fn(settings, nets, state, labels, guide_bundle)
  return samplers.sample(settings.sampler, nets.sample_schedule, model_fn, rng,
                         (num,) + settings.image_shape, kind, settings.variance,
                         settings.eta, settings.clip_x0, x_T)


def sample(settings, nets, state, rng, num, cond=None, guide_bundle=None):
  """The family's ``sample``: ``generate`` in [0, 1]."""
  return pm1_to_unit(generate(settings, nets, state, rng, num, cond,
                              guide_bundle=guide_bundle))


def image_grids(settings, nets, state, batch, rng):
  """DDIM inversion rows (data | x_T | regenerated) and slerp paths between
  the latents of inverted pairs (Song et al. 2021, sec. 5.3-5.4)."""
  del rng
  rows = settings.grid_rows
  images = cycle_to(batch["image"], 2 * rows)
  labels = cycle_to(batch["label"], 2 * rows)
  params = eval_params(state, settings.use_ema)
  latents = samplers.ddim_invert(
      nets.sample_schedule,
      functools.partial(network_output, settings, nets, params, labels=labels),
      images, settings.prediction, settings.fixed_point_iters)
  alphas = jnp.linspace(0.0, 1.0, INTERP_STEPS)
  path = jax.vmap(lambda a, b: samplers.slerp(a, b, alphas))(
      latents[:rows], latents[rows:])              # [R, S, H, W, C]
  # One sampler call regenerates the inverted images and the slerp frames.
  all_labels = jnp.concatenate([labels, jnp.repeat(labels[:rows], INTERP_STEPS)])
  out = samplers.ddim_sample(
      nets.sample_schedule,
      functools.partial(network_output, settings, nets, params, labels=all_labels),
      None, (len(all_labels),) + settings.image_shape, settings.prediction, 0.0,
      settings.clip_x0,
      x_T=jnp.concatenate([latents, path.reshape((-1,) + settings.image_shape)]))
  regenerated, frames = out[:len(images)], out[len(images):]
  latent_pictures = jnp.clip(latents / 6.0 + 0.5, 0.0, 1.0)   # x_T shown at +-3 sigma
  inverted = jnp.stack([pm1_to_unit(images[:rows]), latent_pictures[:rows],
                        pm1_to_unit(regenerated[:rows])], axis=1)
  return {"inversion": inverted,
          "interpolation": pm1_to_unit(frames).reshape(rows, INTERP_STEPS,
                                                       *settings.image_shape)}
