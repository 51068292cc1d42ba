"""The GAN family: the two-player step against a hand-computed one, bad configs,
global BatchNorm over 4 simulated devices, and exact resume through the loop."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import main
from genjax.errors import ConfigError
from genjax.families.gan import losses, models
from genjax.families.gan.config import default_config
from genjax.families.gan.family import make_family
from tests.helpers import run_python_result

B, SHAPE = 6, (4, 4, 1)


def _tiny_config(**model):
  c = default_config()
  c.model.update(arch="mlp", image_shape=SHAPE, z_dim=3, g_hidden=(), d_hidden=(5,))
  c.model.update(**model)
  c.optim.update(name="sgd", momentum=0.0, lr=0.1, d_lr=0.05, ema_decay=0.99)
  return c


# --------------------------------------------------------------------------
# The train step against a hand-computed one.


def test_train_step_matches_a_hand_computed_step():
  """n_critic = 2 D steps (lazy R1 every k = 2: on D step 0 only, times 2),
  then one G step on the updated D; TTUR learning rates; G's EMA; ADA's p.

  G's output kernel is zeroed, so the fakes are tanh(bias) whatever z is and
  the whole step can be recomputed with plain SGD from the definitions.
  """
  w, k = 0.3, 2
  c = _tiny_config(loss="non_saturating", penalty="r1", penalty_weight=w,
                   penalty_every=k, n_critic=2, augment="ada", ada_target=0.6,
                   ada_interval=1, ada_kimg=1)
  fam = make_family(c)
  rs = np.random.RandomState(0)
  state = jax.jit(fam.init)(jax.random.PRNGKey(0),
                            {"image": jnp.zeros((1,) + SHAPE), "label": jnp.zeros((1,), jnp.int32)})
  out_bias = jnp.asarray(rs.randn(16), jnp.float32)
  g_params = dict(state.g_params, out={"kernel": jnp.zeros_like(state.g_params["out"]["kernel"]),
                                       "bias": out_bias})
  d_params = jax.tree.map(lambda a: a, state.d_params)
  d_params["head"]["psi"]["dense"]["bias"] = jnp.array([4.0])   # D(real) > 0: r_t = 1 > 0.6
  state = state.replace(g_params=g_params, g_ema_params=g_params, d_params=d_params)
  real = jnp.asarray(rs.uniform(-1, 1, (B,) + SHAPE), jnp.float32)
  new, metrics = jax.jit(fam.train_step)(state, {"image": real, "label": jnp.zeros((B,), jnp.int32)})

  _, D = models.make_networks("mlp", SHAPE, g_hidden=(), d_hidden=(5,))
  d = lambda p, x: D.apply({"params": p}, x)
  fake = jnp.broadcast_to(jnp.tanh(out_bias).reshape((1,) + SHAPE), (B,) + SHAPE)

  def d_loss(p, with_r1):
    loss = losses.discriminator_loss("non_saturating", d(p, real), d(p, fake))
    if with_r1:   # lazy regularisation: every k-th D step, scaled by k
      loss = loss + w * k * losses.r1_penalty(lambda x: d(p, x), real)
    return loss

  p, rts = d_params, []
  for i in range(2):                  # D iterations 0 and 1 of step 0
    rts.append(float(jnp.mean(jnp.sign(d(p, real)))))
    grads = jax.grad(d_loss)(p, i % k == 0)
    p = jax.tree.map(lambda a, g: a - 0.05 * g, p, grads)      # D's lr (TTUR)
  for a, b in zip(jax.tree.leaves(new.d_params), jax.tree.leaves(p)):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)

  # G step on the updated D: only the output bias is checked (the kernel's
  # gradient depends on z).
  g_loss = lambda bias: losses.generator_loss(
      "non_saturating", d(p, jnp.broadcast_to(jnp.tanh(bias).reshape((1,) + SHAPE), (B,) + SHAPE)))
  want_bias = out_bias - 0.1 * jax.grad(g_loss)(out_bias)
  np.testing.assert_allclose(new.g_params["out"]["bias"], want_bias, rtol=1e-5, atol=1e-6)
  # EMA with the warm-started decay min(0.99, (1 + 0) / (10 + 0)) = 0.1 at step 0.
  np.testing.assert_allclose(new.g_ema_params["out"]["bias"],
                             0.1 * out_bias + 0.9 * want_bias, rtol=1e-5, atol=1e-6)
  # ADA: r_t averaged over the two D steps; p += sign(r_t - 0.6) * B * n_critic * 1 / 1000.
  assert rts == [1.0, 1.0]
  np.testing.assert_allclose(float(new.ada_p), B * 2 / 1000.0, rtol=1e-6)
  assert float(new.ada_rt_count) == 0.0 and int(new.step) == 1
  assert float(metrics["r_t"]) == 1.0 and float(metrics["ada_p"]) == float(new.ada_p)
  r1 = float(losses.r1_penalty(lambda x: d(d_params, x), real))
  np.testing.assert_allclose(float(metrics["penalty"]), r1, rtol=1e-5)

  # Samples and the truncation grid: shapes and the [0, 1] range.
  x = jax.jit(fam.sample, static_argnums=2)(new, jax.random.PRNGKey(1), 5)
  assert x.shape == (5,) + SHAPE and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
  grids = jax.jit(fam.image_grids)(new, {"image": real}, jax.random.PRNGKey(2))
  assert grids["truncation"].shape == (4, 8) + SHAPE
  assert fam.num_classes is None


@pytest.mark.parametrize("use_ema", [True, False])
def test_ema_samples_use_their_own_batchnorm_statistics(use_ema):
  """The EMA generator samples with standing statistics of its own weights; the
  running statistics (the raw G's) are used only by the raw G."""
  c = _tiny_config(g_hidden=(5,))
  c.sample.use_ema = use_ema
  fam = make_family(c)
  state = jax.jit(fam.init)(jax.random.PRNGKey(0),
                            {"image": jnp.zeros((1,) + SHAPE), "label": jnp.zeros((1,), jnp.int32)})
  moved = state.replace(g_stats=jax.tree.map(lambda v: v + 3.0, state.g_stats))
  draw = jax.jit(fam.sample, static_argnums=2)
  a, b = (np.asarray(draw(st, jax.random.PRNGKey(1), 4)) for st in (state, moved))
  assert np.array_equal(a, b) == use_ema


# --------------------------------------------------------------------------
# Bad input.


def test_unknown_names_list_the_valid_ones():
  with pytest.raises(ConfigError, match="hinge, least_squares, minimax"):
    make_family(_tiny_config(loss="nonsaturating"))
  with pytest.raises(ConfigError, match="ada, diffaugment, none"):
    make_family(_tiny_config(augment="adaptive"))
  with pytest.raises(ConfigError, match="gp, none, r1, r2"):
    make_family(_tiny_config(penalty="r3"))


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.2])
def test_ada_target_outside_0_1(target):
  with pytest.raises(ConfigError, match="ada_target must be in"):
    make_family(_tiny_config(augment="ada", ada_target=target))


