"""Restoration as a model built on a trained run (``model.name='restore'``):
a task's degradation (``degradations.py``) of the eval images, restored by a
training-free method (``restoration.py``) with the locked denoiser
``config.deps.base`` as the prior, or by a super-resolution run's own
conditional sampler (SR3). Nothing trains: ``--mode eval`` and ``--mode
sample`` run it in a fresh workdir.

``model.restore``: ``task`` (degradations.TASKS), ``method`` (METHODS),
``noise`` (sigma_y on the [-1, 1] scale; negative: the task's default) and
each method's settings; ``sample.steps`` (the respaced schedule) and
``sample.eta`` (the DDIM eta of the plain denoising steps; 1: DDPM's
ancestral steps, what replacement, RePaint, DPS, SDEdit and ILVR use).

Pixel and latent bases: every method applies A to the denoiser's x, so only
SDEdit (which only noises and denoises a guide image) works on a latent
diffusion base; the rest need a pixel base. SR3 needs its own run.

The family's ``sample(state, rng, num, cond)`` restores ``cond["image"]``
(the eval split's images: ``cond_keys``), so the sample metrics measure
restorations: ``fid_mnist`` their FID and ``cond_acc_mnist`` class
preservation. Per-example metrics: ``psnr``, ``ssim`` (on [0, 1]),
``consistency`` (the RMS of A x - y over the observed coordinates, on the
[-1, 1] scale: compare with sigma_y) and ``diversity`` (the RMS distance
between ``model.restore.diversity_samples`` restorations of one image,
averaged over pairs).
"""
import dataclasses
import functools
from typing import Any, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp

from genjax.config import read_grid_rows, require
from genjax.core.state import TrainState
from genjax.errors import ConfigError, check_choice
from genjax.eval import image_quality
from genjax.families.base import Family, cycle_to
from genjax.families.base import require_dependency
from genjax.families.diffusion import ddpm, degradations, latent, on_base, restoration
from genjax.families.diffusion import schedules
from genjax.families.diffusion.restoration import Denoiser

DEP = on_base.DEP
USER = "restoration (model.name='restore')"
COLUMNS = 3   # restorations per row of the grid
# method -> (its model.restore fields as the function's keywords, works on latents)
METHODS = {
    "naive": ({}, True),
    "replacement": ({}, False),
    "repaint": ({"jump_length": "jump_length", "resamplings": "resamplings"}, False),
    "ddrm": ({"eta": "ddrm_eta", "eta_b": "ddrm_eta_b"}, False),
    "dps": ({"scale": "dps_scale"}, False),
    "diffpir": ({"lam": "diffpir_lambda", "zeta": "diffpir_zeta"}, False),
    "sdedit": ({"t0": "t0"}, True),
    "ilvr": ({"factor": "ilvr_factor"}, False),
    "sr3": ({}, False),
}
METRICS = ("psnr", "ssim", "consistency")


@dataclasses.dataclass(frozen=True)
class RestoreSettings:
  base: Any                     # the base's Settings (pixel) / LatentSettings, this
                                # config's sampling fields; None for an SR3 base
  latent: bool                  # the base diffuses a first stage's latents
  task: str
  method: str
  sigma_y: float
  options: Mapping[str, Any]    # the method's keywords
  diversity: int                # restorations per image of the ``diversity`` metric
  image_shape: Tuple[int, int, int]
  grid_rows: int

  @property
  def diffusion(self):
    return on_base.diffusion_settings(self.base)


def read_method(config):
  """(method, its keywords) of ``model.restore``."""
  group = "model.restore."
  method = require(config, group + "method")
  check_choice("model.restore.method", method, tuple(METHODS))
  fields, _ = METHODS[method]
  return method, {k: require(config, group + f) for k, f in fields.items()}


