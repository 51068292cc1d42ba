"""The autoregressive family end to end on tiny images: exact normalisation,
samplers that draw from the model's own distribution, completion, errors."""
import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax import registry
from genjax.errors import ConfigError
from genjax.families.autoregressive.config import default_config

# Tiny networks of each kind (the fields are the modules' own).
TINY = {
    "pixelcnn": dict(features=8, num_layers=1, kernel_size=3),
    "gated_pixelcnn": dict(features=8, num_layers=2, kernel_size=3),
    "row_lstm": dict(features=8, num_layers=1),
    "diagonal_bilstm": dict(features=8, num_layers=1),
}


def make(name, shape=(3, 3, 1), likelihood="bernoulli", num_classes=0, net=None,
         **sample):
  c = default_config()
  c.model.update(name=name, likelihood=likelihood, image_shape=shape,
                 num_classes=num_classes)
  c.model.net = ml_collections.ConfigDict(net if net is not None else TINY[name])
  if likelihood != "bernoulli":
    c.data.preprocess = ("scale_pm1",)
  c.sample.update(sample)
  family = registry.make_family(c)
  state = family.init(jax.random.PRNGKey(1), {"image": jnp.zeros((1,) + shape),
                                             "label": jnp.zeros((1,), jnp.int32)})
  # Random (not freshly initialised) weights: a harder case for the masks.
  leaves, tree = jax.tree.flatten(state.params)
  keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
  leaves = [l + 0.3 * jax.random.normal(k, l.shape) for l, k in zip(leaves, keys)]
  return family, state.replace(params=jax.tree.unflatten(tree, leaves))


def all_binary_images(shape):
  n = int(np.prod(shape))
  bits = np.array(list(itertools.product([0.0, 1.0], repeat=n)), np.float32)
  return jnp.asarray(bits.reshape((-1,) + shape))


@pytest.mark.parametrize("name", sorted(TINY))
def test_probabilities_of_all_binary_images_sum_to_one(name):
  """sum over all 2^(3*3) images of p(x) = 1: the factorisation is a distribution."""
  family, state = make(name)
  x = all_binary_images((3, 3, 1))
  batch = {"image": x, "label": jnp.zeros((x.shape[0],), jnp.int32)}
  nll = jax.jit(family.eval_metrics["nll"])(state, batch, None)
  total = float(np.sum(np.exp(-np.asarray(nll, np.float64))))
  assert abs(total - 1.0) < 1e-5, total


def test_class_conditional_categorical_sums_to_one_per_class():
  """256 levels x 2 pixels, for each class: the 256-way softmax chain normalises."""
  family, state = make("gated_pixelcnn", shape=(1, 2, 1), likelihood="categorical",
                       num_classes=3)
  k = np.array(list(itertools.product(range(256), repeat=2)), np.float32)
  x = jnp.asarray((k * (2.0 / 255.0) - 1.0).reshape(-1, 1, 2, 1))
  fn = jax.jit(family.eval_metrics["nll"])
  totals = []
  for y in range(3):
    nll = fn(state, {"image": x, "label": jnp.full((x.shape[0],), y, jnp.int32)}, None)
    totals.append(float(jnp.sum(jnp.exp(-nll))))
  np.testing.assert_allclose(totals, 1.0, atol=1e-4)
  # ... and the class changes the distribution.
  a = fn(state, {"image": x[:5], "label": jnp.zeros((5,), jnp.int32)}, None)
  b = fn(state, {"image": x[:5], "label": jnp.ones((5,), jnp.int32)}, None)
  assert not np.allclose(a, b)


def test_sampler_draws_from_the_models_distribution():
  """Empirical frequencies of 2x2 samples match the exact p(x) of the model."""
  family, state = make("pixelcnn", shape=(2, 2, 1))
  x = all_binary_images((2, 2, 1))
  p = np.exp(-np.asarray(family.eval_metrics["nll"](
      state, {"image": x, "label": jnp.zeros((16,), jnp.int32)}, None)))
  n = 4000
  s = np.asarray(jax.jit(family.sample, static_argnums=2)(state, jax.random.PRNGKey(0), n))
  codes = s.reshape(n, 4) @ (2 ** np.arange(3, -1, -1))
  freq = np.bincount(codes.astype(int), minlength=16) / n
  # x's index in all_binary_images is the same big-endian code.
  assert np.abs(freq - p).max() < 4 * np.sqrt(p.max() / n) + 1e-3, (freq, p)


def test_cached_generation_equals_naive_generation():
  """Gated PixelCNN: the row-cached sampler gives exactly the naive sampler's draws."""
  net = dict(features=8, num_layers=2, kernel_size=3)
  fast, state = make("gated_pixelcnn", shape=(4, 5, 1), net=net, cached=True)
  slow, _ = make("gated_pixelcnn", shape=(4, 5, 1), net=net, cached=False)
  rng = jax.random.PRNGKey(3)
  a = jax.jit(fast.sample, static_argnums=2)(state, rng, 6)
  b = jax.jit(slow.sample, static_argnums=2)(state, rng, 6)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert 0 < float(jnp.mean(a)) < 1


@pytest.mark.parametrize("cached", [True, False])
def test_completion_keeps_the_given_rows(cached):
  family, state = make("gated_pixelcnn", shape=(4, 4, 1), cached=cached,
                       completion_rows=2, net=dict(features=8, num_layers=1, kernel_size=3))
  x = (jax.random.uniform(jax.random.PRNGKey(0), (8, 4, 4, 1)) > 0.5).astype(jnp.float32)
  grids = jax.jit(family.image_grids)(state, {"image": x, "label": jnp.zeros((8,), jnp.int32)},
                                      jax.random.PRNGKey(1))
  g = np.asarray(grids["completion"])                  # [8, 1 + 3 + 1, 4, 4, 1]
  assert g.shape == (8, 5, 4, 4, 1)
  np.testing.assert_array_equal(g[:, -1], np.asarray(x))
  for c in range(1, 4):
    np.testing.assert_array_equal(g[:, c, :2], np.asarray(x)[:, :2])  # prefix kept
  assert set(np.unique(g[:, 1:4, 2:])) <= {0.0, 1.0}
  np.testing.assert_array_equal(g[:, 0, 2:], 0.5)      # the masked part shown grey


def test_bad_configs_are_refused_with_the_fix():
  with pytest.raises(ConfigError, match="gated_pixelcnn"):
    make("pixelcnnn", net=TINY["pixelcnn"])
  with pytest.raises(ConfigError, match="features"):
    make("pixelcnn", net=dict(feautres=8))
  c = default_config()
  c.model.update(name="pixelcnn", likelihood="categorical")
  c.model.net = ml_collections.ConfigDict(TINY["pixelcnn"])
  with pytest.raises(ConfigError, match="scale_pm1"):
    registry.make_family(c)       # binarised data for a 256-way softmax
  c.model.update(name="pixelcnnpp", likelihood="bernoulli")
  with pytest.raises(ConfigError, match="logistic_mixture"):
    registry.make_family(c)

