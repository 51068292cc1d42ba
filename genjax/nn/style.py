"""Normalisations and noise of ProGAN, StyleGAN and StyleGAN2 (NHWC).

* ``pixel_norm``: ProGAN's pixelwise feature vector normalisation (Karras et
  al. 2018, sec. 4.2), b = a / sqrt(mean_j a_j^2 + 1e-8) over the channels;
  on [B, D] latents it is StyleGAN's normalisation of z (StyleGAN2-ADA's
  ``normalize_2nd_moment``).
* ``minibatch_stddev``: ProGAN sec. 3 (the standard deviation of every feature
  at every pixel over the minibatch, averaged into one value, appended as a
  constant feature map), in the grouped form of the released ProGAN and
  StyleGAN2 code (``group_size`` = 4 samples; StyleGAN2 adds
  ``num_channels``, here 1 new feature map; ``group_size=None`` is the whole
  minibatch, as ProGAN's paper describes it).
* ``adain``: adaptive instance normalisation (Huang & Belongie 2017; StyleGAN,
  Karras et al. 2019, eq. 1): y_s * (x - mu(x)) / sigma(x) + y_b per channel
  of each sample; ``AdaIN`` takes the styles from the latent w as StyleGAN's
  ``style_mod`` (an affine with gain 1, y_s = 1 + its first half).
* ``NoiseInjection``: x + strength * noise with one noise image per sample
  broadcast over channels, the strength learned, initialised to 0: per
  channel in StyleGAN (sec. 2, fig. 1b's "B"), one scalar in StyleGAN2 (its
  ``noise_strength``).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.equalized import EqualDense

PIXEL_NORM_EPS = 1e-8
MBSTD_EPS = 1e-8
ADAIN_EPS = 1e-8      # StyleGAN's instance_norm epsilon


def pixel_norm(x, eps=PIXEL_NORM_EPS):
  """b = a / sqrt(mean_j a_j^2 + eps) over the last axis (ProGAN sec. 4.2)."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def mbstd_group_size(batch, group_size=4):
  """The samples per group: min(group_size, batch) (None: the batch), lowered to divide the batch.

  The references take G = min(group_size, batch) and require the batch to
  be divisible by G; here a batch that is not (e.g. 6 with G = 4) uses the
  largest divisor of the batch below G instead (6 -> groups of 3), so any
  batch size (an odd evaluation batch) runs; a prime batch larger than G
  gets groups of 1, whose standard deviation is sqrt(eps), a constant.
  """
  g = batch if group_size is None else min(group_size, batch)
  while batch % g:
    g -= 1
  return g


def minibatch_stddev(x, group_size=4, num_channels=1, eps=MBSTD_EPS):
  """x [N,H,W,C] -> [N,H,W,C + num_channels]: the grouped minibatch standard deviation.

  Sample i is in group i mod (N / G) (the references' reshape [G, N/G, ...]).
  Channels are split into ``num_channels`` consecutive blocks; per group and
  block: std over the group's samples at every pixel and channel
  (sqrt(var + eps), population variance), averaged over pixels and channels,
  broadcast to the group's samples as one feature map.
  """
  n, h, w, c = x.shape
  if c % num_channels:
    raise ValueError(f"minibatch_stddev: {c} channels not divisible into "
                     f"{num_channels} blocks.")
  g = mbstd_group_size(n, group_size)
  y = x.reshape(g, n // g, h, w, num_channels, c // num_channels)
  y = y - jnp.mean(y, axis=0)
  std = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + eps)            # [n/G, H, W, F, c]
  std = jnp.mean(std, axis=(1, 2, 4))                              # [n/G, F]
  std = jnp.tile(std, (g, 1))                                      # sample i -> group i mod n/G
  feat = jnp.broadcast_to(std[:, None, None, :], (n, h, w, num_channels)).astype(x.dtype)
  return jnp.concatenate([x, feat], axis=-1)


def instance_norm(x, eps=ADAIN_EPS):
  """(x - mu) / sqrt(var + eps), moments over H, W per sample and channel."""
  x = x - jnp.mean(x, axis=(1, 2), keepdims=True)
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=(1, 2), keepdims=True) + eps)


def adain(x, scale, bias, eps=ADAIN_EPS):
  """AdaIN(x, y) = y_s (x - mu(x)) / sigma(x) + y_b (StyleGAN eq. 1); scale, bias [B,C]."""
  return instance_norm(x, eps) * scale[:, None, None, :] + bias[:, None, None, :]


class AdaIN(nn.Module):
  """StyleGAN's instance norm + style modulation: __call__(x [B,H,W,C], w [B,D]).

  ``style``: an ``EqualDense`` to 2C with gain 1; y_s = 1 + its first C
  outputs, y_b the last C (StyleGAN's ``style_mod``).
  """

  @nn.compact
  def __call__(self, x, w):
    c = x.shape[-1]
    style = EqualDense(2 * c, gain=1.0, name="style")(w).astype(x.dtype)
    return adain(x, 1.0 + style[:, :c], style[:, c:])


class NoiseInjection(nn.Module):
  """x + strength * noise; noise [B,H,W,1] given, or drawn from the ``rng_name`` stream.

  ``per_channel``: a strength [C] (StyleGAN), else one scalar (StyleGAN2);
  initialised to 0, so the layer starts as the identity. Pass ``noise`` for
  exact reproducibility (StyleGAN2's 'const' noise mode) or zeros for none.
  """
  per_channel: bool = False
  rng_name: str = "noise"

  @nn.compact
  def __call__(self, x, noise=None):
    shape = (x.shape[-1],) if self.per_channel else ()
    strength = self.param("strength", nn.initializers.zeros, shape, jnp.float32)
    if noise is None:
      noise = jax.random.normal(self.make_rng(self.rng_name), (*x.shape[:3], 1), x.dtype)
    return x + strength.astype(x.dtype) * noise
