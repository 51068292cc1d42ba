"""CycleGAN's train step against eq. 3 written out directly (plain SGD: a step
moves each player by -lr x its gradient), resume with full pools and the
learning-rate schedule through the loop, and the start-up errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import main
from genjax.errors import ConfigError
from genjax.families.translation.config import default_config
from genjax.families.translation.family import make_family
from tests.families.gan.test_family import assert_same_trees

LR = 0.01


def tiny_config(**model):
  c = default_config()
  c.model.update(dict(dict(
      name="cyclegan", source_key="image", target_key="target", image_shape=(8, 8, 1),
      source_shape=(8, 8, 1), generator="resnet", ngf=2, n_blocks=1, norm="instance",
      dropout=False, ndf=2, n_layers=1, gan_mode="lsgan", pool_size=8), **model))
  c.optim.update(name="sgd", momentum=0.0, lr=LR)
  return c


def tiny_batch():
  keys = jax.random.split(jax.random.PRNGKey(3), 2)
  return {"image": jnp.tanh(jax.random.normal(keys[0], (4, 8, 8, 1))),
          "target": jnp.tanh(jax.random.normal(keys[1], (4, 8, 8, 1)))}


def reference_gradients(fam, state, batch, lam, lam_id):
  """eq. 3 with the LSGAN terms E(D(G(x)) - 1)^2, lambda |F(G(a)) - a| + ...,
  and lambda lambda_id (|F(a) - a| + |G(b) - b|); each D's 0.5 [E(D(real) - 1)^2
  + E D(fake)^2] on the fakes of the old generators (the pools are filling:
  they return the new fakes)."""
  players = fam.train_step.args[1].players
  g = lambda name, p, x: players[name].apply({"params": p}, x, train=True)
  d = lambda name, p, x: players[name].apply({"params": p}, x, train=True)
  a, b = batch["image"], batch["target"]
  l1 = lambda x, y: jnp.mean(jnp.abs(x - y))

  def g_loss(gp):
    fake_b, fake_a = g("G_AB", gp["G_AB"], a), g("G_BA", gp["G_BA"], b)
    adv = (jnp.mean((d("D_B", state.params["D_B"], fake_b) - 1) ** 2)
           + jnp.mean((d("D_A", state.params["D_A"], fake_a) - 1) ** 2))
    cyc = l1(g("G_BA", gp["G_BA"], fake_b), a) + l1(g("G_AB", gp["G_AB"], fake_a), b)
    idt = l1(g("G_BA", gp["G_BA"], a), a) + l1(g("G_AB", gp["G_AB"], b), b)
    return adv + lam * cyc + lam * lam_id * idt

  def d_loss(name, real, fake):
    return lambda p: 0.5 * (jnp.mean((d(name, p, real) - 1) ** 2)
                            + jnp.mean(d(name, p, fake) ** 2))

  gp = {n: state.params[n] for n in ("G_AB", "G_BA")}
  grads = jax.grad(g_loss)(gp)
  fake_b, fake_a = g("G_AB", gp["G_AB"], a), g("G_BA", gp["G_BA"], b)
  grads["D_A"] = jax.grad(d_loss("D_A", a, fake_a))(state.params["D_A"])
  grads["D_B"] = jax.grad(d_loss("D_B", b, fake_b))(state.params["D_B"])
  return grads


def test_a_step_moves_every_player_by_eq3_and_fills_the_pools():
  fam = make_family(tiny_config(lambda_cycle=3.0, lambda_identity=0.5))
  batch = tiny_batch()
  state = fam.init(jax.random.PRNGKey(0), batch)
  new, metrics = jax.jit(fam.train_step)(state, batch)
  want = jax.jit(lambda st, b: reference_gradients(fam, st, b, 3.0, 0.5))(state, batch)
  for name, grad in want.items():
    moved = jax.tree.map(lambda x, y: (x - y) / LR, state.params[name], new.params[name])
    for got, ref in zip(jax.tree.leaves(moved), jax.tree.leaves(grad)):
      np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-4, err_msg=name)
  assert int(new.extra["pool_A"]["count"]) == 4 and int(new.extra["pool_B"]["count"]) == 4
  fakes = fam.train_step.args[1].players["G_AB"].apply(
      {"params": state.params["G_AB"]}, batch["image"])
  np.testing.assert_allclose(new.extra["pool_B"]["images"][:4], fakes, atol=5e-5)
  assert {"loss", "g_gan", "cycle", "identity", "d_A_loss", "d_B_loss"} == set(metrics)


def test_cycle_metrics_grids_sample_and_export():
  fam = make_family(tiny_config())
  batch = tiny_batch()
  state = fam.init(jax.random.PRNGKey(0), batch)
  rng = jax.random.PRNGKey(1)
  ab = lambda x: fam.exports["translate"]({"trained": fam.trained(state)}, x, rng, "AB")
  ba = lambda x: fam.exports["translate"]({"trained": fam.trained(state)}, x, rng, "BA")
  cycle = fam.eval_metrics["cycle_a"](state, batch, rng)
  unit = lambda x: (x + 1) / 2
  np.testing.assert_allclose(   # translate gives [0, 1]; G_BA reads [-1, 1]
      cycle["cycle_a"], jnp.mean(jnp.abs(ba(ab(batch["image"]) * 2 - 1) - unit(batch["image"])),
                                 (1, 2, 3)), atol=1e-5)
  np.testing.assert_allclose(fam.sample(state, rng, 4, cond={"image": batch["image"]}),
                             ab(batch["image"]), atol=1e-6)
  grids = fam.image_grids(state, batch, rng)
  assert set(grids) == {"translation_ab", "translation_ba"}
  np.testing.assert_allclose(grids["translation_ba"][:4, 1], ba(batch["target"]), atol=1e-6)


def test_direction_ba_samples_g_ba_of_domain_b_and_its_labels_are_the_streams():
  c = _run_config(1)
  c.unlock()
  c.sample.direction = "BA"
  fam = make_family(c)
  assert (fam.cond_keys, fam.label_key) == (("target",), "target_label")
  batch = tiny_batch()
  state = fam.init(jax.random.PRNGKey(0), batch)
  rng = jax.random.PRNGKey(1)
  ba = fam.exports["translate"]({"trained": fam.trained(state)}, batch["target"], rng, "BA")
  np.testing.assert_allclose(fam.sample(state, rng, 4, cond={"target": batch["target"]}),
                             ba, atol=1e-6)
  # what sample metrics draw for: domain B's eval images, with B's classes
  # (this B stream holds only 1s; domain A's labels are all ten digits)
  from genjax.core import sharding
  from genjax.eval import evaluators
  ev = evaluators.SampleEvaluator(fam, c, sharding.make_mesh(), (8, 8, 1), [])
  cond, labels = next(ev.eval_fields(64))
  assert sorted(cond) == ["target"] and set(np.asarray(labels).tolist()) == {1}
  c.sample.direction = "AB"
  ev = evaluators.SampleEvaluator(make_family(c), c, sharding.make_mesh(), (8, 8, 1), [])
  cond, labels = next(ev.eval_fields(64))
  assert sorted(cond) == ["image"] and len(set(np.asarray(labels).tolist())) > 5


def test_a_direction_other_than_ab_and_ba_and_pix2pix_ba_are_start_up_errors():
  c = tiny_config()
  c.sample.direction = "AC"
  with pytest.raises(ConfigError, match="Valid sample.direction names: AB, BA"):
    make_family(c)
  c = tiny_config(name="pix2pix", source_key="source", target_key="image",
                  generator="unet", num_downs=3, norm="batch", gan_mode="vanilla")
  c.sample.direction = "BA"
  with pytest.raises(ConfigError, match="pix2pix has one generator"):
    make_family(c)


def test_identity_with_different_channels_and_shapes_are_start_up_errors():
  with pytest.raises(ConfigError, match="set model.lambda_identity=0"):
    make_family(tiny_config(image_shape=(8, 8, 3)))
  make_family(tiny_config(image_shape=(8, 8, 3), lambda_identity=0.0))
  with pytest.raises(ConfigError, match="differ in height/width"):
    make_family(tiny_config(image_shape=(16, 16, 1)))


def _run_config(num_steps):
  c = tiny_config(pool_size=2)
  c.data.update(name="mnist", preprocess=("resize(8)", "scale_pm1"), shuffle_buffer=100,
                unpaired=dict(classes=(1,)))
  c.train.update(batch_size=4, num_steps=num_steps, log_every=100, ckpt_every=100,
                 sample_every=0, eval_metrics=())
  c.optim.update(name="adam", lr=0.01, schedule="linear", hold_steps=1, decay_steps=4)
  c.lock()
  return c


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted_with_full_pools(tmp_path):
  """3 steps in one run, and 1 then 2 more after a restart (pools of 2 full
  from step 1, so resumed D steps draw history; the learning rate decaying
  after step 1) end bitwise equal: four players, Adam states, both pools."""
  runs = {}
  for name, lengths in (("whole", (3,)), ("parts", (1, 3))):
    for num in lengths:
      state = main.run(_run_config(num), str(tmp_path / name), "train")
    runs[name] = jax.device_get(state)
  assert int(runs["parts"].step) == 3 and int(runs["whole"].extra["pool_B"]["count"]) == 2
  assert_same_trees(runs["whole"], runs["parts"], rtol=0, atol=0)
