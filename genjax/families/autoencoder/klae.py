"""The KL autoencoder (``model.name='klae'``): the first stage of latent
diffusion (Rombach et al. 2022, "KL-f4 / KL-f8"), trained with the VQGAN-style
patch discriminator (Esser et al. 2021), behind the family contract.

Config read (defaults: the ``model.klae`` block of config.py here, which is
LDM's KL-f4):
  model.image_shape         (H, W, C); H and W divisible by the factor f
  model.klae.downsample     f in {1, 2, 4, 8, ...}: a power of 2
  model.klae.latent_channels   c: latents are [H/f, W/f, c]
  model.klae.ch, ch_mult, num_res_blocks, mid_attention   the networks
                            (klae_networks.py); len(ch_mult) = log2(f) + 1
  model.klae.recon_loss     'l1' | 'l2' | 'l1+l2' (summed over pixels)
  model.klae.kl_weight      weight of the KL to N(0, I) (LDM: 1e-6)
  model.klae.disc_weight, disc_start   the adversarial term's weight (times
                            the adaptive weight) and the step it starts at
  model.klae.disc_layers, disc_channels   the PatchGAN's stride-2 convs, ndf
  model.klae.stats_decay    the EMA of the latents' moments (latent_stats)
  optim                     both optimisers (Adam; LDM: b1=0.5, b2=0.9, the
                            same learning rate), the EMA of the autoencoder
  sample.use_ema            evaluate, sample and draw grids with the EMA
Where the functions live: klae_networks.py (the networks), klae_losses.py
(the maths), klae_steps.py (state, init, train_step), klae_exports.py
(exports, metrics ``recon_mse`` / ``psnr`` / ``kl``, samples, grids).
"""
import dataclasses
import functools
import math
from typing import Any, Dict, Tuple

import flax.linen as nn
import optax

from genjax.config import require
from genjax.core.optim import make_optimizer, optimizer_from_config
from genjax.core.precision import read_compute_dtype, require_float32
from genjax.errors import ConfigError, check_choice
from genjax.families.autoencoder import klae_exports, klae_losses, klae_networks, klae_steps
from genjax.families.base import Family

FIELD = "config.model.klae"


@dataclasses.dataclass(frozen=True)
class Settings:
  """The validated plain values of a KL autoencoder's config."""
  image_shape: Tuple[int, int, int]
  downsample: int
  latent_channels: int
  ch: int
  ch_mult: Tuple[int, ...]
  num_res_blocks: int
  mid_attention: bool
  recon_loss: str
  kl_weight: float
  disc_weight: float
  disc_start: int
  disc_layers: int
  disc_channels: int
  stats_decay: float
  use_ema: bool
  optim: Dict[str, Any]         # config.optim, for both optimisers


def check_downsample(factor, ch_mult):
  """ConfigError unless f is a power of 2 and ch_mult has log2(f) + 1 levels."""
  if factor < 1 or factor & (factor - 1):
    raise ConfigError(
        f"{FIELD}.downsample={factor} is not a power of 2: the encoder halves H "
        "and W once between levels, so the factor f is 1, 2, 4, 8, ... (LDM's "
        "KL-f4 / KL-f8: 4 or 8).")
  levels = int(math.log2(factor)) + 1
  if len(ch_mult) != levels:
    raise ConfigError(
        f"{FIELD}.ch_mult={tuple(ch_mult)} has {len(ch_mult)} levels, but "
        f"downsample={factor} needs log2({factor}) + 1 = {levels} (a stride-2 "
        f"step between levels); e.g. ch_mult={(1,) + (2,) * (levels - 1)}.")


