"""genjax.nn.weight_norm: w = g v/||v||, data-dependent init, the sub-pixel transposed conv."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.conv import conv2d
from genjax.nn.weight_norm import (WNConv, WNConvTranspose, WNDense,
                                   conv_transpose_subpixel, weight_norm)


def _batch(shape, seed=0):
  # Far from standardised on purpose: mean 3, std 2.
  return 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(seed), shape)


def test_weight_norm_is_g_times_unit_direction():
  rng = np.random.default_rng(0)
  v = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
  g = rng.normal(size=(5,)).astype(np.float32)
  w = np.asarray(weight_norm(jnp.asarray(v), jnp.asarray(g)), np.float64)
  v64 = v.astype(np.float64).reshape(-1, 5)
  # Salimans & Kingma (2016), eq. 2, column by column (one per output channel).
  for o in range(5):
    expected = g[o] * v64[:, o] / np.sqrt(np.sum(v64[:, o] ** 2))
    np.testing.assert_allclose(w.reshape(-1, 5)[:, o], expected, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.linalg.norm(w.reshape(-1, 5), axis=0), np.abs(g), rtol=1e-5)


def _dilated_transposed_conv(x, kernel, s):
  """Definition: out[s*i + a, s*j + b] += x[i, j] @ kernel[a, b] (float64 loops)."""
  x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
  bsz, h, w, _ = x.shape
  kh, kw, _, cout = kernel.shape
  out = np.zeros((bsz, s * (h - 1) + kh, s * (w - 1) + kw, cout))
  for i in range(h):
    for j in range(w):
      for a in range(kh):
        for b in range(kw):
          out[:, s * i + a, s * j + b] += x[:, i, j] @ kernel[a, b]
  return out


@pytest.mark.parametrize("ks,s", [((2, 3), 2), ((3, 2), 2), ((1, 4), 3)])
def test_conv_transpose_subpixel_matches_definition(ks, s):
  kx, kk = jax.random.split(jax.random.PRNGKey(1))
  x = jax.random.normal(kx, (2, 3, 4, 3))
  kernel = jax.random.normal(kk, (*ks, 3, 5))
  y = conv_transpose_subpixel(x, kernel, s)
  np.testing.assert_allclose(np.asarray(y), _dilated_transposed_conv(x, kernel, s),
                             rtol=1e-5, atol=1e-5)


LAYERS = [  # (module, input shape, function of (x, w) the layer must equal before + b)
    (WNConv(6, (2, 3), padding=((1, 0), (1, 1))), (4, 6, 6, 3),
     lambda x, w: conv2d(x, w, (1, 1), ((1, 0), (1, 1)))),
    (WNConv(5, (3, 3), strides=2), (4, 6, 6, 3), lambda x, w: conv2d(x, w, (2, 2), "SAME")),
    (WNDense(7), (4, 5, 5, 3), lambda x, w: x @ w),
    (WNConvTranspose(4, (2, 3)), (4, 3, 3, 5), lambda x, w: conv_transpose_subpixel(x, w, 2)),
    (WNConv(6, (2, 3), padding=((1, 0), (1, 1)), init_scale=0.1), (4, 6, 6, 3),
     lambda x, w: conv2d(x, w, (1, 1), ((1, 0), (1, 1)))),
]


@pytest.fixture(scope="module")
def initialised():
  """For every case: (x, init output, params, apply(x), apply(other batch), reference(x)).

  One jitted program for all cases (compiles are the slow part on a 2-core CPU).
  """
  def run(key):
    out = []
    for i, (layer, shape, reference) in enumerate(LAYERS):
      x = _batch(shape, seed=i)
      y_init, variables = layer.init_with_output(jax.random.fold_in(key, i), x)
      p = variables["params"]
      out.append((x, y_init, p, layer.apply(variables, x),
                  layer.apply(variables, 0.5 * _batch(shape, seed=100 + i)),
                  reference(x, weight_norm(p["v"], p["g"])) + p["b"]))
    plain = WNConv(4, (3, 3), data_init=False).init(key, _batch((2, 5, 5, 3)))["params"]
    return out, plain
  return jax.jit(run)(jax.random.PRNGKey(2))


@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_data_dependent_init_standardises_the_init_batch(initialised, case):
  init_scale = LAYERS[case][0].init_scale
  x, y_init, p, y, y_other, expected = initialised[0][case]
  np.testing.assert_allclose(np.asarray(y), np.asarray(y_init), rtol=1e-5, atol=1e-5)
  # Salimans & Kingma (2016), sec. 3: mean 0, std init_scale per channel on that batch.
  axes = tuple(range(y.ndim - 1))
  np.testing.assert_allclose(np.asarray(jnp.mean(y, axes)), 0.0, atol=1e-4 * init_scale)
  np.testing.assert_allclose(np.asarray(jnp.std(y, axes)), init_scale, rtol=1e-3)
  # The layer is the plain op with w = g v/||v|| plus b.
  np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-4, atol=1e-4)
  # On another batch the statistics are no longer forced.
  assert float(jnp.max(jnp.abs(jnp.std(y_other, axes) - init_scale))) > 1e-2 * init_scale


def test_without_data_init_g_is_one_and_b_zero(initialised):
  p = initialised[1]
  np.testing.assert_array_equal(np.asarray(p["g"]), 1.0)
  np.testing.assert_array_equal(np.asarray(p["b"]), 0.0)
  norms = jnp.sqrt(jnp.sum(jnp.square(weight_norm(p["v"], p["g"])), axis=(0, 1, 2)))
  np.testing.assert_allclose(np.asarray(norms), 1.0, rtol=1e-5)
