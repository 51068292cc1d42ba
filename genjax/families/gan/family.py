"""The GAN family: two players, one pure ``train_step`` the shared loop jits.

Config read (``config.model`` unless said otherwise; defaults in config.py):
  arch, image_shape, z_dim, g_hidden, d_hidden, g_channels, d_channels,
  num_classes, g_cond, d_cond, spectral_norm, d_batch_norm   the networks (models.py)
  loss          losses.LOSSES: minimax | non_saturating | hinge | least_squares | wasserstein
  penalty       none | r1 | r2 | gp, weighted by penalty_weight (R1/R2: gamma/2;
                gp: lambda), applied every ``penalty_every`` D steps and then
                scaled by that k (lazy regularisation, Karras et al. 2020b sec. 4)
  n_critic      D steps per G step (WGAN: 5)
  augment       none | diffaugment (diffaugment_policy) | ada (ada_ops, ada_target,
                ada_interval, ada_kimg)
  config.optim  lr (G), d_lr (D; TTUR; None = lr), b1, b2, grad_clip, ema_decay (G's EMA)
  config.sample truncation psi (0 = none), truncation_grid, grid_columns, use_ema
  model.stylegan2, sample.w_truncation(_grid, _cutoff)   archs 'stylegan2' and
                'stylegan' (stylegan2_family.py; StyleGAN's synthesis: stylegan.py)
  model.progan  arch 'progan' (progan_family.py)

Where the functions live (each a top-level pure function of ``(settings,
nets, ...)``; ``make_family`` binds the first two):
  steps.py       train_step = discriminator_steps (n_critic x discriminator_step)
                 + generator_step + ada_step
  sampling.py    sample, image_grids, generate, standing_stats (BigGAN's
                 standing BatchNorm statistics of the EMA generator)
  evaluation.py  eval_d_real, eval_r_t, eval_d_fake
  state.py       GANState, both players' parameters and optimisers in one pytree
  exports.py     trained (the bundle's parameters), generate, discriminate, z_dim
Data are 8-bit images in [-1, 1] (``scale_pm1``); samples come back in [0, 1].
"""
import dataclasses
import functools
from typing import Any, Dict, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from genjax.config import require
from genjax.core.optim import make_optimizer, optimizer_from_config, per_update_schedule
from genjax.core.precision import read_compute_dtype, require_float32
from genjax.core.state import init_key
from genjax.errors import ConfigError, check_choice
from genjax.families.base import Family, pm1_to_unit
from genjax.families.gan import augment as augment_lib
from genjax.families.gan import evaluation, exports, losses, models, sampling, steps
from genjax.families.gan import progan_family, stylegan2_family
from genjax.families.gan.state import create_gan_state

PENALTIES = ("none", "r1", "r2", "gp")
AUGMENTS = ("none", "diffaugment", "ada")


@dataclasses.dataclass(frozen=True)
class Settings:
  """The validated plain values of a GAN config."""
  arch: str
  image_shape: Tuple[int, int, int]
  z_dim: int
  g_hidden: Tuple[int, ...]
  d_hidden: Tuple[int, ...]
  g_channels: Tuple[int, ...]
  d_channels: Tuple[int, ...]
  num_classes: int              # 0: unconditional
  g_cond: str
  d_cond: str
  spectral_norm: bool
  d_batch_norm: bool
  loss: str
  penalty: str
  penalty_weight: float
  penalty_every: int
  n_critic: int
  augment: str
  diffaugment_policy: Tuple[str, ...]
  ada_ops: Tuple[str, ...]
  ada_target: float
  ada_interval: int
  ada_kimg: float
  optim: Dict[str, Any]         # config.optim: G's optimiser and the EMA decay
  d_lr: float                   # D's learning rate (TTUR)
  truncation: float
  truncation_grid: Tuple[float, ...]
  grid_columns: int
  use_ema: bool
  stylegan2: Any = None         # archs 'stylegan2', 'stylegan': StyleGAN2Settings (stylegan2_family.py)
  progan: Any = None            # arch 'progan': its ProGANSettings (progan_family.py)


def dataset_num_classes(data_config):
  """The number of label classes of the configured dataset (None: no labels)."""
  from genjax import data as data_lib
  return data_lib.num_classes(data_config)


