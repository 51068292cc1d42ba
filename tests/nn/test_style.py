"""genjax.nn.style: pixel norm, minibatch stddev, AdaIN, noise injection (closed forms, loops)."""
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.style import (AdaIN, NoiseInjection, adain, mbstd_group_size,
                             minibatch_stddev, pixel_norm)

RNG = np.random.default_rng(0)


def test_pixel_norm_closed_form():
  x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32) * 3.0
  y = np.asarray(pixel_norm(x), np.float64)
  for idx in np.ndindex(2, 3, 4):   # ProGAN sec. 4.2: b = a / sqrt(mean_j a_j^2 + 1e-8)
    a = x[idx].astype(np.float64)
    np.testing.assert_allclose(y[idx], a / math.sqrt(np.mean(a**2) + 1e-8), rtol=1e-5)
  np.testing.assert_allclose(np.mean(y**2, axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(pixel_norm(np.zeros((1, 4), np.float32)), 0.0)   # eps: no NaN


@pytest.mark.parametrize("batch,group,expected", [
    (8, 4, 4), (3, 4, 3), (6, 4, 3), (7, 4, 1), (5, None, 5), (4, 4, 4)])
def test_mbstd_group_size(batch, group, expected):
  assert mbstd_group_size(batch, group) == expected


def _mbstd_loop(x, group, num_channels, eps=1e-8):
  """Sample i's new features: its group (samples j with j = i mod N/G), per channel block
  the mean over pixels and block channels of sqrt(population variance over the group + eps)."""
  n, h, w, c = x.shape
  x = x.astype(np.float64)
  groups = n // group
  feats = np.zeros((n, h, w, num_channels))
  for i in range(n):
    members = [j for j in range(n) if j % groups == i % groups]
    assert len(members) == group
    for f in range(num_channels):
      block = x[members][..., f * (c // num_channels):(f + 1) * (c // num_channels)]
      std = np.sqrt(np.mean((block - block.mean(axis=0)) ** 2, axis=0) + eps)
      feats[i, :, :, f] = np.mean(std)
  return np.concatenate([x, feats], axis=-1)


MBSTD_CASES = [  # (batch, group_size, num_channels)
    (8, 4, 1), (3, 4, 1), (6, 4, 1), (8, 2, 2), (5, None, 1), (7, 4, 1)]


def test_minibatch_stddev_matches_loop():
  xs = [RNG.normal(size=(n, 3, 2, 4)).astype(np.float32) * np.arange(1, n + 1)[:, None, None, None]
        for n, _, _ in MBSTD_CASES]
  run = jax.jit(lambda xs: [minibatch_stddev(x, g, f) for x, (_, g, f) in zip(xs, MBSTD_CASES)])
  for x, y, (n, g, f) in zip(xs, run(xs), MBSTD_CASES):
    expected = _mbstd_loop(x, mbstd_group_size(n, g), f)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
  # A group of 1 (a prime batch above the group size): std is sqrt(eps).
  np.testing.assert_allclose(run(xs)[-1][..., -1], 1e-4, rtol=1e-3)


def test_adain_closed_form():
  x = RNG.normal(size=(2, 4, 3, 5)).astype(np.float32) * 2.0 + 1.0
  scale = RNG.normal(size=(2, 5)).astype(np.float32)
  bias = RNG.normal(size=(2, 5)).astype(np.float32)
  y = np.asarray(adain(x, scale, bias), np.float64)
  for b in range(2):          # StyleGAN eq. 1, one sample and channel at a time
    for c in range(5):
      v = x[b, :, :, c].astype(np.float64)
      expected = scale[b, c] * (v - v.mean()) / math.sqrt(v.var() + 1e-8) + bias[b, c]
      np.testing.assert_allclose(y[b, :, :, c], expected, rtol=1e-4, atol=1e-5)


def test_adain_module_styles_from_latent():
  x = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
  w = RNG.normal(size=(2, 6)).astype(np.float32)
  layer = AdaIN()
  y, variables = jax.jit(lambda x, w: layer.init_with_output(jax.random.PRNGKey(0), x, w))(x, w)
  params = variables["params"]
  style = w @ (params["style"]["kernel"] / math.sqrt(6)) + params["style"]["bias"]   # gain 1
  np.testing.assert_allclose(y, adain(x, 1.0 + style[:, :3], style[:, 3:]), rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("per_channel", [False, True])
def test_noise_injection(per_channel):
  x = RNG.normal(size=(2, 3, 3, 4)).astype(np.float32)
  noise = RNG.normal(size=(2, 3, 3, 1)).astype(np.float32)
  layer = NoiseInjection(per_channel=per_channel)
  params = layer.init(jax.random.PRNGKey(0), x, noise)["params"]
  assert params["strength"].shape == ((4,) if per_channel else ())
  # Strength 0 at init: the identity, for given or drawn noise.
  np.testing.assert_array_equal(layer.apply({"params": params}, x, noise), x)
  rngs = {"noise": jax.random.PRNGKey(1)}
  np.testing.assert_array_equal(layer.apply({"params": params}, x, rngs=rngs), x)
  # A strength: given noise is used as given, broadcast over channels.
  strength = np.linspace(0.5, 2.0, 4).astype(np.float32) if per_channel else np.float32(0.7)
  p = {"strength": jnp.asarray(strength)}
  np.testing.assert_allclose(layer.apply({"params": p}, x, noise), x + strength * noise,
                             rtol=1e-6)
  # Drawn noise: one N(0, 1) image per sample, the same for every channel, fixed by the rng.
  drawn = (layer.apply({"params": p}, x, rngs=rngs) - x) / strength
  np.testing.assert_allclose(drawn, np.broadcast_to(drawn[..., :1], x.shape), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_array_equal(layer.apply({"params": p}, x, rngs=rngs),
                                layer.apply({"params": p}, x, rngs=rngs))
  with pytest.raises(flax.errors.InvalidRngError):
    layer.apply({"params": p}, x)          # neither noise nor an rng
