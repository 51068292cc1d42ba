"""pix2pix's train step against its objective written out directly (plain
SGD, so a step moves each player by -lr x its gradient), the L1-only
baseline, sampling and the start-up errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.translation.config import default_config
from genjax.families.translation.family import make_family

LR = 0.01


def tiny_config(**model):
  c = default_config()
  c.model.update(dict(dict(image_shape=(16, 16, 1), source_shape=(16, 16, 2), ngf=2,
                           num_downs=3, ndf=2, n_layers=1), **model))
  c.optim.update(name="sgd", momentum=0.0, lr=LR)
  return c


def tiny_batch():
  keys = jax.random.split(jax.random.PRNGKey(3), 2)
  return {"source": jax.random.normal(keys[0], (4, 16, 16, 2)),
          "image": jnp.tanh(jax.random.normal(keys[1], (4, 16, 16, 1)))}


def softplus_mean(x):
  return jnp.mean(jnp.log1p(jnp.exp(x)))


def reference_gradients(fam, state, batch, lambda_gan, lambda_l1, d_after):
  """Both players' gradients from the paper's losses: D's 0.5 [BCE(D(x,y), 1) +
  BCE(D(x,G(x)), 0)] with G's output held fixed, G's lambda_gan BCE(D'(x,G(x)), 1)
  + lambda_l1 |G(x) - y| against D' = D after its step (``d_after``)."""
  g, d = fam_networks(fam)
  x, y = batch["source"], batch["image"]
  g_vars = lambda p: {"params": p, **state.stats["G"]}
  fake_of = lambda p: g.apply(g_vars(p), x, train=True, mutable=["batch_stats"],
                              rngs={"dropout": jax.random.fold_in(state.rng, 0)})[0]
  d_logits = lambda p, stats, pair: d.apply({"params": p, **stats}, pair, train=True,
                                            mutable=["batch_stats"])
  fake = fake_of(state.params["G"])

  def d_loss(p):
    real, new = d_logits(p, state.stats["D"], jnp.concatenate([x, y], -1))
    fake_logits, _ = d_logits(p, new, jnp.concatenate([x, fake], -1))
    return 0.5 * (softplus_mean(-real) + softplus_mean(fake_logits))

  def g_loss(p):
    f = fake_of(p)
    logits, _ = d_logits(d_after[0], d_after[1], jnp.concatenate([x, f], -1))
    return lambda_gan * softplus_mean(-logits) + lambda_l1 * jnp.mean(jnp.abs(f - y))

  return jax.grad(g_loss)(state.params["G"]), jax.grad(d_loss)(state.params["D"])


def fam_networks(fam):
  # the networks the family bound into its functions
  nets = fam.train_step.args[1]
  return nets.generator, nets.discriminator


def moved(before, after):
  return jax.tree.map(lambda a, b: (a - b) / LR, before, after)


def test_a_step_moves_g_and_d_by_the_papers_objective():
  fam = make_family(tiny_config(lambda_l1=7.0))
  batch = tiny_batch()
  state = fam.init(jax.random.PRNGKey(0), batch)
  new, metrics = jax.jit(fam.train_step)(state, batch)
  g_grad, d_grad = jax.jit(lambda st, b, d: reference_gradients(fam, st, b, 1.0, 7.0, d))(
      state, batch, (new.params["D"], new.stats["D"]))
  for got, want in ((moved(state.params["G"], new.params["G"]), g_grad),
                    (moved(state.params["D"], new.params["D"]), d_grad)):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
  assert set(metrics) == {"d_loss", "g_gan", "l1", "loss"}
  assert int(new.step) == 1


def test_l1_alone_leaves_d_untouched_and_follows_the_l1_gradient():
  fam = make_family(tiny_config(lambda_gan=0.0, lambda_l1=3.0))
  batch = tiny_batch()
  state = fam.init(jax.random.PRNGKey(0), batch)
  new, metrics = jax.jit(fam.train_step)(state, batch)
  for a, b in zip(jax.tree.leaves(state.params["D"]), jax.tree.leaves(new.params["D"])):
    np.testing.assert_array_equal(a, b)
  g_grad, _ = jax.jit(lambda st, b: reference_gradients(
      fam, st, b, 0.0, 3.0, (st.params["D"], st.stats["D"])))(state, batch)
  for a, b in zip(jax.tree.leaves(moved(state.params["G"], new.params["G"])),
                  jax.tree.leaves(g_grad)):
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)
  assert "d_loss" not in metrics


def test_sample_grids_metrics_and_export():
  fam = make_family(tiny_config())
  batch = tiny_batch()
  state = fam.init(jax.random.PRNGKey(0), batch)
  rng = jax.random.PRNGKey(1)
  images = fam.sample(state, rng, 5, cond={"source": batch["source"]})
  assert images.shape == (5, 16, 16, 1) and 0 <= float(images.min()) <= float(images.max()) <= 1
  grid = fam.image_grids(state, batch, rng)["translation"]
  assert grid.shape[1:] == (3, 16, 16, 1)     # source | translation | target
  np.testing.assert_allclose(grid[:4, 2], (batch["image"] + 1) / 2, atol=1e-6)
  np.testing.assert_allclose(grid[:4, 1], images[:4], atol=1e-6)   # G has no dropout here
  quality = fam.eval_metrics["l1"](state, batch, rng)
  target = (batch["image"] + 1) / 2
  np.testing.assert_allclose(quality["l1"], jnp.mean(jnp.abs(images[:4] - target), (1, 2, 3)),
                             atol=1e-6)
  bundle = {"trained": fam.trained(state, True), "deps": {}}
  np.testing.assert_allclose(fam.exports["translate"](bundle, batch["source"], rng),
                             images[:4], atol=1e-6)
  with pytest.raises(ConfigError, match="cond="):
    fam.sample(state, rng, 2)


@pytest.mark.parametrize("model,match", [
    (dict(source_shape=(8, 8, 1)), "differ in height/width"),
    (dict(n_layers=4), "fewer layers"),
    (dict(num_downs=5), "divisible by 32"),
    (dict(generator="vgg"), "Valid translation generator names: resnet, unet"),
    (dict(gan_mode="wgan"), "lsgan, vanilla"),
    (dict(norm="layer"), "batch, instance, instance_affine, none"),
])
def test_bad_settings_are_start_up_errors(model, match):
  with pytest.raises(ConfigError, match=match):
    make_family(tiny_config(**model))