def check_conditioning(settings, data_config):
  """ConfigError for an unknown conditioning, num_classes < 0, or more classes
  than the dataset's labels have (a conditional GAN needs labels)."""
  num_classes = settings.num_classes
  models.check_cond(num_classes, settings.g_cond, settings.d_cond)
  if num_classes < 0:
    raise ConfigError(f"model.num_classes must be >= 0, got {num_classes}.")
  if not num_classes:
    return
  have = dataset_num_classes(data_config)
  if not have:
    raise ConfigError(
        f"model.num_classes={num_classes}: a conditional GAN needs class labels, "
        f"but the dataset {data_config.name!r} has none. Set model.num_classes=0 "
        "(unconditional) or use a labelled dataset (mnist, fashion_mnist).")
  if num_classes > have:
    raise ConfigError(f"model.num_classes={num_classes}, but the dataset "
                      f"{data_config.name!r} has only {have} classes.")


def check_step_counts(settings):
  """ConfigError unless n_critic >= 1, penalty_every >= 1 and penalty_weight >= 0."""
  if settings.n_critic < 1:
    raise ConfigError(f"model.n_critic must be >= 1, got {settings.n_critic}.")
  if settings.penalty_every < 1:
    raise ConfigError(
        f"model.penalty_every must be >= 1, got {settings.penalty_every}.")
  if settings.penalty_weight < 0:
    raise ConfigError(
        f"model.penalty_weight must be >= 0, got {settings.penalty_weight}.")


def check_discriminator_constraints(settings):
  """ConfigError for a gradient penalty through D's BatchNorm, or a
  Wasserstein critic without a Lipschitz constraint."""
  penalty = settings.penalty
  if penalty != "none" and settings.d_batch_norm:
    raise ConfigError(
        f"model.penalty={penalty!r} with model.d_batch_norm=True: gradient "
        "penalties take per-example input gradients of D, which BatchNorm mixes "
        "across the batch (Gulrajani et al. 2017 sec. 4 drop it from the "
        "critic). Set d_batch_norm=False (spectral_norm=True is fine).")
  if settings.loss == "wasserstein" and penalty == "none" and not settings.spectral_norm:
    raise ConfigError(
        "model.loss='wasserstein' needs a Lipschitz constraint on D: set "
        "model.penalty='gp' with penalty_weight=10 (WGAN-GP) or "
        "model.spectral_norm=True.")


def discriminator_lr(d_lr, lr):
  """D's learning rate: ``optim.d_lr`` (> 0), or G's ``optim.lr`` when d_lr is None."""
  if d_lr is None:
    return float(lr)
  if float(d_lr) <= 0:
    raise ConfigError(f"config.optim.d_lr (D's learning rate) must be > 0, got {d_lr}.")
  return float(d_lr)


def check_augmentation(settings):
  """ConfigError for bad ADA settings or unknown names of the chosen augmentation."""
  if settings.augment == "ada":
    if not 0.0 < settings.ada_target < 1.0:
      raise ConfigError(
          "model.ada_target must be in (0, 1) (r_t = E[sign D(real)] is steered "
          f"toward it; the paper uses 0.6), got {settings.ada_target}.")
    if settings.ada_interval < 1 or settings.ada_kimg <= 0:
      raise ConfigError("model.ada_interval must be >= 1 and model.ada_kimg > 0, "
                        f"got {settings.ada_interval} and {settings.ada_kimg}.")
    for op in settings.ada_ops:
      check_choice("ADA augmentation", op, augment_lib.ADA_OPS)
  if settings.augment == "diffaugment":
    for op in settings.diffaugment_policy:
      check_choice("DiffAugment policy", op, augment_lib.DIFFAUGMENT_POLICIES)


