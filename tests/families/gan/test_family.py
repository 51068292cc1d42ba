"""The GAN family: settings and their checks, the networks and the initial
state, the two-player step against a hand-computed one, bad configs, global
BatchNorm over 4 simulated devices, and exact resume through the loop."""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import main
from genjax.errors import ConfigError
from genjax.families.gan import family, losses, models, steps
from genjax.families.gan.config import default_config
from genjax.families.gan.family import make_family
from tests.helpers import run_python_result, sgd_rates

B, SHAPE = 6, (4, 4, 1)


def _tiny_config(**model):
  c = default_config()
  c.model.update(arch="mlp", image_shape=SHAPE, z_dim=3, g_hidden=(), d_hidden=(5,))
  c.model.update(**model)
  c.optim.update(name="sgd", momentum=0.0, lr=0.1, d_lr=0.05, ema_decay=0.99)
  return c


def assert_same_trees(a, b, **tolerance):
  """The same leaf paths in the same order (no leaf missing or extra), then
  the same values; ``a``/``b``: pytrees or lists of (path, leaf)."""
  flat = lambda t: t if isinstance(t, list) else [
      (jax.tree_util.keystr(p), x) for p, x in jax.tree_util.tree_flatten_with_path(t)[0]]
  a, b = flat(a), flat(b)
  assert [p for p, _ in a] == [p for p, _ in b]
  for (path, x), (_, y) in zip(a, b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), err_msg=path, **tolerance)


def test_critic_schedule_counts_its_n_critic_updates_per_step():
  """D's schedule is stretched by n_critic (optax counts its own updates):
  its (k n_critic)-th update has the lr fraction of G's k-th (TTUR: d_lr 0.05
  against G's 0.1), not a schedule run n_critic times faster."""
  c = _tiny_config(n_critic=3)
  c.optim.update(schedule="linear", hold_steps=1, decay_steps=5)
  nets = family.build_networks(family.read_settings(c))
  g_rates, d_rates = sgd_rates(nets.g_optimizer, 5), sgd_rates(nets.d_optimizer, 15)
  np.testing.assert_allclose(d_rates[::3] / 0.05, g_rates / 0.1, rtol=1e-6)
  assert g_rates[-1] > 0 and d_rates[-1] > 0


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
  settings = family.read_settings(c)
  train_step = functools.partial(steps.train_step, settings,
                                 family.build_networks(settings))
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
  new, metrics = jax.jit(train_step)(state, {"image": real, "label": jnp.zeros((B,), jnp.int32)})

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
  assert_same_trees(new.d_params, p, rtol=2e-5, atol=1e-6)

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
# Settings, their checks, the networks and the initial state.


def _settings(**changes):
  return dataclasses.replace(family.read_settings(_tiny_config()), **changes)


def test_read_settings_of_the_default_config_are_its_values():
  settings = family.read_settings(default_config())
  assert (settings.arch, settings.image_shape, settings.z_dim) == ("dcgan", (28, 28, 1), 100)
  assert (settings.g_channels, settings.d_channels) == ((128, 64), (64, 128))
  assert (settings.loss, settings.penalty, settings.augment) == ("non_saturating", "none", "none")
  assert (settings.n_critic, settings.penalty_every, settings.num_classes) == (1, 1, 0)
  assert settings.d_lr == settings.optim["lr"] == 2e-4       # d_lr None: G's lr
  assert settings.truncation == 0.0 and settings.truncation_grid == (0.5, 0.7, 1.0, 0.0)
  assert settings.grid_columns == 8 and settings.use_ema is True
  with pytest.raises(dataclasses.FrozenInstanceError):
    settings.z_dim = 3


@pytest.mark.parametrize("dotted", ["model.num_classes", "optim.d_lr", "sample.truncation",
                                    "sample.truncation_grid", "sample.grid_columns",
                                    "sample.use_ema"])
def test_a_missing_field_names_the_file_with_its_default(dotted):
  c = default_config()
  parent, name = dotted.split(".")
  del c[parent][name]
  with pytest.raises(ConfigError, match=f"config.{dotted} is missing.*gan/config.py"):
    family.read_settings(c)


def test_dataset_num_classes_from_the_datasets_metadata():
  mnist = default_config().data
  assert family.dataset_num_classes(mnist) == 10
  assert not family.dataset_num_classes(dict(mnist, name="lfw_subset"))


def test_check_conditioning_against_the_datasets_classes():
  mnist = default_config().data
  family.check_conditioning(_settings(num_classes=10), mnist)
  family.check_conditioning(_settings(num_classes=0, g_cond="unused"), mnist)
  for changes, message in [(dict(num_classes=-1), ">= 0"),
                           (dict(num_classes=11), "has only 10 classes"),
                           (dict(num_classes=10, g_cond="film"), "names: cbn, concat")]:
    with pytest.raises(ConfigError, match=message):
      family.check_conditioning(_settings(**changes), mnist)


@pytest.mark.parametrize("changes", [dict(n_critic=0), dict(penalty_every=0),
                                     dict(penalty_weight=-0.1)])
def test_check_step_counts(changes):
  family.check_step_counts(_settings())
  with pytest.raises(ConfigError, match=f"{next(iter(changes))} must be"):
    family.check_step_counts(_settings(**changes))


