"""The GAN family's ``trained`` and exports (generate, discriminate, z_dim)
against the family's sampler and evaluation metrics, on a tiny MLP GAN with
one BatchNorm layer in G (so the EMA generator's standing statistics count)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.base import bundle_of
from genjax.families.gan import family as gan
from tests.families.export_checks import assert_reads_the_bundle, leaves_of, perturbed
from tests.families.gan.tiny import SHAPE, Z_DIM, random_images, tiny_config

NUM_CLASSES = 3


def tiny_family(truncation=0.0, num_classes=NUM_CLASSES):
  config = tiny_config(g_hidden=(8,), d_hidden=(8,), num_classes=num_classes,
                       g_cond="concat", d_cond="projection")
  config.sample.truncation = truncation
  return gan.make_family(config)


def state_of(family, seed=0):
  """A fresh state with random G, G-EMA (unlike G) and D parameters and
  non-trivial running statistics of G's BatchNorm."""
  blank = {"image": jnp.zeros((1,) + SHAPE), "label": jnp.zeros((1,), jnp.int32)}
  state = family.init(jax.random.PRNGKey(0), blank)
  stats = perturbed(state.g_stats, seed + 3, 0.3)
  stats = jax.tree.map(lambda v: jnp.abs(v) + 0.5, stats)   # variances stay positive
  return state.replace(g_params=perturbed(state.g_params, seed, 0.3),
                       g_ema_params=perturbed(state.g_params, seed + 1, 0.3),
                       d_params=perturbed(state.d_params, seed + 2, 0.3), g_stats=stats)


@pytest.mark.parametrize("truncation", [0.0, 0.7])
def test_generate_at_the_latents_sample_draws_gives_samples_images(truncation):
  family = tiny_family(truncation)
  state, rng = state_of(family), jax.random.PRNGKey(4)
  labels = jnp.asarray([2, 0, 1, 1, 0], jnp.int32)
  z = (jax.random.truncated_normal(rng, -truncation, truncation, (5, Z_DIM))
       if truncation else jax.random.normal(rng, (5, Z_DIM)))
  images = family.exports["generate"](bundle_of(family, state, use_ema=True), z, labels)
  np.testing.assert_allclose(images, family.sample(state, rng, 5, labels), atol=1e-6)
  assert images.shape == (5,) + SHAPE
  assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0


def test_trained_holds_the_ema_or_the_raw_generator_and_the_discriminator():
  family = tiny_family()
  state = state_of(family)
  raw, ema = family.trained(state, False), family.trained(state, True)
  assert set(raw) == {"g_params", "g_stats", "d_params", "d_stats"}
  for got, want in ((raw["g_params"], state.g_params), (raw["g_stats"], state.g_stats),
                    (ema["g_params"], state.g_ema_params),
                    (ema["d_params"], state.d_params), (raw["d_params"], state.d_params)):
    for a, b in zip(leaves_of(got), leaves_of(want)):
      np.testing.assert_array_equal(a, b)
  # The EMA generator's BatchNorm statistics are its own standing ones.
  assert not any(np.allclose(a, b) for a, b in zip(leaves_of(ema["g_stats"]),
                                                   leaves_of(state.g_stats)))


def test_discriminate_gives_the_d_real_metric_per_example():
  family = tiny_family()
  state = state_of(family)
  batch = {"image": random_images(num=6), "label": jnp.arange(6, dtype=jnp.int32) % 3,
           "valid": jnp.ones((6,))}
  logits = family.exports["discriminate"](bundle_of(family, state), batch["image"],
                                          batch["label"])
  np.testing.assert_allclose(
      logits, family.eval_metrics["d_real"](state, batch, jax.random.PRNGKey(0)),
      rtol=1e-6)


def test_exports_read_their_parameters_from_the_bundle_under_jit():
  family = tiny_family()
  bundle_a = bundle_of(family, state_of(family, seed=0))
  bundle_b = bundle_of(family, state_of(family, seed=10))
  labels = jnp.asarray([0, 1, 2, 0], jnp.int32)
  z = jax.random.normal(jax.random.PRNGKey(5), (4, Z_DIM))
  assert_reads_the_bundle(family.exports["generate"], bundle_a, bundle_b, z, labels)
  assert_reads_the_bundle(family.exports["discriminate"], bundle_a, bundle_b,
                          random_images(num=4), labels)
  assert family.exports["z_dim"]() == Z_DIM


def test_a_conditional_gans_exports_need_labels_an_unconditional_one_ignores_them():
  family = tiny_family()
  bundle = bundle_of(family, state_of(family))
  z = jnp.zeros((2, Z_DIM))
  with pytest.raises(ValueError, match="'generate' of a class-conditional model"):
    family.exports["generate"](bundle, z)
  with pytest.raises(ValueError, match="'discriminate' of a class-conditional model"):
    family.exports["discriminate"](bundle, random_images(num=2))
  unconditional = tiny_family(num_classes=0)
  bundle = bundle_of(unconditional, state_of(unconditional))
  np.testing.assert_array_equal(
      unconditional.exports["generate"](bundle, z, jnp.asarray([1, 2])),
      unconditional.exports["generate"](bundle, z))
