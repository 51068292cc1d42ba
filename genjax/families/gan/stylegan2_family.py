"""StyleGAN2 in the GAN family (``model.arch='stylegan2'``; Karras et al.
2020): its settings, state and generator step; the rest is the family's.
StyleGAN (``model.arch='stylegan'``, Karras et al. 2019; stylegan.py) reads
the same settings and runs the same step with its own synthesis network.

Config read (besides the family's, family.py; defaults in config.py):
  model.stylegan2  w_dim, mapping_layers, mapping_lr_mul, channel_base,
                   channel_max, mbstd_group, mbstd_channels, d_architecture
                   (the networks, stylegan2.py); style_mixing (probability,
                   in [0, 1]); w_avg_beta; pl_weight, pl_interval,
                   pl_batch_shrink, pl_decay
  config.sample    w_truncation (psi in [0, 1] of the truncation in w toward
                   w_avg; 1 = none), w_truncation_cutoff (> 0: only layers
                   below it, StyleGAN's 8), w_truncation_grid, grid_rows
  R1 is the family's lazy penalty: model.penalty='r1', penalty_weight =
  gamma / 2, penalty_every = 16 (Karras et al. 2020 sec. 3.1 / app. B).

The step is the family's ``steps.train_step`` (n_critic D steps with the
lazy R1, ADA) with ``generator_step`` below as its G step: the
non-saturating loss on mixed styles, plus, every ``pl_interval``-th step, the
path-length penalty (eq. 4) on a fresh batch of batch // pl_batch_shrink
latents, times pl_weight * pl_interval (lazy regularisation). Changing state:
G's EMA, w_avg (in ``g_stats``; it moves on the G step's latents, once per
step), a (``StyleGAN2State.pl_mean``), ADA's p and the step counter, so a
resumed run continues exactly.
"""
import dataclasses
import functools
from typing import Tuple

import jax
import jax.numpy as jnp
import optax

from genjax.config import read_grid_rows, require
from genjax.errors import ConfigError, check_choice
from genjax.families.gan import losses, steps, stylegan2, stylegan2_sampling
from genjax.families.gan.state import with_path_length_mean

STYLE_ARCHS = ("stylegan", "stylegan2")   # the architectures that read model.stylegan2


@dataclasses.dataclass(frozen=True)
class StyleGAN2Settings:
  """``model.stylegan2`` and StyleGAN2's sampling settings, validated."""
  w_dim: int
  mapping_layers: int
  mapping_lr_mul: float
  channel_base: int
  channel_max: int
  mbstd_group: int
  mbstd_channels: int
  style_mixing: float
  w_avg_beta: float
  pl_weight: float
  pl_interval: int
  pl_batch_shrink: int
  pl_decay: float
  d_architecture: str                 # D's: stylegan2.D_ARCHITECTURES
  w_truncation: float                 # sample.w_truncation: psi
  w_truncation_cutoff: int            # sample.w_truncation_cutoff: 0 = every layer
  w_truncation_grid: Tuple[float, ...]
  grid_rows: int                      # sample.grid_rows: rows of the interpolation grid


def check_range(name, value, low, high, what):
  """``value`` if low <= value <= high, else a ConfigError naming config.``name``."""
  if not low <= value <= high:
    raise ConfigError(f"config.{name} ({what}) must be in [{low}, {high}], got {value}.")
  return value


def check_sizes(s):
  """ConfigError unless the widths, depths, intervals and batch shrink are >= 1
  (mbstd_channels >= 0) and the learning-rate multiplier and decays are in range."""
  for name in ("w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group",
               "pl_interval", "pl_batch_shrink"):
    if getattr(s, name) < 1:
      raise ConfigError(f"config.model.stylegan2.{name} must be >= 1, got "
                        f"{getattr(s, name)}.")
  if s.mbstd_channels < 0 or s.mapping_lr_mul <= 0 or s.pl_weight < 0:
    raise ConfigError(
        "config.model.stylegan2: mbstd_channels must be >= 0, mapping_lr_mul > 0 "
        f"and pl_weight >= 0; got {s.mbstd_channels}, {s.mapping_lr_mul}, {s.pl_weight}.")
  check_range("model.stylegan2.w_avg_beta", s.w_avg_beta, 0.0, 1.0, "w_avg's decay")
  check_range("model.stylegan2.pl_decay", s.pl_decay, 0.0, 1.0, "path-length mean's decay")


