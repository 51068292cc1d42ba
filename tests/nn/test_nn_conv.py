"""genjax.nn.conv: every formulation equals XLA's conv; UpConv vs ConvTranspose."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from genjax.errors import ConfigError
from genjax.nn.conv import (IMPLS, Conv, UpConv, check_divisible, conv2d, default_impl,
                            depth_to_space)

ALL = [impl for impl in IMPLS if impl != "xla"]   # 'xla' is the reference itself
CASES = [  # (input HxW, cin, cout, kernel, stride, padding, formulations checked)
    ((8, 8), 3, 4, (3, 3), (1, 1), "SAME", ALL),
    ((7, 9), 2, 5, (3, 3), (2, 2), "SAME", ALL),
    ((7, 7), 2, 3, (3, 2), (1, 2), "VALID", ["im2col", "blas"]),
    ((6, 6), 2, 3, (1, 1), (1, 1), 1, ["im2col", "blas"]),
    ((6, 5), 2, 3, (4, 4), (2, 2), ((1, 2), (2, 1)), ["im2col", "blas"]),
    # The one-row state-to-state convs of the PixelRNN scans (pixelrnn.py).
    ((1, 6), 3, 8, (1, 3), (1, 1), "SAME", ALL),
    ((5, 1), 3, 8, (2, 1), (1, 1), ((1, 0), (0, 0)), ["im2col", "taps", "blas"]),
    # 'blas' only: one input channel (a first layer), a 5x5 kernel with stride 3
    # leaving input rows unread, padding larger than the kernel's reach, and a
    # convolution done in blocks of 2, 2 and 1 output rows (rows_per_block of
    # cpu_conv.cc: 48 * 3*3*96 floats a row, 384 KiB a block).
    ((11, 10), 1, 6, (5, 5), (3, 3), "SAME", ["blas"]),
    ((5, 6), 3, 2, (2, 3), (2, 1), ((3, 0), (0, 4)), ["blas"]),
    ((5, 48), 96, 3, (3, 3), (1, 1), "SAME", ["blas"]),
]


def reference_conv(x, kernel, strides, padding):
  if isinstance(padding, int):
    padding = ((padding, padding),) * 2
  return jax.lax.conv_general_dilated(x, kernel, strides, padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _output_and_gradients(f, x, kernel, cot):
  y, vjp = jax.vjp(f, x, kernel)
  return y, vjp(cot)


@pytest.mark.parametrize("hw,cin,cout,ks,strides,padding,impls", CASES)
def test_conv2d_matches_lax_forward_and_gradient(hw, cin, cout, ks, strides, padding, impls):
  kx, kk, kg = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, (2, *hw, cin))
  kernel = jax.random.normal(kk, (*ks, cin, cout))
  cot = jax.random.normal(kg, reference_conv(x, kernel, strides, padding).shape)

  @jax.jit
  def everything(x, kernel, cot):
    ref = _output_and_gradients(lambda x, k: reference_conv(x, k, strides, padding),
                                x, kernel, cot)
    return ref, {impl: _output_and_gradients(
        lambda x, k, impl=impl: conv2d(x, k, strides, padding, impl=impl), x, kernel, cot)
                 for impl in impls}

  want, got = everything(x, kernel, cot)
  for impl in impls:
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4,
                                                         err_msg=impl), got[impl], want)


def test_blas_second_order_gradients_match_lax():
  """The R1-style grad of a grad w.r.t. the input goes through the kernels' own VJPs."""
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 6, 2))
  kernel = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 2, 4))

  def penalty(impl):
    def d_out(x, k):
      return jnp.sum(jnp.sin(conv2d(x, k, (2, 1), "SAME", impl=impl)))
    return lambda x, k: jnp.sum(jax.grad(d_out)(x, k) ** 2) + jnp.sum(
        jax.grad(d_out, 1)(x, k) ** 2)

  got = jax.grad(penalty("blas"), (0, 1))(x, kernel)
  want = jax.grad(lambda x, k: penalty("xla")(x, k), (0, 1))(x, kernel)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), got, want)


def test_blas_kernels_build_on_this_machine_and_are_deterministic():
  """CI machines have g++ and scipy-openblas32, so the CPU default is the fast path.

  The kernel gradient sums one partial per fixed chunk of images in chunk
  order: the same inputs give bitwise the same gradient every time.
  """
  from genjax.kernels import cpu_conv
  assert cpu_conv.available(), cpu_conv.unavailable_reason()
  assert default_impl((1, 1), "cpu") == default_impl((2, 2), "cpu") == "blas"
  x = jax.random.normal(jax.random.PRNGKey(0), (33, 9, 9, 8))
  grad = jax.jit(jax.grad(lambda k: jnp.sum(conv2d(x, k, impl="blas") ** 2)))
  k = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 8, 8))
  first = np.asarray(grad(k))
  for _ in range(3):
    np.testing.assert_array_equal(np.asarray(grad(k)), first)


def test_conv_module_matches_flax_conv_with_same_params():
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
  ours = Conv(5, (3, 3), strides=(2, 2))
  params = ours.init(jax.random.PRNGKey(2), x)
  theirs = nn.Conv(5, (3, 3), strides=(2, 2), padding="SAME")
  np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x),
                             rtol=1e-5, atol=1e-5)


