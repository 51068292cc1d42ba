"""SR3: super-resolution by a conditional denoiser (``model.name='sr3'``;
Saharia et al. 2021, "Image Super-Resolution via Iterative Refinement").

The low-resolution image y = A x0 is made from each training image by the
shared degradation ``model.sr3.task`` (``degradations.py``: 'sr4' and 'sr2'
are antialiased bicubic downsampling, 'sr4_pool' / 'sr2_pool' average
pooling), inside the loss, so any dataset of images trains it. The denoiser
is DDPM's U-Net, whose input is the noisy image x_t concatenated on the
channel axis with the bicubic upsampling of y to the full size (SR3 sec.
2.3: the low-resolution input is upsampled to the target resolution by
bicubic interpolation and concatenated with y_t along the channels), so it
takes 2C channels and predicts the C channels of eps.

Training is SR3's Algorithm 1 with the diffusion family's discrete chain:
L_simple (Ho et al. 2020 eq. 14; SR3 sec. 2.2 with p = 2), or L_hybrid with a
learned variance, through ``ddpm.loss_fn``. SR3 conditions its network on a
continuous noise level sqrt(gamma); here it takes the timestep t of
``model.schedule`` like every denoiser of the family. Inference is SR3's
Algorithm 2 with the family's samplers (``samplers.sample``: ancestral DDPM or
DDIM, respaced to ``sample.steps``) on model_fn(x, t) = the U-Net at
[x, upsample(y)].

Every function below reuses ``ddpm.py`` through ``conditioned``: the
denoiser's Networks whose ``model`` sees [x_t, cond] in place of x_t.
"""
import dataclasses
import functools
from typing import Any, Tuple

import jax
import jax.numpy as jnp

from genjax.config import require
from genjax.core.precision import read_compute_dtype
from genjax.core.state import eval_params
from genjax.core.step import make_train_step
from genjax.errors import ConfigError
from genjax.eval import image_quality
from genjax.families.base import Family, cycle_to, pm1_to_unit
from genjax.families.diffusion import ddpm, degradations, exports, samplers
from genjax.families.diffusion.schedules import make_schedule
from genjax.families.diffusion.settings import Settings, read_settings

USER = "SR3 (model.name='sr3')"
COLUMNS = 3   # super-resolved samples per row of the image grid


@dataclasses.dataclass(frozen=True)
class SR3Settings:
  diffusion: Settings                    # the denoiser's (model.*, sample.*, optim.*)
  task: str                              # model.sr3.task: the degradation's name
  low_res_shape: Tuple[int, int, int]    # [h, w, C] of its low-resolution images


@dataclasses.dataclass(frozen=True)
class SR3Networks:
  denoiser: ddpm.Networks                # the U-Net (C channels out), schedules, optimiser
  operator: Any                          # degradations.make_operator(task, image_shape)


def make_operator(task, image_shape):
  """The degradation ``task`` of images of ``image_shape`` [H, W, C] and the
  [h, w, C] of its outputs; a ConfigError naming model.sr3.task when the task
  is unknown, cannot take this shape or is not a super-resolution (a smaller
  image of C channels)."""
  try:
    op = degradations.make_operator(task, (1,) + tuple(image_shape))
    shape = degradations.measurement_shape(op, (1,) + tuple(image_shape))[1:]
  except ConfigError as e:
    raise ConfigError(f"model.sr3.task={task!r} with model.image_shape="
                      f"{tuple(image_shape)}: {e}") from None
  if len(shape) != 3 or shape[2] != image_shape[2] or shape[:2] == tuple(image_shape[:2]):
    raise ConfigError(
        f"model.sr3.task={task!r} measures {tuple(image_shape)} images as arrays "
        f"of shape {tuple(shape)}, not as smaller images of {image_shape[2]} "
        "channels that SR3 upsamples: use a super-resolution task ('sr2', "
        "'sr4', 'sr2_pool', 'sr4_pool').")
  return op, tuple(int(d) for d in shape)


def read_sr3_settings(config):
  """(SR3Settings, the degradation operator) of the config."""
  diffusion = read_settings(config)
  if diffusion.num_classes:
    raise ConfigError(
        f"{USER} conditions on the low-resolution image, not on classes: set "
        f"model.num_classes=0 (got {diffusion.num_classes}).")
  task = str(require(config, "model.sr3.task"))
  op, low_res_shape = make_operator(task, diffusion.image_shape)
  return SR3Settings(diffusion=diffusion, task=task, low_res_shape=low_res_shape), op


