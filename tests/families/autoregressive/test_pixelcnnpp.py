"""PixelCNN++: the discretised logistic mixture (normalisation, edges, stability,
sampler), the network's causality by gradients, and the CIFAR-10 parameter count."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.autoregressive.mixture import (
    discretized_logistic_log_prob_pm1, discretized_logistic_mixture_log_prob,
    mixture_num_params, sample_discretized_logistic_mixture)
from genjax.families.autoregressive.pixelcnnpp import (PixelCNNPP, count_params,
                                                       pixelcnnpp_paper_num_params)

GRID = np.arange(256) * (2.0 / 255) - 1.0          # the 256 levels of [-1, 1]
REFERENCE_CIFAR10_PARAMS = 53e6                    # usually quoted for the reference code


def _sigmoid64(t):
  """1 / (1 + e^-t) in float64, without underflow to 0 for very negative t."""
  t = np.asarray(t, np.float64)
  e = np.exp(-np.abs(t))
  return np.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _bin_probs64(mean, s):
  """P(x_k), k = 0..255, of a logistic(mean, s) discretised per eq. 2, in float64."""
  h = 1.0 / 255
  cdf = _sigmoid64((GRID[:-1] + h - mean) / s)   # CDF at the 255 inner bin edges
  return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def _random_params(key, lead, c, m):
  """Mixture params with means spread over [-1.5, 1.5], log-scales over [-6, 1.5]."""
  p = mixture_num_params(c, m)
  u = jax.random.uniform(key, (*lead, p), minval=-1.0, maxval=1.0)
  idx = jnp.arange(p)
  scale = jnp.where(idx < m, 3.0,                                  # logits
                    jnp.where(idx < m + c * m, 1.5,                # means
                              jnp.where(idx < m + 2 * c * m, 3.75, 2.0)))
  shift = jnp.where((idx >= m + c * m) & (idx < m + 2 * c * m), -2.25, 0.0)
  return u * scale + shift


def test_num_params_matches_the_paper_layout():
  # 10 per mixture for RGB (the reference's 10 * nr_logistic_mix), 3 for grey.
  assert mixture_num_params(3, 10) == 100
  assert mixture_num_params(1, 5) == 15


# ---- C = 1 ----------------------------------------------------------------

def test_grey_mixture_sums_to_one_over_the_256_levels():
  params = _random_params(jax.random.PRNGKey(0), (64,), 1, 5)       # 64 random pixels
  # Extremes too: a tiny scale between two levels, a huge scale, means off the range.
  params = params.at[0, 5:10].set(-7.0).at[1, 5:10].set(5.0).at[2, :5].set(0.0)
  params = params.at[2, 5:10].set(jnp.array([-3.0, 3.0, 0.5 / 255, -1.0, 1.0]))
  x = jnp.broadcast_to(jnp.asarray(GRID, jnp.float32)[:, None, None, None], (256, 64, 1, 1))
  logp = jax.jit(discretized_logistic_mixture_log_prob, static_argnums=2)(
      x, jnp.broadcast_to(params[None, :, None, :], (256, 64, 1, 15)), 5)   # [256, 64, 1]
  total = np.sum(np.exp(np.asarray(logp, np.float64)), axis=0)
  np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_grey_mixture_matches_its_definition():
  # eq. 2 with the mixture: sum_m pi_m P_m(x), checked in float64.
  params = np.asarray(_random_params(jax.random.PRNGKey(1), (3,), 1, 4), np.float64)
  x = jnp.broadcast_to(jnp.asarray(GRID, jnp.float32)[None, :, None, None], (3, 256, 1, 1))
  logp = discretized_logistic_mixture_log_prob(
      x, jnp.broadcast_to(jnp.asarray(params, jnp.float32)[:, None, None], (3, 256, 1, 12)), 4)
  for b in range(3):
    logits, means, log_s = params[b, :4], params[b, 4:8], np.maximum(params[b, 8:12], -7)
    pi = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    expected = sum(pi[m] * _bin_probs64(means[m], np.exp(log_s[m])) for m in range(4))
    np.testing.assert_allclose(np.exp(np.asarray(logp[b, :, 0], np.float64)), expected,
                               rtol=2e-4, atol=1e-7)


def test_edge_bins_get_the_tail_masses():
  mean, log_s = jnp.array([-0.99, 0.0, 0.9, 3.0]), jnp.array([-2.0, 0.0, -3.0, -1.0])
  s = np.exp(np.asarray(log_s, np.float64))
  h = 1.0 / 255
  lo = np.exp(np.asarray(discretized_logistic_log_prob_pm1(-1.0, mean, log_s), np.float64))
  hi = np.exp(np.asarray(discretized_logistic_log_prob_pm1(1.0, mean, log_s), np.float64))
  mu = np.asarray(mean, np.float64)
  np.testing.assert_allclose(lo, _sigmoid64((-1.0 + h - mu) / s), rtol=1e-5)       # P(X < -1+h)
  np.testing.assert_allclose(hi, 1.0 - _sigmoid64((1.0 - h - mu) / s), rtol=1e-5)  # P(X > 1-h)
  assert hi[3] > 0.99 and lo[0] > 0.4                  # a mean beyond +1 piles up on x = 1


def test_low_probability_and_narrow_bins_are_accurate():
  h = 1.0 / 255
  # (x, mean, log_scale): far tail (p ~ e^-200, below float32), both tails, a bin
  # narrow against the scale (width 2h/s ~ 1e-4), and a tiny scale at the bin centre.
  cases = [(0.5, -0.9, -5.0), (-0.5, 0.9, -5.0), (0.2, 0.0, 4.0), (0.0, 0.0, -7.0),
           (0.6, 0.58, -6.0)]
  x, mean, log_s = (jnp.array(v, jnp.float32) for v in zip(*cases))
  got = np.asarray(discretized_logistic_log_prob_pm1(x, mean, log_s), np.float64)
  for k, (xv, mv, lv) in enumerate(cases):
    xv, mv, s = float(np.float32(xv)), float(np.float32(mv)), np.exp(float(np.float32(lv)))
    a, b = (xv - mv + h) / s, (xv - mv - h) / s
    if a > 0:   # sigma(a) - sigma(b) = sigma(-b) - sigma(-a): subtract the small side
      expected = np.log(_sigmoid64(-b) - _sigmoid64(-a))
    else:
      expected = np.log(_sigmoid64(a) - _sigmoid64(b))
    assert abs(got[k] - expected) < 1e-5 * max(1.0, abs(expected)), (cases[k], got[k], expected)
  grads = jax.grad(lambda m, ls: jnp.sum(discretized_logistic_log_prob_pm1(x, m, ls)),
                   argnums=(0, 1))(mean, log_s)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def test_grey_sampler_matches_the_density():
  n = 100_000
  params = jnp.array([1.0, 0.0, -1.0, -0.6, 0.2, 0.97, -2.5, -3.0, -1.5])   # M=3, one at the edge
  logp = discretized_logistic_mixture_log_prob(
      jnp.asarray(GRID, jnp.float32)[:, None, None, None],
      jnp.broadcast_to(params, (256, 1, 1, 9)), 3)
  expected = n * np.exp(np.asarray(logp[:, 0, 0], np.float64))
  draws = sample_discretized_logistic_mixture(
      jax.random.PRNGKey(3), jnp.broadcast_to(params, (n, 1, 1, 9)), 3)
  k = np.rint((np.asarray(draws).ravel() + 1.0) * 127.5).astype(int)
  np.testing.assert_allclose(GRID[k], np.asarray(draws).ravel(), atol=1e-6)   # on the grid
  counts = np.bincount(k, minlength=256)
  keep = expected >= 5
  chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
  dof = keep.sum() - 1
  assert chi2 / dof < 1.5, (chi2, dof)
  assert counts[~keep].sum() < 5 * (~keep).sum() + 50
  # Low temperature: the most likely component's mean, rounded.
  cold = sample_discretized_logistic_mixture(jax.random.PRNGKey(4), params[None, None, None], 3,
                                             temperature=1e-3)
  assert abs(float(cold.ravel()[0]) - GRID[np.argmin(np.abs(GRID - (-0.6)))]) < 1e-6


# ---- C = 3 ----------------------------------------------------------------

M3 = 3


def _rgb_params():
  """The mixture params of one RGB pixel."""
  params = _random_params(jax.random.PRNGKey(5), (), 3, M3)
  # Keep the scales moderate so every channel spreads over several levels.
  return params.at[M3 + 3 * M3:M3 + 6 * M3].set(
      jnp.clip(params[M3 + 3 * M3:M3 + 6 * M3], -3.5, -1.0))


@functools.lru_cache(maxsize=None)
def _rgb_planes(r_indices=None):
  """(log p [R, 256 G, 256 B] of one pixel, its params): the planes of the
  levels ``r_indices`` of R (all 256: the full table), one program."""
  params = _rgb_params()
  g = jnp.asarray(GRID, jnp.float32)
  rs = g if r_indices is None else g[jnp.asarray(r_indices)]

  def plane(r):                       # log p(r, G, B) for all G, B: [256, 256]
    x = jnp.stack(jnp.broadcast_arrays(r, g[:, None], g[None, :]), axis=-1)[:, :, None]
    return discretized_logistic_mixture_log_prob(
        x, jnp.broadcast_to(params, (256, 256, 1, params.shape[-1])), M3)[..., 0]

  table = jax.jit(lambda: jax.lax.map(plane, rs))()
  return np.asarray(table, np.float64), np.asarray(params, np.float64)


def _rgb_joint():
  """(log p [256 R, 256 G, 256 B] of one pixel, its params): the full table."""
  return _rgb_planes()


@pytest.mark.slow
def test_rgb_mixture_sums_to_one_over_all_256_cubed_pixels():
  logp, _ = _rgb_joint()
  assert abs(np.sum(np.exp(logp)) - 1.0) < 1e-5


def test_rgb_channel_conditionals_follow_the_linear_dependence():
  # Sec. 2.2: in component m, G ~ logistic(mu_G + c0 R), B ~ logistic(mu_B + c1 R + c2 G).
  pairs = [(40, 200), (128, 30), (230, 128)]
  # The R planes of the pairs, each exactly the full table's (plane i is R = r_i).
  logp, params = _rgb_planes(tuple(r for r, _ in pairs))
  p = np.exp(logp)
  logits, means = params[:M3], params[M3:4 * M3].reshape(3, M3)
  s = np.exp(np.maximum(params[4 * M3:7 * M3].reshape(3, M3), -7.0))
  c = np.tanh(params[7 * M3:].reshape(3, M3))
  pi = np.exp(logits - logits.max())
  pi /= pi.sum()
  for plane, (r_idx, g_idx) in enumerate(pairs):
    r, g = GRID[r_idx], GRID[g_idx]
    # p(B | R, G) from the table (each conditional sums to one by construction of it)...
    cond_b = p[plane, g_idx] / p[plane, g_idx].sum()
    # ... equals the mixture with posterior weights pi_m P_m(R) P_m(G | R).
    w = np.array([pi[m] * _bin_probs64(means[0, m], s[0, m])[r_idx]
                  * _bin_probs64(means[1, m] + c[0, m] * r, s[1, m])[g_idx] for m in range(M3)])
    w /= w.sum()
    expected = sum(w[m] * _bin_probs64(means[2, m] + c[1, m] * r + c[2, m] * g, s[2, m])
                   for m in range(M3))
    np.testing.assert_allclose(cond_b, expected, rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(cond_b.sum(), 1.0, atol=1e-6)
    # p(G | R), marginalising B, sums to one and matches the same weights one step earlier.
    cond_g = p[plane].sum(1) / p[plane].sum()
    w_r = np.array([pi[m] * _bin_probs64(means[0, m], s[0, m])[r_idx] for m in range(M3)])
    w_r /= w_r.sum()
    expected_g = sum(w_r[m] * _bin_probs64(means[1, m] + c[0, m] * r, s[1, m])
                     for m in range(M3))
    np.testing.assert_allclose(cond_g, expected_g, rtol=1e-3, atol=1e-7)


@pytest.mark.slow
def test_rgb_sampler_marginals_match_the_density():
  logp, params = _rgb_joint()
  p = np.exp(logp)
  n = 100_000
  draws = np.asarray(sample_discretized_logistic_mixture(
      jax.random.PRNGKey(6), jnp.broadcast_to(jnp.asarray(params, jnp.float32),
                                              (n, 1, 1, params.shape[-1])), M3))
  k = np.rint((draws.reshape(n, 3) + 1.0) * 127.5).astype(int)
  # R's, G's and B's marginals, and the joint of (R > 0, G > 0): G's law depends on R.
  for ch, axes in [(0, (1, 2)), (1, (0, 2)), (2, (0, 1))]:
    expected = n * p.sum(axis=axes)
    counts = np.bincount(k[:, ch], minlength=256)
    keep = expected >= 5
    chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
    assert chi2 / (keep.sum() - 1) < 1.5, (ch, chi2, keep.sum())
  p_rg = p.sum(axis=2)
  for rs, gs in [(slice(128, None), slice(128, None)), (slice(None, 128), slice(128, None))]:
    expected = p_rg[rs, gs].sum()
    got = np.mean((k[:, 0] >= (rs.start or 0)) & (k[:, 0] < (rs.stop or 256))
                  & (k[:, 1] >= (gs.start or 0)) & (k[:, 1] < (gs.stop or 256)))
    assert abs(got - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-4


# ---- the network ----------------------------------------------------------

TINY = dict(nr_resnet=1, nr_filters=8, nr_logistic_mix=2, dropout=0.5)


def random_params(model, *args, seed=0):
  """Random parameters for ``model`` on ``args``, drawn with numpy on ``jax.eval_shape``'s shapes.

  No init is compiled (the data-dependent init is tested layer by layer in
  tests/nn/test_weight_norm.py): v ~ N(0, 1), g ~ 1 + U(-0.5, 0.5), b and the
  class embeddings ~ N(0, 0.3^2), so no parameter is zero.
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), *args)["params"]

  def draw(path, leaf):
    name = jax.tree_util.keystr(path[-1:])
    if name == "['g']":
      return jnp.asarray(1.0 + rng.uniform(-0.5, 0.5, leaf.shape), jnp.float32)
    sd = 1.0 if name == "['v']" else 0.3
    return jnp.asarray(rng.normal(0.0, sd, leaf.shape), jnp.float32)

  return jax.tree_util.tree_map_with_path(draw, shapes)


