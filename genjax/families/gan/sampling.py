"""Sampling from a GAN's generator, and its picture grids.

Sampling uses G's EMA (``sample.use_ema``). G's BatchNorm running statistics
belong to the raw G, not to the averaged weights, so the EMA generator's are
recomputed from a fixed draw of latents (the "standing statistics" of BigGAN,
Brock et al. 2019): ``standing_stats``. Samples come back in [0, 1].
"""
import jax
import jax.numpy as jnp

from genjax.families.base import pm1_to_unit, sample_labels
from genjax.families.gan.models import BN_MOMENTUM, apply_with_stats
from genjax.families.gan.steps import sample_latents

STANDING_NUM = 512   # latent draws for the EMA generator's BatchNorm statistics
STANDING_SEED = 0


def standing_stats(generator, params, stats, z, labels):
  """BatchNorm statistics of generator ``params`` on the batch ``z`` (+ labels).

  One training-mode pass from zeroed running statistics: flax updates them to
  momentum * 0 + (1 - momentum) * batch statistic, so dividing by
  (1 - momentum) leaves the batch's mean and (biased) variance, which are what
  training mode normalises with. ``stats`` only gives the tree's structure.
  """
  if "batch_stats" not in stats:   # none, or StyleGAN2's w_avg: the EMA G
    return stats                    # uses G's (as StyleGAN2-ADA's G_ema copies it)
  zero = jax.tree.map(jnp.zeros_like, stats)
  _, new = apply_with_stats(generator, params, zero, z, labels, train=True)
  return jax.tree.map(lambda v: v / (1.0 - BN_MOMENTUM), new)


def trained_generator(settings, nets, state, use_ema):
  """(params, BatchNorm statistics) of the generator: the raw G's, or (with
  ``use_ema`` and an EMA kept) G's EMA with standing statistics of a fixed,
  untruncated draw."""
  if not use_ema or state.g_ema_params is None:
    return state.g_params, state.g_stats
  z = sample_latents(settings, jax.random.PRNGKey(STANDING_SEED), STANDING_NUM)
  labels = sample_labels(STANDING_NUM, settings.num_classes)
  return state.g_ema_params, standing_stats(nets.generator, state.g_ema_params,
                                            state.g_stats, z, labels)


def generator_variables(settings, nets, state):
  """(params, BatchNorm statistics) of the sampling generator (``sample.use_ema``)."""
  return trained_generator(settings, nets, state, settings.use_ema)


def generator_images(nets, params, stats, z, labels, **g_kwargs):
  """G(z, labels) in evaluation mode (running statistics), in [0, 1];
  ``g_kwargs``: more of G's arguments (StyleGAN2's psi, rngs)."""
  images, _ = apply_with_stats(nets.generator, params, stats, z, labels, train=False,
                               **g_kwargs)
  return pm1_to_unit(images)


def generate(settings, nets, state, z, labels):
  """The sampling generator's images of latents ``z`` (+ labels), in [0, 1]."""
  params, stats = generator_variables(settings, nets, state)
  return generator_images(nets, params, stats, z, labels)


def sample(settings, nets, state, rng, num, cond=None):
  """``num`` samples [num,H,W,C] in [0, 1], z truncated at ``sample.truncation``;
  ``cond``: their labels (class-balanced when None) for a conditional model."""
  z = sample_latents(settings, rng, num, settings.truncation)
  return generate(settings, nets, state, z,
                  sample_labels(num, settings.num_classes, cond))


def truncation_grid_inputs(settings, rng):
  """The 'truncation' grid's (z, labels): one row per psi of
  ``sample.truncation_grid``, every row drawn with the same key (the same
  draw, truncated more or less); class-balanced labels in each row."""
  columns, rows = settings.grid_columns, len(settings.truncation_grid)
  z = jnp.concatenate([sample_latents(settings, rng, columns, psi)
                       for psi in settings.truncation_grid])
  labels = sample_labels(columns, settings.num_classes)
  return z, None if labels is None else jnp.tile(labels, rows)


def class_grid_inputs(settings, rng):
  """The 'classes' grid's (z, labels): one row per class, the same latents
  (truncated at ``sample.truncation``) in every row."""
  columns, num_classes = settings.grid_columns, settings.num_classes
  z = sample_latents(settings, rng, columns, settings.truncation)
  return jnp.tile(z, (num_classes, 1)), jnp.repeat(
      jnp.arange(num_classes, dtype=jnp.int32), columns)


def image_grids(settings, nets, state, batch, rng):
  """name -> [rows, grid_columns, H, W, C] in [0, 1]: 'truncation' (when
  ``sample.truncation_grid`` is set) and, for a conditional model, 'classes'.
  Every grid comes from one generator call (one compiled program)."""
  del batch
  inputs = {}
  if settings.truncation_grid:
    inputs["truncation"] = truncation_grid_inputs(settings, rng)
  if settings.num_classes:
    inputs["classes"] = class_grid_inputs(settings, jax.random.fold_in(rng, 1))
  if not inputs:
    return {}
  z = jnp.concatenate([z for z, _ in inputs.values()])
  labels = (jnp.concatenate([y for _, y in inputs.values()])
            if settings.num_classes else None)
  images = generate(settings, nets, state, z, labels)
  return split_grids(settings, images, {name: grid_z.shape[0]
                                        for name, (grid_z, _) in inputs.items()})


def split_grids(settings, images, counts):
  """name -> [rows, grid_columns, H, W, C]: the next ``counts[name]`` of
  ``images`` (concatenated in the order of ``counts``) for each grid."""
  images = images.reshape((-1, settings.grid_columns) + settings.image_shape)
  grids, start = {}, 0
  for name, count in counts.items():
    rows = count // settings.grid_columns
    grids[name] = images[start:start + rows]
    start += rows
  return grids