def read_task(config, image_shape):
  """(task, sigma_y), the task's operator built once so a shape it cannot
  take is a start-up error."""
  task = require(config, "model.restore.task")
  degradations.make_operator(task, (1,) + tuple(image_shape),
                             batch={"mask": jnp.zeros((1,) + tuple(image_shape[:2]) + (1,))},
                             rng=jax.random.PRNGKey(0))
  noise = float(require(config, "model.restore.noise"))
  return task, degradations.TASKS[task].sigma_y if noise < 0 else noise


def check_fits(method, dep, first_stage, task, sr3_task):
  """A one-paragraph error when the method cannot run on this base or task."""
  model = dep.family.model
  if (method == "sr3") != (model == "sr3"):
    raise ConfigError(
        f"model.restore.method={method!r} with config.deps.{DEP}.workdir={dep.workdir} "
        f"(a diffusion/{model} run): method 'sr3' restores with an SR3 run's own "
        "sampler and needs one (experiments/diffusion/sr3_mnist.py); the other "
        "methods need a denoiser run (ddpm or ldm) as the prior.")
  if method == "sr3" and task != sr3_task:
    raise ConfigError(f"The SR3 run at {dep.workdir} was trained for task {sr3_task!r}; "
                      f"model.restore.task is {task!r}. Set the task to {sr3_task!r}.")
  if first_stage is not None and not METHODS[method][1]:
    latent_ok = sorted(m for m, (_, ok) in METHODS.items() if ok)
    raise ConfigError(
        f"model.restore.method={method!r} applies the degradation to the denoiser's x, "
        f"but the base at {dep.workdir} is latent diffusion (its x are latents, not "
        f"pixels). Use one of {latent_ok} on a latent base, or a pixel ddpm base.")


def read_restore_settings(config, deps):
  """(RestoreSettings, the base Dependency, its first stage or None)."""
  dep = require_dependency(deps, DEP, "diffusion", None, USER)
  method, options = read_method(config)
  if dep.family.model == "sr3":
    base, first_stage = None, None
    image_shape = tuple(dep.config.model.image_shape)
    sr3_task = dep.config.model.sr3.task
  else:
    dep = on_base.base_dependency(deps, USER)
    base, first_stage = on_base.read_base(config, dep, USER)
    image_shape = tuple(base.image_shape)   # a latent base's: the images'
    sr3_task = None
  on_base.check_image_ops(config, dep, USER)
  task, sigma_y = read_task(config, image_shape)
  check_fits(method, dep, first_stage, task, sr3_task)
  diversity = int(require(config, "model.restore.diversity_samples"))
  if diversity < 2:
    raise ConfigError(f"model.restore.diversity_samples={diversity}: the diversity "
                      "metric compares restorations of one image, so it needs >= 2.")
  return RestoreSettings(
      base=base, latent=first_stage is not None, task=task, method=method,
      sigma_y=sigma_y, options=options, diversity=diversity, image_shape=image_shape,
      grid_rows=read_grid_rows(config)), dep, first_stage


@dataclasses.dataclass(frozen=True)
class RestoreNets:
  base: Any                     # the base's ddpm.Networks; None for an SR3 base
  dep: Any                      # the base Dependency (an SR3 run's exports)
  first_stage: Optional[Any]    # a latent base's first stage Dependency


def build_networks(rs, dep, first_stage):
  if rs.method == "sr3":
    return RestoreNets(None, dep, None)
  base = latent.build_networks(rs.base) if rs.latent else ddpm.build_networks(rs.base)
  return RestoreNets(base, dep, first_stage)


def denoiser(rs, nets, frozen):
  """The locked base as restoration's ``Denoiser`` over the sampling schedule,
  unconditional (a class-conditional base gets the null class: restoring
  must not be told the class)."""
  d = rs.diffusion
  params = on_base.base_params(frozen)
  null = lambda x: jnp.full((x.shape[0],), d.num_classes, jnp.int32)
  if rs.latent:
    fn = lambda z, t: latent.network_output(rs.base, nets.base, params, z, t,
                                            {"label": null(z)} if d.num_classes else {})
  else:
    fn = lambda x, t: ddpm.network_output(d, nets.base, params, x, t,
                                          null(x) if d.num_classes else None)
  return Denoiser(nets.base.sample_schedule, fn, d.prediction, d.clip_x0 and not rs.latent)