def test_resolution_the_architecture_cannot_build():
  with pytest.raises(ConfigError, match="multiples of 4"):
    make_family(_tiny_config(arch="dcgan", image_shape=(25, 25, 1), g_channels=(8, 8)))


def test_bad_combinations():
  with pytest.raises(ConfigError, match="Lipschitz"):
    make_family(_tiny_config(loss="wasserstein"))
  with pytest.raises(ConfigError, match="BatchNorm"):
    make_family(_tiny_config(arch="dcgan", image_shape=(8, 8, 1), g_channels=(4,),
                             d_channels=(4,), penalty="gp", d_batch_norm=True))


def test_conditional_gan_on_an_unconditional_dataset():
  c = _tiny_config(num_classes=10)
  c.data.update(name="lfw_subset")
  with pytest.raises(ConfigError, match="has none"):
    make_family(c)


# --------------------------------------------------------------------------
# BatchNorm statistics are global: 1 vs 4 simulated devices.

MULTI = r'''
import json, jax, jax.numpy as jnp, numpy as np
from genjax.families.gan.config import default_config
from genjax.families.gan.family import make_family
from genjax.train import loop
from genjax.core import sharding
c = default_config()
c.model.update(arch="dcgan", image_shape=(8, 8, 1), z_dim=4, g_channels=(4,),
               d_channels=(4, 4), d_batch_norm=True)
fam = make_family(c)
ex = {"image": jnp.zeros((1, 8, 8, 1)), "label": jnp.zeros((1,), jnp.int32)}
rs = np.random.RandomState(0)
batches = [{"image": rs.uniform(-1, 1, (8, 8, 8, 1)).astype(np.float32),
            "label": np.zeros(8, np.int32)} for _ in range(2)]
out = {}
for n in (1, 4):
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:n]), (sharding.DATA_AXIS,))
  state = jax.jit(fam.init, out_shardings=sharding.replicated(mesh))(jax.random.PRNGKey(0), ex)
  init_stats = jax.device_get(state.g_stats)
  step = loop.jit_train_step(fam, mesh)
  for b in batches:
    gb = sharding.to_global(b, mesh)
    assert len(gb["image"].sharding.device_set) == n
    state, m = step(state, gb)
    jax.block_until_ready(m)
  moved = float(np.abs(jax.device_get(state.g_stats["batch_stats"]["norm0"]["bn"]["mean"])
                       - init_stats["batch_stats"]["norm0"]["bn"]["mean"]).max())
  out[n] = dict(leaves=[np.asarray(x).ravel().tolist() for x in jax.tree.leaves(jax.device_get(state))],
                moved=moved, d_loss=float(m["d_loss"]))
print("RESULT" + json.dumps(dict(devices=jax.device_count(), out=out)))
'''


