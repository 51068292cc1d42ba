"""StyleGAN2's samples, picture grids and exports (``model.arch='stylegan2'``).

``sample`` draws z ~ N(0, I), truncates w toward w_avg by psi =
``sample.w_truncation`` (StyleGAN, Karras et al. 2019, app. B) and draws the
noise inputs at random, as StyleGAN2-ADA's metrics do. The grids use G's EMA,
untruncated ws (but the truncation grid's) and the fixed noise images of
rng-less synthesis (StyleGAN2's ``noise_mode='const'``), so rows differ only
in their styles:
  'truncation'     a row per psi of ``sample.w_truncation_grid``, the same
                   latents in every row;
  'style_mixing'   sources A, sources B, then A with B's coarse, middle and fine
                   styles (StyleGAN fig. 3; ``stylegan2.style_ranges``);
  'interpolation'  ``sample.grid_rows`` rows, each a linear path in w between
                   two latents (w is the space StyleGAN's perceptual path length
                   interpolates in, sec. 4.2).
Exports: the family's (``generate`` = G at psi 1 with the fixed noise,
``discriminate``, ``z_dim``) and ``styles(bundle, z, labels=None, psi=1.0)`` ->
ws [N, num_ws, w_dim], ``synthesize(bundle, ws, clip=True)`` -> images in
[0, 1] (``clip=False``: G's output mapped by (x + 1) / 2 unclipped). StyleGAN
(``model.arch='stylegan'``) uses this module unchanged.
"""
import functools

import jax
import jax.numpy as jnp

from genjax.families.base import pm1_to_unit, sample_labels
from genjax.families.gan import exports, sampling, steps, stylegan2
from genjax.families.gan.truncation import truncate_layers


def sample(settings, nets, state, rng, num, cond=None):
  """``num`` samples [num,H,W,C] in [0, 1] at psi = sample.w_truncation,
  random noise; ``cond``: their labels (class-balanced when None)."""
  z_rng, noise_rng = jax.random.split(rng)
  z = steps.sample_latents(settings, z_rng, num)
  params, stats = sampling.generator_variables(settings, nets, state)
  return sampling.generator_images(
      nets, params, stats, z, sample_labels(num, settings.num_classes, cond),
      psi=settings.stylegan2.w_truncation, rngs={"noise": noise_rng})


def styles(nets, params, stats, z, labels, psi=1.0):
  """ws [N, num_ws, w_dim] of latents ``z`` in evaluation mode (truncated by psi)."""
  return nets.generator.apply({"params": params, **stats}, z, labels, False, psi,
                              method="styles")


def synthesize(nets, params, stats, ws, clip=True):
  """Images [N,H,W,C] in [0, 1] of ws, with the fixed noise images; ``clip``
  False: (x + 1) / 2 of G's output unclipped (G has no tanh)."""
  images = nets.generator.apply({"params": params, **stats}, ws, method="synthesize")
  return pm1_to_unit(images) if clip else (images + 1.0) / 2.0


def grid_latents(settings, rng, num):
  """(z, class-balanced labels or None) of ``num`` grid entries."""
  return steps.sample_latents(settings, rng, num), sample_labels(num, settings.num_classes)


def truncation_grid_ws(settings, nets, params, stats, rng):
  """ws of the 'truncation' grid: row i is the columns' ws at the i-th psi."""
  ws = styles(nets, params, stats, *grid_latents(settings, rng, settings.grid_columns))
  w_avg = stats["w_avg"]["w_avg"]
  cutoff = settings.stylegan2.w_truncation_cutoff
  return jnp.concatenate([truncate_layers(ws, w_avg, psi, cutoff)
                          for psi in settings.stylegan2.w_truncation_grid])


def mixing_grid_ws(settings, nets, params, stats, rng):
  """ws of the 'style_mixing' grid: A, B, then A with B's layers in each of
  the coarse, middle and fine ranges (the column's A and B)."""
  k_a, k_b = jax.random.split(rng)
  cols = settings.grid_columns
  ws_a = styles(nets, params, stats, *grid_latents(settings, k_a, cols))
  ws_b = styles(nets, params, stats, *grid_latents(settings, k_b, cols))
  layer = jnp.arange(ws_a.shape[1])[None, :, None]
  mixed = [jnp.where((layer >= lo) & (layer < hi), ws_b, ws_a)
           for lo, hi in stylegan2.style_ranges(settings.image_shape[0])]
  return jnp.concatenate([ws_a, ws_b] + mixed)


def interpolation_grid_ws(settings, nets, params, stats, rng):
  """ws of the 'interpolation' grid: row r runs linearly in w from one
  latent's w (column 0) to another's (the last column)."""
  rows, cols = settings.stylegan2.grid_rows, settings.grid_columns
  k_0, k_1 = jax.random.split(rng)
  w_0 = styles(nets, params, stats, *grid_latents(settings, k_0, rows))
  w_1 = styles(nets, params, stats, *grid_latents(settings, k_1, rows))
  t = jnp.linspace(0.0, 1.0, cols)[None, :, None, None]
  ws = w_0[:, None] + t * (w_1 - w_0)[:, None]             # [rows, cols, L, D]
  return ws.reshape((rows * cols,) + ws.shape[2:])


def grid_makers(settings):
  """name -> the function of that grid's ws, for the grids this model draws."""
  makers = {}
  if settings.stylegan2.w_truncation_grid:
    makers["truncation"] = truncation_grid_ws
  if stylegan2.style_ranges(settings.image_shape[0]) is not None:
    makers["style_mixing"] = mixing_grid_ws
  makers["interpolation"] = interpolation_grid_ws
  return makers


def image_grids(settings, nets, state, batch, rng):
  """name -> [rows, grid_columns, H, W, C] in [0, 1] (the module doc), all
  synthesised in one call of the EMA G."""
  del batch
  params, stats = sampling.generator_variables(settings, nets, state)
  ws = {name: make(settings, nets, params, stats, jax.random.fold_in(rng, i))
        for i, (name, make) in enumerate(grid_makers(settings).items())}
  images = synthesize(nets, params, stats, jnp.concatenate(list(ws.values())))
  return sampling.split_grids(settings, images,
                              {name: grid_ws.shape[0] for name, grid_ws in ws.items()})


def styles_export(settings, nets, bundle, z, labels=None, psi=1.0):
  """ws [N, num_ws, w_dim] of latents ``z`` [N, z_dim], truncated by ``psi``."""
  p = bundle["trained"]
  return styles(nets, p["g_params"], p["g_stats"], z,
                exports.conditioning(settings, labels, "styles"), psi)


def synthesize_export(settings, nets, bundle, ws, clip=True):
  """Images [N,H,W,C] in [0, 1] of ws [N, num_ws, w_dim] (fixed noise);
  ``clip=False``: unclipped, as perceptual path length measures them."""
  del settings
  p = bundle["trained"]
  return synthesize(nets, p["g_params"], p["g_stats"], ws, clip)


def family_exports(settings, nets):
  """The family's exports and StyleGAN2's ``styles`` and ``synthesize``."""
  bind = lambda fn: functools.partial(fn, settings, nets)
  return dict(exports.family_exports(settings, nets), styles=bind(styles_export),
              synthesize=bind(synthesize_export))
