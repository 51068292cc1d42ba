"""Optimisers, learning-rate schedules, gradient clipping and EMA from config.

``make_optimizer(lr=..., name=..., ...)`` takes plain arguments (the ``optim``
block of a config unpacks into it) and returns an optax transformation.
"""
import jax
import jax.numpy as jnp
import optax

from genjax.errors import ConfigError, unknown_name

SCHEDULES = ("constant", "cosine", "linear")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def make_schedule(lr, schedule="constant", warmup_steps=0, decay_steps=None,
                  end_lr_fraction=0.0):
  """Linear warm-up from 0 over ``warmup_steps``, then constant / cosine / linear decay."""
  if schedule not in SCHEDULES:
    raise unknown_name("learning-rate schedule", schedule, SCHEDULES)
  if schedule == "constant":
    main = optax.constant_schedule(lr)
  else:
    if not decay_steps or decay_steps <= warmup_steps:
      raise ConfigError(
          f"The {schedule!r} schedule needs decay_steps > warmup_steps "
          f"(got decay_steps={decay_steps}, warmup_steps={warmup_steps}); "
          "set --config.optim.decay_steps or use schedule='constant'.")
    n = decay_steps - warmup_steps
    if schedule == "cosine":
      main = optax.cosine_decay_schedule(lr, n, alpha=end_lr_fraction)
    else:
      main = optax.linear_schedule(lr, lr * end_lr_fraction, n)
  if warmup_steps:
    warm = optax.linear_schedule(0.0, lr, warmup_steps)
    return optax.join_schedules([warm, main], [warmup_steps])
  return main


def make_optimizer(lr=1e-3, name="adam", schedule="constant", warmup_steps=0,
                   decay_steps=None, end_lr_fraction=0.0, b1=0.9, b2=0.999,
                   eps=1e-8, weight_decay=0.0, momentum=0.9, grad_clip=0.0,
                   **unused):
  """An optax optimiser with optional global-norm clipping.

  Extra keyword arguments (such as ``ema_decay``, used by the state, not the
  optimiser) are ignored, so a whole ``optim`` config block can be passed.
  """
  del unused
  if name not in OPTIMIZERS:
    raise unknown_name("optimizer", name, OPTIMIZERS)
  sched = make_schedule(lr, schedule, warmup_steps, decay_steps, end_lr_fraction)
  if name == "adam":
    opt = optax.adam(sched, b1=b1, b2=b2, eps=eps)
  elif name == "adamw":
    opt = optax.adamw(sched, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  elif name == "sgd":
    opt = optax.sgd(sched, momentum=momentum or None)
  else:
    opt = optax.rmsprop(sched, eps=eps, momentum=momentum)
  if grad_clip and grad_clip > 0:
    opt = optax.chain(optax.clip_by_global_norm(grad_clip), opt)
  return opt


def ema_update(ema_params, params, decay):
  """theta_ema <- decay * theta_ema + (1 - decay) * theta (Polyak averaging)."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params, params)


def ema_decay_warmup(step, decay):
  """Warm-started decay min(decay, (1 + t) / (10 + t)), as in TF's ExponentialMovingAverage."""
  t = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + t) / (10.0 + t))


def optimizer_from_config(optim):
  """``(optimizer, ema_decay)`` of a config's ``optim`` block: the optax
  transformation of its fields and the decay of the parameters' EMA
  (0 keeps none)."""
  return make_optimizer(**dict(optim)), float(optim["ema_decay"])
