"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks"): ``model.name='pix2pix'``.

G maps the source field x = batch[model.source_key] (edges, a skeleton...) to
the target y = batch['image'] of the same example (paired data). D is a
PatchGAN on the pair: D(concat(x, .)) gives a map of logits. The objective
(eq. 4) G* = arg min_G max_D L_cGAN(G, D) + lambda L_L1(G), with lambda =
``model.lambda_l1`` (100), ``model.lambda_gan`` on the adversarial term (0: the
paper's "L1 alone" baseline, D not trained).

One train step is the reference's ``optimize_parameters``: G's forward once
(dropout from the step's key, G's batch statistics updated), then D's update
on (x, y) real and (x, G(x)) fake — two D calls, each with its own batch
statistics, loss 0.5 (L_real + L_fake) — then G's update against the
updated D (its statistics not kept), pulled back through the saved forward
(``jax.vjp``: G runs once per step). Losses (``gan_mode``): 'vanilla', binary
cross-entropy on every patch logit; 'lsgan', squared errors to 1 and 0.
Sampling is G at test time: running batch statistics and, as in the paper
(sec. 3.1), dropout on — pix2pix's only noise.
"""
import dataclasses
import functools
from typing import Any, Tuple

import jax
import jax.numpy as jnp

from genjax.config import require
from genjax.core.optim import optimizer_from_config
from genjax.core.state import init_key, step_rng
from genjax.errors import ConfigError, check_choice
from genjax.eval import image_quality
from genjax.families.base import Family, cycle_to, pm1_to_unit
from genjax.families.gan import losses as gan_losses
from genjax.families.gan.models import apply_with_stats
from genjax.families.translation import losses
from genjax.families.translation.state import apply_update, create_players_state
from genjax.nn.norms import IMAGE_NORMS
from genjax.nn.patchgan import PatchGAN, check_patchgan
from genjax.nn.translation_generators import ResNetTranslator, UNetTranslator, check_unet

GENERATORS = ("unet", "resnet")
GAN_MODES = ("vanilla", "lsgan")
COLUMNS = 3   # translations per source in the grid (dropout's variety)


@dataclasses.dataclass(frozen=True)
class Settings:
  image_shape: Tuple[int, int, int]
  source_key: str
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
  optim: Any
  grid_rows: int


def check_pair_shapes(s):
  """ConfigError unless source and target images have the same H and W."""
  if tuple(s.source_shape[:2]) != tuple(s.image_shape[:2]):
    raise ConfigError(
        f"pix2pix translates each {s.source_key!r} image into its paired 'image' "
        f"pixel for pixel, but model.source_shape={tuple(s.source_shape)} and "
        f"model.image_shape={tuple(s.image_shape)} differ in height/width. Resize or "
        f"pad both fields to one size in config.data.preprocess (e.g. 'pad(2)' "
        "before the op that derives the source) and set both shapes to it.")


def read_settings(config):
  """The model block as Settings; every start-up error of pix2pix."""
  model = lambda name: require(config, f"model.{name}")
  s = Settings(
      image_shape=tuple(int(d) for d in model("image_shape")),
      source_key=str(model("source_key")),
      source_shape=tuple(int(d) for d in model("source_shape")),
      generator=check_choice("translation generator", model("generator"), GENERATORS),
      ngf=int(model("ngf")), num_downs=int(model("num_downs")),
      n_blocks=int(model("n_blocks")),
      norm=check_choice("norm layer", model("norm"), IMAGE_NORMS),
      dropout=bool(model("dropout")), ndf=int(model("ndf")),
      n_layers=int(model("n_layers")),
      gan_mode=check_choice("pix2pix gan_mode", model("gan_mode"), GAN_MODES),
      lambda_gan=float(model("lambda_gan")), lambda_l1=float(model("lambda_l1")),
      optim=dict(require(config, "optim")), grid_rows=int(require(config, "sample.grid_rows")))
  check_pair_shapes(s)
  if s.generator == "unet":
    check_unet(s.num_downs, s.image_shape)
  check_patchgan(s.n_layers, s.image_shape)
  return s


@dataclasses.dataclass(frozen=True)
class Networks:
  generator: Any
  discriminator: Any
  optimizer: Any     # both players' (pix2pix: the same Adam for G and D)


def build_networks(s):
  if s.generator == "unet":
    g = UNetTranslator(s.image_shape[-1], s.num_downs, s.ngf, s.norm, s.dropout)
  else:
    g = ResNetTranslator(s.image_shape[-1], s.n_blocks, s.ngf, s.norm, s.dropout)
  optimizer, _ = optimizer_from_config(s.optim)
  return Networks(g, PatchGAN(s.ndf, s.n_layers, s.norm), optimizer)


def init(s, nets, rng, example_batch):
  """A fresh PlayersState with players 'G' and 'D'."""
  del example_batch   # shapes come from the settings
  g_rng, d_rng, drop_rng, state_rng = jax.random.split(rng, 4)
  x = jnp.zeros((1,) + s.source_shape, jnp.float32)
  pair = jnp.zeros((1,) + s.image_shape[:2] + (s.source_shape[-1] + s.image_shape[-1],))
  variables = {
      "G": nets.generator.init({"params": init_key(g_rng), "dropout": drop_rng}, x),
      "D": nets.discriminator.init(init_key(d_rng), pair)}
  return create_players_state(state_rng, variables,
                              {"G": nets.optimizer, "D": nets.optimizer})


def discriminator_loss(mode, real_logits, fake_logits):
  """The reference's 0.5 (L(D(x,y), 1) + L(D(x,G(x)), 0)), over every patch."""
  r, f = real_logits.reshape(-1), fake_logits.reshape(-1)
  if mode == "vanilla":
    return 0.5 * gan_losses.discriminator_loss("non_saturating", r, f)
  return gan_losses.discriminator_loss("least_squares", r, f)   # already halves


def generator_adversarial_loss(mode, fake_logits):
  """L(D(x, G(x)), 1) over every patch: BCE, or the squared error to 1."""
  f = fake_logits.reshape(-1)
  if mode == "vanilla":
    return gan_losses.generator_loss("non_saturating", f)
  return 2.0 * gan_losses.generator_loss("least_squares", f)


def pair(source, image):
  return jnp.concatenate([source, image], axis=-1)


def discriminator_update(s, nets, state, source, target, fake):
  """D's step on the real and the (fixed) fake pairs: (params, opt state,
  stats, loss)."""
  def objective(params):
    stats = state.stats["D"]
    real, stats = apply_with_stats(nets.discriminator, params, stats, pair(source, target),
                                   train=True)
    fake_logits, stats = apply_with_stats(nets.discriminator, params, stats,
                                          pair(source, fake), train=True)
    return discriminator_loss(s.gan_mode, real, fake_logits), stats

  (loss, stats), grads = jax.value_and_grad(objective, has_aux=True)(state.params["D"])
  params, opt_state = apply_update(nets.optimizer, grads, state.opt_state["D"],
                                   state.params["D"])
  return params, opt_state, stats, loss


def generator_objective(s, nets, d_params, d_stats, source, target, fake):
  """lambda_gan L_cGAN + lambda_l1 L_L1 as a function of the fakes (eq. 4):
  (loss, (adversarial term, L1 term))."""
  l1 = losses.l1(fake, target)
  adversarial = jnp.zeros(())
  if s.lambda_gan:
    logits, _ = apply_with_stats(nets.discriminator, d_params, d_stats, pair(source, fake),
                                 train=True)
    adversarial = generator_adversarial_loss(s.gan_mode, logits)
  return s.lambda_gan * adversarial + s.lambda_l1 * l1, (adversarial, l1)


def train_step(s, nets, state, batch):
  """One pix2pix iteration (module doc): (new state, metrics)."""
  rng = step_rng(state.rng, state.step)
  source, target = batch[s.source_key], batch["image"]

  def forward(g_params):
    return apply_with_stats(nets.generator, g_params, state.stats["G"], source, train=True,
                            rngs={"dropout": rng})

  fake, pullback, g_stats = jax.vjp(forward, state.params["G"], has_aux=True)
  params, opt_state, stats = dict(state.params), dict(state.opt_state), dict(state.stats)
  metrics = {}
  if s.lambda_gan:
    params["D"], opt_state["D"], stats["D"], metrics["d_loss"] = discriminator_update(
        s, nets, state, source, target, jax.lax.stop_gradient(fake))
  (g_loss, (adversarial, l1)), d_fake = jax.value_and_grad(
      functools.partial(generator_objective, s, nets, params["D"], stats["D"], source,
                        target), has_aux=True)(fake)
  (g_grads,) = pullback(d_fake)
  params["G"], opt_state["G"] = apply_update(nets.optimizer, g_grads, state.opt_state["G"],
                                             state.params["G"])
  stats["G"] = g_stats
  metrics.update(loss=g_loss, g_gan=adversarial, l1=l1)
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                       stats=stats), metrics


