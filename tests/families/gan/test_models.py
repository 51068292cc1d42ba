"""GAN networks: shapes and ranges, conditioning, projection, spectral norm, bad sizes.

Tiny networks. Variables come from ``fake_init`` (shapes by ``jax.eval_shape``,
values from numpy): compiling flax's threefry initialisers costs seconds per
network on XLA:CPU, and the properties tested here hold for any weights.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.gan import models

KEY = jax.random.PRNGKey(0)


def fake_init(module, *args, seed=0, **kwargs):
  """Variables of ``module.init(KEY, *args, **kwargs)`` with numpy random values."""
  shapes = jax.eval_shape(lambda: module.init(KEY, *args, **kwargs))
  rs = np.random.RandomState(seed)

  def fill(path, s):
    name = jax.tree_util.keystr(path)
    if name.endswith("['var']") or name.endswith("sigma']"):
      return jnp.ones(s.shape, s.dtype)
    if len(s.shape) < 2 and "batch_stats" not in name:
      return jnp.asarray(0.1 * rs.randn(*s.shape), s.dtype)       # biases, BN scales
    if "batch_stats" in name and not name.endswith("/u']"):
      return jnp.zeros(s.shape, s.dtype)
    fan_in = int(np.prod(s.shape[:-1])) if len(s.shape) > 1 else 1
    return jnp.asarray(rs.randn(*s.shape) / np.sqrt(fan_in), s.dtype)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _init_apply(G, D, shape, labels=None, b=3, z_dim=6):
  z = jnp.asarray(np.random.RandomState(1).randn(b, z_dim), jnp.float32)
  gv = fake_init(G, z, labels, train=False)
  x, _ = jax.jit(lambda v: G.apply(v, z, labels, train=True,
                                   mutable=["batch_stats"]))(gv)
  dv = fake_init(D, x, labels, train=False)
  logits, _ = jax.jit(lambda v: D.apply(v, x, labels, train=True, update_stats=True,
                                        mutable=["batch_stats"]))(dv)
  return z, gv, x, dv, logits


@pytest.mark.parametrize("arch,shape,kw", [
    ("mlp", (28, 28, 1), dict(g_hidden=(8, 16), d_hidden=(8,))),
    ("dcgan", (28, 28, 1), dict(g_channels=(8, 4), d_channels=(4, 8))),
    ("dcgan", (32, 32, 3), dict(g_channels=(8, 8, 4), d_channels=(4, 8, 8),
                                d_batch_norm=True, spectral_norm=True)),
    ("resnet", (32, 32, 3), dict(g_channels=(8, 8, 8), d_channels=(8, 8),
                                 spectral_norm=True)),
])
def test_output_shapes_and_ranges(arch, shape, kw):
  G, D = models.make_networks(arch, shape, **kw)
  _, gv, x, dv, logits = _init_apply(G, D, shape)
  assert x.shape == (3,) + shape
  assert float(jnp.max(jnp.abs(x))) <= 1.0           # tanh output
  assert float(jnp.std(x)) > 1e-3                      # not a constant image
  assert logits.shape == (3,)
  assert np.all(np.isfinite(np.asarray(logits)))
  if arch != "mlp":   # the G's BatchNorm keeps running statistics
    assert "batch_stats" in gv
  if kw.get("spectral_norm"):
    names = str(jax.tree_util.tree_structure(dv["batch_stats"]))
    assert "/u" in names and "sigma" in names


def test_dcgan_sizes_28_and_32():
  assert models.base_size((28, 28, 1), 2, "DCGAN") == (7, 7)    # 7 -> 14 -> 28
  assert models.base_size((32, 32, 3), 3, "DCGAN") == (4, 4)    # 4 -> 8 -> 16 -> 32


@pytest.mark.parametrize("arch,shape,kw", [
    ("dcgan", (25, 25, 1), dict(g_channels=(8, 4))),
    ("dcgan", (28, 28, 1), dict(g_channels=(8, 8, 4))),        # 28 / 8 not an integer
    ("resnet", (28, 28, 3), dict(g_channels=(8, 8, 8))),
])
def test_resolution_the_architecture_cannot_build(arch, shape, kw):
  with pytest.raises(ConfigError, match="multiples of"):
    models.make_networks(arch, shape, **kw)


def test_unknown_names_list_the_valid_ones():
  with pytest.raises(ConfigError, match="dcgan, mlp, progan, resnet"):
    models.make_networks("biggan", (28, 28, 1))
  with pytest.raises(ConfigError, match="concat, projection"):
    models.make_networks("mlp", (28, 28, 1), num_classes=10, d_cond="proj")


@pytest.mark.parametrize("g_cond", ["concat", "cbn"])
def test_conditional_generator_uses_the_label(g_cond):
  G, _ = models.make_networks("dcgan", (28, 28, 1), g_channels=(8, 4),
                              num_classes=10, g_cond=g_cond)
  labels = jnp.array([0, 1, 2, 3])
  z = jnp.tile(jnp.asarray(np.random.RandomState(0).randn(1, 6), jnp.float32), (4, 1))
  gv = fake_init(G, z, labels, train=False)     # the same z four times
  x = jax.jit(lambda v: G.apply(v, z, labels, train=False))(gv)
  diffs = [float(jnp.max(jnp.abs(x[0] - x[i]))) for i in (1, 2, 3)]
  assert min(diffs) > 1e-4, diffs


def test_conditional_batch_norm_formula():
  # BigGAN's conditional BN: (1 + gamma[y]) * (x - mean) / sqrt(var + eps) + beta[y].
  norm = models.Norm(num_classes=3)
  x = jnp.asarray(np.random.RandomState(0).randn(5, 2, 2, 4) * 3.0 + 1.0, jnp.float32)
  y = jnp.array([0, 2, 1, 2, 0])
  v = norm.init(KEY, x, y, train=True)
  gamma = jnp.asarray(np.random.RandomState(1).randn(3, 4), jnp.float32)
  beta = jnp.asarray(np.random.RandomState(2).randn(3, 4), jnp.float32)
  params = {"bn": v["params"].get("bn", {}), "gain": {"embedding": gamma},
            "bias": {"embedding": beta}}
  out, new = norm.apply({"params": params, "batch_stats": v["batch_stats"]}, x, y,
                        train=True, mutable=["batch_stats"])
  mean = x.mean(axis=(0, 1, 2))
  var = x.var(axis=(0, 1, 2))
  want = ((1 + gamma[y])[:, None, None, :] * (x - mean) / jnp.sqrt(var + 1e-5)
          + beta[y][:, None, None, :])
  np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
  # running mean moves toward the batch mean with momentum 0.9
  np.testing.assert_allclose(new["batch_stats"]["bn"]["mean"], 0.1 * mean, rtol=1e-5)


def test_projection_discriminator_formula():
  # Miyato & Koyama (2018) eq. 3: f(x, y) = psi(phi(x)) + <V e_y, phi(x)>.
  D = models.MLPDiscriminator(hidden=(5,), num_classes=4, cond="projection")
  x = jnp.asarray(np.random.RandomState(0).randn(6, 3, 3, 1), jnp.float32)
  y = jnp.array([0, 1, 2, 3, 1, 0])
  p = fake_init(D, x, y)["params"]
  got = D.apply({"params": p}, x, y)
  h = x.reshape(6, -1) @ p["fc0"]["dense"]["kernel"] + p["fc0"]["dense"]["bias"]
  phi = jnp.where(h > 0, h, 0.2 * h)                                 # LeakyReLU(0.2)
  psi = phi @ p["head"]["psi"]["dense"]["kernel"][:, 0] + p["head"]["psi"]["dense"]["bias"][0]
  proj = jnp.sum(p["head"]["embed"]["embedding"][y] * phi, axis=-1)
  np.testing.assert_allclose(got, psi + proj, rtol=1e-5, atol=1e-5)
  # the label matters only through the projection term
  other = D.apply({"params": p}, x, (y + 1) % 4)
  np.testing.assert_allclose(got - other,
                             proj - jnp.sum(p["head"]["embed"]["embedding"][(y + 1) % 4] * phi, -1),
                             rtol=1e-5, atol=1e-5)


def test_spectral_norm_bounds_the_top_singular_value():
  # Miyato et al. (2018) eq. 8: W / sigma(W), sigma by power iteration on u.
  layer = models.SNDense(7, sn=True)
  x = jnp.zeros((1, 12))
  v = fake_init(layer, x)
  w = jnp.asarray(5.0 * np.random.RandomState(4).randn(12, 7), jnp.float32)
  params = {"dense": {"kernel": w, "bias": jnp.zeros(7)}}
  stats = v["batch_stats"]
  for _ in range(30):   # power iterations accumulate in the stored u
    _, new = layer.apply({"params": params, "batch_stats": stats}, x,
                         update_stats=True, mutable=["batch_stats"])
    stats = new["batch_stats"]
  eye = jnp.eye(12)
  w_eff = layer.apply({"params": params, "batch_stats": stats}, eye, update_stats=False)
  top = np.linalg.svd(np.asarray(w_eff), compute_uv=False)[0]
  assert abs(top - 1.0) < 1e-3, top
  assert np.linalg.svd(np.asarray(w), compute_uv=False)[0] > 10.0   # it was not 1 before
  sigma = stats["sn"]["dense/kernel/sigma"]   # the estimate kept in the state
  np.testing.assert_allclose(sigma, np.linalg.svd(np.asarray(w), compute_uv=False)[0],
                             rtol=1e-3)


@pytest.mark.parametrize("arch,cond", [("mlp", "concat"), ("dcgan", "cbn")])
def test_standing_stats_are_the_batch_statistics(arch, cond):
  """Eval mode with ``standing_stats`` of a batch == training mode on that batch
  (which normalises with the batch's own statistics), whatever the stored ones."""
  from genjax.families.gan.sampling import standing_stats
  apply = models.apply_with_stats
  generator, _ = models.make_networks(arch, (8, 8, 1), g_hidden=(7,), g_channels=(4,),
                                      d_hidden=(5,), d_channels=(4,), num_classes=3,
                                      g_cond=cond)
  b, rs = 32, np.random.RandomState(2)
  z = jnp.asarray(rs.randn(b, 6), jnp.float32)
  labels = jnp.arange(b, dtype=jnp.int32) % 3
  v = fake_init(generator, z, labels, train=False)
  params = v["params"]
  stored = {"batch_stats": jax.tree.map(lambda x: x + 5.0, v["batch_stats"])}
  want, _ = apply(generator, params, stored, z, labels, train=True)
  stats = standing_stats(generator, params, stored, z, labels)
  got, _ = apply(generator, params, stats, z, labels, train=False)
  np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=2e-5)
  stale, _ = apply(generator, params, stored, z, labels, train=False)
  assert np.max(np.abs(np.asarray(stale) - np.asarray(want))) > 1e-2


def test_apply_with_stats_updates_statistics_only_in_training_mode():
  """BatchNorm's running mean after one training pass from 0 is (1 - momentum)
  times the batch mean; evaluation mode returns the given statistics."""
  generator, _ = models.make_networks("mlp", (2, 2, 1), g_hidden=(3,), d_hidden=())
  z = jnp.asarray(np.random.RandomState(3).randn(8, 2), jnp.float32)
  v = fake_init(generator, z, None, train=False)
  kernel = np.asarray(v["params"]["fc0"]["kernel"], np.float64)
  zero = jax.tree.map(jnp.zeros_like, {"batch_stats": v["batch_stats"]})
  _, new = models.apply_with_stats(generator, v["params"], zero, z, None, train=True)
  np.testing.assert_allclose(new["batch_stats"]["norm0"]["bn"]["mean"],
                             (1 - models.BN_MOMENTUM) * (np.asarray(z) @ kernel).mean(0),
                             rtol=1e-5, atol=1e-7)
  _, same = models.apply_with_stats(generator, v["params"], zero, z, None, train=False)
  assert same is zero
