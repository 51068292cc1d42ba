"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks"): ``model.name='cyclegan'``.

Two domains from two unpaired streams: A = batch[model.source_key] ('image'),
B = batch[model.target_key] ('target', ``data.unpaired``). Players: G_AB
(A -> B), G_BA (B -> A), D_A (judges A images), D_B (judges B images).
Objective (eq. 3): L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + lambda L_cyc, with
the identity term lambda lambda_identity L_id (sec. 5.2) and the
least-squares loss (sec. 4, ``gan_mode='lsgan'``). One train step is the
reference's ``optimize_parameters``: the forward pass (fake_B = G_AB(a),
rec_A = G_BA(fake_B), fake_A = G_BA(b), rec_B = G_AB(fake_A)), both
generators' update with the discriminators fixed, then each D's update on
its real images and on fakes drawn through its history pool (pool.py, 50
images, in ``state.extra`` so a resumed run continues with the same
history). The learning rate is constant for ``optim.hold_steps``, then
linear to 0 at ``optim.decay_steps`` (a function of the step: resume
continues it).
"""
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from genjax.core.state import init_key, step_rng
from genjax.errors import ConfigError
from genjax.families.base import Family, cycle_to, pm1_to_unit
from genjax.families.gan.models import apply_with_stats
from genjax.families.translation import losses, settings
from genjax.families.translation import pool as pool_lib
from genjax.families.translation.state import (apply_update, create_players_state,
                                               discriminator_step, trained_players)

GENERATORS = ("G_AB", "G_BA")
DOMAIN_OF = {"G_AB": "B", "G_BA": "A"}      # the domain each generator writes
JUDGE = {"A": "D_A", "B": "D_B"}


@dataclasses.dataclass(frozen=True)
class Networks:
  players: Any       # name -> module: G_AB, G_BA, D_A, D_B
  optimizer: Any


def check_identity(s):
  """The identity term feeds B images to G_AB (and A to G_BA): the domains
  must have the same channels (the reference's input_nc == output_nc)."""
  if s.lambda_identity and s.source_shape[-1] != s.image_shape[-1]:
    raise ConfigError(
        f"CycleGAN's identity term (model.lambda_identity={s.lambda_identity}) feeds "
        f"domain B images ({s.image_shape[-1]} channels) to G_AB, which takes domain A "
        f"images ({s.source_shape[-1]} channels). Convert one stream in its "
        "config.data preprocessing (e.g. 'greyscale' in data.unpaired.preprocess) or "
        "set model.lambda_identity=0.")


def build_networks(s):
  d = settings.make_discriminator(s)
  players = {"G_AB": settings.make_generator(s, s.image_shape[-1]),
             "G_BA": settings.make_generator(s, s.source_shape[-1]), "D_A": d, "D_B": d}
  return Networks(players, settings.make_optimizer(s))


def domain_shape(s, domain):
  return s.source_shape if domain == "A" else s.image_shape


def init(s, nets, rng, example_batch):
  """A fresh PlayersState: four players and two empty pools."""
  del example_batch
  keys = dict(zip(("G_AB", "G_BA", "D_A", "D_B", "dropout", "state"), jax.random.split(rng, 6)))
  zeros = lambda domain: jnp.zeros((1,) + domain_shape(s, domain), jnp.float32)
  variables = {
      "G_AB": nets.players["G_AB"].init({"params": init_key(keys["G_AB"]),
                                         "dropout": keys["dropout"]}, zeros("A")),
      "G_BA": nets.players["G_BA"].init({"params": init_key(keys["G_BA"]),
                                         "dropout": keys["dropout"]}, zeros("B")),
      "D_A": nets.players["D_A"].init(init_key(keys["D_A"]), zeros("A")),
      "D_B": nets.players["D_B"].init(init_key(keys["D_B"]), zeros("B"))}
  pools = {f"pool_{d}": dict(zip(("images", "count"),
                                 pool_lib.empty_pool(s.pool_size, domain_shape(s, d))))
           for d in ("A", "B")}
  return create_players_state(keys["state"], variables,
                              {name: nets.optimizer for name in variables}, pools)


def generator_objective(s, nets, state, a, b, rng, g_params):
  """Both generators' loss (eq. 3 + the identity term) and what the D steps
  need: (loss, (G statistics, fake_A, fake_B, terms))."""
  stats = {name: state.stats[name] for name in GENERATORS}

  def run(name, x, k):
    out, stats[name] = apply_with_stats(nets.players[name], g_params[name], stats[name], x,
                                        train=True, rngs={"dropout": jax.random.fold_in(rng, k)})
    return out

  fake_b = run("G_AB", a, 0)
  rec_a = run("G_BA", fake_b, 1)
  fake_a = run("G_BA", b, 2)
  rec_b = run("G_AB", fake_a, 3)
  identity = jnp.zeros(())
  if s.lambda_identity:
    identity = losses.identity_loss(a, run("G_BA", a, 4), b, run("G_AB", b, 5))
  judged = lambda domain, x: apply_with_stats(
      nets.players[JUDGE[domain]], state.params[JUDGE[domain]], state.stats[JUDGE[domain]],
      x, train=True)[0]
  adversarial = (losses.patch_generator_loss(s.gan_mode, judged("B", fake_b))
                 + losses.patch_generator_loss(s.gan_mode, judged("A", fake_a)))
  cycle = losses.cycle_loss(a, rec_a, b, rec_b)
  loss = s.lambda_gan * adversarial + losses.cyclegan_reconstruction(
      (cycle, identity), s.lambda_cycle, s.lambda_identity)
  return loss, (stats, fake_a, fake_b, dict(g_gan=adversarial, cycle=cycle,
                                            identity=identity))


def through_pool(s, extra, domain, fakes, rng):
  """The fakes D sees (pool.query) and the updated pools."""
  pool = extra[f"pool_{domain}"]
  (images, count), shown = pool_lib.query(
      pool["images"], pool["count"], fakes, pool_lib.pool_draws(rng, fakes.shape[0],
                                                                s.pool_size))
  return dict(extra, **{f"pool_{domain}": {"images": images, "count": count}}), shown


def train_step(s, nets, state, batch):
  """One CycleGAN iteration (module doc): (new state, metrics)."""
  rng = step_rng(state.rng, state.step)
  a, b = batch[s.source_key], batch[s.target_key]
  g_params = {name: state.params[name] for name in GENERATORS}
  (loss, (g_stats, fake_a, fake_b, terms)), grads = jax.value_and_grad(
      functools.partial(generator_objective, s, nets, state, a, b, rng), has_aux=True)(g_params)
  params, opt_state, stats = dict(state.params), dict(state.opt_state), dict(state.stats)
  for name in GENERATORS:
    params[name], opt_state[name] = apply_update(nets.optimizer, grads[name],
                                                 state.opt_state[name], state.params[name])
    stats[name] = g_stats[name]
  extra, metrics = state.extra, dict(terms, loss=loss)
  for i, (domain, real, fake) in enumerate((("A", a, fake_a), ("B", b, fake_b))):
    extra, shown = through_pool(s, extra, domain, jax.lax.stop_gradient(fake),
                                jax.random.fold_in(rng, 10 + i))
    name = JUDGE[domain]
    params[name], opt_state[name], stats[name], metrics[f"d_{domain}_loss"] = (
        discriminator_step(nets.players[name], nets.optimizer, s.gan_mode,
                           state.params[name], state.opt_state[name], state.stats[name],
                           real, shown))
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                       stats=stats, extra=extra), metrics


