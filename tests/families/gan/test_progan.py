"""ProGAN (model.arch='progan'): progressive growing against independent
references, on tiny networks.

- a grown G at alpha 0 gives the previous level's image, upsampled (a smaller
  G holding the same weights, and numpy's repeat), and a grown D at alpha 0
  the previous level's score of the average-pooled image;
- the reals D sees at a level (numpy block means, repeats and the lerp);
- the level / alpha schedule against hand-computed values;
- progan_celebahq's parameter counts (``jax.eval_shape``) against the
  reference's layer list and the paper's Table 2;
- the drift term against its closed form on a linear critic;
- exact resume through the loop from the middle of a fade;
- the start-up errors.
"""
import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.gan import progan_celebahq
from genjax import main
from genjax.errors import ConfigError
from genjax.families.gan import family, losses, progan, progan_family, steps
from genjax.families.gan.config import default_config
from tests.families.gan import tiny
from tests.families.gan.test_family import assert_same_trees

B = 4
FMAPS = dict(fmap_base=32, fmap_max=8)   # 8 channels at 4x4 and 8x8, 4 at 16x16


def progress(level, alpha):
  return {"level": jnp.int32(level), "alpha": jnp.float32(alpha)}


def random_params(module, *args, seed=0):
  """N(0, 1) parameters (the equalised layers' stored scale; 0.3 N(0, 1) for
  biases) of ``module.init(key, *args)``, drawn by numpy."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, train=False))
  rs = np.random.RandomState(seed)
  return jax.tree.map(lambda s: jnp.asarray(
      rs.randn(*s.shape) * (1.0 if len(s.shape) > 1 else 0.3), jnp.float32),
                      shapes["params"])


def restricted(params, smaller):
  """The entries of ``params`` that the smaller network ``smaller`` has."""
  return {name: params[name] for name in smaller}


def nearest(x, factor=2):
  return np.repeat(np.repeat(np.asarray(x), factor, axis=1), factor, axis=2)


def block_mean(x, factor=2):
  b, h, w, c = x.shape
  return np.asarray(x).reshape(b, h // factor, factor, w // factor, factor, c).mean((2, 4))


def apply_fn(module, **kwargs):
  """Jitted module.apply(params, level, alpha, x) at that level and alpha."""
  return jax.jit(lambda params, level, alpha, x: module.apply(
      {"params": params, "progress": progress(level, alpha)}, x, **kwargs))


def test_grown_generator_at_alpha_0_is_the_previous_level_upsampled():
  """G of 8x8 at level 1 (8x8), alpha 0 equals, exactly, the nearest-
  upsampled output of a G of 4x4 holding the same weights; at alpha 1 it is
  the new block's toRGB, at alpha 0.25 the lerp of the two."""
  g8, g4 = (progan.ProGANGenerator((r, r, 3), **FMAPS) for r in (8, 4))
  z = jnp.asarray(np.random.RandomState(1).randn(B, 5), jnp.float32)
  params = random_params(g8, z)
  small = restricted(params, random_params(g4, z))
  g8_at, g8_levels = apply_fn(g8), apply_fn(g8, all_levels=True)
  previous = nearest(apply_fn(g4)(small, 0, 1.0, z))
  grown = g8_at(params, 1, 0.0, z)
  assert grown.shape == (B, 8, 8, 3)
  np.testing.assert_array_equal(grown, previous)
  top = g8_levels(params, 1, 1.0, z)[1]
  np.testing.assert_array_equal(g8_at(params, 1, 1.0, z), top)
  np.testing.assert_allclose(g8_at(params, 1, 0.25, z), 0.75 * previous + 0.25 * top,
                             rtol=1e-5, atol=1e-6)


