"""The autoregressive family's export ``log_prob`` on tiny networks: a
normalised distribution over every binary 2x2 image, the negative of the
family's ``nll`` metric, and a pure function of the bundle under jit."""
import itertools
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax.families.autoregressive import family as ar
from genjax.families.autoregressive.config import default_config
from genjax.families.base import bundle_of
from tests.families.export_checks import assert_reads_the_bundle, perturbed

SHAPE = (2, 2, 1)


def tiny_family(likelihood="bernoulli", num_classes=0, shape=SHAPE):
  config = default_config()
  config.model.update(name="pixelcnn", likelihood=likelihood, image_shape=shape,
                      num_classes=num_classes)
  config.model.net = ml_collections.ConfigDict(dict(features=4, num_layers=1,
                                                    kernel_size=3))
  if likelihood != "bernoulli":
    config.data.preprocess = ("scale_pm1",)
  return ar.make_family(config)


def random_state(family, shape=SHAPE, seed=2):
  """A state with random (not freshly initialised) raw and EMA parameters."""
  state = family.init(jax.random.PRNGKey(1), {"image": jnp.zeros((1,) + shape),
                                              "label": jnp.zeros((1,), jnp.int32)})
  params = perturbed(state.params, seed, 0.3)
  return state.replace(params=params, ema_params=params)


def all_binary_images():
  bits = np.array(list(itertools.product([0.0, 1.0], repeat=math.prod(SHAPE))))
  return jnp.asarray(bits.reshape((-1,) + SHAPE), jnp.float32)


def test_log_prob_is_a_distribution_over_all_binary_images():
  family = tiny_family()
  log_p = family.exports["log_prob"](bundle_of(family, random_state(family)),
                                     all_binary_images())
  assert log_p.shape == (16,)
  np.testing.assert_allclose(np.exp(np.asarray(log_p, np.float64)).sum(), 1.0, rtol=1e-5)


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
def test_log_prob_is_minus_the_nll_metric_and_bpd_times_the_dims_in_bits(likelihood):
  family = tiny_family(likelihood)
  state = random_state(family)
  levels = np.random.default_rng(3).integers(0, 256, (6,) + SHAPE)
  images = (np.round(levels / 255.0) if likelihood == "bernoulli"
            else levels / 127.5 - 1.0)
  batch = {"image": jnp.asarray(images, jnp.float32),
           "label": jnp.zeros((6,), jnp.int32), "valid": jnp.ones((6,))}
  log_p = family.exports["log_prob"](bundle_of(family, state), batch["image"])
  rng = jax.random.PRNGKey(0)
  np.testing.assert_allclose(log_p, -family.eval_metrics["nll"](state, batch, rng),
                             rtol=1e-6)
  dims = math.prod(SHAPE)
  np.testing.assert_allclose(
      log_p, -family.eval_metrics["bpd"](state, batch, rng) * dims * math.log(2.0),
      rtol=1e-5)


def test_a_conditional_models_log_prob_needs_labels_and_is_normalised_per_class():
  family = tiny_family(num_classes=3)
  bundle = bundle_of(family, random_state(family))
  images = all_binary_images()
  with pytest.raises(ValueError, match="needs the images' labels"):
    family.exports["log_prob"](bundle, images)
  for label in range(3):
    labels = jnp.full((16,), label, jnp.int32)
    log_p = family.exports["log_prob"](bundle, images, labels)
    np.testing.assert_allclose(np.exp(np.asarray(log_p, np.float64)).sum(), 1.0,
                               rtol=1e-5)


def test_log_prob_reads_its_parameters_from_the_bundle_under_jit():
  family = tiny_family(num_classes=3)
  bundle_a = bundle_of(family, random_state(family, seed=2))
  bundle_b = bundle_of(family, random_state(family, seed=7))
  labels = jnp.arange(16, dtype=jnp.int32) % 3
  assert_reads_the_bundle(family.exports["log_prob"], bundle_a, bundle_b,
                          all_binary_images(), labels)
