"""The truncation trick: trade sample variety for fidelity at sampling time.

Two forms, both pure:
- ``truncated_normal``: BigGAN's (Brock et al. 2019, sec. 3.1), on the input
  noise z ~ N(0, I), values with |z| > psi are resampled, i.e. z is drawn from
  the normal truncated to [-psi, psi].
- ``truncate_toward_mean``: StyleGAN's (Karras et al. 2019, sec. 2 / app. B),
  on the mapping network's latents w: w' = w_avg + psi (w - w_avg);
  ``truncate_layers`` applies it to the layers below a cutoff only (StyleGAN's
  ``truncation_cutoff`` = 8, the coarse and middle styles at 1024).

Convention for ``truncated_normal``: psi = inf, psi <= 0 or psi = None means no
truncation, and the result is then exactly ``jax.random.normal(rng, shape)``.
psi may be a Python number (decided when tracing) or a traced scalar (both
draws are made and one selected per call).
"""
import math
import numbers

import jax
import jax.numpy as jnp


def _no_truncation(psi):
  return psi is None or psi <= 0 or math.isinf(psi)


def truncated_normal(rng, shape, psi, dtype=jnp.float32):
  """z ~ N(0, I) truncated to [-psi, psi] (BigGAN's truncation trick); no truncation for psi in {inf, <= 0, None}."""
  if psi is None or isinstance(psi, numbers.Real):
    if _no_truncation(psi):
      return jax.random.normal(rng, shape, dtype)
    return jax.random.truncated_normal(rng, -psi, psi, shape, dtype)
  psi = jnp.asarray(psi, dtype)
  ok = (psi > 0) & jnp.isfinite(psi)
  bound = jnp.where(ok, psi, 1.0)
  return jnp.where(ok, jax.random.truncated_normal(rng, -bound, bound, shape, dtype),
                   jax.random.normal(rng, shape, dtype))


def truncate_toward_mean(w, w_avg, psi):
  """w_avg + psi (w - w_avg) (StyleGAN, Karras et al. 2019): psi = 1 leaves w, psi = 0 gives w_avg."""
  return w_avg + psi * (w - w_avg)


def truncate_layers(ws, w_avg, psi, cutoff=0):
  """ws [B, L, D] truncated toward w_avg by psi in layers < ``cutoff`` and left
  as they are in the others (StyleGAN's G_style); cutoff 0: every layer."""
  if not cutoff:
    return truncate_toward_mean(ws, w_avg, psi)
  layer = jnp.arange(ws.shape[-2])[:, None]
  return jnp.where(layer < cutoff, truncate_toward_mean(ws, w_avg, psi), ws)
