"""ControlNet as a model built on a trained diffusion run (``model.name=
'controlnet'``, Zhang et al. 2023): the locked denoiser ``config.deps.base``
(a pixel ``ddpm`` run or a latent ``ldm`` run with the U-Net backbone) is a
frozen jit argument; only the ControlNet (``controlnet.py``: the copy of its
encoder and middle block, initialised from the locked weights, the condition
encoder and the zero convolutions) trains, on the denoising loss of the
controlled model (eq. 3, the base's own L_simple or L_hybrid).

The condition map is the batch field ``model.control.key`` (written by a
preprocessing op: ``canny``, ``skeleton``, ``distance_transform``, a mask),
of shape ``model.control.shape``. The class label is replaced by the null
class with probability ``model.control.label_dropout`` in training (the
paper replaces 50% of the prompts by the empty one, so that the control is
followed without a prompt), which keeps classifier-free guidance available:
when sampling, the control is applied to both halves of the guided batch.
``sample.control_scale`` multiplies every residual (0: the base model
exactly); ``sample.control_image`` (a PNG) replaces the eval split's
condition maps when sampling.
"""
import dataclasses
import functools
import os
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from genjax.config import require
from genjax.core.optim import optimizer_from_config
from genjax.core.params import copy_matching
from genjax.core.precision import read_compute_dtype, read_remat
from genjax.core.state import create_train_state, eval_params
from genjax.core.step import make_train_step
from genjax.errors import ConfigError
from genjax.families.base import Family, cycle_to, sample_labels
from genjax.families.diffusion import ddpm, latent, losses, on_base, samplers, schedules
from genjax.families.diffusion.controlnet import (COPIED, ControlNet, control_factor,
                                                  scaled)
from genjax.families.diffusion.unet import REMAT_KINDS

DEP = on_base.DEP
USER = "ControlNet (model.name='controlnet')"
COLUMNS = 3   # samples per row of the control grid


@dataclasses.dataclass(frozen=True)
class ControlSettings:
  base: Any                     # the base's Settings (pixel) or LatentSettings,
                                # with this config's sampling fields
  latent: bool                  # the base is latent diffusion
  key: str                      # the batch field of the condition map
  control_shape: Tuple[int, int, int]
  hint_channels: Tuple[int, ...]
  label_dropout: float
  scale: float                  # sample.control_scale
  control_image: Optional[Any]  # sample.control_image as [H, W, C] in [0, 1]
  remat: Tuple[str, ...]

  @property
  def diffusion(self):
    """The denoiser's ``settings.Settings`` (over latents for a latent base)."""
    return on_base.diffusion_settings(self.base)


def read_control_image(path, shape):
  """The PNG at ``path`` as float32 [H, W, C] in [0, 1]; a ConfigError when
  it is missing or its size or channels differ from ``shape``."""
  if not path:
    return None
  if not os.path.exists(path):
    raise ConfigError(f"config.sample.control_image={path!r} does not exist.")
  from PIL import Image   # noqa: PLC0415 (only when a file is given)
  with Image.open(path) as im:
    channels = {"1": 1, "L": 1, "RGB": 3}.get(im.mode)
    if channels != shape[2]:
      raise ConfigError(
          f"config.sample.control_image={path!r} is a {im.mode} PNG ({channels or '?'} "
          f"channels), but this ControlNet takes {shape[2]}-channel control maps: save "
          f"it as {'a grey (L)' if shape[2] == 1 else 'an RGB'} PNG.")
    if (im.height, im.width) != tuple(shape[:2]):
      raise ConfigError(
          f"config.sample.control_image={path!r} is {im.height}x{im.width}, but this "
          f"ControlNet takes {shape[0]}x{shape[1]}x{shape[2]} control maps: resize it.")
    pixels = np.asarray(im.convert("L" if channels == 1 else "RGB"), np.float32) / 255.0
  return pixels.reshape(shape)


def read_control_settings(config, deps):
  """(ControlSettings, the base Dependency, the base's first stage or None)."""
  dep = on_base.base_dependency(deps, USER)
  on_base.check_image_ops(config, dep, USER)
  base, first_stage = on_base.read_base(config, dep, USER, backbones=("unet",))
  group = "model.control."
  shape = tuple(int(d) for d in require(config, group + "shape"))
  denoiser = (base.base if first_stage else base).image_shape
  if len(shape) != 3:
    raise ConfigError(f"model.control.shape={shape} must be [H, W, C].")
  try:
    control_factor(shape[:2], denoiser[:2])
  except ConfigError as e:
    raise ConfigError(f"model.control.shape={shape}: {e}") from None
  dropout = float(require(config, group + "label_dropout"))
  if not 0.0 <= dropout <= 1.0:
    raise ConfigError(f"model.control.label_dropout must be in [0, 1], got {dropout}.")
  return ControlSettings(
      base=base, latent=first_stage is not None, key=str(require(config, group + "key")),
      control_shape=shape,
      hint_channels=tuple(int(c) for c in require(config, group + "hint_channels")),
      label_dropout=dropout, scale=float(require(config, "sample.control_scale")),
      control_image=read_control_image(require(config, "sample.control_image"), shape),
      remat=read_remat(config, REMAT_KINDS, USER)), dep, first_stage


