"""genjax.nn.resample: upfirdn2d and the resampling convs against numpy loops."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.resample import (downsample2d, resample_conv2d, separable_factors,
                                setup_filter, upfirdn2d, upsample2d)
from tests.nn import style_reference as ref

RNG = np.random.default_rng(0)
ASYMMETRIC = RNG.normal(size=(3, 2)).astype(np.float32)   # rank 2; flipping it matters
SEPARABLE = np.outer(RNG.normal(size=3), RNG.normal(size=5)).astype(np.float32)

UPFIRDN_CASES = [  # (H, W, kernel, up, down, pad, gain)
    (5, 6, setup_filter(), 1, 1, 0, 1.0),
    (5, 4, setup_filter(), 2, 1, ((2, 1), (2, 1)), 4.0),
    (6, 7, setup_filter(), 1, 2, ((1, 1), (1, 1)), 1.0),
    (4, 5, SEPARABLE, 2, 2, ((1, 0), (0, 2)), 1.5),
    (4, 4, SEPARABLE, 3, 1, ((-1, 2), (0, -2)), 1.0),    # negative pads crop
    (7, 5, SEPARABLE, 1, 3, ((0, 1), (2, 0)), 1.0),
    (3, 3, np.ones((1, 1), np.float32), 2, 1, ((0, 0), (1, 0)), 1.0),   # phases with no tap
    (4, 5, ASYMMETRIC, 2, 2, ((1, 0), (0, 2)), 1.5),
    (4, 4, ASYMMETRIC, 3, 1, ((-1, 2), (0, -2)), 1.0),
    (7, 5, ASYMMETRIC, 1, 3, ((0, 1), (2, 0)), 1.0),
]


@pytest.mark.parametrize("impl", ["taps", "conv"])
def test_upfirdn2d_matches_brute_force(impl):
  cases = [c for c in UPFIRDN_CASES if impl == "conv" or c[2] is not ASYMMETRIC]
  xs = [RNG.normal(size=(2, h, w, 3)).astype(np.float32) for h, w, *_ in cases]

  @jax.jit
  def run(xs):
    return [upfirdn2d(x, k, up, down, pad, gain, impl)
            for x, (_, _, k, up, down, pad, gain) in zip(xs, cases)]

  for x, y, (_, _, k, up, down, pad, gain) in zip(xs, run(xs), cases):
    pads = ((pad, pad), (pad, pad)) if isinstance(pad, int) else pad
    np.testing.assert_allclose(y, ref.upfirdn(x, k, up, down, pads, gain),
                               rtol=1e-5, atol=1e-5)


def test_upfirdn2d_taps_refuses_a_non_separable_kernel():
  assert separable_factors(ASYMMETRIC) is None
  with pytest.raises(ValueError, match="separable"):
    upfirdn2d(jnp.zeros((1, 4, 4, 1)), ASYMMETRIC, impl="taps")


def test_setup_filter_is_normalised_outer_product():
  f = setup_filter((1, 3, 3, 1))
  np.testing.assert_allclose(f, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0, rtol=1e-7)
  np.testing.assert_allclose(setup_filter(np.ones((2, 3))), np.full((2, 3), 1 / 6), rtol=1e-7)


def test_resampling_keeps_constants_and_shapes():
  x = jnp.full((1, 8, 6, 2), 2.5)
  up, down = jax.jit(lambda x: (upsample2d(x), downsample2d(x)))(x)
  assert up.shape == (1, 16, 12, 2) and down.shape == (1, 4, 3, 2)
  # Away from the borders (the filter's reach: 2 pixels up, 1 down) a constant stays one.
  np.testing.assert_allclose(up[:, 2:-2, 2:-2], 2.5, rtol=1e-6)
  np.testing.assert_allclose(down[:, 1:-1, 1:-1], 2.5, rtol=1e-6)


def test_downsample_with_box_taps_is_average_pooling():
  x = RNG.normal(size=(2, 6, 4, 3)).astype(np.float32)
  pooled = x.reshape(2, 3, 2, 2, 2, 3).mean(axis=(2, 4))
  np.testing.assert_allclose(downsample2d(x, taps=(1, 1)), pooled, rtol=1e-5, atol=1e-6)


CONV_CASES = [(1, 1, 3), (2, 1, 3), (1, 2, 3), (2, 1, 1), (1, 2, 1)]   # (up, down, k)


@pytest.fixture(scope="module")
def conv_outputs():
  """For every case: x, kernel [k,k,3,4], per-sample kernels [2,k,k,3,4], both outputs."""
  cases = []
  for up, down, k in CONV_CASES:
    x = RNG.normal(size=(2, 6, 6, 3)).astype(np.float32)
    cases.append((x, RNG.normal(size=(k, k, 3, 4)).astype(np.float32),
                  RNG.normal(size=(2, k, k, 3, 4)).astype(np.float32)))

  @jax.jit
  def run(cases):
    return [(resample_conv2d(x, w, up, down), resample_conv2d(x, ws, up, down, per_sample=True))
            for (x, w, ws), (up, down, _) in zip(cases, CONV_CASES)]

  return cases, run(cases)


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_resample_conv2d_matches_definition(conv_outputs, case):
  (x, w, ws), (shared, per_sample) = conv_outputs[0][case], conv_outputs[1][case]
  up, down, _ = CONV_CASES[case]
  f = setup_filter()
  assert shared.shape == (2, 6 * up // down, 6 * up // down, 4)
  np.testing.assert_allclose(shared, ref.resample_conv(x, w, f, up, down), rtol=1e-4, atol=1e-4)
  for b in range(2):    # per-sample kernels: sample b alone with its own kernel
    expected = ref.resample_conv(x[b:b + 1], ws[b], f, up, down)
    np.testing.assert_allclose(per_sample[b:b + 1], expected, rtol=1e-4, atol=1e-4)


def test_resample_conv2d_with_identity_kernel_is_the_filter():
  """A centred delta kernel leaves only the resampling (up 2: upsample2d, down 2: downsample2d)."""
  x = RNG.normal(size=(1, 6, 6, 2)).astype(np.float32)
  delta = np.zeros((3, 3, 2, 2), np.float32)
  delta[1, 1] = np.eye(2)
  up, up_ref, down, down_ref = jax.jit(lambda x: (
      resample_conv2d(x, delta, up=2), upsample2d(x),
      resample_conv2d(x, delta, down=2), downsample2d(x)))(x)
  np.testing.assert_allclose(up, up_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(down, down_ref, rtol=1e-5, atol=1e-6)


def test_resample_conv2d_refuses_even_kernels_and_both_factors():
  x = jnp.zeros((1, 4, 4, 1))
  with pytest.raises(ValueError, match="odd kernel"):
    resample_conv2d(x, jnp.zeros((2, 2, 1, 1)))
  with pytest.raises(ValueError, match="up, down"):
    resample_conv2d(x, jnp.zeros((3, 3, 1, 1)), up=2, down=2)
