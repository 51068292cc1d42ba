"""Training state shared by single-objective families.

Everything that changes during training lives here (parameters, optimiser
state, EMA parameters, the step counter, the base RNG key and any mutable
model collections such as batch statistics), so a restored state continues
exactly. The RNG for step k is ``fold_in(rng, k)`` (see ``step_rng``).
"""
from typing import Any

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class TrainState:
  step: jax.Array            # int32 scalar: number of updates applied so far
  params: Any
  opt_state: Any
  ema_params: Any            # exponential moving average of params (or None)
  rng: jax.Array             # base key (raw uint32[2]); never advanced in place
  model_state: Any = flax.struct.field(default_factory=dict)  # e.g. batch_stats


def eval_params(state, use_ema=True):
  """The parameters evaluation and sampling use: the EMA ones when kept and asked for."""
  return state.ema_params if use_ema and state.ema_params is not None else state.params


def step_rng(base_rng, step):
  """The key for step ``step``: fold_in(base, step), so a resume draws the same numbers."""
  return jax.random.fold_in(base_rng, step)


def create_train_state(rng, params, optimizer, *, ema=True, model_state=None):
  """A fresh state; ``rng`` becomes the base key of every later step."""
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=optimizer.init(params),
      ema_params=jax.tree.map(jnp.copy, params) if ema else None,
      rng=jnp.asarray(rng, jnp.uint32),
      model_state=model_state if model_state is not None else {},
  )


def init_key(key):
  """A raw key turned into an 'rbg' key for drawing initial parameters.

  Deterministic (its bits come from XLA's RngBitGenerator). flax's
  initialisers with the default threefry keys take 2-3x longer to compile on
  XLA:CPU (a small DCGAN G: 8.9 s vs 2.9 s; a small PixelCNN++ 28 s vs 13 s),
  and ``init`` is compiled on every start, resume, eval and sample. Training
  steps keep threefry, whose draws do not depend on how a batch is sharded.
  """
  return jax.random.wrap_key_data(
      jnp.concatenate([key, jax.random.fold_in(key, 1)]), impl="rbg")
