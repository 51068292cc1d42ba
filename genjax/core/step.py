"""The generic single-objective train step (autoencoders, diffusion, autoregressive).

A family supplies ``loss_fn(params, model_state, batch, rng) ->
(loss, (metrics, new_model_state))``; this builds the pure step the shared
loop jits. GANs, with two players, write their own step over the same state
conventions.
"""
import jax
import optax

from genjax.core.optim import ema_update
from genjax.core.state import step_rng


def make_train_step(loss_fn, optimizer, ema_decay=0.0):
  """Returns ``train_step(state, batch) -> (state, metrics)`` (pure)."""

  def train_step(state, batch):
    rng = step_rng(state.rng, state.step)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (metrics, model_state)), grads = grad_fn(
        state.params, state.model_state, batch, rng)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema_params
    if ema is not None:
      ema = ema_update(ema, params, ema_decay)
    metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads),
                   update_norm=optax.global_norm(updates))
    new_state = state.replace(step=state.step + 1, params=params,
                              opt_state=opt_state, ema_params=ema,
                              model_state=model_state)
    return new_state, metrics

  return train_step
