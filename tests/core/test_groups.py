"""Trainable groups (optim.groups): frozen leaves bitwise unchanged through real
training steps, per-group learning rates against SGD's closed form, the
default optimiser unchanged, the start-up errors, and the exact EMA."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax.config import base_config
from genjax.core import optim
from genjax.core.state import create_train_state
from genjax.core.step import make_train_step
from genjax.errors import ConfigError

FREEZE_FIRST = (("Dense_0/.*", None),)


class MLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    hidden = jnp.tanh(nn.Dense(16)(x))  # Dense_0
    return nn.Dense(1)(hidden)          # Dense_1


def mse_loss(params, model_state, batch, rng):
  """The generic step's loss_fn: squared error of the MLP on a fixed batch."""
  del rng
  pred = MLP().apply({"params": params}, batch["image"])
  loss = jnp.mean((pred[:, 0] - batch["label"]) ** 2)
  return loss, ({}, model_state)


def setup():
  """(params, batch): the MLP's parameters, Dense_0's bias -0.0, and a batch."""
  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
  batch = {"image": x, "label": jnp.sin(x.sum(1))}
  params = MLP().init(jax.random.PRNGKey(0), x)["params"]
  params = jax.tree.map(lambda a: a, params)   # a plain, mutable copy
  params["Dense_0"]["bias"] = jnp.full((16,), -0.0)  # p + 0.0 would flip it
  return params, batch


def bits(x):
  return np.asarray(x).view(np.uint32)


def train(optimizer, steps=6, ema_decay=0.999):
  """(initial params, state, losses) after ``steps`` generic steps: the first
  eager (where XLA cannot fold away a p + 0.0), the others jitted."""
  params, batch = setup()
  state = create_train_state(jax.random.PRNGKey(1), params, optimizer)
  step = make_train_step(mse_loss, optimizer, ema_decay=ema_decay)
  jitted = jax.jit(step)
  losses = []
  for k in range(steps):
    state, metrics = (jitted if k else step)(state, batch)
    losses.append(float(metrics["loss"]))
  return params, state, losses


def test_frozen_leaves_stay_bitwise_and_the_rest_trains():
  opt = optim.make_optimizer(lr=0.05, grad_clip=1.0, groups=FREEZE_FIRST)
  params, state, losses = train(opt)
  for tree in (state.params, state.ema_params):
    for name in ("kernel", "bias"):
      assert np.array_equal(bits(tree["Dense_0"][name]),
                            bits(params["Dense_0"][name])), name
      assert not np.array_equal(tree["Dense_1"][name], params["Dense_1"][name])
  assert losses[-1] < losses[0]
  # No Adam moments for the frozen leaves: mu and nu of Dense_1 only.
  sizes = [x.size for x in jax.tree.leaves(state.opt_state) if x.ndim]
  assert sum(sizes) == 2 * (16 + 1)


def test_group_multiplier_scales_the_sgd_update():
  params, _ = setup()
  grads = jax.tree.map(lambda a: jnp.full_like(a, 0.3) + a, params)
  kw = dict(lr=0.1, name="sgd", momentum=0.0, schedule="linear", decay_steps=10)
  full = optim.make_optimizer(**kw)
  half = optim.make_optimizer(**kw, groups=(("Dense_0/.*", 0.25),))
  s_full, s_half = full.init(params), half.init(params)
  for _ in range(3):   # the whole schedule is scaled, not only its start
    u_full, s_full = full.update(grads, s_full, params)
    u_half, s_half = half.update(grads, s_half, params)
    for name in ("kernel", "bias"):
      np.testing.assert_allclose(u_half["Dense_0"][name],
                                 0.25 * u_full["Dense_0"][name], rtol=1e-6)
      assert np.array_equal(bits(u_half["Dense_1"][name]),
                            bits(u_full["Dense_1"][name]))


def test_grad_clip_is_global_over_the_trainable_leaves_only():
  params, _ = setup()
  grads = jax.tree.map(lambda a: jnp.full_like(a, 100.0), params)
  opt = optim.make_optimizer(lr=1.0, name="sgd", momentum=0.0, grad_clip=1.0,
                             groups=FREEZE_FIRST)
  updates, _ = opt.update(grads, opt.init(params), params)
  np.testing.assert_allclose(float(optax.global_norm(updates["Dense_1"])), 1.0,
                             rtol=1e-5)