def read_settings(config):
  """The one place a config becomes Settings; a ConfigError says what to change
  (for a missing field: where its default lives)."""
  field = lambda name: require(config, name)
  model = lambda name: require(config, f"model.{name}")
  settings = Settings(
      arch=check_choice("GAN architecture", model("arch"), models.ARCHS),
      image_shape=tuple(int(d) for d in model("image_shape")),
      z_dim=int(model("z_dim")),
      g_hidden=tuple(model("g_hidden")), d_hidden=tuple(model("d_hidden")),
      g_channels=tuple(model("g_channels")), d_channels=tuple(model("d_channels")),
      num_classes=int(model("num_classes")),
      g_cond=model("g_cond"), d_cond=model("d_cond"),
      spectral_norm=bool(model("spectral_norm")),
      d_batch_norm=bool(model("d_batch_norm")),
      loss=losses.check_loss(model("loss")),
      penalty=check_choice("GAN penalty", model("penalty"), PENALTIES),
      penalty_weight=float(model("penalty_weight")),
      penalty_every=int(model("penalty_every")), n_critic=int(model("n_critic")),
      augment=check_choice("GAN augmentation", model("augment"), AUGMENTS),
      diffaugment_policy=tuple(model("diffaugment_policy")),
      ada_ops=tuple(model("ada_ops")), ada_target=float(model("ada_target")),
      ada_interval=int(model("ada_interval")), ada_kimg=float(model("ada_kimg")),
      optim=dict(field("optim")),
      d_lr=discriminator_lr(field("optim.d_lr"), field("optim.lr")),
      truncation=float(field("sample.truncation") or 0.0),   # None, like 0: none
      truncation_grid=tuple(float(psi) for psi in field("sample.truncation_grid")),
      grid_columns=int(field("sample.grid_columns")),
      use_ema=bool(field("sample.use_ema")),
      stylegan2=stylegan2_family.read_stylegan2_settings(config),
      progan=progan_family.read_progan_settings(config))
  check_conditioning(settings, field("data"))
  check_step_counts(settings)
  check_discriminator_constraints(settings)
  check_augmentation(settings)
  return settings


@dataclasses.dataclass(frozen=True)
class Networks:
  """What make_family builds from the settings."""
  generator: nn.Module
  discriminator: nn.Module
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation   # G's, at D's learning rate
  ema_decay: float                            # of G's EMA


def build_networks(settings):
  """G and D (models.make_networks) and their optimisers."""
  generator, discriminator = models.make_networks(
      settings.arch, settings.image_shape, g_hidden=settings.g_hidden,
      d_hidden=settings.d_hidden, g_channels=settings.g_channels,
      d_channels=settings.d_channels, num_classes=settings.num_classes,
      g_cond=settings.g_cond, d_cond=settings.d_cond,
      spectral_norm=settings.spectral_norm, d_batch_norm=settings.d_batch_norm,
      stylegan2=settings.stylegan2, progan=settings.progan)
  g_optimizer, ema_decay = optimizer_from_config(settings.optim)
  # optim.groups (trainable groups) name G's parameters: D trains whole. D
  # takes n_critic updates per step: its schedule counts them.
  d_optimizer = make_optimizer(**per_update_schedule(
      dict(settings.optim, lr=settings.d_lr, groups=()), settings.n_critic))
  return Networks(generator, discriminator, g_optimizer, d_optimizer, ema_decay)


def init(settings, nets, rng, example_batch):
  """A fresh GANState; parameter shapes never depend on the batch."""
  g_rng, d_rng, state_rng = jax.random.split(rng, 3)
  images = jnp.asarray(example_batch["image"], jnp.float32)
  num = images.shape[0]
  labels = jnp.zeros((num,), jnp.int32) if settings.num_classes else None
  z = jnp.zeros((num, settings.z_dim), jnp.float32)
  # init_key: fast-compiling initialisers
  g_vars = nets.generator.init(init_key(g_rng), z, labels, train=False)
  d_vars = nets.discriminator.init(init_key(d_rng), images, labels, train=False)
  return create_gan_state(state_rng, g_vars, d_vars, nets.g_optimizer,
                          nets.d_optimizer)


def make_family(config, deps=None):
  """The GAN Family: reads the settings, builds G, D and their optimisers and
  binds the functions of steps.py, sampling.py and evaluation.py to them."""
  del deps  # builds on no other run
  require_float32(read_compute_dtype(config), "the GAN family (two players, "
                  "BatchNorm/spectral-norm statistics, gradient penalties)")
  settings = read_settings(config)
  nets = build_networks(settings)
  bind = lambda fn: functools.partial(fn, settings, nets)
  metrics = {"d_real": evaluation.eval_d_real, "r_t": evaluation.eval_r_t,
             "d_fake": evaluation.eval_d_fake}
  fns = dict(init=bind(init), train_step=bind(steps.train_step),
             sample=bind(sampling.sample), image_grids=bind(sampling.image_grids),
             exports=exports.family_exports(settings, nets))
  if settings.stylegan2 is not None:
    fns.update(stylegan2_family.family_functions(settings, nets, fns["init"]))
  if settings.progan is not None:
    fns.update(progan_family.family_functions(settings, nets, fns["init"]))
  return Family(
      family="gan", model=settings.arch,
      eval_metrics={name: bind(fn) for name, fn in metrics.items()},
      data_to_unit=pm1_to_unit, num_classes=settings.num_classes or None,
      trained=bind(exports.trained), **fns)