@pytest.mark.slow
def test_batch_norm_statistics_are_global_over_devices():
  res = run_python_result(MULTI, devices=4)
  assert res["devices"] == 4
  one, four = res["out"]["1"], res["out"]["4"]
  assert one["moved"] > 1e-4            # G's running statistics did update
  np.testing.assert_allclose(one["d_loss"], four["d_loss"], rtol=1e-5)
  for a, b in zip(one["leaves"], four["leaves"]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------
# Resume exactness through the shared loop.


def _run_config(num_steps):
  c = default_config()
  c.model.update(arch="dcgan", image_shape=(28, 28, 1), z_dim=4, g_channels=(4, 4),
                 d_channels=(4, 4), num_classes=10, g_cond="cbn", d_cond="projection",
                 spectral_norm=True, d_batch_norm=True, loss="hinge",
                 augment="ada", ada_target=0.2, ada_interval=1, ada_kimg=1,
                 ada_ops=("xflip", "xint", "cutout"))
  c.data.update(name="mnist", shuffle_buffer=1_000)
  c.train.update(batch_size=8, num_steps=num_steps, log_every=2, ckpt_every=3,
                 sample_every=0, eval_metrics=())
  c.optim.update(d_lr=1e-2)   # D learns fast: r_t passes ADA's target within the run
  c.sample.update(num=4, truncation_grid=(0.5,), grid_columns=2)
  c.lock()
  return c


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  a = jax.device_get(main.run(_run_config(6), whole, "train"))
  main.run(_run_config(3), parts, "train")               # stops at 3
  b = jax.device_get(main.run(_run_config(6), parts, "train"))  # resumes 3 -> 6
  assert int(a.step) == int(b.step) == 6
  assert float(a.ada_p) > 0.0           # ADA's p moved, and is restored exactly
  la, lb = jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b)
  assert len(la) == len(lb)
  names = " ".join(jax.tree_util.keystr(p) for p, _ in la)
  for part in ("g_opt_state", "d_opt_state", "g_ema_params", "g_stats", "d_stats",
               "ada_p", "ada_rt_sum", "/u"):
    assert part in names, part
  for (path, x), y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y),
                                  err_msg=jax.tree_util.keystr(path))
  import os
  assert os.path.exists(os.path.join(whole, "samples", "classes_step_6.png"))