def test_grown_discriminator_at_alpha_0_is_the_previous_level_on_pooled_images():
  """D of 8x8 at level 1, alpha 0 scores x as a D of 4x4 with the same
  weights scores the 2x2 block means of x; at level 0 the same (the higher
  block unused); at alpha 1 the new block counts."""
  d8, d4 = (progan.ProGANDiscriminator(r, mbstd_group=2, **FMAPS) for r in (8, 4))
  x = jnp.asarray(np.random.RandomState(2).uniform(-1, 1, (B, 8, 8, 3)), jnp.float32)
  params = random_params(d8, x)
  d8_at = apply_fn(d8)
  pooled = jnp.asarray(block_mean(x))
  previous = apply_fn(d4)(restricted(params, random_params(d4, pooled)), 0, 1.0, pooled)
  np.testing.assert_allclose(d8_at(params, 1, 0.0, x), previous, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(d8_at(params, 0, 1.0, x), previous, rtol=1e-5, atol=1e-5)
  assert not np.allclose(d8_at(params, 1, 1.0, x), previous)


def test_reals_at_a_level_are_pooled_faded_and_upsampled_back():
  x = np.random.RandomState(3).uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32)
  at = lambda level, alpha: np.asarray(progan.level_images(jnp.asarray(x), level, alpha, 1))
  np.testing.assert_array_equal(at(1, 1.0), x)
  np.testing.assert_allclose(at(0, 1.0), nearest(block_mean(x)), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(at(1, 0.25), 0.75 * nearest(block_mean(x)) + 0.25 * x,
                             rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("images_seen, level, alpha", [
    (0, 0, 1.0), (199, 0, 1.0),          # 4x4: stable_images = 200
    (200, 1, 0.0), (250, 1, 0.5), (299, 1, 0.99), (300, 1, 1.0), (499, 1, 1.0),
    (500, 2, 0.0), (575, 2, 0.75), (800, 3, 0.0), (850, 3, 0.5), (900, 3, 1.0),
    (1100, 3, 1.0), (10 ** 7, 3, 1.0),   # the last level stays
])
def test_schedule_fades_each_level_in_then_holds_it(images_seen, level, alpha):
  """fade 100, stable 200, 4 levels: 0-199 level 0; level l >= 1 starts at
  200 + 300 (l - 1), fades over 100 images, holds 200."""
  got_level, got_alpha = progan_family.growth_schedule(images_seen, 3, 100, 200)
  assert int(got_level) == level and float(got_alpha) == pytest.approx(alpha, abs=1e-6)


def test_schedule_without_fade_switches_levels_at_once():
  assert [tuple(map(float, progan_family.growth_schedule(n, 2, 0, 10)))
          for n in (9, 10, 19, 20, 35)] == [(0, 1), (1, 1), (1, 1), (2, 1), (2, 1)]


def reference_parameter_counts(fmap_base=8192, fmap_max=512, latent=512, channels=3,
                               levels=9):
  """(G, D) parameters of the reference's G_paper / D_paper (networks.py; the
  paper's Table 2) at 1024x1024, layer by layer: conv k x k, cin -> cout has
  k*k*cin*cout weights and cout biases; G's first dense layer has one bias per
  channel; a toRGB / fromRGB at each of the 9 levels."""
  nf = lambda stage: min(fmap_base // 2 ** stage, fmap_max)
  conv = lambda k, cin, cout: k * k * cin * cout + cout
  g = latent * 16 * nf(1) + nf(1) + conv(3, nf(1), nf(1))             # 4x4
  d = conv(3, nf(1) + 1, nf(1)) + conv(4, nf(1), nf(0)) + conv(1, nf(0), 1)
  for res in range(3, levels + 2):                                  # 8x8 .. 1024
    g += conv(3, nf(res - 2), nf(res - 1)) + conv(3, nf(res - 1), nf(res - 1))
    d += conv(3, nf(res - 1), nf(res - 1)) + conv(3, nf(res - 1), nf(res - 2))
  for res in range(2, levels + 2):
    g += conv(1, nf(res - 1), channels)
    d += conv(1, channels, nf(res - 1))
  return g, d


def test_celebahq_parameter_counts_match_the_reference_and_the_paper():
  """The paper's Table 2 gives 23.1M for each of G and D at 1024x1024;
  the reference's layer list gives 23,079,115 and 23,087,249."""
  settings = family.read_settings(progan_celebahq.get_config())
  nets = family.build_networks(settings)
  count = lambda tree: sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))
  g = jax.eval_shape(lambda: nets.generator.init(
      jax.random.PRNGKey(0), jnp.zeros((2, 512)), train=False))["params"]
  d = jax.eval_shape(lambda: nets.discriminator.init(
      jax.random.PRNGKey(0), jnp.zeros((2, 1024, 1024, 3)), train=False))["params"]
  assert (count(g), count(d)) == reference_parameter_counts() == (23_079_115, 23_087_249)
  assert round(count(g) / 1e6, 1) == 23.1 and round(count(d) / 1e6, 1) == 23.1


def test_drift_term_adds_epsilon_times_the_mean_squared_real_score():
  """A linear critic D(x) = <w, x> + b under the Wasserstein loss: D's
  objective is E f - E r + epsilon E r^2 (ProGAN app. A.1)."""
  settings, nets = tiny.tiny(loss="wasserstein", penalty="gp", penalty_weight=0.0)
  settings = dataclasses.replace(settings, progan=progan_settings(epsilon_drift=0.25))
  w, b = np.linspace(-1, 1, tiny.PIXELS), 0.3
  images = tiny.random_images(5, 2 * B)
  loss, (_, real, fake, _) = steps.discriminator_objective(
      settings, nets, tiny.linear_critic_params(w, b), {}, images, None,
      jax.random.PRNGKey(0), 0)
  scores = np.asarray(images).reshape(2 * B, -1) @ w + b
  r, f = scores[:B], scores[B:]
  np.testing.assert_allclose(real, r, rtol=1e-5)
  np.testing.assert_allclose(loss, f.mean() - r.mean() + 0.25 * np.mean(r ** 2), rtol=1e-5)
  assert float(losses.drift_penalty(jnp.array([1.0, -2.0, 3.0]))) == pytest.approx(14 / 3)


def progan_settings(**fields):
  base = dict(fmap_base=32, fmap_max=8, mbstd_group=2, fade_kimg=1.0, stable_kimg=1.0,
              epsilon_drift=0.001, max_level=1)
  return progan_family.ProGANSettings(**dict(base, **fields))


# --------------------------------------------------------------------------
# Start-up errors.


def tiny_config(image_shape=(8, 8, 1), **group):
  """ProGAN of 8x8 images (8 channels), WGAN-GP, mbstd groups of 2; a level
  every 8 images (2 steps of 4): fade 8, stable 8."""
  c = default_config()
  c.model.update(arch="progan", image_shape=image_shape, z_dim=3, loss="wasserstein",
                 penalty="gp", penalty_weight=10.0)
  c.model.progan.update(dict(dict(FMAPS, mbstd_group=2, fade_kimg=0.008,
                                  stable_kimg=0.008), **group))
  c.train.batch_size = B
  return c


@pytest.mark.parametrize("shape", [(28, 28, 1), (24, 24, 3), (16, 8, 1), (2, 2, 1)])
def test_a_resolution_not_4_times_a_power_of_2_is_refused(shape):
  with pytest.raises(ConfigError, match=r"4 \* 2\^k.*pad\(2\)"):
    family.read_settings(tiny_config(shape))


@pytest.mark.parametrize("config, match", [
    (tiny_config(fade_kimg=-1.0), "fade_kimg=-1.0"),
    (tiny_config(fade_kimg=0.0, stable_kimg=0.0), "at least one image"),
    (tiny_config(stable_kimg=float("inf")), "finite"),
    (tiny_config(fmap_max=0), "fmap_max must be >= 1"),
    (tiny_config(epsilon_drift=-0.1), "epsilon_drift must be >= 0"),
])
def test_bad_schedule_and_sizes_are_refused(config, match):
  with pytest.raises(ConfigError, match=match):
    family.read_settings(config)


def test_labels_and_spectral_norm_are_refused():
  c = tiny_config()
  c.model.update(num_classes=10)
  c.data.name = "mnist"
  with pytest.raises(ConfigError, match="unconditional"):
    family.read_settings(c)
  c = tiny_config()
  c.model.spectral_norm = True
  with pytest.raises(ConfigError, match="spectral_norm=False"):
    family.read_settings(c)


def test_the_progan_group_is_part_of_progan_runs_identity_only():
  """Adding model.progan keeps older runs of the other GANs resumable."""
  from genjax.config import identity, to_plain
  dcgan, older = to_plain(default_config()), to_plain(default_config())
  del older["model"]["progan"]
  assert identity(dcgan) == identity(older)
  a, b = to_plain(tiny_config()), to_plain(tiny_config(fade_kimg=1.0))
  assert identity(a)["model"]["progan"]["fade_kimg"] == 0.008 and identity(a) != identity(b)


# --------------------------------------------------------------------------
# Resume exactness through the loop.


def _run_config(num_steps):
  c = tiny_config()
  c.data.update(name="lfw_subset", preprocess=("resize(8)", "scale_pm1"),
                shuffle_buffer=100)
  c.train.update(batch_size=B, num_steps=num_steps, log_every=1, ckpt_every=100,
                 sample_every=0, eval_metrics=())
  c.optim.update(lr=0.01, d_lr=0.01, b1=0.0, b2=0.99)
  c.sample.update(num=4, grid_columns=2, truncation_grid=(1.0,))
  c.lock()
  return c


def _train(workdir, num_steps):
  """The (host) state after training ``workdir`` to ``num_steps`` (resuming)."""
  return jax.device_get(main.run(_run_config(num_steps), str(workdir), "train"))


@pytest.mark.slow
@pytest.mark.slow
def test_interrupted_in_a_fade_and_resumed_equals_uninterrupted(tmp_path):
  """4 steps of 4 images in one run, and 3 then 1 more after a restart from
  the step-3 checkpoint (12 images seen: level 1 at alpha 0.5), end bitwise
  equal: both players, G's EMA, the count, level 1 at alpha 1. (The loop runs
  one ahead-of-time compiled step through the level change: growing never
  recompiles.)"""
  uninterrupted = _train(tmp_path / "whole", 4)
  assert int(_train(tmp_path / "parts", 3).images_seen) == 12
  resumed = _train(tmp_path / "parts", 4)
  assert int(resumed.step) == 4 and int(resumed.images_seen) == 16
  assert int(uninterrupted.g_stats["progress"]["level"]) == 1
  assert float(uninterrupted.d_stats["progress"]["alpha"]) == 1.0
  assert_same_trees(uninterrupted, resumed, rtol=0, atol=0)
  with open(tmp_path / "whole" / "metrics.jsonl") as f:
    rows = [row for row in map(json.loads, f) if "level" in row]
  assert [(r["level"], r["alpha"]) for r in rows] == [(0, 1), (0, 1), (1, 0), (1, 0.5)]
