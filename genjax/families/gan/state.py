"""The two-player training state of the GAN family.

Everything that changes during GAN training is one pytree, so the shared loop
jits, donates, checkpoints and restores it like any other state (the loop
only reads ``state.step``): a resumed run continues exactly, including ADA's
p and its r_t accumulator (stylegan2-ada's resume resets them), both
optimisers, G's EMA and the BatchNorm / spectral-norm statistics.
"""
import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class GANState:
  step: jax.Array        # int32 scalar: generator updates (train_step calls) so far
  g_params: Any
  d_params: Any
  g_opt_state: Any       # optimiser state of G (its own learning rate: TTUR)
  d_opt_state: Any       # optimiser state of D
  g_ema_params: Any      # EMA of G's params, used for sampling
  g_stats: Any           # G's mutable collections: {'batch_stats': ...} or {}
  d_stats: Any           # D's: BatchNorm statistics and spectral-norm u / sigma
  ada_p: jax.Array       # float32 scalar: ADA's augmentation probability p
  ada_rt_sum: jax.Array  # float32: sum of per-step r_t since the last p update
  ada_rt_count: jax.Array  # float32: number of r_t values in that sum
  rng: jax.Array         # base key (raw uint32[2]); step k uses fold_in(rng, k)


def create_gan_state(rng, g_vars, d_vars, g_opt, d_opt):
  """A fresh state from ``init`` variables of G and D ({'params': ..., ...})."""
  g_params, d_params = g_vars["params"], d_vars["params"]
  g_stats = {k: v for k, v in g_vars.items() if k != "params"}
  d_stats = {k: v for k, v in d_vars.items() if k != "params"}
  zero = jnp.zeros((), jnp.float32)
  return GANState(
      step=jnp.zeros((), jnp.int32), g_params=g_params, d_params=d_params,
      g_opt_state=g_opt.init(g_params), d_opt_state=d_opt.init(d_params),
      g_ema_params=jax.tree.map(jnp.copy, g_params), g_stats=g_stats,
      d_stats=d_stats, ada_p=zero, ada_rt_sum=zero, ada_rt_count=zero,
      rng=jnp.asarray(rng, jnp.uint32))


@flax.struct.dataclass
class StyleGAN2State(GANState):
  """A GANState with StyleGAN2's path-length mean (its w_avg is in g_stats)."""
  pl_mean: jax.Array     # float32 scalar: a, the running mean of path lengths (eq. 4)


def with_path_length_mean(state, pl_mean=0.0):
  """The StyleGAN2State of a GANState, with a = ``pl_mean``."""
  fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(GANState)}
  return StyleGAN2State(**fields, pl_mean=jnp.asarray(pl_mean, jnp.float32))


@flax.struct.dataclass
class ProGANState(GANState):
  """A GANState with ProGAN's count of real images shown, from which the
  level and alpha of progressive growing follow (progan_family.py)."""
  images_seen: jax.Array   # int32 scalar: real images shown to D so far


def with_images_seen(state, images_seen=0):
  """The ProGANState of a GANState, having seen ``images_seen`` images."""
  fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(GANState)}
  return ProGANState(**fields, images_seen=jnp.asarray(images_seen, jnp.int32))