@pytest.mark.parametrize("groups", [(), None])
def test_the_default_optimizer_is_todays(groups):
  params, _ = setup()
  opt = optim.make_optimizer(lr=1e-3, grad_clip=0.5, groups=groups)
  today = optax.chain(optax.clip_by_global_norm(0.5),
                      optax.adam(optim.make_schedule(1e-3)))
  s, s_ref = opt.init(params), today.init(params)
  assert jax.tree.structure(s) == jax.tree.structure(s_ref)
  for k in range(3):
    grads = jax.tree.map(lambda a: a * (k + 1.5), params)
    u, s = opt.update(grads, s, params)
    u_ref, s_ref = today.update(grads, s_ref, params)
    assert all(np.array_equal(bits(a), bits(b)) for a, b in
               zip(jax.tree.leaves(u), jax.tree.leaves(u_ref)))


def test_optimizer_from_config_reads_groups_and_old_configs():
  params, _ = setup()
  block = base_config().optim
  assert block.groups is None
  old = {k: v for k, v in block.to_dict().items() if k != "groups"}  # config.json
  for optim_block in (block, old):
    opt, decay = optim.optimizer_from_config(optim_block)
    assert decay == 0.999 and "Partition" not in repr(opt.init(params))
  block.groups = [["Dense_0/.*", None]]        # as read back from JSON
  opt, _ = optim.optimizer_from_config(block)
  assert "PartitionState" in repr(opt.init(params))


@pytest.mark.parametrize("groups,message", [
    ((("Dense_9/.*", None),), "'Dense_9/.*' matches no parameter.*Dense_0/bias"),
    ((("Dense_0", None),), "'Dense_0' matches no parameter"),
    (((".*", 0.5), ("Dense_1/.*", None)), r"groups\[1\].*earlier entries take"),
])
def test_a_pattern_matching_nothing_fails_at_init(groups, message):
  params, _ = setup()
  opt = optim.make_optimizer(groups=groups)
  with pytest.raises(ConfigError, match=message):
    jax.eval_shape(opt.init, params)


@pytest.mark.parametrize("groups,message", [
    ("Dense_0/.*", "tuple of \\(regex, lr_multiplier\\) pairs"),
    ((("Dense_0/.*",),), r"groups\[0\].*not a \(regex, lr_multiplier\) pair"),
    ((("Dense_0/(", None),), "not a valid regular expression"),
    ((("Dense_0/.*", -1.0),), "multiplier -1.0"),
    ((("Dense_0/.*", "0.1"),), "multiplier '0.1'"),
])
def test_malformed_groups_fail_when_built(groups, message):
  with pytest.raises(ConfigError, match=message):
    optim.make_optimizer(groups=groups)


def test_ema_keeps_an_unchanged_leaf_bitwise():
  rng = np.random.RandomState(0)
  e = jnp.asarray(np.concatenate([rng.normal(size=64), [-0.0, 0.0]]), jnp.float32)
  p = e.at[:8].add(1.0)
  old_formula = 0.999 * e + (1.0 - 0.999) * e
  assert not np.array_equal(bits(old_formula), bits(e))   # the ulp it fixes
  out = optim.ema_update({"w": e}, {"w": p}, 0.999)["w"]
  assert np.array_equal(bits(out[8:]), bits(e[8:]))
  assert np.array_equal(bits(out[:8]), bits((0.999 * e + (1.0 - 0.999) * p)[:8]))


def test_gan_discriminator_optimizer_ignores_groups():
  from tests.families.gan import tiny
  config = tiny.tiny_config()
  config.optim.groups = (("out/kernel", None),)   # a G path; D has none
  settings, nets = tiny.tiny(config)
  g = tiny.affine_generator_params(np.zeros((tiny.Z_DIM, tiny.PIXELS)),
                                   np.zeros(tiny.PIXELS))
  state = tiny.tiny_state(nets, g, tiny.linear_critic_params(np.ones(16), 0.0))
  assert "PartitionState" in repr(state.g_opt_state)
  assert "Partition" not in repr(state.d_opt_state)
