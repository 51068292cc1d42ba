"""Samples and picture grids of the autoencoder family: pure functions of
``(settings, nets, state, ...)``, with the EMA parameters when
``sample.use_ema``; every image is in [0, 1]. Grids have static shapes that
depend on the batch size alone.

Samples. VAE: z ~ p(z) = N(0, I) through the decoder, the mean image. An AE
or DAE has no prior: it decodes z ~ the Gaussian fitted to its codes
(code_prior.py). ``cond`` is accepted and ignored: the family is unconditional.
"""
import jax
import jax.numpy as jnp

from genjax.core.state import eval_params
from genjax.families.autoencoder import losses
from genjax.families.autoencoder.code_prior import code_gaussian
from genjax.families.autoencoder.networks import code_of, decoded_image
from genjax.families.base import cycle_to

GRID_COLS = 8
MAX_GRID_GROUPS = 4
INTERP_ROWS, INTERP_STEPS = 8, 10


def prior_sample(settings, nets, state, rng, num, cond=None):
  """The VAE's ``num`` samples [num,H,W,C]: z ~ p(z) = N(0, I) decoded."""
  del cond  # unconditional
  codes = jax.random.normal(rng, (num, settings.latent_dim))
  return decoded_image(settings, nets, eval_params(state, settings.use_ema), codes)


def fitted_prior_sample(settings, nets, state, rng, num, cond=None):
  """An AE's ``num`` samples [num,H,W,C]: z ~ N(mean, L L^T), the Gaussian
  fitted to its codes (``state.model_state['code_stats']``), decoded."""
  del cond  # unconditional
  eps = jax.random.normal(rng, (num, settings.latent_dim))
  mean, chol = code_gaussian(state.model_state["code_stats"])
  return decoded_image(settings, nets, eval_params(state, settings.use_ema),
                       mean + eps @ chol.T)


def grid_groups(batch_size):
  """How many groups of GRID_COLS examples a grid shows: 1 to MAX_GRID_GROUPS."""
  return max(1, min(MAX_GRID_GROUPS, batch_size // GRID_COLS))


def interleave_rows(*images):
  """Arrays [g*8, H,W,C] -> grid [len(images)*g, 8, H,W,C]: a row of each in turn."""
  groups = images[0].shape[0] // GRID_COLS
  rows = jnp.stack([part.reshape(groups, GRID_COLS, *part.shape[1:]) for part in images],
                   axis=1)
  return rows.reshape(len(images) * groups, GRID_COLS, *images[0].shape[1:])


def reconstruction(settings, nets, params, images):
  """The decoded image of each image's deterministic code."""
  return decoded_image(settings, nets, params, code_of(settings, nets, params, images))


def reconstruction_grid(settings, nets, params, images):
  """Rows of ``images`` and of their reconstructions in turn."""
  return interleave_rows(images, reconstruction(settings, nets, params, images))


def interpolation_grid(settings, nets, params, images):
  """[INTERP_ROWS, INTERP_STEPS, H,W,C]: row r goes linearly from the code of
  example r to that of example r + INTERP_ROWS (cycling a smaller batch)."""
  codes = code_of(settings, nets, params, cycle_to(images, 2 * INTERP_ROWS))
  t = jnp.linspace(0.0, 1.0, INTERP_STEPS)[None, :, None]
  path = (1 - t) * codes[:INTERP_ROWS, None] + t * codes[INTERP_ROWS:, None]
  frames = decoded_image(settings, nets, params, path.reshape(-1, codes.shape[-1]))
  return frames.reshape(INTERP_ROWS, INTERP_STEPS, *settings.image_shape)


def restoration_grid(settings, nets, params, images, rng):
  """Rows noisy | restored | clean in turn: the DAE's corruption of
  ``images`` (drawn with ``rng``), its reconstruction of that, the images."""
  noisy = losses.corrupt(rng, images, settings.noise, settings.noise_level)
  return interleave_rows(noisy, reconstruction(settings, nets, params, noisy), images)


def grid_examples(images):
  """The batch's first GRID_COLS * grid_groups(B) images (cycled when fewer)."""
  return cycle_to(images, GRID_COLS * grid_groups(images.shape[0]))


def image_grids(settings, nets, state, batch, rng):
  """``reconstructions`` (input rows | reconstruction rows) and
  ``interpolation`` (between the codes of two examples per row)."""
  del rng
  params = eval_params(state, settings.use_ema)
  return {"reconstructions": reconstruction_grid(settings, nets, params,
                                                 grid_examples(batch["image"])),
          "interpolation": interpolation_grid(settings, nets, params, batch["image"])}


def dae_image_grids(settings, nets, state, batch, rng):
  """The grids of ``image_grids`` and the DAE's ``restoration`` (noisy |
  restored | clean rows)."""
  grids = image_grids(settings, nets, state, batch, rng)
  grids["restoration"] = restoration_grid(settings, nets,
                                          eval_params(state, settings.use_ema),
                                          grid_examples(batch["image"]), rng)
  return grids