def translate_with(nets, g_params, g_stats, source, rng):
  """G at test time (running statistics, dropout on): images in [-1, 1]."""
  return nets.generator.apply({"params": g_params, **g_stats}, source, train=False,
                              rngs={"dropout": rng})


def translated(nets, state, source, rng):
  return translate_with(nets, state.params["G"], state.stats["G"], source, rng)


def eval_quality(s, nets, state, batch, rng):
  """``l1`` (mean |G(x) - y| on [0, 1]) and ``psnr`` / ``ssim`` to the target,
  per example, from one translation of each source."""
  fake = pm1_to_unit(translated(nets, state, batch[s.source_key], rng))
  target = pm1_to_unit(batch["image"])
  return {"l1": jnp.mean(jnp.abs(fake - target), axis=(1, 2, 3)),
          "psnr": image_quality.psnr(fake, target, 1.0),
          "ssim": image_quality.ssim(fake, target, 1.0)}


def sources_of(s, cond):
  if not cond or s.source_key not in cond:
    raise ConfigError(
        f"pix2pix translates given images: pass cond={{{s.source_key!r}: [num, H, W, C]}} "
        "(the loop passes the eval split's).")
  return jnp.asarray(cond[s.source_key], jnp.float32)


def sample(s, nets, state, rng, num, cond=None):
  """G's translations of the ``num`` sources cond[source_key], in [0, 1]."""
  return pm1_to_unit(translated(nets, state, cycle_to(sources_of(s, cond), num), rng))