def translate_with(nets, trained, name, x, rng):
  """Generator ``name`` at test time (running statistics), images in [-1, 1]."""
  return nets.players[name].apply({"params": trained["params"][name],
                                   **trained["stats"][name]}, x, train=False,
                                  rngs={"dropout": rng})


def trained(s, nets, state, use_ema=True):
  """``bundle["trained"]``: every player's parameters and statistics (no EMA)."""
  del s, nets, use_ema
  return trained_players(state)


def eval_cycle(s, nets, state, batch, rng):
  """``cycle_a`` = mean |G_BA(G_AB(a)) - a| and ``cycle_b`` likewise, per
  example, on [0, 1]."""
  t = trained(s, nets, state)
  a, b = batch[s.source_key], batch[s.target_key]
  there = lambda x, first, second: translate_with(
      nets, t, second, translate_with(nets, t, first, x, rng), rng)
  error = lambda x, y: jnp.mean(jnp.abs(pm1_to_unit(x) - pm1_to_unit(y)), axis=(1, 2, 3))
  return {"cycle_a": error(there(a, "G_AB", "G_BA"), a),
          "cycle_b": error(there(b, "G_BA", "G_AB"), b)}


def sample_input(s):
  """(the cond field, the generator, the eval field of its classes) of
  ``sample.direction``: 'AB' translates domain A (source_key, 'label') with
  G_AB, 'BA' domain B (target_key and the unpaired stream's renamed label
  ``<target_key>_label``) with G_BA."""
  if s.direction == "AB":
    return s.source_key, "G_AB", "label"
  return s.target_key, "G_BA", f"{s.target_key}_label"