def test_check_discriminator_constraints():
  ok = [dict(loss="wasserstein", penalty="gp"), dict(loss="wasserstein", spectral_norm=True),
        dict(penalty="r1", spectral_norm=True)]
  for changes in ok:
    family.check_discriminator_constraints(_settings(**changes))
  with pytest.raises(ConfigError, match="BatchNorm mixes"):
    family.check_discriminator_constraints(_settings(penalty="r1", d_batch_norm=True))
  with pytest.raises(ConfigError, match="Lipschitz"):
    family.check_discriminator_constraints(_settings(loss="wasserstein"))


def test_discriminator_lr_is_d_lr_or_g_lr():
  assert family.discriminator_lr(None, 1e-3) == 1e-3
  assert family.discriminator_lr(5e-4, 1e-3) == 5e-4
  with pytest.raises(ConfigError, match="d_lr .* must be > 0"):
    family.discriminator_lr(0.0, 1e-3)


def test_check_augmentation_checks_only_the_chosen_augmentation():
  family.check_augmentation(_settings(augment="none", ada_ops=("zoom",), ada_interval=0))
  for changes, message in [
      (dict(augment="ada", ada_ops=("xflip", "zoom")), "Unknown ADA augmentation 'zoom'"),
      (dict(augment="ada", ada_interval=0), "ada_interval must be >= 1"),
      (dict(augment="ada", ada_kimg=0.0), "ada_kimg > 0"),
      (dict(augment="diffaugment", diffaugment_policy=("blur",)), "DiffAugment policy")]:
    with pytest.raises(ConfigError, match=message):
      family.check_augmentation(_settings(**changes))


def test_build_networks_steps_each_player_at_its_own_learning_rate():
  """SGD with G's lr 0.1 and D's d_lr 0.05: a unit gradient moves a parameter
  by -0.1 and -0.05; G's EMA decay is optim.ema_decay."""
  nets = family.build_networks(_settings())
  assert isinstance(nets.generator, models.MLPGenerator)
  assert isinstance(nets.discriminator, models.MLPDiscriminator)
  params = {"w": jnp.zeros(3)}
  for optimizer, lr in [(nets.g_optimizer, 0.1), (nets.d_optimizer, 0.05)]:
    updates, _ = optimizer.update({"w": jnp.ones(3)}, optimizer.init(params), params)
    np.testing.assert_allclose(updates["w"], -lr, rtol=1e-6)
  assert nets.ema_decay == 0.99


def test_init_a_fresh_state_of_both_players():
  settings = _settings(num_classes=10, g_cond="concat", d_cond="concat")
  nets = family.build_networks(settings)
  example = {"image": jnp.zeros((1,) + SHAPE), "label": jnp.zeros((1,), jnp.int32)}
  state = family.init(settings, nets, jax.random.PRNGKey(0), example)
  # G: [z, one_hot(y)] (3 + 10) -> 16 pixels; D: [16 pixels, one_hot(y)] -> 5 -> 1.
  assert state.g_params["out"]["kernel"].shape == (13, 16)
  assert state.d_params["fc0"]["dense"]["kernel"].shape == (26, 5)
  assert_same_trees(state.g_ema_params, state.g_params, rtol=0, atol=0)
  assert int(state.step) == 0 and float(state.ada_p) == 0.0
  assert float(state.ada_rt_sum) == float(state.ada_rt_count) == 0.0
  assert state.g_stats == {} and state.d_stats == {}


def test_make_family_names_and_binds_the_gan():
  fam = make_family(_tiny_config())
  assert (fam.family, fam.model, fam.num_classes) == ("gan", "mlp", None)
  assert sorted(fam.eval_metrics) == ["d_fake", "d_real", "r_t"]
  np.testing.assert_allclose(fam.data_to_unit(jnp.asarray([-2.0, -1.0, 0.0, 1.0, 3.0])),
                             [0.0, 0.0, 0.5, 1.0, 1.0])
  assert make_family(_tiny_config(num_classes=10)).num_classes == 10


# --------------------------------------------------------------------------
# BatchNorm statistics are global: 1 vs 4 simulated devices.

MULTI = r'''
import json, jax, jax.numpy as jnp, numpy as np
from genjax.families.gan.config import default_config
from genjax.families.gan.family import make_family
from genjax.train import deps as deps_lib
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
  step = loop.jit_train_step(deps_lib.frozen_last(fam), mesh)
  for b in batches:
    gb = sharding.to_global(b, mesh)
    assert len(gb["image"].sharding.device_set) == n
    state, m = step(state, gb, {})
    jax.block_until_ready(m)
  moved = float(np.abs(jax.device_get(state.g_stats["batch_stats"]["norm0"]["bn"]["mean"])
                       - init_stats["batch_stats"]["norm0"]["bn"]["mean"]).max())
  out[n] = dict(leaves=[(jax.tree_util.keystr(p), np.asarray(x).ravel().tolist())
                        for p, x in jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0]],
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
  assert_same_trees(one["leaves"], four["leaves"], rtol=1e-4, atol=1e-6)


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
  names = " ".join(jax.tree_util.keystr(p)
                   for p, _ in jax.tree_util.tree_flatten_with_path(a)[0])
  for part in ("g_opt_state", "d_opt_state", "g_ema_params", "g_stats", "d_stats",
               "ada_p", "ada_rt_sum", "/u"):
    assert part in names, part
  assert_same_trees(a, b, rtol=0, atol=0)     # bitwise
  import os
  assert os.path.exists(os.path.join(whole, "samples", "classes_step_6.png"))