def check_image_shape(image_shape, factor):
  """ConfigError unless f divides H and W, naming the resize that fixes it."""
  h, w = image_shape[:2]
  if h % factor or w % factor:
    fit = -(-max(h, w) // factor) * factor
    raise ConfigError(
        f"model.image_shape {tuple(image_shape)}: H={h} and W={w} must be divisible "
        f"by {FIELD}.downsample={factor}. Resize the images: add 'resize({fit})' to "
        f"config.data.preprocess and set model.image_shape=({fit}, {fit}, "
        f"{image_shape[2]}) (MNIST at f=8: resize(32)), or use a smaller factor.")


def check_counts(settings):
  """ConfigError for c <= 0, no ResNet blocks, negative weights or start, a
  decay outside [0, 1), or a PatchGAN too deep for the images."""
  if settings.latent_channels < 1:
    raise ConfigError(f"{FIELD}.latent_channels must be >= 1 (c, the latent's "
                      f"channels; LDM: 3 at f=4, 4 at f=8), got "
                      f"{settings.latent_channels}.")
  if settings.num_res_blocks < 1 or settings.ch < 1:
    raise ConfigError(f"{FIELD}.num_res_blocks and {FIELD}.ch must be >= 1.")
  if min(settings.kl_weight, settings.disc_weight, settings.disc_start) < 0:
    raise ConfigError(f"{FIELD}.kl_weight, disc_weight and disc_start must be >= 0.")
  if not 0.0 <= settings.stats_decay < 1.0:
    raise ConfigError(f"{FIELD}.stats_decay must be in [0, 1), got "
                      f"{settings.stats_decay}.")
  most = klae_networks.most_critic_layers(min(settings.image_shape[:2]))
  if not 1 <= settings.disc_layers <= most:
    raise ConfigError(
        f"{FIELD}.disc_layers={settings.disc_layers}: the PatchGAN of "
        f"{settings.image_shape[:2]} images takes 1 to {most} stride-2 layers "
        "(each halves the map; two stride-1 4x4 convs follow).")


def read_settings(config):
  """The one place a config becomes Settings; a ConfigError says what to change."""
  field = lambda name: require(config, f"model.klae.{name}")
  image_shape = tuple(int(d) for d in require(config, "model.image_shape"))
  if len(image_shape) != 3:
    raise ConfigError(f"model.image_shape must be (H, W, C), got {image_shape}.")
  factor, ch_mult = int(field("downsample")), tuple(int(m) for m in field("ch_mult"))
  check_downsample(factor, ch_mult)
  check_image_shape(image_shape, factor)
  settings = Settings(
      image_shape=image_shape, downsample=factor,
      latent_channels=int(field("latent_channels")), ch=int(field("ch")),
      ch_mult=ch_mult, num_res_blocks=int(field("num_res_blocks")),
      mid_attention=bool(field("mid_attention")),
      recon_loss=check_choice("KL-AE recon_loss", field("recon_loss"),
                              klae_losses.RECON_LOSSES),
      kl_weight=float(field("kl_weight")), disc_weight=float(field("disc_weight")),
      disc_start=int(field("disc_start")), disc_layers=int(field("disc_layers")),
      disc_channels=int(field("disc_channels")),
      stats_decay=float(field("stats_decay")),
      use_ema=bool(require(config, "sample.use_ema")),
      optim=dict(require(config, "optim")))
  check_counts(settings)
  return settings


@dataclasses.dataclass(frozen=True)
class Networks:
  """What make_klae_family builds from the settings."""
  autoencoder: nn.Module
  discriminator: nn.Module
  optimizer: optax.GradientTransformation     # the autoencoder's
  d_optimizer: optax.GradientTransformation   # the same optimiser, D's own state
  ema_decay: float


def build_networks(settings):
  """The autoencoder, the PatchGAN and their optimisers (``optim.groups``
  name the autoencoder's parameters; D trains whole)."""
  autoencoder = klae_networks.KLAutoencoder(
      settings.ch, settings.ch_mult, settings.num_res_blocks, settings.mid_attention,
      settings.latent_channels, settings.image_shape[-1])
  discriminator = klae_networks.PatchDiscriminator(settings.disc_channels,
                                                   settings.disc_layers)
  optimizer, ema_decay = optimizer_from_config(settings.optim)
  d_optimizer = make_optimizer(**dict(settings.optim, groups=()))
  return Networks(autoencoder, discriminator, optimizer, d_optimizer, ema_decay)


def make_klae_family(config, deps=None):
  """The KL autoencoder's Family: reads the settings, builds the networks and
  binds klae_steps.py's and klae_exports.py's functions to them."""
  del deps  # builds on no other run
  require_float32(read_compute_dtype(config), "the KL autoencoder (two players "
                  "and the adaptive weight's gradients)")
  settings = read_settings(config)
  nets = build_networks(settings)
  bind = lambda fn: functools.partial(fn, settings, nets)
  return Family(
      family="autoencoder", model="klae", init=bind(klae_steps.init),
      train_step=bind(klae_steps.train_step),
      eval_metrics={name: bind(fn) for name, fn in klae_exports.EVAL_METRICS.items()},
      sample=bind(klae_exports.sample), image_grids=bind(klae_exports.image_grids),
      exports=klae_exports.family_exports(settings, nets))