@dataclasses.dataclass(frozen=True)
class ControlNets:
  base: Any                     # the base's ddpm.Networks (its U-Net, schedules)
  control: ControlNet
  optimizer: Any
  ema_decay: float


def build_networks(cs, config):
  base = latent.build_networks(cs.base) if cs.latent else ddpm.build_networks(cs.base)
  d = cs.diffusion
  control = ControlNet(**d.unet, num_classes=d.num_classes or None, remat=cs.remat,
                       hint_channels=cs.hint_channels)
  optimizer, ema_decay = optimizer_from_config(dict(require(config, "optim")))
  return ControlNets(base, control, optimizer, ema_decay)


# -- the controlled denoiser ---------------------------------------------------


def controlled_output(cs, nets, params, frozen, z, t, y, scale, train=False, rng=None):
  """The locked U-Net at (z_t, t) with the ControlNet's residuals (times
  ``scale``, or y["scale"] [B] when given) added; ``y`` = {"control": [B,
  ...], "label": [B] or absent}. The prediction, or (prediction, v) for a
  learned variance."""
  scale = y.get("scale", scale)
  labels = y.get("label") if cs.diffusion.num_classes else None
  residuals = nets.control.apply({"params": params}, z, t, y["control"], labels,
                                 train=train, rngs={"dropout": rng} if train else None)
  out = nets.base.model.apply({"params": on_base.base_params(frozen)}, z, t, labels,
                              residuals=scaled(residuals, scale))
  return ddpm.split_learned(cs.diffusion, out)


def init(cs, nets, rng, example_batch, frozen):
  """The ControlNet's state: its copy of the encoder and middle block start
  as the locked U-Net's weights, the condition encoder's output conv and every
  zero conv at zero."""
  del example_batch
  init_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
  z = jnp.zeros((1,) + cs.diffusion.image_shape, jnp.float32)
  control = jnp.zeros((1,) + cs.control_shape, jnp.float32)
  labels = jnp.zeros((1,), jnp.int32) if cs.diffusion.num_classes else None
  params = nets.control.init({"params": init_rng, "dropout": dropout_rng}, z,
                             jnp.zeros((1,), jnp.int32), control, labels)["params"]
  params = copy_matching(params, on_base.base_params(frozen), include=COPIED)
  return create_train_state(state_rng, params, nets.optimizer, ema=True)


def control_of(cs, batch):
  """The batch's condition maps, checked against ``model.control.shape``."""
  if cs.key not in batch:
    raise ConfigError(f"{USER} reads the condition map batch[{cs.key!r}]: write it in "
                      f"config.data.preprocess (e.g. \"canny(outkey='{cs.key}')\").")
  control = jnp.asarray(batch[cs.key], jnp.float32)
  if tuple(control.shape[1:]) != cs.control_shape:
    raise ConfigError(f"batch[{cs.key!r}] has shape {tuple(control.shape[1:])} per "
                      f"example; model.control.shape is {cs.control_shape}: set it to the "
                      "data's, or change the op that writes the field.")
  return control


def training_condition(cs, rng, batch):
  """{"control", "label"} with each label replaced by the null class with
  probability ``label_dropout`` (Ho & Salimans 2022, Algorithm 1)."""
  y = {"control": control_of(cs, batch)}
  k = cs.diffusion.num_classes
  if k:
    drop = jax.random.uniform(rng, batch["label"].shape) < cs.label_dropout
    y["label"] = jnp.where(drop, k, batch["label"]).astype(jnp.int32)
  return y


def loss_fn(cs, nets, first_stage, params, model_state, batch, rng, frozen):
  """The base's denoising loss (L_simple, or L_hybrid for a learned variance)
  of the controlled model; gradients reach the ControlNet only."""
  encode_rng, drop_rng, draw_rng, dropout_rng = jax.random.split(rng, 4)
  z0 = on_base.to_latent(cs.base, first_stage, frozen, batch["image"], encode_rng)
  y = training_condition(cs, drop_rng, batch)
  t, noise = schedules.draw_t_and_noise(draw_rng, z0, cs.diffusion.timesteps)
  zt = schedules.q_sample(nets.base.schedule, z0, t, noise)
  out = controlled_output(cs, nets, params, frozen, zt, t, y, 1.0, True, dropout_rng)
  per_example, mse = ddpm.denoising_loss(cs.diffusion, nets.base, out, z0, t, noise)
  return jnp.mean(per_example), ({"mse": jnp.mean(mse)}, model_state)


