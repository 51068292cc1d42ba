"""The training state of the translation family: named players.

pix2pix has a generator 'G' and a discriminator 'D'; CycleGAN will have
'G_AB', 'G_BA', 'D_A', 'D_B' and its fake pools; StarGAN one G and one D.
Every player's parameters, optimiser state and mutable collections (batch
statistics) live in dicts keyed by its name, so one state type, one
checkpoint format and one resume path serve every model, and a resumed run
continues exactly (the step counter drives the data stream, the rng and the
learning-rate schedule; ``extra`` holds what else a model keeps, e.g. pools).
"""
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from genjax.families.gan.models import apply_with_stats
from genjax.families.translation import losses


@flax.struct.dataclass
class PlayersState:
  step: jax.Array     # int32 scalar: train_step calls so far
  params: Any         # {player: params}
  opt_state: Any      # {player: optimiser state}
  stats: Any          # {player: {} or {'batch_stats': ...}}
  rng: jax.Array      # base key (raw uint32[2]); step k uses fold_in(rng, k)
  extra: Any = flax.struct.field(default_factory=dict)


def create_players_state(rng, variables, optimizers, extra=None):
  """A fresh state from each player's ``init`` variables and its optimiser."""
  params = {name: v["params"] for name, v in variables.items()}
  stats = {name: {k: c for k, c in v.items() if k != "params"}
           for name, v in variables.items()}
  return PlayersState(
      step=jnp.zeros((), jnp.int32), params=params,
      opt_state={name: optimizers[name].init(p) for name, p in params.items()},
      stats=stats, rng=jnp.asarray(rng, jnp.uint32), extra=dict(extra or {}))


def trained_players(state):
  """``bundle["trained"]`` of a players model: every player's parameters
  and statistics (no EMA; optimiser states stay out)."""
  return {"params": state.params, "stats": state.stats}


def apply_update(optimizer, grads, opt_state, params):
  """One optimiser step: (new params, new optimiser state)."""
  updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def discriminator_step(module, optimizer, mode, params, opt_state, stats, real, fake):
  """One PatchGAN update on ``real`` and (fixed) ``fake`` inputs, loss
  0.5 (L(D(real), 1) + L(D(fake), 0)) (``losses.patch_discriminator_loss``),
  the two calls' batch statistics chained: (params, opt state, stats, loss)."""
  def objective(p):
    real_logits, new = apply_with_stats(module, p, stats, real, train=True)
    fake_logits, new = apply_with_stats(module, p, new, fake, train=True)
    return losses.patch_discriminator_loss(mode, real_logits, fake_logits), new

  (loss, stats), grads = jax.value_and_grad(objective, has_aux=True)(params)
  params, opt_state = apply_update(optimizer, grads, opt_state, params)
  return params, opt_state, stats, loss