def test_network_is_causal_in_raster_order():
  h = w = 8
  model = PixelCNNPP(**TINY)
  x = jax.random.uniform(jax.random.PRNGKey(7), (h, w, 3), minval=-1.0, maxval=1.0)
  params = random_params(model, x[None])

  @jax.jit
  def dependence(params, x):
    out = lambda xi: model.apply({"params": params}, xi[None])[0]     # [H,W,P]
    jac = jax.jacrev(out)(x)                                          # [H,W,P,H,W,C]
    return jnp.any(jac != 0, axis=(2, 5)), out(x)                     # [H,W,H,W]

  dep, y = dependence(params, x)
  dep = np.asarray(dep)
  assert y.shape == (h, w, mixture_num_params(3, 2)) and bool(jnp.all(jnp.isfinite(y)))
  raster = np.arange(h * w).reshape(h, w)
  for i in range(h):
    for j in range(w):
      later = raster >= raster[i, j]
      assert not dep[i, j][later].any(), f"out({i},{j}) depends on x at or after it"
      if j > 0:
        assert dep[i, j, i, j - 1], f"out({i},{j}) ignores the pixel on its left"
      if i > 0:
        assert dep[i, j, i - 1, j], f"out({i},{j}) ignores the pixel above"
  # The top-left output sees nothing; most outputs see most of their past.
  assert not dep[0, 0].any()
  seen = [dep[i, j][raster < raster[i, j]].mean() for i in range(h) for j in range(w)
          if raster[i, j] > 0]
  assert np.mean(seen) > 0.8, np.mean(seen)


