"""The generic single-objective train step (autoencoders, diffusion, autoregressive).

A family supplies ``loss_fn(params, model_state, batch, rng) ->
(loss, (metrics, new_model_state))``; this builds the pure step the shared
loop jits. A family built on other runs passes ``with_frozen=True``: its
``loss_fn`` then takes the dependencies' bundles as a last argument and the
step is ``train_step(state, batch, frozen)`` (no gradient flows into them). GANs, with two players, write their own step over the same state
conventions.

``compute_dtype`` (``config.train.compute_dtype``) runs the model inside the
loss in that dtype while the parameters, optimiser state, EMA and the loss's
reductions stay float32 (``genjax.core.precision``; Micikevicius et al. 2018).
"""
import jax
import jax.numpy as jnp
import optax

from genjax.core.optim import ema_update
from genjax.core.precision import mixed_precision_loss
from genjax.core.state import step_rng


def make_train_step(loss_fn, optimizer, ema_decay=0.0, with_frozen=False,
                    compute_dtype=jnp.float32):
  """Returns ``train_step(state, batch[, frozen]) -> (state, metrics)`` (pure);
  ``compute_dtype``: the model's (float32: ``loss_fn`` untouched)."""
  loss_fn = mixed_precision_loss(loss_fn, compute_dtype)

  def train_step(state, batch, *frozen):
    rng = step_rng(state.rng, state.step)
    frozen = jax.lax.stop_gradient(frozen)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (metrics, model_state)), grads = grad_fn(
        state.params, state.model_state, batch, rng, *frozen)
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

  if not with_frozen:
    return lambda state, batch: train_step(state, batch)
  return lambda state, batch, frozen: train_step(state, batch, frozen)
