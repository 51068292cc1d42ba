"""The pieces of the GAN train step (steps.py), each against a closed form of
the affine networks of tiny.py: a linear critic and a constant generator."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.gan import steps
from tests.families.gan.tiny import (BATCH, PIXELS, SHAPE, Z_DIM,
                                     affine_generator_params, linear_critic_params,
                                     random_images, sigmoid, softplus, tiny, tiny_state)

RS = np.random.RandomState(0)
W = RS.randn(PIXELS).astype(np.float32) * 0.5
B0 = 0.3
G_BIAS = RS.randn(PIXELS).astype(np.float32)
FAKE = np.tanh(G_BIAS)      # every fake of the constant generator


def _constant_generator_state(nets):
  return tiny_state(nets, affine_generator_params(np.zeros((Z_DIM, PIXELS)), G_BIAS),
                    linear_critic_params(W, B0))


def _flat(x):
  return np.asarray(x, np.float64).reshape(len(x), -1)


def test_sample_latents_are_standard_normal_truncated_at_psi():
  settings, _ = tiny()
  rng = jax.random.PRNGKey(3)
  z = steps.sample_latents(settings, rng, 500)
  np.testing.assert_array_equal(z, jax.random.normal(rng, (500, Z_DIM)))
  truncated = np.asarray(steps.sample_latents(settings, rng, 500, 0.5))
  assert truncated.shape == (500, Z_DIM) and np.abs(truncated).max() <= 0.5
  assert np.abs(truncated).max() > 0.45       # fills [-psi, psi], not a point


def test_batch_labels_only_for_a_conditional_model():
  batch = {"image": random_images(), "label": np.asarray([3, 1, 0, 2], np.int64)}
  assert steps.batch_labels(tiny()[0], batch) is None
  labels = steps.batch_labels(tiny(num_classes=4)[0], batch)
  assert labels.dtype == jnp.int32 and labels.tolist() == [3, 1, 0, 2]


def test_augment_images_none_identity_ada_flips_at_p_1_diffaugment_cuts_out():
  x, rng = random_images(), jax.random.PRNGKey(1)
  np.testing.assert_array_equal(steps.augment_images(tiny()[0], rng, x, 1.0), x)
  ada, _ = tiny(augment="ada", ada_ops=("xflip",))
  np.testing.assert_array_equal(steps.augment_images(ada, rng, x, 0.0), x)
  np.testing.assert_array_equal(steps.augment_images(ada, rng, x, 1.0), x[:, :, ::-1])
  cut, _ = tiny(augment="diffaugment", diffaugment_policy=("cutout",))
  out = np.asarray(steps.augment_images(cut, rng, jnp.ones_like(x), 0.0))
  assert ((out == 0).reshape(BATCH, -1).sum(axis=1) == 4).all()   # a 2x2 square each
  assert set(np.unique(out)) == {0.0, 1.0}


@pytest.mark.parametrize("penalty", ["r1", "r2", "gp"])
def test_penalty_value_of_a_linear_critic_in_closed_form(penalty):
  """grad_x <w, x> = w for every x: R1 = R2 = ||w||^2, GP = (||w|| - 1)^2."""
  settings, _ = tiny(penalty=penalty, penalty_weight=1.0)
  d_fn = lambda x: x.reshape(x.shape[0], -1) @ jnp.asarray(W)
  got = steps.penalty_value(settings, d_fn, random_images(1), random_images(2),
                            jax.random.PRNGKey(0))
  norm = np.linalg.norm(W.astype(np.float64))
  want = (norm - 1.0) ** 2 if penalty == "gp" else norm ** 2
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


@pytest.mark.parametrize("d_iter,penalised", [(0, True), (1, False), (4, True)])
def test_discriminator_objective_lazy_r1_in_closed_form(d_iter, penalised):
  """Non-saturating D loss softplus(-r) + softplus(f) of the linear critic,
  plus weight * k * ||w||^2 on every k-th (k = 2) D step only."""
  settings, nets = tiny(penalty="r1", penalty_weight=0.3, penalty_every=2)
  real, fake = random_images(1), random_images(2)
  loss, (stats, r, f, penalty) = steps.discriminator_objective(
      settings, nets, linear_critic_params(W, B0), {}, jnp.concatenate([real, fake]),
      None, jax.random.PRNGKey(0), d_iter)
  want_r, want_f = _flat(real) @ W + B0, _flat(fake) @ W + B0
  np.testing.assert_allclose(r, want_r, rtol=1e-5)
  np.testing.assert_allclose(f, want_f, rtol=1e-5)
  r1 = float(np.sum(W.astype(np.float64) ** 2)) if penalised else 0.0
  want = softplus(-want_r).mean() + softplus(want_f).mean() + 0.3 * 2 * r1
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  np.testing.assert_allclose(float(penalty), r1, rtol=1e-5)
  assert stats == {}


def test_discriminator_step_is_sgd_on_the_closed_form_gradient():
  """dL/dw = mean(-sigmoid(-r) x_real) + mean(sigmoid(f) x_fake); D's lr 0.05."""
  settings, nets = tiny()
  state, real = _constant_generator_state(nets), random_images(1)
  d_vars = (state.d_params, state.d_opt_state, state.d_stats)
  (params, _, _), metrics = steps.discriminator_step(
      settings, nets, state, real, None, jax.random.PRNGKey(0), 0, d_vars)
  x = _flat(real)
  r, f = x @ W + B0, FAKE @ W + B0
  grad_w = (-sigmoid(-r)[:, None] * x).mean(0) + sigmoid(f) * FAKE
  grad_b = (-sigmoid(-r)).mean() + sigmoid(f)
  dense = params["head"]["psi"]["dense"]
  np.testing.assert_allclose(dense["kernel"][:, 0], W - 0.05 * grad_w, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dense["bias"], [B0 - 0.05 * grad_b], rtol=1e-5)
  np.testing.assert_allclose(metrics["d_real"], r.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["d_fake"], f, rtol=1e-5)
  assert float(metrics["r_t"]) == np.sign(r).mean()
  np.testing.assert_allclose(metrics["d_grad_norm"],
                             np.sqrt(np.sum(grad_w ** 2) + grad_b ** 2), rtol=1e-5)


