"""Schedules, optimisers, EMA and the step RNG against their definitions."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax.errors import ConfigError
from genjax.core import optim
from genjax.core.state import create_train_state, step_rng
from genjax.core.step import make_train_step


def test_warmup_then_cosine_matches_formula():
  s = optim.make_schedule(1.0, "cosine", warmup_steps=10, decay_steps=110,
                          end_lr_fraction=0.1)
  assert float(s(0)) == 0.0
  np.testing.assert_allclose(float(s(5)), 0.5, rtol=1e-6)
  for t in (10, 35, 60, 110):
    frac = (t - 10) / 100
    want = 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac))
    np.testing.assert_allclose(float(s(t)), want, rtol=1e-5)


def test_constant_and_linear():
  assert float(optim.make_schedule(3e-4)(12345)) == pytest.approx(3e-4)
  s = optim.make_schedule(1.0, "linear", decay_steps=100, end_lr_fraction=0.0)
  np.testing.assert_allclose(float(s(25)), 0.75, rtol=1e-6)


def test_hold_then_linear_is_cyclegans_schedule():
  """lr for hold_steps, then linearly to 0 at decay_steps (Zhu et al. 2017 sec. 4:
  100 epochs at 2e-4, then linearly to zero over the next 100)."""
  s = optim.make_schedule(2e-4, "linear", decay_steps=200, hold_steps=100)
  for t, want in ((0, 2e-4), (99, 2e-4), (100, 2e-4), (150, 1e-4), (175, 5e-5), (200, 0.0)):
    np.testing.assert_allclose(float(s(t)), want, rtol=1e-5, atol=1e-12)
  with pytest.raises(ConfigError, match="hold_steps=100"):
    optim.make_schedule(1.0, "linear", decay_steps=100, hold_steps=100)


def test_bad_schedule_and_optimizer_names_list_valid_ones():
  with pytest.raises(ConfigError, match="cosine"):
    optim.make_schedule(1.0, "cosin")
  with pytest.raises(ConfigError, match="adamw"):
    optim.make_optimizer(name="adamm")
  with pytest.raises(ConfigError, match="decay_steps"):
    optim.make_schedule(1.0, "cosine", warmup_steps=5)


def test_grad_clip_bounds_the_update():
  opt = optim.make_optimizer(lr=1.0, name="sgd", momentum=0.0, grad_clip=1.0)
  p = {"w": jnp.zeros(4)}
  upd, _ = opt.update({"w": jnp.full(4, 10.0)}, opt.init(p), p)
  np.testing.assert_allclose(float(optax.global_norm(upd)), 1.0, rtol=1e-5)


def test_ema_is_polyak_average():
  e = optim.ema_update({"a": jnp.array(1.0)}, {"a": jnp.array(3.0)}, 0.75)
  assert float(e["a"]) == pytest.approx(0.75 * 1.0 + 0.25 * 3.0)


def test_step_rng_is_fold_in_and_differs_per_step():
  base = jax.random.PRNGKey(3)
  assert np.array_equal(step_rng(base, 7), jax.random.fold_in(base, 7))
  assert not np.array_equal(step_rng(base, 7), step_rng(base, 8))


def test_generic_step_is_sgd_on_a_quadratic():
  opt = optim.make_optimizer(lr=0.1, name="sgd", momentum=0.0)

  def loss_fn(params, model_state, batch, rng):
    del rng
    loss = jnp.sum((params["w"] - batch["image"]) ** 2)
    return loss, ({"sq": loss}, model_state)

  state = create_train_state(jax.random.PRNGKey(0), {"w": jnp.zeros(3)}, opt)
  step = jax.jit(make_train_step(loss_fn, opt, ema_decay=0.5))
  target = jnp.array([1.0, -2.0, 0.5])
  state, m = step(state, {"image": target})
  np.testing.assert_allclose(state.params["w"], 0.2 * target, rtol=1e-6)
  np.testing.assert_allclose(state.ema_params["w"], 0.1 * target, rtol=1e-6)
  assert int(state.step) == 1
  assert float(m["grad_norm"]) == pytest.approx(float(2 * jnp.linalg.norm(target)), rel=1e-5)