def build_networks(ss, op):
  """DDPM's networks (the U-Net's input channels follow its input: 2C) and
  the degradation."""
  return SR3Networks(denoiser=ddpm.build_networks(ss.diffusion), operator=op)


# -- the condition --------------------------------------------------------------


def upsample(low_res, image_shape):
  """SR3's condition: the bicubic upsampling of y [B, h, w, C] to
  [B, *image_shape], clipped to the data range [-1, 1] (sec. 2.3)."""
  shape = (low_res.shape[0],) + tuple(image_shape)
  return jnp.clip(jax.image.resize(low_res, shape, method="cubic"), -1.0, 1.0)


def condition(ss, nets, images):
  """upsample(A x0) of images x0 [B, H, W, C] in [-1, 1]."""
  return upsample(degradations.apply(nets.operator, images), ss.diffusion.image_shape)


def network_input(x_t, cond):
  """[x_t, cond] on the channel axis: what SR3's denoiser sees (sec. 2.3)."""
  return jnp.concatenate([x_t, cond.astype(x_t.dtype)], axis=-1)


@dataclasses.dataclass(frozen=True)
class Conditioned:
  """The U-Net seeing ``network_input(x, cond)`` for x: it has a flax
  module's ``init`` / ``apply``, so ddpm.py's functions run it as their
  ``nets.model``; its parameters are the U-Net's own (the same paths)."""
  unet: Any
  cond: Any                              # [B, H, W, C]

  def init(self, rngs, x, t, labels=None):
    return self.unet.init(rngs, network_input(x, self.cond), t, labels)

  def apply(self, variables, x, t, labels=None, **kwargs):
    return self.unet.apply(variables, network_input(x, self.cond), t, labels, **kwargs)


def conditioned(nets, cond):
  """The denoiser's ddpm.Networks with its U-Net conditioned on ``cond``."""
  return dataclasses.replace(nets.denoiser, model=Conditioned(nets.denoiser.model, cond))


# -- training and evaluation ----------------------------------------------------


def init(ss, nets, rng, example_batch):
  """A fresh train state (EMA kept) of the U-Net over 2C input channels."""
  images = jnp.asarray(example_batch["image"], jnp.float32)
  return ddpm.init(ss.diffusion, conditioned(nets, jnp.zeros_like(images)), rng,
                   example_batch)


def loss_fn(ss, nets, params, model_state, batch, rng):
  """SR3's Algorithm 1: the denoising loss of ``ddpm.loss_fn`` (L_simple, or
  L_hybrid for a learned variance) with the network conditioned on each
  image's own upsampled low-resolution copy."""
  cond = condition(ss, nets, batch["image"])
  return ddpm.loss_fn(ss.diffusion, conditioned(nets, cond), params, model_state,
                      batch, rng)


def eval_loss(ss, nets, state, batch, rng):
  """Evaluation metric ``loss``: L_simple at one uniform t per example, [B]."""
  cond = condition(ss, nets, batch["image"])
  return ddpm.eval_loss(ss.diffusion, conditioned(nets, cond), state, batch, rng)


# -- inference ------------------------------------------------------------------


def refine(ss, nets, params, low_res, rng, steps=None, eta=None):
  """SR3's Algorithm 2: x_T ~ N(0, I) refined by the denoiser conditioned on
  upsample(y), for y = ``low_res`` [B, h, w, C] in [-1, 1] -> x [B, H, W, C]
  in [-1, 1] (x0 clipped as ``model.clip_x0`` says). ``steps`` (a Python int)
  respaces the chain to that many steps, None: ``sample.steps``; ``eta`` (a
  Python float) samples with DDIM at that eta, None: ``sample.sampler`` and
  ``sample.eta``."""
  d = ss.diffusion
  low_res = jnp.asarray(low_res, jnp.float32)
  degradations.check_measurement(nets.operator, low_res,
                                 low_res.shape[:1] + d.image_shape)
  cond = upsample(low_res, d.image_shape)
  model_fn = functools.partial(ddpm.network_output, d, conditioned(nets, cond), params,
                               labels=None)
  schedule = (nets.denoiser.sample_schedule if steps is None
              else make_schedule(d.schedule, d.timesteps, int(steps)))
  sampler, eta = (d.sampler, d.eta) if eta is None else ("ddim", float(eta))
  samplers.check_sampler(sampler, eta)
  x = samplers.sample(sampler, schedule, model_fn, rng, cond.shape, d.prediction,
                      d.variance, eta, d.clip_x0)
  return jnp.clip(x, -1.0, 1.0)


