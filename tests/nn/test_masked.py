"""genjax.nn.masked: causal masks against their definition, MaskedConv, shifts."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.conv import conv2d
from genjax.nn.masked import (MaskedConv, causal_mask, channel_groups, down_shift,
                              right_shift, split_causal_mask)


def brute_force_mask(kh, kw, cin, cout, mask_type, n):
  """van den Oord et al. (2016), sec. 3.4, written tap by tap, feature by feature.

  Features are n equal contiguous groups (sizes divisible by n here): feature
  k of F is in group k // (F / n). Tap (a, b) is visible when its row is above
  the centre, or it is left of the centre in the centre row; at the centre
  output group g sees input group g' when g' < g ('A') or g' <= g ('B').
  """
  ca, cb = (kh - 1) // 2, (kw - 1) // 2
  m = np.zeros((kh, kw, cin, cout))
  for a, b, i, o in itertools.product(range(kh), range(kw), range(cin), range(cout)):
    if a < ca or (a == ca and b < cb):
      m[a, b, i, o] = 1
    elif (a, b) == (ca, cb):
      gi, go = i // (cin // n), o // (cout // n)
      m[a, b, i, o] = gi < go if mask_type == "A" else gi <= go
  return m


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("kh,kw,cin,cout,n", [
    (3, 3, 1, 4, 1), (7, 7, 1, 5, 1), (5, 5, 3, 6, 3), (3, 3, 6, 9, 3), (1, 3, 3, 12, 3),
    (1, 1, 6, 3, 3), (3, 5, 4, 2, 1)])
def test_causal_mask_matches_definition(kh, kw, cin, cout, n, mask_type):
  got = causal_mask(kh, kw, cin, cout, mask_type, n)
  assert got.shape == (kh, kw, cin, cout) and got.dtype == np.float32
  np.testing.assert_array_equal(got, brute_force_mask(kh, kw, cin, cout, mask_type, n))


def test_mask_a_and_b_differ_only_at_the_centre_diagonal_groups():
  a, b = causal_mask(3, 3, 3, 3, "A", 3), causal_mask(3, 3, 3, 3, "B", 3)
  diff = b - a
  assert diff.min() == 0
  np.testing.assert_array_equal(np.argwhere(diff), [[1, 1, c, c] for c in range(3)])
  # Single channel: 'A' hides the centre completely, 'B' shows it.
  assert causal_mask(3, 3, 1, 1, "A")[1, 1, 0, 0] == 0
  assert causal_mask(3, 3, 1, 1, "B")[1, 1, 0, 0] == 1


def test_channel_groups_contiguous_and_complete():
  for f, n in [(8, 3), (3, 3), (10, 3), (768, 3), (5, 1)]:
    g = channel_groups(f, n)
    assert (np.diff(g) >= 0).all() and set(g) == set(range(n))
    assert np.ptp(np.bincount(g)) <= 1          # as equal as possible
  # C*P outputs: group of o is o // P, so a reshape to [C, P] gives channel c group c.
  np.testing.assert_array_equal(channel_groups(3 * 256, 3), np.arange(768) // 256)
  with pytest.raises(ValueError, match="at least 3"):
    channel_groups(2, 3)
  with pytest.raises(ValueError, match="mask_type"):
    causal_mask(3, 3, 1, 1, "C")


def test_split_mask_groups_each_block():
  m = split_causal_mask(3, 3, 3, 8, "B", 3, num_splits=2)
  np.testing.assert_array_equal(m[..., :4], causal_mask(3, 3, 3, 4, "B", 3))
  np.testing.assert_array_equal(m[..., 4:], causal_mask(3, 3, 3, 4, "B", 3))


def test_masked_conv_is_conv_with_masked_kernel_and_causal():
  """Output = conv2d(x, kernel * mask) + bias; d out(i,j,c) / d x is 0 where the mask says."""
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 5, 6, 3))
  layer = MaskedConv(6, (3, 3), "A", num_image_channels=3)
  params = layer.init(jax.random.PRNGKey(1), x)["params"]
  params = {"kernel": params["kernel"], "bias": jnp.arange(6.0)}
  assert params["kernel"].shape == (3, 3, 3, 6)
  y = layer.apply({"params": params}, x)
  want = conv2d(x, params["kernel"] * causal_mask(3, 3, 3, 6, "A", 3)) + params["bias"]
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)

  i, j = 2, 3
  jac = np.asarray(jax.jit(jax.jacrev(
      lambda x: layer.apply({"params": params}, x)[0, i, j]))(x))[:, 0]   # [6, H, W, C]
  for o in range(6):                   # output feature o is in group o // 2
    g = jac[o]
    assert (g[i + 1:] == 0).all() and (g[i, j + 1:] == 0).all()
    assert (g[i, j, o // 2:] == 0).all()                 # type A: groups < o // 2 only
    assert (g[i, j, :o // 2] != 0).all()
    assert (g[i - 1, j - 1:j + 2] != 0).all() and (g[i, j - 1] != 0).all()


def test_masked_conv_kernel_gradient_is_zero_on_masked_taps():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 2))
  layer = MaskedConv(4, (3, 3), "B", use_bias=False)
  params = layer.init(jax.random.PRNGKey(1), x)
  assert set(params["params"]) == {"kernel"}
  g = jax.jit(jax.grad(lambda p: layer.apply(p, x).sum()))(params)["params"]["kernel"]
  mask = causal_mask(3, 3, 2, 4, "B", 1)
  assert (np.asarray(g)[mask == 0] == 0).all() and (np.asarray(g)[mask == 1] != 0).all()


def test_shifts():
  x = jnp.arange(2 * 3 * 4 * 1.0).reshape(2, 3, 4, 1) + 1
  d, r = np.asarray(down_shift(x)), np.asarray(right_shift(x, 2))
  assert (d[:, 0] == 0).all()
  np.testing.assert_array_equal(d[:, 1:], x[:, :-1])
  assert (r[:, :, :2] == 0).all()
  np.testing.assert_array_equal(r[:, :, 2:], x[:, :, :-2])
  np.testing.assert_array_equal(down_shift(x, 0), x)

