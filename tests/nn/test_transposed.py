"""The sub-pixel form of stride-2 transposed convs against PyTorch's definition
y[o] = sum_i x[i] w[o + p - 2 i] written as loops in numpy (float64)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.nn.transposed import TransposedConv, transposed_conv2d


def brute_force_transposed(x, w, padding, output_padding):
  """conv_transpose2d by its definition, NHWC x, w [k, k, cin, cout]."""
  n, h, wd, _ = x.shape
  k = w.shape[0]
  out_h = (h - 1) * 2 - 2 * padding + k + output_padding
  out_w = (wd - 1) * 2 - 2 * padding + k + output_padding
  y = np.zeros((n, out_h, out_w, w.shape[3]))
  for i in range(h):
    for j in range(wd):
      for ky in range(k):
        for kx in range(k):
          oy, ox = 2 * i + ky - padding, 2 * j + kx - padding
          if 0 <= oy < out_h and 0 <= ox < out_w:
            y[:, oy, ox] += x[:, i, j] @ w[ky, kx]
  return y


@pytest.mark.parametrize("k,p,q", [(4, 1, 0), (3, 1, 1), (2, 0, 0), (6, 2, 0)])
@pytest.mark.parametrize("hw", [(3, 3), (4, 5)])
def test_transposed_conv_matches_the_definition(k, p, q, hw):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, *hw, 3))
  w = rng.normal(size=(k, k, 3, 5))
  expected = brute_force_transposed(x, w, p, q)
  got = transposed_conv2d(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), p, q,
                          impl="xla")
  assert got.shape == expected.shape == (2, 2 * hw[0], 2 * hw[1], 5)
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)


def test_gradients_match_lax_conv_transpose():
  """The input and weight gradients equal those of XLA's own transposed conv
  (lax.conv_transpose with the kernel flipped, which is PyTorch's op)."""
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(2, 4, 4, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(4, 4, 3, 2)), jnp.float32)

  def reference(x, w):   # k=4, p=1: lax padding k - 1 - p = 2 on each side
    return jax.lax.conv_transpose(x, w[::-1, ::-1], (2, 2), ((2, 2), (2, 2)),
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))

  ours = lambda x, w: transposed_conv2d(x, w, 1, 0, impl="xla")
  np.testing.assert_allclose(ours(x, w), reference(x, w), rtol=1e-5, atol=1e-5)
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
  for got, want in zip(jax.grad(loss(ours), (0, 1))(x, w),
                       jax.grad(loss(reference), (0, 1))(x, w)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_module_has_pytorchs_parameters_and_output_on_the_default_conv():
  layer = TransposedConv(7, kernel_size=3, padding=1, output_padding=1)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 4, 5))
  params = layer.init(jax.random.PRNGKey(0), x)["params"]
  assert jax.tree.map(jnp.shape, params) == {"kernel": (3, 3, 5, 7), "bias": (7,)}
  params = dict(params, bias=jnp.arange(7.0))
  expected = brute_force_transposed(np.asarray(x, np.float64),
                                    np.asarray(params["kernel"], np.float64), 1, 1)
  got = layer.apply({"params": params}, x)   # the backend's default conv impl
  np.testing.assert_allclose(got, expected + np.arange(7.0), rtol=1e-4, atol=1e-4)


def test_a_size_that_does_not_double_is_a_config_error():
  with pytest.raises(ConfigError, match="does not double"):
    transposed_conv2d(jnp.zeros((1, 2, 2, 1)), jnp.zeros((3, 3, 1, 1)), 1, 0)