@pytest.mark.parametrize("penalty_every,pattern", [(2, [True, False]), (3, [False, True])])
def test_discriminator_steps_count_d_steps_across_train_steps(penalty_every, pattern):
  """At train step 1 with n_critic = 2 the D steps are the 3rd and 4th
  (iterations 2, 3): lazy R1 every 2 hits the first, every 3 the second."""
  settings, nets = tiny(n_critic=2, penalty="r1", penalty_weight=0.1,
                        penalty_every=penalty_every)
  state = _constant_generator_state(nets).replace(step=jnp.int32(1))
  _, metrics = steps.discriminator_steps(settings, nets, state, random_images(1), None,
                                         jax.random.PRNGKey(0))
  assert metrics["d_loss"].shape == (2,)
  assert [float(p) > 0 for p in metrics["penalty"]] == pattern


def test_generator_objective_of_a_constant_generator_in_closed_form():
  settings, nets = tiny()
  state = _constant_generator_state(nets)
  loss, g_stats = steps.generator_objective(
      settings, nets, state.g_params, {}, state.d_params, {},
      jnp.ones((BATCH, Z_DIM)), None, jax.random.PRNGKey(0), 0.0)
  np.testing.assert_allclose(float(loss), softplus(-(FAKE @ W + B0)), rtol=1e-5)
  assert g_stats == {}


def test_generator_step_is_sgd_then_the_warm_started_ema():
  """d/dc softplus(-(<w, tanh c> + b)) = -sigmoid(-f) w (1 - tanh(c)^2); G's lr
  0.1; the EMA's decay at step 0 is min(0.99, 1/10) = 0.1."""
  settings, nets = tiny()
  state = _constant_generator_state(nets)
  new, metrics = steps.generator_step(settings, nets, state, None,
                                      jax.random.PRNGKey(0), BATCH)
  f = FAKE @ W + B0
  want = G_BIAS - 0.1 * (-sigmoid(-f) * W * (1.0 - FAKE ** 2))
  np.testing.assert_allclose(new.g_params["out"]["bias"], want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(new.g_ema_params["out"]["bias"],
                             0.1 * G_BIAS + 0.9 * want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(metrics["g_loss"], softplus(-f), rtol=1e-5)
  assert new.d_params is state.d_params and int(new.step) == 0


def test_ada_step_moves_p_every_interval_by_the_mean_r_t():
  """interval 2, 1 kimg, batch 4, n_critic 2: p moves by 4 * 2 * 2 / 1000 at
  the end of every second step, up when the mean r_t exceeds the target."""
  settings, nets = tiny(augment="ada", ada_interval=2, ada_kimg=1, ada_target=0.6,
                        n_critic=2)
  state = _constant_generator_state(nets)
  first = steps.ada_step(settings, state, jnp.asarray([1.0, 0.5]), BATCH)
  assert float(first["ada_p"]) == 0.0
  assert float(first["ada_rt_sum"]) == 1.5 and float(first["ada_rt_count"]) == 2.0
  state = state.replace(step=jnp.int32(1), **first)
  second = steps.ada_step(settings, state, jnp.asarray([0.5, 0.5]), BATCH)
  np.testing.assert_allclose(float(second["ada_p"]), 0.016, rtol=1e-6)   # mean 0.625
  assert float(second["ada_rt_sum"]) == 0.0 and float(second["ada_rt_count"]) == 0.0
  unchanged = steps.ada_step(tiny()[0], state, jnp.asarray([1.0]), BATCH)
  assert float(unchanged["ada_rt_sum"]) == 1.5 and float(unchanged["ada_p"]) == 0.0


def test_step_metrics_last_d_step_mean_r_t_and_the_computed_penalty():
  d_metrics = {"d_loss": jnp.asarray([2.0, 1.0]), "r_t": jnp.asarray([1.0, 0.0]),
               "penalty": jnp.asarray([0.0, 0.7]), "d_real": jnp.asarray([3.0, 4.0])}
  got = steps.step_metrics(d_metrics, {"g_loss": jnp.float32(5.0)}, jnp.float32(0.2))
  want = {"d_loss": 1.0, "r_t": 0.5, "penalty": 0.7, "d_real": 4.0, "loss": 1.0,
          "g_loss": 5.0, "ada_p": 0.2}
  assert sorted(got) == sorted(want)
  for name, value in want.items():
    np.testing.assert_allclose(float(got[name]), value, rtol=1e-6, err_msg=name)
