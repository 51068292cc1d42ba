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
from typing import Any

import jax
import jax.numpy as jnp

from genjax.core.state import init_key, step_rng
from genjax.errors import ConfigError
from genjax.eval import image_quality
from genjax.families.base import Family, cycle_to, pm1_to_unit
from genjax.families.gan.models import apply_with_stats
from genjax.families.translation import losses, settings
from genjax.families.translation.state import (apply_update, create_players_state,
                                               discriminator_step, trained_players)

COLUMNS = 3   # translations per source in the grid (dropout's variety)


@dataclasses.dataclass(frozen=True)
class Networks:
  generator: Any
  discriminator: Any
  optimizer: Any     # both players' (pix2pix: the same Adam for G and D)


def build_networks(s):
  return Networks(settings.make_generator(s, s.image_shape[-1]),
                  settings.make_discriminator(s), settings.make_optimizer(s))


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


def pair(source, image):
  return jnp.concatenate([source, image], axis=-1)


def generator_objective(s, nets, d_params, d_stats, source, target, fake):
  """lambda_gan L_cGAN + lambda_l1 L_L1 as a function of the fakes (eq. 4):
  (loss, (adversarial term, L1 term))."""
  l1 = losses.l1(fake, target)
  adversarial = jnp.zeros(())
  if s.lambda_gan:
    logits, _ = apply_with_stats(nets.discriminator, d_params, d_stats, pair(source, fake),
                                 train=True)
    adversarial = losses.patch_generator_loss(s.gan_mode, logits)
  return s.lambda_gan * adversarial + s.lambda_l1 * l1, (adversarial, l1)


def train_step(s, nets, state, batch):
  """One pix2pix iteration (module doc): (new state, metrics)."""
  rng = step_rng(state.rng, state.step)
  source, target = batch[s.source_key], batch[s.target_key]

  def forward(g_params):
    return apply_with_stats(nets.generator, g_params, state.stats["G"], source, train=True,
                            rngs={"dropout": rng})

  fake, pullback, g_stats = jax.vjp(forward, state.params["G"], has_aux=True)
  params, opt_state, stats = dict(state.params), dict(state.opt_state), dict(state.stats)
  metrics = {}
  if s.lambda_gan:
    params["D"], opt_state["D"], stats["D"], metrics["d_loss"] = discriminator_step(
        nets.discriminator, nets.optimizer, s.gan_mode, state.params["D"],
        state.opt_state["D"], state.stats["D"], pair(source, target),
        pair(source, jax.lax.stop_gradient(fake)))
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
  target = pm1_to_unit(batch[s.target_key])
  return {"l1": jnp.mean(jnp.abs(fake - target), axis=(1, 2, 3)),
          "psnr": image_quality.psnr(fake, target, 1.0),
          "ssim": image_quality.ssim(fake, target, 1.0)}


def sample(s, nets, state, rng, num, cond=None):
  """G's translations of the ``num`` sources cond[source_key], in [0, 1]."""
  return pm1_to_unit(translated(nets, state, cycle_to(settings.sources_of(s, cond), num), rng))


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
  target = cycle_to(batch[s.target_key], s.grid_rows)
  columns = COLUMNS if stochastic(s) else 1
  drawn = translated(nets, state, jnp.repeat(source, columns, axis=0), rng)
  drawn = pm1_to_unit(drawn).reshape((s.grid_rows, columns) + s.image_shape)
  return {"translation": jnp.concatenate(
      [shown_source(source, s.image_shape[-1])[:, None], drawn,
       pm1_to_unit(target)[:, None]], axis=1)}


def trained(s, nets, state, use_ema=True):
  """``bundle["trained"]``: G's and D's parameters and statistics (no EMA)."""
  del s, nets, use_ema
  return trained_players(state)


def translate(s, nets, bundle, source, rng):
  """Export: G's translations [B, H, W, C] in [0, 1] of ``source`` [B, H, W, Cs]."""
  del s
  t = bundle["trained"]
  return pm1_to_unit(translate_with(nets, t["params"]["G"], t["stats"]["G"], source, rng))


QUALITY = ("l1", "psnr", "ssim")


def make_pix2pix_family(config, deps=None):
  del deps
  s = settings.read_settings(config)
  if s.direction != "AB":
    raise ConfigError(
        f"sample.direction={s.direction!r}: pix2pix has one generator, from "
        f"{s.source_key!r} to {s.target_key!r} (direction 'AB'). Drop the override; "
        "'BA' is CycleGAN's G_BA.")
  nets = build_networks(s)
  bind = lambda fn: functools.partial(fn, s, nets)
  quality = bind(eval_quality)   # one function: the loop runs it once for all three
  return Family(
      family="translation", model="pix2pix", init=bind(init), train_step=bind(train_step),
      eval_metrics={name: quality for name in QUALITY}, sample=bind(sample),
      image_grids=bind(image_grids), data_to_unit=pm1_to_unit, cond_keys=(s.source_key,),
      trained=bind(trained), exports={"translate": bind(translate)})