def super_resolved(ss, nets, state, images, rng):
  """``refine`` of the images' own low-resolution copies A x0, [-1, 1]."""
  low_res = degradations.apply(nets.operator, images)
  return refine(ss, nets, eval_params(state, ss.diffusion.use_ema), low_res, rng)


QUALITY = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic")


def eval_quality(ss, nets, state, batch, rng):
  """The eval metrics ``psnr`` / ``ssim`` of each super-resolved image against
  its original and ``psnr_bicubic`` / ``ssim_bicubic`` of the condition
  itself, upsample(A x0), the baseline SR3 is compared with (no network);
  images in [0, 1] (data range 1), [B] each, from one sampling pass."""
  clean = pm1_to_unit(batch["image"])
  x = pm1_to_unit(super_resolved(ss, nets, state, batch["image"], rng))
  cond = pm1_to_unit(condition(ss, nets, batch["image"]))
  return {"psnr": image_quality.psnr(x, clean, 1.0), "ssim": image_quality.ssim(x, clean, 1.0),
          "psnr_bicubic": image_quality.psnr(cond, clean, 1.0),
          "ssim_bicubic": image_quality.ssim(cond, clean, 1.0)}


def images_of(cond):
  """The high-resolution images ``sample`` degrades and super-resolves."""
  if not cond or "image" not in cond:
    raise ConfigError(f"{USER} super-resolves given images: pass cond={{'image': "
                      "[num, H, W, C] in [-1, 1]}} (the loop passes eval images).")
  return jnp.asarray(cond["image"], jnp.float32)


def sample(ss, nets, state, rng, num, cond=None):
  """The family's ``sample``: the super-resolution of A x0 for the ``num``
  images x0 = cond["image"] (eval images: sample metrics score the SR
  outputs), in [0, 1]."""
  images = cycle_to(images_of(cond), num)
  return pm1_to_unit(super_resolved(ss, nets, state, images, rng))


def image_grids(ss, nets, state, batch, rng):
  """``super_resolution``: per eval image, its low-resolution copy (nearest
  upsampling, for display) | COLUMNS super-resolved samples | the original."""
  d = ss.diffusion
  rows = d.grid_rows
  images = cycle_to(batch["image"], rows)
  low_res = degradations.apply(nets.operator, images)
  drawn = refine(ss, nets, eval_params(state, d.use_ema),
                 jnp.repeat(low_res, COLUMNS, axis=0), rng)
  shown = jax.image.resize(low_res, (rows,) + d.image_shape, method="nearest")
  drawn = drawn.reshape((rows, COLUMNS) + d.image_shape)
  return {"super_resolution": pm1_to_unit(jnp.concatenate(
      [shown[:, None], drawn, images[:, None]], axis=1))}


# -- exports ----------------------------------------------------------------------


def super_resolve(ss, nets, bundle, low_res, rng, steps=None, eta=None):
  """Export: x [B, H, W, C] in [-1, 1] super-resolved from ``low_res``
  [B, h, w, C] in [-1, 1] (``degradations.apply`` of the run's ``task``);
  ``steps`` / ``eta``: Python values, None: the run's config.sample (``refine``)."""
  return refine(ss, nets, exports.trained_params_of(bundle), low_res, rng, steps, eta)


def task(ss, nets, bundle=None):
  """Export: the name of the degradation the run inverts (model.sr3.task),
  for ``degradations.make_operator``; no parameters needed."""
  del nets, bundle
  return ss.task


def make_sr3_family(config, deps=None):
  """The SR3 Family: ddpm.py's functions over the conditioned U-Net."""
  del deps
  ss, op = read_sr3_settings(config)
  nets = build_networks(ss, op)
  bind = lambda fn: functools.partial(fn, ss, nets)
  quality = bind(eval_quality)   # one function: the loop runs it once for all four
  return Family(
      family="diffusion", model="sr3", init=bind(init),
      train_step=make_train_step(bind(loss_fn), nets.denoiser.optimizer,
                                 nets.denoiser.ema_decay,
                                 compute_dtype=read_compute_dtype(config)),
      eval_metrics=dict({name: quality for name in QUALITY}, loss=bind(eval_loss)),
      sample=bind(sample), image_grids=bind(image_grids), data_to_unit=pm1_to_unit,
      num_classes=None, cond_keys=("image",),
      exports=exports.bind_all(ss, nets, (super_resolve, task)))