def test_class_conditional_network_uses_labels_and_dropout():
  model = PixelCNNPP(**TINY, num_classes=3)
  x = jax.random.uniform(jax.random.PRNGKey(9), (2, 8, 8, 1), minval=-1.0, maxval=1.0)
  labels = jnp.array([0, 2], jnp.int32)
  params = random_params(model, x, labels)

  # One program: the same images under the labels and the swapped labels, with
  # and without dropout (an rbg key: threefry's bits compile slowly on CPU).
  xx, ll = jnp.concatenate([x, x]), jnp.concatenate([labels, labels[::-1]])
  run = jax.jit(lambda p, train: model.apply(
      {"params": p}, xx, labels=ll, train=train,
      rngs={"dropout": jax.random.key(1, impl="rbg")} if train else None), static_argnums=1)
  y, y_swapped = jnp.split(run(params, False), 2)
  y_train = jnp.split(run(params, True), 2)[0]
  assert y.shape == (2, 8, 8, mixture_num_params(1, 2))
  assert float(jnp.max(jnp.abs(y - y_swapped))) > 1e-4        # the labels matter
  assert float(jnp.max(jnp.abs(y - y_train))) > 1e-4          # dropout is on when training
  assert count_params(params) == pixelcnnpp_paper_num_params(
      nr_resnet=1, nr_filters=8, nr_logistic_mix=2, num_channels=1, num_classes=3)
  with pytest.raises(ValueError, match="labels"):
    jax.eval_shape(lambda p: model.apply({"params": p}, x), params)
  with pytest.raises(ConfigError, match="divisible by 4"):    # 3 resolutions need H, W % 4
    jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 10, 8, 1)), labels[:1])


def test_cifar10_parameter_count_equals_the_analytic_count():
  model = PixelCNNPP()            # the paper's CIFAR-10 model
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))
  n = count_params(shapes["params"])
  analytic = pixelcnnpp_paper_num_params(nr_resnet=5, nr_filters=160, nr_logistic_mix=10,
                                         num_channels=3)
  assert n == analytic == 53_659_080, (n, analytic)
  assert abs(n - REFERENCE_CIFAR10_PARAMS) / REFERENCE_CIFAR10_PARAMS < 0.02
  # The weight-norm g's are parameters: one per output channel of every layer.
  gs = [v for path, v in jax.tree_util.tree_leaves_with_path(shapes["params"])
        if jax.tree_util.keystr(path[-1:]) == "['g']"]
  assert len(gs) > 100 and all(v.ndim == 1 for v in gs)
