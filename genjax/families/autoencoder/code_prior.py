"""The prior an AE or DAE samples from: one Gaussian fitted to its codes.

An AE has no prior, so the family fits one while it trains: an exponential
moving average (decay ``CODE_STATS_DECAY``) of the mean and the second moment
E[z z^T] of the codes, kept in ``state.model_state['code_stats']``. Sampling
decodes z ~ N(mean, cov) of that fit: the "ex-post density estimation" of
Ghosh et al. 2020, with one full-covariance Gaussian. A DAE's codes are those
of its corrupted training inputs, which is what its decoder was trained on.
"""
import jax
import jax.numpy as jnp

CODE_STATS_DECAY = 0.99


def initial_code_stats(latent_dim):
  """The statistics before any code is seen: those of N(0, I)."""
  return {"mean": jnp.zeros(latent_dim), "second_moment": jnp.eye(latent_dim)}


def update_code_stats(stats, z, decay=CODE_STATS_DECAY):
  """EMA of the batch mean and second moment E[z z^T] of the codes."""
  z = jax.lax.stop_gradient(z)
  batch_mean = z.mean(0)
  batch_second = z.T @ z / z.shape[0]
  return {"mean": decay * stats["mean"] + (1 - decay) * batch_mean,
          "second_moment": decay * stats["second_moment"] + (1 - decay) * batch_second}


def code_gaussian(stats, jitter=1e-5):
  """Mean and Cholesky factor of the Gaussian fitted to the AE's codes."""
  mean = stats["mean"]
  cov = stats["second_moment"] - jnp.outer(mean, mean)
  cov = 0.5 * (cov + cov.T) + jitter * jnp.eye(mean.shape[0])
  return mean, jnp.linalg.cholesky(cov)
