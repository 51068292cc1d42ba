"""Modulated convolution with weight demodulation (StyleGAN2, Karras et al. 2020, sec. 2.2).

A style s (one scale per input channel and sample) modulates the weights
w [kh, kw, I, O] (HWIO; the paper's w_ijk, i input, j output, k spatial):

    w'_ijk = s_i * w_ijk                                          (eq. 1)

and demodulation rescales each output channel of each sample so that, for
inputs of unit variance, independent and identically distributed, the
outputs have unit variance again (eq. 2: sigma_j = sqrt(sum_ik w'_ijk^2)):

    w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps),  eps = 1e-8   (eq. 3)

Two forms of the same maths (``form``):
  'grouped'  the per-sample weights w'' materialised, the batch folded into the
             convolution's groups (the paper's app. B; the reference's
             ``fused_modconv=True``, which it uses for inference);
  'scaled'   the input scaled by s, ONE convolution with the shared w, the
             output scaled by the demodulation coefficients
             d_j = 1 / sqrt(sum_i s_i^2 sum_k w_ijk^2 + eps) (the reference's
             ``fused_modconv=False``, used in training). It runs through
             ``genjax.nn.conv.conv2d`` (the fast CPU kernels); the default.
             XLA:CPU's grouped conv is 10-20x slower (forward + backward,
             B = 16, 128 -> 128 channels at 16x16 on a 2-core CPU: 2.0 s vs
             0.09 s; upsampling to 32x32: 4.1 s vs 0.42 s).
Up- and downsampling by 2 as StyleGAN2's ``conv2d_resample``
(``genjax.nn.resample.resample_conv2d``): the filter is linear and per
channel, so scaling the output after it is the same as scaling the weights.
"""
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import unknown_name
from genjax.nn.equalized import EqualDense
from genjax.nn.resample import STYLEGAN2_TAPS, resample_conv2d

DEMOD_EPS = 1e-8
FORMS = ("scaled", "grouped")


def modulate(weight, styles):
  """w' = s_i w_ijk (eq. 1): weight [kh,kw,I,O], styles [B,I] -> [B,kh,kw,I,O]."""
  return weight[None] * styles[:, None, None, :, None]


def demodulation_coefficients(weight, styles, eps=DEMOD_EPS):
  """d_j = 1 / sqrt(sum_{i,k} (s_i w_ijk)^2 + eps) (eq. 3), [B,O], without the [B,...] weights."""
  sq = jnp.sum(jnp.square(weight), axis=(0, 1))                 # [I, O]: sum_k w_ijk^2
  return jax.lax.rsqrt(jnp.square(styles) @ sq + eps)


def modulated_weights(weight, styles, demodulate=True, eps=DEMOD_EPS):
  """The per-sample weights w' (eq. 1), or w'' (eq. 3) when ``demodulate``: [B,kh,kw,I,O]."""
  w = modulate(weight, styles)
  if demodulate:
    w = w * jax.lax.rsqrt(jnp.sum(jnp.square(w), axis=(1, 2, 3)) + eps)[:, None, None, None]
  return w


def modulated_conv2d(x, weight, styles, demodulate=True, up=1, down=1,
                     taps=STYLEGAN2_TAPS, form="scaled", impl=None):
  """Modulated (and demodulated) 'same' conv of x [B,H,W,I] with weight [k,k,I,O].

  styles [B,I]; up=2 / down=2 resample by 2 (``resample_conv2d``). ``form``
  'scaled' or 'grouped' (the module doc); ``impl`` the shared-weight
  ``conv2d`` formulation of the 'scaled' form. Returns [B,H',W',O].
  """
  if form == "grouped":
    w = modulated_weights(weight, styles, demodulate)
    return resample_conv2d(x, w, up, down, taps, per_sample=True)
  if form != "scaled":
    raise unknown_name("modulated conv form", form, FORMS)
  y = resample_conv2d(x * styles[:, None, None, :].astype(x.dtype), weight, up, down, taps,
                      impl=impl)
  if demodulate:
    y = y * demodulation_coefficients(weight, styles)[:, None, None, :].astype(y.dtype)
  return y


class ModulatedConv(nn.Module):
  """StyleGAN2's modulated conv: styles from the latent w by an affine layer, then eqs. 1-3.

  __call__(x [B,H,W,I], w [B,w_dim]) -> [B,H',W',features], without bias
  or noise (StyleGAN2 adds noise, then the bias, before the lReLU). The
  affine ``affine`` is an ``EqualDense`` with gain 1 and bias_init 1
  (styles start near 1); ``kernel`` [k,k,I,features] ~ N(0, 1) is used
  times 1 / sqrt(k*k*I) (the equalised learning rate with gain 1, as
  StyleGAN2's ``get_weight``; demodulation cancels it but for eps). toRGB is
  ``ModulatedConv(channels, kernel_size=1, demodulate=False)``.
  """
  features: int
  kernel_size: int = 3
  demodulate: bool = True
  up: int = 1
  down: int = 1
  taps: Sequence[float] = STYLEGAN2_TAPS
  form: str = "scaled"
  impl: Any = None

  @nn.compact
  def __call__(self, x, w):
    k, cin = self.kernel_size, x.shape[-1]
    styles = EqualDense(cin, gain=1.0, bias_init=1.0, name="affine")(w)
    kernel = self.param("kernel", nn.initializers.normal(1.0),
                        (k, k, cin, self.features), jnp.float32)
    weight = (kernel / math.sqrt(k * k * cin)).astype(x.dtype)
    return modulated_conv2d(x, weight, styles.astype(x.dtype), self.demodulate, self.up,
                            self.down, tuple(self.taps), self.form, self.impl)