def to_pm1(rs, images):
  """The data's images on the [-1, 1] scale the tasks' sigma_y is set in (a
  latent base's data are in [0, 1], its first stage's range)."""
  return 2.0 * images - 1.0 if rs.latent else images


def run_method(rs, nets, frozen, op, y, rng):
  """The restoration of measurements y (A x + noise) on the [-1, 1] scale."""
  shape = (y.shape[0],) + rs.image_shape
  kw = dict(rs.options)
  if rs.method == "naive":
    return degradations.naive(op, y, shape)
  if rs.method == "sr3":
    return nets.dep.family.exports["super_resolve"](frozen[DEP], y, rng)
  den = denoiser(rs, nets, frozen)
  eta = rs.diffusion.eta
  if rs.method == "sdedit":
    return sdedit_images(rs, nets, frozen, den, degradations.naive(op, y, shape), rng, kw)
  if rs.method == "ilvr":
    # The reference A^+ y: its low frequencies are the measurement's (A x = y).
    return restoration.ilvr(den, degradations.pinv(op, y), rng, eta=eta, **kw)
  if rs.method in ("ddrm", "diffpir"):
    kw["sigma_y"] = rs.sigma_y
  if rs.method in ("replacement", "dps"):
    kw["eta"] = eta
  return getattr(restoration, rs.method)(den, op, y, rng, shape, **kw)


def sdedit_images(rs, nets, frozen, den, guide, rng, kw):
  """SDEdit of ``guide`` ([-1, 1]) in pixel space, or in a latent base's
  latent space (guide encoded, the result decoded)."""
  eta = rs.diffusion.eta
  if not rs.latent:
    return restoration.sdedit(den, guide, rng, eta=eta, **kw)
  encode_rng, rng = jax.random.split(rng)
  z = on_base.to_latent(rs.base, nets.first_stage, frozen,
                        jnp.clip(0.5 * (guide + 1.0), 0.0, 1.0), encode_rng)
  z = restoration.sdedit(den, z, rng, eta=eta, **kw)
  return 2.0 * on_base.to_images(rs.base, nets.first_stage, frozen, z) - 1.0


def degrade_and_restore(rs, nets, frozen, images, fields, rng):
  """(restorations on [-1, 1], the operator, its measurements y) of the
  data's ``images``; ``fields``: the batch's other fields (a task's mask)."""
  op_rng, noise_rng, method_rng = jax.random.split(rng, 3)
  x = to_pm1(rs, images)
  op = degradations.make_operator(rs.task, x.shape, batch=fields, rng=op_rng)
  y = degradations.measure(op, x, rs.sigma_y, noise_rng)
  return run_method(rs, nets, frozen, op, y, method_rng), op, y


def unit(x):
  return jnp.clip(0.5 * (x + 1.0), 0.0, 1.0)


def images_of(cond, num):
  if not cond or "image" not in cond:
    raise ConfigError(f"{USER} restores images: pass cond={{'image': [num, H, W, C]}} "
                      "(the loop passes the eval split's).")
  return jnp.asarray(cond["image"], jnp.float32)[:num]


def sample(rs, nets, state, rng, num, cond, frozen):
  """Restorations in [0, 1] of ``cond["image"]`` (degraded first)."""
  del state
  restored, _, _ = degrade_and_restore(rs, nets, frozen, images_of(cond, num), cond, rng)
  return unit(restored)


def consistency(op, y, restored):
  """RMS of A x - y over the observed (spectral) coordinates, per example."""
  r = degradations.apply(op, restored) - y
  count = jnp.sum(restoration.observed(op) * jnp.ones_like(restored),
                  axis=(1, 2, 3))
  return jnp.sqrt(jnp.sum(jnp.square(r), axis=(1, 2, 3)) / jnp.maximum(count, 1.0))


