"""DiffAugment and ADA against their definitions (brute force, exact permutations, statistics);
ADA's p controller; the truncation trick."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax.errors import ConfigError
from genjax.families.gan import augment as A
from genjax.families.gan import truncation as T


def _images(shape, seed=0, lo=-1.0, hi=1.0):
  """Random images in [lo, hi] (no two pixels equal, none zero when lo > 0: no symmetry to hide a change)."""
  return jnp.asarray(np.random.default_rng(seed).uniform(lo, hi, size=shape), jnp.float32)


def _np_shift_zero(im, ty, tx):
  """Brute force y[i, j] = im[i - ty, j - tx], 0 outside."""
  h, w, _ = im.shape
  out = np.zeros_like(im)
  for i in range(h):
    for j in range(w):
      if 0 <= i - ty < h and 0 <= j - tx < w:
        out[i, j] = im[i - ty, j - tx]
  return out


def _np_shift_reflect(im, ty, tx):
  """np.pad(mode='reflect') then crop: y[i, j] = im[reflect(i - ty), reflect(j - tx)]."""
  h, w, _ = im.shape
  s = max(h, w)
  pad = np.pad(im, ((s, s), (s, s), (0, 0)), mode="reflect")
  return pad[s - ty:s - ty + h, s - tx:s - tx + w]


# ----- DiffAugment -----

def _value_and_input_grad(aug):
  """One compiled program: y = aug(key, x, *args) and d sum(y * w) / dx."""
  def f(key, x, w, *args):
    y, vjp = jax.vjp(lambda v: aug(key, v, *args), x)
    return y, vjp(w)[0]
  return jax.jit(f)


def test_diffaugment_shapes_jit_and_gradients():
  x = _images((4, 16, 16, 3))
  w = _images((4, 16, 16, 3), seed=1)
  key = jax.random.PRNGKey(0)
  y, g = _value_and_input_grad(A.diffaugment)(key, x, w)
  assert y.shape == x.shape and y.dtype == x.dtype
  assert not np.allclose(y, x)
  # Gradients reach the images through all three ops (what G needs when D sees augmented fakes).
  assert np.all(np.isfinite(g)) and np.count_nonzero(np.asarray(g)) > x.size // 4
  with pytest.raises(ConfigError, match="translation"):
    A.diffaugment(key, x, policy=("translate",))


def test_diffaugment_translation_is_an_integer_zero_padded_shift():
  x = np.asarray(_images((24, 16, 16, 2), lo=0.1, hi=1.0))   # no zeros: padding is recognisable
  y = np.asarray(A.diffaugment(jax.random.PRNGKey(1), jnp.asarray(x), policy=("translation",)))
  s = 16 // 8
  seen = set()
  for b in range(x.shape[0]):
    hits = [(ty, tx) for ty in range(-s, s + 1) for tx in range(-s, s + 1)
            if np.array_equal(y[b], _np_shift_zero(x[b], ty, tx))]
    assert len(hits) == 1, b          # exactly one integer shift within +-size/8 explains it
    seen.add(hits[0])
  assert len(seen) >= 8               # the shifts do vary per image
  assert any(abs(t) == s for h in seen for t in h)


@pytest.mark.parametrize("hw", [(16, 16), (9, 12)])
def test_diffaugment_cutout_zeroes_one_half_size_square(hw):
  h, w = hw
  ch, cw = int(h / 2 + 0.5), int(w / 2 + 0.5)
  x = np.asarray(_images((20, h, w, 3), lo=0.1, hi=1.0))
  y = np.asarray(A.diffaugment(jax.random.PRNGKey(2), jnp.asarray(x), policy=("cutout",)))
  corners = set()
  for b in range(x.shape[0]):
    zero = np.all(y[b] == 0, axis=-1)
    assert np.array_equal(zero, np.any(y[b] == 0, axis=-1))     # all channels together
    rows, cols = np.nonzero(zero)
    assert zero.sum() == ch * cw
    assert rows.max() - rows.min() + 1 == ch and cols.max() - cols.min() + 1 == cw   # a ch x cw box
    np.testing.assert_array_equal(y[b][~zero], x[b][~zero])     # the rest untouched
    corners.add((rows.min(), cols.min()))
  assert len(corners) >= 5


def test_diffaugment_colour_ops_match_their_formulas():
  n = 600
  x = _images((n, 4, 4, 3), seed=3)
  keys = jax.random.split(jax.random.PRNGKey(4), 3)
  xn = np.asarray(x, np.float64)
  # brightness: y = x + b, b ~ U[-0.5, 0.5] per image
  y = np.asarray(A.rand_brightness(keys[0], x), np.float64)
  b = (y - xn).reshape(n, -1)
  np.testing.assert_allclose(b, b[:, :1] * np.ones_like(b), atol=1e-6)
  b = b[:, 0]
  assert b.min() >= -0.5 and b.max() <= 0.5
  assert stats.kstest(b, stats.uniform(-0.5, 1.0).cdf).pvalue > 1e-3
  # saturation: per-pixel channel mean kept, deviations from it scaled by s ~ U[0, 2]
  y = np.asarray(A.rand_saturation(keys[1], x), np.float64)
  mx, my = xn.mean(-1, keepdims=True), y.mean(-1, keepdims=True)
  np.testing.assert_allclose(my, mx, atol=1e-6)
  dx, dy = (xn - mx).reshape(n, -1), (y - my).reshape(n, -1)
  s = np.sum(dx * dy, 1) / np.sum(dx * dx, 1)
  np.testing.assert_allclose(dy, s[:, None] * dx, atol=1e-5)
  assert s.min() >= -1e-6 and s.max() <= 2 + 1e-6
  assert stats.kstest(s, stats.uniform(0.0, 2.0).cdf).pvalue > 1e-3
  # contrast: image mean kept, deviations from it scaled by c ~ U[0.5, 1.5]
  y = np.asarray(A.rand_contrast(keys[2], x), np.float64)
  mx, my = xn.mean((1, 2, 3), keepdims=True), y.mean((1, 2, 3), keepdims=True)
  np.testing.assert_allclose(my, mx, atol=1e-6)
  dx, dy = (xn - mx).reshape(n, -1), (y - my).reshape(n, -1)
  c = np.sum(dx * dy, 1) / np.sum(dx * dx, 1)
  np.testing.assert_allclose(dy, c[:, None] * dx, atol=1e-5)
  assert stats.kstest(c, stats.uniform(0.5, 1.0).cdf).pvalue > 1e-3
  # 'color' is the three of them: the image mean moves by exactly b (saturation and contrast keep it)
  y = np.asarray(A.diffaugment(jax.random.PRNGKey(5), x, policy=("color",)), np.float64)
  shift = (y - xn).mean((1, 2, 3))
  assert shift.min() >= -0.5 - 1e-5 and shift.max() <= 0.5 + 1e-5 and np.std(shift) > 0.2


# ----- ADA -----

ADA_JIT = jax.jit(A.ada_augment, static_argnames="ops")
N_ADA = 1500
# Distinct pixel values in [0.1, 1): no symmetry can hide a change, no zero can pass for cutout.
X_ADA = jnp.asarray(0.1 + 0.9 * np.random.default_rng(8).permutation(N_ADA * 8 * 8 * 3)
                    .reshape(N_ADA, 8, 8, 3) / (N_ADA * 8 * 8 * 3), jnp.float32)


def test_ada_p0_is_identity_and_p1_changes_every_image():
  x = _images((32, 8, 8, 3), seed=6)
  w = _images((32, 8, 8, 3), seed=23)
  key = jax.random.PRNGKey(7)
  f = _value_and_input_grad(A.ada_augment)           # p is traced: one program for every p
  y0, _ = f(key, x, w, jnp.float32(0.0))
  assert np.array_equal(np.asarray(y0), np.asarray(x))
  y1, _ = f(key, x, w, jnp.float32(1.0))
  y1 = np.asarray(y1)
  assert y1.shape == x.shape
  assert all(not np.allclose(y1[b], x[b]) for b in range(32))
  _, g = f(key, x, w, jnp.float32(0.6))
  assert np.all(np.isfinite(g)) and np.count_nonzero(np.asarray(g)) > x.size // 4
  with pytest.raises(ConfigError, match="xflip"):
    A.ada_augment(key, x, 0.5, ops=("flip",))


@pytest.mark.parametrize("op", A.ADA_OPS)
def test_ada_each_op_fires_on_about_p_of_the_images(op):
  p = 0.5
  y = np.asarray(ADA_JIT(jax.random.PRNGKey(9), X_ADA, jnp.float32(p), ops=(op,)))
  changed = np.any(y != np.asarray(X_ADA), axis=(1, 2, 3))
  # Binomial(1500, 0.5): std 0.013; 0.05 is ~4 std.
  assert abs(changed.mean() - p) < 0.05, (op, changed.mean())


def test_ada_ops_fire_independently():
  """Two ops at p = 0.5: both act on ~1/4 of the images (xflip is seen in the mirror symmetry
  of the result, brightness in a change of the image mean)."""
  x = np.asarray(X_ADA)
  y = np.asarray(ADA_JIT(jax.random.PRNGKey(11), X_ADA, jnp.float32(0.5),
                         ops=("xflip", "brightness")))
  bright = np.abs(y.mean((1, 2, 3)) - x.mean((1, 2, 3))) > 1e-6
  d = y - y.mean((1, 2, 3), keepdims=True)
  flipped = np.all(np.abs(d - (x - x.mean((1, 2, 3), keepdims=True))[:, :, ::-1]) < 1e-5, axis=(1, 2, 3))
  assert abs(flipped.mean() - 0.5) < 0.05 and abs(bright.mean() - 0.5) < 0.05
  assert abs((flipped & bright).mean() - 0.25) < 0.05


def test_ada_geometric_ops_are_exact_pixel_permutations():
  x = np.asarray(X_ADA)                      # (same shapes as above: the compiled programs are reused)
  key = jax.random.PRNGKey(13)
  one = jnp.float32(1.0)
  y = np.asarray(ADA_JIT(key, X_ADA, one, ops=("xflip",)))
  np.testing.assert_array_equal(y, x[:, :, ::-1])
  y = np.asarray(ADA_JIT(key, X_ADA, one, ops=("rotate90",)))
  ks = []
  for b in range(40):
    match = [k for k in (1, 2, 3) if np.array_equal(y[b], np.rot90(x[b], k, axes=(0, 1)))]
    assert len(match) == 1
    ks.append(match[0])
  assert set(ks) == {1, 2, 3}
  # xint: a non-zero integer shift within +-size/8 with reflection padding (numpy's 'reflect')
  y = np.asarray(ADA_JIT(key, X_ADA, one, ops=("xint",)))
  shifts = set()
  for b in range(40):
    hits = [(ty, tx) for ty in range(-1, 2) for tx in range(-1, 2)
            if np.array_equal(y[b], _np_shift_reflect(x[b], ty, tx))]
    assert len(hits) == 1 and hits[0] != (0, 0)
    shifts.add(hits[0])
  assert len(shifts) == 8
  xr = np.random.default_rng(14).normal(size=(6, 4, 6, 1)).astype(np.float32)   # non-square: 180 only
  y = np.asarray(ADA_JIT(key, jnp.asarray(xr), one, ops=("rotate90",)))
  np.testing.assert_array_equal(y, xr[:, ::-1, ::-1])


def test_ada_saturation_is_neutral_for_one_channel():
  x = _images((8, 4, 4, 1), seed=16)
  y = ADA_JIT(jax.random.PRNGKey(17), x, jnp.float32(1.0), ops=("saturation",))
  np.testing.assert_array_equal(np.asarray(y), np.asarray(x))


def test_overfitting_heuristic():
  assert float(A.overfitting_heuristic(jnp.array([2.0, -1.0, 3.0, 0.5]))) == pytest.approx(0.5)
  assert float(A.overfitting_heuristic(jnp.array([[-2.0], [-1.0]]))) == pytest.approx(-1.0)


def test_ada_update_direction_step_and_clip():
  step = 32 * 4 / (500 * 1000)
  up = float(A.ada_update(0.2, 0.8, target=0.6, batch_size=32))
  down = float(A.ada_update(0.2, 0.1, target=0.6, batch_size=32))
  assert up == pytest.approx(0.2 + step, abs=1e-7) and down == pytest.approx(0.2 - step, abs=1e-7)
  assert float(A.ada_update(0.2, 0.6, target=0.6, batch_size=32)) == pytest.approx(0.2)
  assert float(A.ada_update(0.0, -0.5, batch_size=32)) == 0.0
  top = float(A.ada_update(1.0 - 1e-7, 1.0, batch_size=4096, speed_kimg=1))
  assert 0.99 < top < 1.0
  # With interval and speed_kimg: p can go 0 -> 1 in speed_kimg * 1000 images.
  big = float(A.ada_update(0.0, 1.0, batch_size=64, interval=8, speed_kimg=100))
  assert big == pytest.approx(64 * 8 / 100e3, rel=1e-6)
  with pytest.raises(TypeError):
    A.ada_update(0.0, 1.0)


def test_ada_controller_settles_where_rt_meets_target():
  """A toy overfitting curve r_t(p) = 0.9 - 0.6 p + noise meets the target 0.6 at p = 0.5."""
  def body(p, key):
    rt = 0.9 - 0.6 * p + 0.05 * jax.random.normal(key)
    p = A.ada_update(p, rt, target=0.6, batch_size=64, interval=4, speed_kimg=50)
    return p, p
  _, ps = jax.lax.scan(body, jnp.float32(0.0), jax.random.split(jax.random.PRNGKey(18), 600))
  ps = np.asarray(ps)
  step = 64 * 4 / 50e3
  assert np.all(np.diff(ps[:50]) > 0)                    # rises from 0 while r_t > target
  assert abs(ps[-200:].mean() - 0.5) < 0.03 and np.abs(ps[-200:] - 0.5).max() < 0.1
  assert np.all(np.abs(np.diff(ps)) <= step + 1e-6)


# ----- truncation trick -----

@pytest.mark.parametrize("psi", [0.5, 1.5])
def test_truncated_normal_bounds_and_variance(psi):
  key = jax.random.PRNGKey(19)
  for z in (T.truncated_normal(key, (20000,), psi),
            jax.jit(T.truncated_normal, static_argnums=1)(key, (20000,), jnp.float32(psi))):
    z = np.asarray(z)
    assert z.shape == (20000,) and np.all(np.abs(z) <= psi)
    # variance of N(0,1) truncated to [-a, a]: 1 - 2 a phi(a) / (2 Phi(a) - 1)
    want = 1 - 2 * psi * stats.norm.pdf(psi) / (2 * stats.norm.cdf(psi) - 1)
    assert z.var() == pytest.approx(want, rel=0.05)


def test_no_truncation_is_the_normal():
  key = jax.random.PRNGKey(20)
  ref = np.asarray(jax.random.normal(key, (3, 5)))
  for psi in (math.inf, 0.0, -1.0, None):
    np.testing.assert_array_equal(np.asarray(T.truncated_normal(key, (3, 5), psi)), ref)
  traced = jax.jit(T.truncated_normal, static_argnums=1)
  for psi in (math.inf, 0.0):
    np.testing.assert_array_equal(np.asarray(traced(key, (3, 5), jnp.float32(psi))), ref)


def test_truncate_toward_mean():
  w = _images((4, 8), seed=21)
  w_avg = _images((8,), seed=22)
  np.testing.assert_allclose(T.truncate_toward_mean(w, w_avg, 1.0), w, rtol=1e-6)
  np.testing.assert_allclose(T.truncate_toward_mean(w, w_avg, 0.0), np.broadcast_to(w_avg, w.shape))
  half = np.asarray(T.truncate_toward_mean(w, w_avg, 0.5))
  np.testing.assert_allclose(half, (np.asarray(w) + np.asarray(w_avg)) / 2, rtol=1e-6, atol=1e-7)
