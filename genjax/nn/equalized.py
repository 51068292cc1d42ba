"""Equalised learning rate (Karras et al. 2018, "Progressive Growing of GANs", sec. 4.1).

Weights are stored as N(0, 1) draws and multiplied at run time by the
per-layer constant of He et al. (2015),

    w_hat = w * c,    c = gain / sqrt(fan_in),

so every layer's effective weights start at He's scale while the stored ones
all have unit scale: an optimiser that normalises updates per parameter (Adam,
RMSProp) then moves every layer's effective weights at the same relative speed
(SGD instead sees the effective weight's update scaled by c**2).

StyleGAN's mapping network (Karras et al. 2019, sec. 2 and app. C: lr_mul =
0.01) slows some layers down further with a learning-rate multiplier: the
reference code (both StyleGAN's ``get_weight``/``dense`` and StyleGAN2-ADA's
``FullyConnectedLayer``) stores w ~ N(0, 1 / lr_mul**2) and uses

    w_hat = w * lr_mul * gain / sqrt(fan_in),     b_hat = b * lr_mul,

with the stored bias initialised to ``bias_init`` (so the effective bias starts
at lr_mul * bias_init; the style affines of StyleGAN2 use bias_init=1, lr_mul=1).

Gains in the references: ProGAN and StyleGAN put the ReLU/lReLU gain sqrt(2)
(the default here) in the weights and use gain 1 for layers followed by no
nonlinearity (toRGB, the discriminator's last layer, the style affines);
ProGAN's first generator layer, a dense layer to 4x4 maps, uses sqrt(2) / 4.
StyleGAN2 uses gain 1 in every weight and multiplies the lReLU's output by
sqrt(2) instead (its ``bias_act`` def_gain). Layers whose next operation is
a positively homogeneous activation differ between the two only in the
bias's scale.
"""
import math
from typing import Any, Sequence, Union

import flax.linen as nn
import jax.numpy as jnp

from genjax.nn.resample import STYLEGAN2_TAPS, resample_conv2d

SQRT2 = math.sqrt(2.0)


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def he_constant(fan_in, gain=SQRT2, lr_mul=1.0):
  """The run-time weight scale c = lr_mul * gain / sqrt(fan_in) (ProGAN sec. 4.1)."""
  return lr_mul * gain / math.sqrt(fan_in)


def equalized_init(lr_mul=1.0):
  """w ~ N(0, 1 / lr_mul**2): the stored weights of an equalised layer."""
  return nn.initializers.normal(stddev=1.0 / lr_mul)


class _Equalized(nn.Module):
  """Shared: the stored kernel and bias, and their effective (scaled) values."""

  def effective_params(self, kernel_shape, features):
    """(w_hat, b_hat or None): stored N(0, 1/lr_mul^2) weights times c; bias times lr_mul."""
    kernel = self.param("kernel", equalized_init(self.lr_mul), kernel_shape, jnp.float32)
    fan_in = math.prod(kernel_shape[:-1])
    w = kernel * he_constant(fan_in, self.gain, self.lr_mul)
    if not self.use_bias:
      return w, None
    bias = self.param("bias", nn.initializers.constant(self.bias_init), (features,),
                      jnp.float32)
    return w, bias * self.lr_mul


class EqualDense(_Equalized):
  """Dense layer on the last axis with an equalised learning rate (ProGAN sec. 4.1).

  Parameters ``kernel`` [in, features] ~ N(0, 1/lr_mul^2) and ``bias`` =
  bias_init; y = x @ (kernel * lr_mul * gain / sqrt(in)) + lr_mul * bias.
  """
  features: int
  gain: float = SQRT2
  lr_mul: float = 1.0
  use_bias: bool = True
  bias_init: float = 0.0

  @nn.compact
  def __call__(self, x):
    w, b = self.effective_params((x.shape[-1], self.features), self.features)
    y = x @ w.astype(x.dtype)
    return y if b is None else y + b.astype(x.dtype)


class EqualConv(_Equalized):
  """'same' conv (NHWC, odd kernel) with an equalised learning rate; optional 2x up/down.

  ``kernel`` [k,k,in,features] ~ N(0, 1/lr_mul^2) scaled by
  lr_mul * gain / sqrt(k*k*in). ``up=2`` / ``down=2`` resample with the FIR
  filter of ``taps`` as StyleGAN2's ``Conv2dLayer`` (``genjax.nn.resample.
  resample_conv2d``); with ``taps=(1, 1)`` the filter before a stride-2 conv is
  a 2x2 box (ProGAN's average pooling).
  """
  features: int
  kernel_size: Union[int, Sequence[int]] = 3
  up: int = 1
  down: int = 1
  taps: Sequence[float] = STYLEGAN2_TAPS
  gain: float = SQRT2
  lr_mul: float = 1.0
  use_bias: bool = True
  bias_init: float = 0.0
  impl: Any = None                      # genjax.nn.conv.conv2d's formulation

  @nn.compact
  def __call__(self, x):
    kh, kw = _pair(self.kernel_size)
    w, b = self.effective_params((kh, kw, x.shape[-1], self.features), self.features)
    y = resample_conv2d(x, w.astype(x.dtype), self.up, self.down, tuple(self.taps),
                        impl=self.impl)
    return y if b is None else y + b.astype(x.dtype)