def shown_source(source, channels):
  """A source map for display: each image min-max scaled to [0, 1] (sources
  come in any range: edges in {0, 1}, images in [-1, 1]), its channel mean
  repeated when the target has another number of channels."""
  low = jnp.min(source, axis=(1, 2, 3), keepdims=True)
  high = jnp.max(source, axis=(1, 2, 3), keepdims=True)
  source = (source - low) / jnp.maximum(high - low, 1e-6)
  if source.shape[-1] != channels:
    source = jnp.repeat(jnp.mean(source, axis=-1, keepdims=True), channels, axis=-1)
  return source


def stochastic(s):
  """Whether G has dropout at test time (the U-Net's num_downs - 5 layers)."""
  return s.dropout and (s.generator == "resnet" or s.num_downs > 5)


def image_grids(s, nets, state, batch, rng):
  """``translation``: per eval example, its source | its translations
  (COLUMNS, different dropout, when G is stochastic; else one) | the target."""
  source = cycle_to(batch[s.source_key], s.grid_rows)
  target = cycle_to(batch["image"], s.grid_rows)
  columns = COLUMNS if stochastic(s) else 1
  drawn = translated(nets, state, jnp.repeat(source, columns, axis=0), rng)
  drawn = pm1_to_unit(drawn).reshape((s.grid_rows, columns) + s.image_shape)
  return {"translation": jnp.concatenate(
      [shown_source(source, s.image_shape[-1])[:, None], drawn,
       pm1_to_unit(target)[:, None]], axis=1)}


def trained(s, nets, state, use_ema=True):
  """``bundle["trained"]``: G's and D's parameters and statistics (no EMA)."""
  del s, nets, use_ema
  return {"params": state.params, "stats": state.stats}


def translate(s, nets, bundle, source, rng):
  """Export: G's translations [B, H, W, C] in [0, 1] of ``source`` [B, H, W, Cs]."""
  del s
  t = bundle["trained"]
  return pm1_to_unit(translate_with(nets, t["params"]["G"], t["stats"]["G"], source, rng))


QUALITY = ("l1", "psnr", "ssim")


def make_pix2pix_family(config, deps=None):
  del deps
  s = read_settings(config)
  nets = build_networks(s)
  bind = lambda fn: functools.partial(fn, s, nets)
  quality = bind(eval_quality)   # one function: the loop runs it once for all three
  return Family(
      family="translation", model="pix2pix", init=bind(init), train_step=bind(train_step),
      eval_metrics={name: quality for name in QUALITY}, sample=bind(sample),
      image_grids=bind(image_grids), data_to_unit=pm1_to_unit, cond_keys=(s.source_key,),
      trained=bind(trained), exports={"translate": bind(translate)})
