"""Sampling and grids (sampling.py) through a generator whose images can be
read back: pixel 0 is tanh(z_0) and pixel 1 tanh(label / 10), so a picture in
[0, 1] gives back its latent and its class."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from genjax.families.gan import sampling
from tests.families.gan.tiny import (PIXELS, SHAPE, Z_DIM, affine_generator_params,
                                     linear_critic_params, tiny, tiny_state)

NUM_CLASSES = 10


def _readable(**sample):
  """(settings, nets, state) of the conditional affine G described above."""
  settings, nets = tiny(num_classes=NUM_CLASSES, g_cond="concat", d_cond="concat")
  settings = dataclasses.replace(settings, **sample)
  kernel = np.zeros((Z_DIM + NUM_CLASSES, PIXELS), np.float32)
  kernel[0, 0] = 1.0
  kernel[Z_DIM:, 1] = 0.1 * np.arange(NUM_CLASSES)
  state = tiny_state(nets, affine_generator_params(kernel, np.zeros(PIXELS)),
                     linear_critic_params(np.zeros(PIXELS + NUM_CLASSES), 0.0))
  return settings, nets, state


def _read_back(images):
  """(z_0, label) of each [0, 1] image of the readable generator."""
  flat = np.asarray(images, np.float64).reshape(-1, PIXELS)
  values = np.arctanh(2.0 * flat[:, :2] - 1.0)
  return values[:, 0], np.round(values[:, 1] * 10).astype(int)


def test_generate_gives_the_generators_tanh_output_in_unit_range():
  settings, nets, state = _readable()
  z = jnp.asarray([[0.3, 0, 0], [-1.2, 0, 0]], jnp.float32)
  images = sampling.generate(settings, nets, state, z, jnp.asarray([2, 7], jnp.int32))
  assert images.shape == (2,) + SHAPE
  np.testing.assert_allclose(images[:, 0, 0, 0], (np.tanh([0.3, -1.2]) + 1) / 2, rtol=1e-6)
  np.testing.assert_allclose(images[:, 0, 1, 0], (np.tanh([0.2, 0.7]) + 1) / 2, rtol=1e-6)
  np.testing.assert_allclose(images[:, 1:], 0.5)    # tanh(0) -> the middle of [0, 1]


def test_sample_draws_truncated_latents_and_the_requested_classes():
  settings, nets, state = _readable(truncation=0.5)
  rng = jax.random.PRNGKey(4)
  z0, labels = _read_back(sampling.sample(settings, nets, state, rng, 12))
  want = jax.random.truncated_normal(rng, -0.5, 0.5, (12, Z_DIM))[:, 0]
  np.testing.assert_allclose(z0, want, atol=1e-4)
  assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]   # class-balanced
  _, labels = _read_back(sampling.sample(settings, nets, state, rng, 3,
                                         jnp.asarray([9, 4, 4])))
  assert labels.tolist() == [9, 4, 4]


def test_generator_variables_raw_or_ema_with_standing_statistics():
  """The EMA generator's BatchNorm statistics are the mean and biased variance
  of its pre-BN features h = z K over the 512 fixed draws z ~ N(0, I) (key 0)."""
  settings, nets = tiny(g_hidden=(2,))
  kernel = np.random.RandomState(0).randn(Z_DIM, 2).astype(np.float32)
  params = dict(affine_generator_params(np.zeros((2, PIXELS)), np.zeros(PIXELS)),
                fc0={"kernel": jnp.asarray(kernel)},
                norm0={"bn": {"scale": jnp.ones(2), "bias": jnp.zeros(2)}})
  stored = {"batch_stats": {"norm0": {"bn": {"mean": jnp.full(2, 5.0),
                                             "var": jnp.full(2, 5.0)}}}}
  state = tiny_state(nets, params, linear_critic_params(np.zeros(PIXELS), 0.0), stored)
  state = state.replace(g_ema_params=jax.tree.map(lambda p: p * 2.0, params))
  raw = dataclasses.replace(settings, use_ema=False)
  got_params, got_stats = sampling.generator_variables(raw, nets, state)
  assert got_params is state.g_params and got_stats is state.g_stats
  got_params, got_stats = sampling.generator_variables(settings, nets, state)
  assert got_params is state.g_ema_params
  z = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (512, Z_DIM)), np.float64)
  h = z @ (2.0 * kernel)
  bn = got_stats["batch_stats"]["norm0"]["bn"]
  np.testing.assert_allclose(bn["mean"], h.mean(0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(bn["var"], h.var(0), rtol=1e-4)


def test_truncation_grid_inputs_truncate_one_draw_more_or_less():
  settings, _, _ = _readable(truncation_grid=(0.5, 0.0), grid_columns=3)
  rng = jax.random.PRNGKey(2)
  z, labels = sampling.truncation_grid_inputs(settings, rng)
  np.testing.assert_array_equal(z[:3], jax.random.truncated_normal(rng, -0.5, 0.5, (3, Z_DIM)))
  np.testing.assert_array_equal(z[3:], jax.random.normal(rng, (3, Z_DIM)))
  assert labels.tolist() == [0, 1, 2, 0, 1, 2]


def test_class_grid_inputs_one_row_per_class_with_the_same_latents():
  settings, _, _ = _readable(grid_columns=3)
  z, labels = sampling.class_grid_inputs(settings, jax.random.PRNGKey(2))
  assert z.shape == (3 * NUM_CLASSES, Z_DIM)
  for k in range(NUM_CLASSES):
    np.testing.assert_array_equal(z[3 * k:3 * k + 3], z[:3])
  assert labels.tolist() == [k for k in range(NUM_CLASSES) for _ in range(3)]


def test_image_grids_rows_show_their_truncation_and_their_class():
  settings, nets, state = _readable(truncation_grid=(0.5, 0.0), grid_columns=4)
  grids = sampling.image_grids(settings, nets, state, None, jax.random.PRNGKey(5))
  assert grids["truncation"].shape == (2, 4) + SHAPE
  assert grids["classes"].shape == (NUM_CLASSES, 4) + SHAPE
  z0, labels = _read_back(grids["classes"])
  assert labels.tolist() == [k for k in range(NUM_CLASSES) for _ in range(4)]
  np.testing.assert_allclose(z0.reshape(NUM_CLASSES, 4), np.tile(z0[:4], (NUM_CLASSES, 1)),
                             atol=1e-4)
  z0, labels = _read_back(grids["truncation"])
  assert np.abs(z0[:4]).max() <= 0.5 + 1e-4 and labels.tolist() == [0, 1, 2, 3] * 2
  empty = dataclasses.replace(settings, truncation_grid=(), num_classes=0)
  assert sampling.image_grids(empty, nets, state, None, jax.random.PRNGKey(5)) == {}