def check_truncation_and_mixing(s, z_truncation, arch):
  """One-paragraph ConfigErrors for a psi or a mixing probability outside
  [0, 1], a negative truncation cutoff, or BigGAN's truncation in z set on a
  StyleGAN (model.arch ``arch``)."""
  what = ("psi of StyleGAN2's truncation in w, w_avg + psi (w - w_avg): 1 leaves w, "
          "0 gives w_avg for every sample; values outside [0, 1] extrapolate away from "
          "the data (StyleGAN, Karras et al. 2019, app. B)")
  check_range("sample.w_truncation", s.w_truncation, 0.0, 1.0, what)
  for psi in s.w_truncation_grid:
    check_range("sample.w_truncation_grid", psi, 0.0, 1.0, what)
  check_range("model.stylegan2.style_mixing", s.style_mixing, 0.0, 1.0,
              "the probability of style mixing regularisation, StyleGAN sec. 3.1; "
              "the paper uses 0.9, 0 turns it off")
  if s.w_truncation_cutoff < 0:
    raise ConfigError(
        f"sample.w_truncation_cutoff must be >= 0 (0 truncates every layer of w; "
        f"StyleGAN truncates layers < 8), got {s.w_truncation_cutoff}.")
  if z_truncation:
    raise ConfigError(
        f"sample.truncation={z_truncation}: that is BigGAN's truncation of z, which "
        f"model.arch={arch!r} does not use; it truncates in w toward w_avg. Set "
        "sample.truncation=0 and sample.w_truncation=psi (e.g. 0.7).")


def check_compatible(s, config, arch):
  """ConfigError for settings of the family that StyleGAN's and StyleGAN2's
  networks do not have (spectral norm, BatchNorm in D) and a path-length
  batch of 0."""
  if require(config, "model.spectral_norm") or require(config, "model.d_batch_norm"):
    raise ConfigError(
        f"model.arch={arch!r} has an equalised-learning-rate discriminator "
        "without spectral norm or BatchNorm (R1 is its constraint): set "
        "model.spectral_norm=False and model.d_batch_norm=False.")
  batch = int(require(config, "train.batch_size"))
  if s.pl_weight and batch // s.pl_batch_shrink < 1:
    raise ConfigError(
        f"train.batch_size={batch} // model.stylegan2.pl_batch_shrink="
        f"{s.pl_batch_shrink} leaves no latents for the path-length penalty: "
        "lower pl_batch_shrink or raise the batch.")
  channels = stylegan2.channels_at(4, s.channel_base, s.channel_max)
  if s.mbstd_channels and channels % s.mbstd_channels:
    raise ConfigError(f"model.stylegan2.mbstd_channels={s.mbstd_channels} must divide "
                      f"the {channels} channels of D's 4x4 features.")


def read_stylegan2_settings(config):
  """StyleGAN2Settings of a config with model.arch in STYLE_ARCHS ('stylegan'
  and 'stylegan2' share the group; checked), None for the family's other
  architectures."""
  arch = require(config, "model.arch")
  if arch not in STYLE_ARCHS:
    return None
  group = lambda name: require(config, f"model.stylegan2.{name}")
  ints = ("w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group",
          "mbstd_channels", "pl_interval", "pl_batch_shrink")
  floats = ("mapping_lr_mul", "style_mixing", "w_avg_beta", "pl_weight", "pl_decay")
  s = StyleGAN2Settings(
      **{name: int(group(name)) for name in ints},
      **{name: float(group(name)) for name in floats},
      d_architecture=check_choice("StyleGAN2 discriminator architecture "
                                  "(model.stylegan2.d_architecture)",
                                  group("d_architecture"), stylegan2.D_ARCHITECTURES),
      w_truncation=float(require(config, "sample.w_truncation")),
      w_truncation_cutoff=int(require(config, "sample.w_truncation_cutoff")),
      w_truncation_grid=tuple(float(p) for p in require(config, "sample.w_truncation_grid")),
      grid_rows=read_grid_rows(config))
  stylegan2.resolution_log2(require(config, "model.image_shape"), arch)
  check_sizes(s)
  check_truncation_and_mixing(s, float(require(config, "sample.truncation") or 0.0), arch)
  check_compatible(s, config, arch)
  return s


