"""Embeddings of scalars (diffusion time, noise level) as vectors (pure functions)."""
import math

import jax.numpy as jnp


def sinusoidal_embedding(t, dim, max_period=10000.0):
  """The Transformer position embedding (Vaswani et al. 2017, sec. 3.5) of ``t``, as DDPM uses it.

  For t of shape [B] (any float or int values) returns [B, dim] with, for
  half = dim // 2 and i < half, the frequencies w_i = max_period^(-i / (half - 1))
  (from 1 down to 1/max_period, DDPM's ``get_timestep_embedding``):
      out[:, i] = sin(t w_i),   out[:, half + i] = cos(t w_i);
  an odd ``dim`` gets a last column of zeros. A scalar ``t`` gives [dim].
  """
  if dim < 2:
    raise ValueError(f"sinusoidal_embedding needs dim >= 2, got {dim}.")
  t = jnp.asarray(t, jnp.float32)
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half) / max(half - 1, 1))
  args = t[..., None] * freqs
  emb = jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)
  if dim % 2:
    emb = jnp.concatenate([emb, jnp.zeros_like(emb[..., :1])], axis=-1)
  return emb