def eval_loss(cs, nets, first_stage, state, batch, rng, frozen):
  """``loss``: L_simple of the controlled model at one uniform t, [B]."""
  encode_rng, draw_rng = jax.random.split(rng)
  z0 = on_base.to_latent(cs.base, first_stage, frozen, batch["image"], encode_rng)
  t, noise = schedules.draw_t_and_noise(draw_rng, z0, cs.diffusion.timesteps)
  y = {"control": control_of(cs, batch), "label": batch["label"]}
  out = controlled_output(cs, nets, eval_params(state, cs.diffusion.use_ema), frozen,
                          schedules.q_sample(nets.base.schedule, z0, t, noise), t, y,
                          1.0)
  pred = schedules.split_output(out)[0]
  return losses.l_simple(nets.base.schedule, cs.diffusion.prediction, pred, z0, t, noise)


# -- sampling ------------------------------------------------------------------


def sampling_control(cs, num, cond):
  """The condition maps ``sample`` follows: ``sample.control_image`` when
  set (it wins, so --mode sample draws for the file asked for), else
  ``cond[key]``."""
  if cs.control_image is not None:
    return jnp.broadcast_to(jnp.asarray(cs.control_image), (num,) + cs.control_shape)
  if not cond or cs.key not in cond:
    raise ConfigError(f"{USER} samples for condition maps: pass cond={{{cs.key!r}: "
                      f"[num, {', '.join(map(str, cs.control_shape))}]}} or set "
                      "config.sample.control_image=<a PNG>.")
  return control_of(cs, cond)


def guided(d, conditional, y):
  """model_fn(z, t) of ``conditional(z, t, y)``: classifier-free guided on
  y["label"] (Ho & Salimans 2022 eq. 6) with y's other fields -- the
  controls, their scales -- on both halves; plain when unguided."""
  if d.num_classes and d.guidance_weight > 0:
    null = dict(y, label=d.num_classes)
    return samplers.classifier_free_guidance(conditional, y, d.guidance_weight, null)
  return lambda z, t: conditional(z, t, y)


def generate(cs, nets, first_stage, state, rng, num, cond, frozen):
  """``num`` samples in [0, 1] following the condition maps, each at the
  conditioning scale ``cond["control_scale"]`` [num] when given, else
  ``sample.control_scale``."""
  d = cs.diffusion
  y = {"control": sampling_control(cs, num, cond)}
  if cond and "control_scale" in cond:
    y["scale"] = jnp.asarray(cond["control_scale"], jnp.float32).reshape((num,))
  if d.num_classes:
    y["label"] = sample_labels(num, d.num_classes, cond)
  params = eval_params(state, d.use_ema)
  conditional = lambda z, t, c: controlled_output(cs, nets, params, frozen, z, t, c, cs.scale)
  return on_base.draw(cs.base, first_stage, nets.base.sample_schedule,
                      guided(d, conditional, y), rng, num, frozen)


def as_picture(control, channels):
  """A condition map as a picture of ``channels`` channels in [0, 1]."""
  grey = jnp.clip(jnp.mean(control, axis=-1, keepdims=True), 0.0, 1.0)
  return jnp.repeat(grey, channels, axis=-1)


def image_grids(cs, nets, first_stage, state, batch, rng, frozen):
  """``control``: per eval example, its condition map | COLUMNS samples
  following it | the image it came from."""
  rows = cs.diffusion.grid_rows
  control = cycle_to(control_of(cs, batch), rows)
  cond = {cs.key: jnp.repeat(control, COLUMNS, axis=0)}
  if cs.diffusion.num_classes:
    cond["label"] = jnp.repeat(cycle_to(batch["label"], rows), COLUMNS)
  drawn = generate(dataclasses.replace(cs, control_image=None), nets, first_stage,
                   state, rng, rows * COLUMNS, cond, frozen)
  images = on_base.data_to_unit(first_stage)(cycle_to(batch["image"], rows))
  channels = images.shape[-1]
  drawn = drawn.reshape((rows, COLUMNS) + drawn.shape[1:])
  return {"control": jnp.concatenate(
      [as_picture(control, channels)[:, None], drawn, images[:, None]], axis=1)}


def make_controlnet_family(config, deps):
  """The ControlNet Family: functions take ``frozen`` (the base run's bundle) last."""
  cs, _, first_stage = read_control_settings(config, deps)
  nets = build_networks(cs, config)
  bind = lambda fn: functools.partial(fn, cs, nets, first_stage)
  return Family(
      family="diffusion", model="controlnet",
      init=functools.partial(init, cs, nets),
      train_step=make_train_step(bind(loss_fn), nets.optimizer, nets.ema_decay,
                                 compute_dtype=read_compute_dtype(config),
                                 with_frozen=True),
      eval_metrics={"loss": bind(eval_loss)},
      sample=bind(generate), image_grids=bind(image_grids),
      data_to_unit=on_base.data_to_unit(first_stage),
      num_classes=cs.diffusion.num_classes or None, deps=(DEP,), cond_keys=(cs.key,))