def init(base_init, rng, example_batch):
  """A fresh StyleGAN2State: the family's GANState (its G statistics hold
  w_avg = 0) and the path-length mean a = 0."""
  return with_path_length_mean(base_init(rng, example_batch))


def path_length_term(settings, nets, g_params, g_stats, labels, num, rng, pl_mean):
  """(path-length penalty, the new a) of G on ``num`` fresh latents with mixed
  styles and fixed noise: ``losses.path_lengths`` of the synthesis network at
  those ws (eq. 4); gradients reach the mapping network through ws."""
  z_rng, mixing_rng, noise_rng, y_rng = jax.random.split(rng, 4)
  z = steps.sample_latents(settings, z_rng, num)
  labels = None if labels is None else labels[:num]
  variables = {"params": g_params, **g_stats}
  ws = nets.generator.apply(variables, z, labels, True, rngs={"mixing": mixing_rng},
                            method="styles")
  synthesize = lambda w: nets.generator.apply(variables, w, rngs={"noise": noise_rng},
                                              method="synthesize")
  return losses.path_length_penalty(losses.path_lengths(synthesize, ws, y_rng), pl_mean,
                                    settings.stylegan2.pl_decay)


def generator_objective(settings, nets, g_params, g_stats, d_params, d_stats, z, labels,
                        rng, ada_p, pl_mean, pl_due):
  """The family's G loss (``steps.generator_objective``) plus, where
  ``pl_due``, pl_weight * pl_interval * the path-length penalty. Returns
  (total, (G's new statistics, G's loss, penalty, new a))."""
  augment_rng, g_rng, pl_rng = jax.random.split(rng, 3)
  loss, new_stats = steps.generator_objective(
      settings, nets, g_params, g_stats, d_params, d_stats, z, labels, augment_rng,
      ada_p, steps.generator_rngs(g_rng))
  s = settings.stylegan2
  if not s.pl_weight:
    return loss, (new_stats, loss, jnp.zeros((), loss.dtype), pl_mean)
  penalty, new_mean = jax.lax.cond(
      pl_due,
      lambda: path_length_term(settings, nets, g_params, g_stats, labels,
                               max(1, z.shape[0] // s.pl_batch_shrink), pl_rng, pl_mean),
      lambda: (jnp.zeros((), loss.dtype), pl_mean))
  total = loss + s.pl_weight * s.pl_interval * penalty
  return total, (new_stats, loss, penalty, new_mean)


def generator_step(settings, nets, state, labels, rng, num):
  """StyleGAN2's G step (``steps.generator_step``'s arguments): one update on
  the loss and, every ``pl_interval``-th step (lazily), the path-length
  penalty; then G's EMA and the new a. Returns (state, metrics)."""
  z_rng, objective_rng = jax.random.split(rng)
  z = steps.sample_latents(settings, z_rng, num)
  due = state.step % settings.stylegan2.pl_interval == 0
  objective = functools.partial(generator_objective, settings, nets)
  (_, (g_stats, g_loss, penalty, pl_mean)), grads = jax.value_and_grad(
      objective, has_aux=True)(state.g_params, state.g_stats, state.d_params,
                               state.d_stats, z, labels, objective_rng, state.ada_p,
                               state.pl_mean, due)
  new_state = steps.update_generator(nets, state, grads, g_stats).replace(pl_mean=pl_mean)
  return new_state, dict(g_loss=g_loss, g_grad_norm=optax.global_norm(grads),
                         pl_penalty=penalty, pl_mean=pl_mean)


def family_functions(settings, nets, base_init):
  """The Family fields that differ from the family's other architectures."""
  bind = lambda fn: functools.partial(fn, settings, nets)
  return dict(init=functools.partial(init, base_init),
              train_step=functools.partial(steps.train_step, settings, nets,
                                           g_step=generator_step),
              sample=bind(stylegan2_sampling.sample),
              image_grids=bind(stylegan2_sampling.image_grids),
              exports=stylegan2_sampling.family_exports(settings, nets))
