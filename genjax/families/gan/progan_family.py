"""ProGAN in the GAN family (``model.arch='progan'``; Karras et al. 2018,
"Progressive Growing of GANs for Improved Quality, Stability, and
Variation"): its settings, growth schedule, state and train step; the rest is
the family's.

Config read (besides the family's, family.py; defaults in config.py):
  model.progan  fmap_base, fmap_max, mbstd_group (the networks, progan.py);
                fade_kimg, stable_kimg (the schedule); epsilon_drift (the
                drift term, losses.drift_penalty, in steps.discriminator_objective)
The loss is the family's WGAN-GP (model.loss='wasserstein', penalty='gp',
penalty_weight=10, n_critic=1) and the paper's Adam is lr 0.001, betas
(0, 0.99), eps 1e-8 (sec. 4.1, app. A.1): the experiments set them.

Schedule (sec. 2-3; the reference's ``TrainingSchedule``): level 0 (4x4) for
``stable_kimg`` thousand images, then per level ``fade_kimg`` of fade-in
(alpha rising linearly from 0 to 1) followed by ``stable_kimg`` at alpha 1;
the last level stays. Level and alpha are a pure function of the real images
shown so far, ``ProGANState.images_seen``, so a run resumed mid-fade continues
exactly. The train step writes them into both networks' 'progress'
collection (in ``g_stats`` / ``d_stats``), shows D the reals at that level
(``progan.level_images``: pooled, faded, upsampled back) and runs the family's
step; the state it returns carries the level and alpha of its own count, so
sampling, evaluation and exports use the current level.
"""
import dataclasses
import functools
import math

import jax.numpy as jnp

from genjax.config import require
from genjax.errors import ConfigError
from genjax.families.gan import progan, steps
from genjax.families.gan.state import with_images_seen


@dataclasses.dataclass(frozen=True)
class ProGANSettings:
  """``model.progan``, validated."""
  fmap_base: int
  fmap_max: int
  mbstd_group: int
  fade_kimg: float
  stable_kimg: float
  epsilon_drift: float
  max_level: int          # L: the data's side is 4 * 2^L


def kimg_images(kimg):
  """Thousands of images -> a whole number of images."""
  return int(round(kimg * 1000))


def growth_schedule(images_seen, max_level, fade_images, stable_images):
  """(level int32, alpha float32) after ``images_seen`` real images: level 0
  for ``stable_images``, then per level ``fade_images`` with alpha = (images
  into the level) / fade_images, then ``stable_images`` at alpha 1; from
  ``max_level`` on alpha stays 1 (the reference's lod = L - level + 1 - alpha)."""
  n = jnp.asarray(images_seen, jnp.int32)
  phase = fade_images + stable_images
  grown = jnp.maximum(n - stable_images, 0)
  level = jnp.where(n < stable_images, 0, 1 + grown // phase)
  into = (grown - (level - 1) * phase).astype(jnp.float32)
  alpha = jnp.minimum(into / fade_images, 1.0) if fade_images else jnp.float32(1.0)
  alpha = jnp.where((level == 0) | (level > max_level), 1.0, alpha)
  return jnp.minimum(level, max_level).astype(jnp.int32), alpha.astype(jnp.float32)


def schedule_at(settings, images_seen):
  """(level, alpha) of ``settings`` after ``images_seen`` images."""
  s = settings.progan
  return growth_schedule(images_seen, s.max_level, kimg_images(s.fade_kimg),
                         kimg_images(s.stable_kimg))


def check_schedule(s):
  """ConfigError unless fade_kimg, stable_kimg >= 0 (finite) with a positive sum."""
  kimgs = (s.fade_kimg, s.stable_kimg)
  if not all(math.isfinite(k) and k >= 0 for k in kimgs) or not sum(map(kimg_images, kimgs)):
    raise ConfigError(
        f"model.progan.fade_kimg={s.fade_kimg} and stable_kimg={s.stable_kimg}: "
        "each level fades in over fade_kimg thousand images and then trains "
        "stable_kimg more (the paper: 600 and 600), so both must be finite and "
        ">= 0, and together at least one image (0.001 kimg).")


def check_networks(s, config):
  """ConfigError for sizes < 1, a negative drift, and the family's options
  ProGAN's networks do not have (labels, spectral norm, BatchNorm in D)."""
  for name in ("fmap_base", "fmap_max"):
    if getattr(s, name) < 1:
      raise ConfigError(f"config.model.progan.{name} must be >= 1, got {getattr(s, name)}.")
  if s.mbstd_group < 0 or s.epsilon_drift < 0:
    raise ConfigError("config.model.progan: mbstd_group and epsilon_drift must be >= 0, "
                      f"got {s.mbstd_group} and {s.epsilon_drift}.")
  if require(config, "model.spectral_norm") or require(config, "model.d_batch_norm"):
    raise ConfigError(
        "model.arch='progan' has an equalised-learning-rate discriminator "
        "without spectral norm or BatchNorm (WGAN-GP is its constraint): set "
        "model.spectral_norm=False and model.d_batch_norm=False.")
  if int(require(config, "model.num_classes")):
    raise ConfigError(
        "model.arch='progan' is unconditional here: set model.num_classes=0 "
        "(or use arch 'dcgan', 'resnet' or 'stylegan2' for a class-conditional GAN).")


def read_progan_settings(config):
  """ProGANSettings of a config with model.arch='progan' (checked), None for
  the family's other architectures."""
  if require(config, "model.arch") != "progan":
    return None
  group = lambda name: require(config, f"model.progan.{name}")
  s = ProGANSettings(
      **{name: int(group(name)) for name in ("fmap_base", "fmap_max", "mbstd_group")},
      **{name: float(group(name)) for name in ("fade_kimg", "stable_kimg", "epsilon_drift")},
      max_level=progan.max_level(require(config, "model.image_shape")))
  check_schedule(s)
  check_networks(s, config)
  return s


def with_progress(state, level, alpha):
  """The state with (level, alpha) in G's and D's 'progress' collections."""
  progress = {"level": level, "alpha": alpha}
  return state.replace(g_stats=dict(state.g_stats, **{progan.PROGRESS: progress}),
                       d_stats=dict(state.d_stats, **{progan.PROGRESS: progress}))


def with_schedule(settings, state):
  """The state with the level and alpha of its ``images_seen``."""
  return with_progress(state, *schedule_at(settings, state.images_seen))


def init(settings, base_init, rng, example_batch):
  """A fresh ProGANState: the family's GANState, 0 images seen, level 0."""
  return with_schedule(settings, with_images_seen(base_init(rng, example_batch)))


def train_step(settings, nets, state, batch):
  """One ProGAN step: the family's step (n_critic D steps, one G step) at the
  level and alpha of ``state.images_seen``, D shown the reals at that level;
  then the count moves on by the batch. Metrics: the family's plus ``level``
  and ``alpha`` of this step (the loop logs ``images_seen``)."""
  level, alpha = schedule_at(settings, state.images_seen)
  real = progan.level_images(batch["image"].astype(jnp.float32), level, alpha,
                             settings.progan.max_level)
  new_state, metrics = steps.train_step(settings, nets, with_progress(state, level, alpha),
                                        dict(batch, image=real))
  new_state = new_state.replace(images_seen=state.images_seen + real.shape[0])
  return with_schedule(settings, new_state), dict(
      metrics, level=level.astype(jnp.float32), alpha=alpha)


def family_functions(settings, nets, base_init):
  """The Family fields that differ from the family's other architectures."""
  return dict(init=functools.partial(init, settings, base_init),
              train_step=functools.partial(train_step, settings, nets))
