"""The translation family's settings and networks, shared by its models.

Every model translates the batch field ``model.source_key`` (shape
``model.source_shape``) into images of ``model.target_key`` (shape
``model.image_shape``): pix2pix's pairs are one example's fields
('source' -> 'image'), CycleGAN's domains are the two streams of unpaired
data ('image' <-> 'target', ``data.unpaired``).
"""
import dataclasses
from typing import Any, Tuple

import jax.numpy as jnp

from genjax.config import require
from genjax.core.optim import optimizer_from_config, per_update_schedule
from genjax.errors import ConfigError, check_choice
from genjax.nn.norms import IMAGE_NORMS
from genjax.nn.patchgan import PatchGAN, check_patchgan
from genjax.nn.translation_generators import ResNetTranslator, UNetTranslator, check_unet

GENERATORS = ("unet", "resnet")
GAN_MODES = ("vanilla", "lsgan")
DIRECTIONS = ("AB", "BA")
PATCHGAN_MODELS = ("pix2pix", "cyclegan")


@dataclasses.dataclass(frozen=True)
class Settings:
  name: str
  image_shape: Tuple[int, int, int]
  source_key: str
  target_key: str
  source_shape: Tuple[int, int, int]
  generator: str
  ngf: int
  num_downs: int
  n_blocks: int
  norm: str
  dropout: bool
  ndf: int
  n_layers: int
  gan_mode: str
  lambda_gan: float
  lambda_l1: float
  lambda_cycle: float
  lambda_identity: float
  pool_size: int
  optim: Any
  grid_rows: int
  direction: str       # sample.direction: 'AB' | 'BA'
  domain_key: str = "domain"   # StarGAN's (stargan.py)
  attributes: Tuple[Tuple[str, str], ...] = ()
  domain_kind: str = "attributes"
  num_domains: int = 0
  domain_measure: str = ""
  d_layers: int = 6
  n_critic: int = 5
  lambda_gp: float = 10.0
  lambda_cls: float = 1.0
  lambda_rec: float = 10.0
  domain: str = "random"       # sample.domain


def check_pair_shapes(s):
  """ConfigError unless source and target images have the same H and W."""
  if tuple(s.source_shape[:2]) != tuple(s.image_shape[:2]):
    raise ConfigError(
        f"{s.name} translates each {s.source_key!r} image into a {s.target_key!r} "
        f"image pixel for pixel, but model.source_shape={tuple(s.source_shape)} and "
        f"model.image_shape={tuple(s.image_shape)} differ in height/width. Resize or "
        f"pad both fields to one size in config.data.preprocess (e.g. 'pad(2)' "
        "before the op that derives the source) and set both shapes to it.")


def attribute_words(attributes):
  """("thin/thick", ...) -> (("thin", "thick"), ...): each attribute's words
  for bit 0 and bit 1."""
  words = tuple(tuple(str(a).split("/")) for a in attributes)
  if any(len(w) != 2 or not all(w) or "+" in str(a) for w, a in zip(words, attributes)):
    raise ConfigError(
        f"model.attributes={tuple(attributes)!r}: each attribute is its two words "
        "for bit 0 and bit 1 joined by '/', without '+' (e.g. ('thin/thick', "
        "'left/right')).")
  return words


def star_fields(config):
  """StarGAN's fields of the model block (read for StarGAN only: runs of the
  other models, written before they existed, lack them)."""
  model = lambda name: require(config, f"model.{name}")
  return dict(
      domain_key=str(model("domain_key")), attributes=attribute_words(model("attributes")),
      domain_kind=str(model("domain_kind")), num_domains=int(model("num_domains")),
      domain_measure=str(model("domain_measure")), d_layers=int(model("d_layers")),
      n_critic=int(model("n_critic")), lambda_gp=float(model("lambda_gp")),
      lambda_cls=float(model("lambda_cls")), lambda_rec=float(model("lambda_rec")),
      domain=str(require(config, "sample.domain")))


def read_settings(config):
  """The model block as Settings, with the start-up errors shared by the models."""
  model = lambda name: require(config, f"model.{name}")
  shape = lambda name: tuple(int(d) for d in model(name))
  s = Settings(
      name=str(model("name")), image_shape=shape("image_shape"),
      source_key=str(model("source_key")), target_key=str(model("target_key")),
      source_shape=shape("source_shape"),
      generator=check_choice("translation generator", model("generator"), GENERATORS),
      ngf=int(model("ngf")), num_downs=int(model("num_downs")),
      n_blocks=int(model("n_blocks")),
      norm=check_choice("norm layer", model("norm"), IMAGE_NORMS),
      dropout=bool(model("dropout")), ndf=int(model("ndf")),
      n_layers=int(model("n_layers")),
      gan_mode=check_choice("translation gan_mode", model("gan_mode"), GAN_MODES),
      lambda_gan=float(model("lambda_gan")), lambda_l1=float(model("lambda_l1")),
      lambda_cycle=float(model("lambda_cycle")),
      lambda_identity=float(model("lambda_identity")), pool_size=int(model("pool_size")),
      optim=dict(require(config, "optim")), grid_rows=int(require(config, "sample.grid_rows")),
      direction=check_choice("sample.direction", require(config, "sample.direction"),
                             DIRECTIONS),
      **(star_fields(config) if str(model("name")) == "stargan" else {}))
  check_pair_shapes(s)
  if s.generator == "unet":
    check_unet(s.num_downs, s.image_shape)
  if s.name in PATCHGAN_MODELS:   # StarGAN's critic is checked by stargan.py
    check_patchgan(s.n_layers, s.image_shape)
  return s


def make_generator(s, out_channels):
  """The translator ``model.generator`` to ``out_channels`` channels."""
  if s.generator == "unet":
    return UNetTranslator(out_channels, s.num_downs, s.ngf, s.norm, s.dropout)
  return ResNetTranslator(out_channels, s.n_blocks, s.ngf, s.norm, s.dropout)


def make_discriminator(s):
  return PatchGAN(s.ndf, s.n_layers, s.norm)


def make_optimizer(s, updates_per_step=1):
  """Every player's optimiser (the references use one Adam setting for all);
  a player updated ``updates_per_step`` times per step (StarGAN's critic)
  gets its schedule in its own updates (``optim.per_update_schedule``)."""
  optimizer, _ = optimizer_from_config(per_update_schedule(s.optim, updates_per_step))
  return optimizer


def sources_of(s, cond, key=None):
  """``cond[key]`` (default ``model.source_key``) as float32: the images a
  translator's ``sample`` translates; a clear error without them."""
  key = s.source_key if key is None else key
  if not cond or key not in cond:
    raise ConfigError(
        f"{s.name} translates given images: pass cond={{{key!r}: [num, H, W, C]}} "
        "(the loop passes the eval split's).")
  return jnp.asarray(cond[key], jnp.float32)