def sample(s, nets, state, rng, num, cond=None):
  """The translations of ``num`` images of cond[field], in [0, 1], by
  ``sample_input``: G_AB's of domain A, or G_BA's of domain B (sample
  metrics score them as images of the other domain: ``cond_acc_<net>`` is
  the class preservation in that direction)."""
  field, generator, _ = sample_input(s)
  return pm1_to_unit(translate_with(nets, trained(s, nets, state), generator,
                                    cycle_to(settings.sources_of(s, cond, field), num), rng))


def direction_rows(s, nets, t, x, forward, backward, rng):
  """input | translation | cycle reconstruction, in [0, 1], shown with the
  channels of the larger domain."""
  fake = translate_with(nets, t, forward, x, rng)
  rec = translate_with(nets, t, backward, fake, rng)
  channels = max(s.source_shape[-1], s.image_shape[-1])
  widen = lambda y: jnp.broadcast_to(y, y.shape[:3] + (channels,))
  return jnp.stack([widen(pm1_to_unit(y)) for y in (x, fake, rec)], axis=1)


def image_grids(s, nets, state, batch, rng):
  """``translation_ab`` and ``translation_ba``: per eval image, input |
  translation | cycle reconstruction."""
  t = trained(s, nets, state)
  a = cycle_to(batch[s.source_key], s.grid_rows)
  b = cycle_to(batch[s.target_key], s.grid_rows)
  return {"translation_ab": direction_rows(s, nets, t, a, "G_AB", "G_BA", rng),
          "translation_ba": direction_rows(s, nets, t, b, "G_BA", "G_AB", rng)}


def translate(s, nets, bundle, x, rng, direction="AB"):
  """Export: G_AB's (``direction='AB'``) or G_BA's translations of ``x``, in [0, 1]."""
  del s
  return pm1_to_unit(translate_with(nets, bundle["trained"], f"G_{direction}", x, rng))


def make_cyclegan_family(config, deps=None):
  del deps
  s = settings.read_settings(config)
  check_identity(s)
  nets = build_networks(s)
  bind = lambda fn: functools.partial(fn, s, nets)
  cycle = bind(eval_cycle)
  return Family(
      family="translation", model="cyclegan", init=bind(init), train_step=bind(train_step),
      eval_metrics={"cycle_a": cycle, "cycle_b": cycle}, sample=bind(sample),
      image_grids=bind(image_grids), data_to_unit=pm1_to_unit,
      cond_keys=(sample_input(s)[0],), label_key=sample_input(s)[2],
      trained=bind(trained), exports={"translate": bind(translate)})