def restore_and_score(rs, nets, frozen, batch, rng):
  """(restorations in [0, 1], {psnr, ssim (on [0, 1]), consistency} per
  example) of the batch's images."""
  restored, op, y = degrade_and_restore(rs, nets, frozen, batch["image"], batch, rng)
  clean = unit(to_pm1(rs, batch["image"]))
  out = unit(restored)
  return out, {"psnr": image_quality.psnr(out, clean, 1.0),
               "ssim": image_quality.ssim(out, clean, 1.0),
               "consistency": consistency(op, y, restored)}


def quality(rs, nets, state, batch, rng, frozen):
  """The eval metrics psnr, ssim and consistency, computed together."""
  del state
  return restore_and_score(rs, nets, frozen, batch, rng)[1]


def diversity(rs, nets, state, batch, rng, frozen):
  """RMS distance on [0, 1] between K restorations of each image, over pairs."""
  del state
  k = rs.diversity
  images = jnp.repeat(batch["image"], k, axis=0)
  fields = {n: jnp.repeat(v, k, axis=0) for n, v in batch.items() if n == "mask"}
  restored, _, _ = degrade_and_restore(rs, nets, frozen, images, fields, rng)
  out = unit(restored).reshape((-1, k, images[0].size))
  d2 = jnp.mean(jnp.square(out[:, :, None] - out[:, None, :]), axis=-1)
  pairs = k * (k - 1)
  return jnp.sqrt(jnp.sum(d2, axis=(1, 2)) / pairs)


def measurement_picture(y, shape):
  """A measurement as a picture of the image's size (nearest upsampling)."""
  if y.shape[1:] != shape[1:]:
    y = jax.image.resize(y, y.shape[:1] + shape[1:3] + y.shape[3:], method="nearest")
  if y.shape[-1] != shape[-1]:
    y = jnp.repeat(y, shape[-1], axis=-1)
  return unit(y)


def image_grids(rs, nets, state, batch, rng, frozen):
  """``restore``: per eval image, the measurement | COLUMNS restorations | the image."""
  del state
  rows = rs.grid_rows
  images = cycle_to(batch["image"], rows)
  fields = {"mask": cycle_to(batch["mask"], rows)} if "mask" in batch else {}
  many = jnp.repeat(images, COLUMNS, axis=0)
  many_fields = {n: jnp.repeat(v, COLUMNS, axis=0) for n, v in fields.items()}
  restored, _, y = degrade_and_restore(rs, nets, frozen, many, many_fields, rng)
  first = measurement_picture(y[::COLUMNS], images.shape)
  drawn = unit(restored).reshape((rows, COLUMNS) + images.shape[1:])
  clean = unit(to_pm1(rs, images))
  return {"restore": jnp.concatenate([first[:, None], drawn, clean[:, None]], axis=1)}


def init(rng, example_batch, frozen):
  """Nothing of its own (an empty parameter tree)."""
  del example_batch, frozen
  return TrainState(step=jnp.zeros((), jnp.int32), params={}, opt_state=(),
                    ema_params=None, rng=jnp.asarray(rng, jnp.uint32))


def make_restore_family(config, deps):
  """The restoration Family: nothing trains; functions take ``frozen`` last."""
  rs, dep, first_stage = read_restore_settings(config, deps)
  nets = build_networks(rs, dep, first_stage)
  bind = lambda fn: functools.partial(fn, rs, nets)
  joint = bind(quality)
  keys = ("image", "mask") if rs.task == "inpaint_field" else ("image",)
  return Family(
      family="diffusion", model="restore", init=init, train_step=None,
      eval_metrics=dict({m: joint for m in METRICS}, diversity=bind(diversity)),
      sample=bind(sample), image_grids=bind(image_grids),
      data_to_unit=on_base.data_to_unit(first_stage), num_classes=None,
      deps=(DEP,), trains=False, cond_keys=keys)
