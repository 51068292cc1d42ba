"""The evaluation metrics (evaluation.py) of a linear, label-conditioned critic
D(x, y) = <w, x> + v_y + b and a constant generator (tiny.py), in closed form."""
import jax
import jax.numpy as jnp
import numpy as np

from genjax.families.gan import evaluation
from tests.families.gan.tiny import (BATCH, PIXELS, Z_DIM, affine_generator_params,
                                     linear_critic_params, random_images, tiny,
                                     tiny_state)

NUM_CLASSES = 3
RS = np.random.RandomState(1)
W = RS.randn(PIXELS).astype(np.float32)
V = np.asarray([0.5, -2.0, 1.0], np.float32)   # the class terms v_y
B0 = -0.2
G_BIAS = RS.randn(PIXELS).astype(np.float32)
LABELS = np.asarray([0, 1, 2, 1], np.int32)


def _setup():
  settings, nets = tiny(num_classes=NUM_CLASSES, g_cond="concat", d_cond="concat")
  g_kernel = np.zeros((Z_DIM + NUM_CLASSES, PIXELS), np.float32)
  state = tiny_state(nets, affine_generator_params(g_kernel, G_BIAS),
                     linear_critic_params(np.concatenate([W, V]), B0))
  batch = {"image": random_images(3), "label": jnp.asarray(LABELS),
           "valid": jnp.ones((BATCH,))}
  return settings, nets, state, batch


def _critic(images, labels):
  flat = np.asarray(images, np.float64).reshape(len(images), -1)
  return flat @ W + V[labels] + B0


def test_discriminator_logits_of_the_linear_critic():
  _, nets, state, batch = _setup()
  got = evaluation.discriminator_logits(nets, state, batch["image"], batch["label"])
  np.testing.assert_allclose(got, _critic(batch["image"], LABELS), rtol=1e-5, atol=1e-6)


def test_eval_d_real_and_r_t_score_each_real_image():
  settings, nets, state, batch = _setup()
  want = _critic(batch["image"], LABELS)
  d_real = evaluation.eval_d_real(settings, nets, state, batch, jax.random.PRNGKey(0))
  np.testing.assert_allclose(d_real, want, rtol=1e-5, atol=1e-6)
  r_t = evaluation.eval_r_t(settings, nets, state, batch, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(r_t, np.sign(want))
  assert set(np.sign(want)) == {-1.0, 1.0}     # both signs are exercised


def test_eval_d_fake_scores_one_fake_per_example_with_its_label():
  settings, nets, state, batch = _setup()
  got = evaluation.eval_d_fake(settings, nets, state, batch, jax.random.PRNGKey(0))
  fakes = np.broadcast_to(np.tanh(G_BIAS), (BATCH, PIXELS))
  np.testing.assert_allclose(got, _critic(fakes, LABELS), rtol=1e-5, atol=1e-6)