def test_default_impl_is_plain_xla_on_accelerators_and_unknown_impl_is_an_error():
  for strides in (1, (2, 2)):
    assert default_impl(strides, "gpu") == default_impl(strides, "tpu") == "xla"
    assert default_impl(strides) in IMPLS
  with pytest.raises(ConfigError, match="im2col"):
    conv2d(jnp.zeros((1, 4, 4, 1)), jnp.zeros((3, 3, 1, 1)), impl="fft")


def test_depth_to_space_follows_its_index_formula():
  s, c = 2, 3
  x = jnp.arange(1 * 2 * 3 * s * s * c, dtype=jnp.float32).reshape(1, 2, 3, s * s * c)
  y = np.asarray(depth_to_space(x, s))
  assert y.shape == (1, 4, 6, c)
  for i in range(2):
    for j in range(3):
      for a in range(s):
        for b in range(s):
          np.testing.assert_array_equal(y[0, s * i + a, s * j + b],
                                        x[0, i, j, (a * s + b) * c:(a * s + b + 1) * c])


@pytest.mark.parametrize("hw", [(7, 7), (4, 6), (1, 1)])
def test_upconv_has_the_shape_of_a_stride_2_same_conv_transpose(hw):
  x = jnp.ones((2, *hw, 3))
  ct = nn.ConvTranspose(5, (3, 3), (2, 2), padding="SAME")
  want = jax.eval_shape(lambda: ct.apply(ct.init(jax.random.PRNGKey(0), x), x)).shape
  up = UpConv(5)
  params = up.init(jax.random.PRNGKey(0), x)
  assert up.apply(params, x).shape == want == (2, 2 * hw[0], 2 * hw[1], 5)
  assert params["params"]["bias"].shape == (5,)      # one bias per feature, as ConvT


def _upconv_fit_error(conv_t_kernel, up_kernel):
  """Max error of the best UpConv (no bias) at reproducing a stride-2 'SAME' ConvTranspose.

  UpConv(x) = depth_to_space(conv(x, W)), so the best W solves a linear least
  squares problem from the input's patches to space_to_depth(target); the
  fitted W is then run through the real UpConv module.
  """
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 6, 6, 2))
  ct = nn.ConvTranspose(3, (conv_t_kernel,) * 2, (2, 2), padding="SAME", use_bias=False)
  target = ct.apply(ct.init(jax.random.PRNGKey(1), x), x)
  b, h, w, f = x.shape[0], 6, 6, 3
  t = np.asarray(target).reshape(b, h, 2, w, 2, f).transpose(0, 1, 3, 2, 4, 5)
  patches = jax.lax.conv_general_dilated_patches(     # channel order (c, i, j)
      x, (up_kernel,) * 2, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  p = np.asarray(patches, np.float64).reshape(b * h * w, -1)
  # gelsy (QR): numpy's default SVD driver stalls for seconds in OpenBLAS
  # threads when both cores are busy.
  sol = scipy.linalg.lstsq(p, t.reshape(b * h * w, 4 * f), lapack_driver="gelsy")[0]
  kernel = sol.reshape(2, up_kernel, up_kernel, 4 * f).transpose(1, 2, 0, 3)
  up = UpConv(f, up_kernel, use_bias=False)
  got = up.apply({"params": {"conv": {"kernel": jnp.asarray(kernel, jnp.float32)}}}, x)
  return float(jnp.abs(got - target).max())


def test_upconv_3x3_represents_stride_2_conv_transposes():
  for conv_t_kernel in (2, 3, 4, 5):
    assert _upconv_fit_error(conv_t_kernel, 3) < 1e-4, conv_t_kernel
  assert _upconv_fit_error(3, 2) > 1e-2      # the check has teeth: a 2x2 UpConv cannot


def test_upconv_icnr_init_is_nearest_neighbour_upsampling_of_a_conv():
  # Aitken et al. (2017): at init every 2x2 block of the output is constant.
  x = jax.random.normal(jax.random.PRNGKey(3), (2, 4, 5, 3))
  up = UpConv(4, bias_init=nn.initializers.normal(1.0))
  params = up.init(jax.random.PRNGKey(4), x)
  y = up.apply(params, x)
  blocks = y.reshape(2, 4, 2, 5, 2, 4)
  np.testing.assert_allclose(blocks, jnp.broadcast_to(blocks[:, :, :1, :, :1], blocks.shape),
                             rtol=1e-6, atol=1e-6)
  assert params["params"]["conv"]["kernel"].shape == (3, 3, 3, 2 * 2 * 4)
  grads = jax.grad(lambda p: jnp.sum(jnp.square(up.apply(p, x))))(params)
  assert jax.tree.map(jnp.shape, grads) == jax.tree.map(jnp.shape, params)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  up_plain = UpConv(4, icnr=False)
  y_plain = up_plain.apply(up_plain.init(jax.random.PRNGKey(4), x), x)
  assert not np.allclose(y_plain[:, 0::2], y_plain[:, 1::2])


def test_check_divisible_says_what_to_change():
  assert check_divisible((28, 28, 1), 2) == (7, 7)
  with pytest.raises(ConfigError, match="divisible by 8"):
    check_divisible((28, 28, 1), 3)
