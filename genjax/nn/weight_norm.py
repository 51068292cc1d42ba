"""Weight normalisation with data-dependent init (Salimans & Kingma 2016).

Weight normalisation (their eq. 2) writes each output unit's weight vector as

    w = g * v / ||v||,

a direction ``v`` and a length ``g``; here the norm runs over every axis of the
kernel but the last (output) one, so each output channel has its own g.

Data-dependent initialisation (their sec. 3): when the layer is initialised on
a real minibatch (``self.is_initializing()``), the pre-activations
t = v . x / ||v|| are computed with the freshly drawn direction, and g and b are
set to

    g = init_scale / sqrt(Var[t]),    b = -E[t] * g,

(moments per output channel over batch and space), so that on that batch the
layer's output g t + b has mean 0 and variance ``init_scale**2`` per channel.
Initialising the whole network this way, layer after layer, gives every layer
standardised inputs. A constant batch (e.g. all zeros) gives Var[t] ~ 0 and
huge g: initialise on real data, or set ``data_init=False`` (g = 1, b = 0,
i.e. unit-norm filters).

Layers: ``WNConv`` (through ``genjax.nn.conv.conv2d``), ``WNDense`` (on the last
axis; a 1x1 "network-in-network" layer on images), and ``WNConvTranspose``, a
stride-s 'VALID' transposed convolution computed as ONE stride-1 ``conv2d`` to
s*s*features channels plus depth-to-space (the sub-pixel form of Shi et al.
2016; ``conv_transpose_subpixel``): flax's ``nn.ConvTranspose`` backward is
~20x its forward on XLA:CPU (see ``genjax/nn/conv.py``).
"""
from typing import Optional, Sequence, Union

import flax.linen as nn
import jax.numpy as jnp

from genjax.nn.conv import Padding, conv2d, depth_to_space

# Salimans & Kingma's reference code draws v ~ N(0, 0.05^2); only its direction matters.
V_INIT = nn.initializers.normal(0.05)
INIT_EPS = 1e-6     # added to Var[t] in the data-dependent init (reference code: 1e-8)


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def weight_norm(v, g):
  """w = g * v / ||v|| (Salimans & Kingma 2016, eq. 2); norm over all axes but the last."""
  axes = tuple(range(v.ndim - 1))
  # ||v|| summed in float32 whatever v's dtype (a bfloat16 compute dtype).
  norm = jnp.sqrt(jnp.sum(jnp.square(v.astype(jnp.float32)), axis=axes))
  return v * (g / norm).astype(v.dtype)


def data_dependent_scale_bias(t, init_scale=1.0, eps=INIT_EPS):
  """(g, b) with g t + b of mean 0, std ``init_scale`` per channel (last axis) of ``t``.

  Salimans & Kingma (2016), sec. 3: g = init_scale / sqrt(Var[t]), b = -E[t] g.
  """
  axes = tuple(range(t.ndim - 1))
  mean = jnp.mean(t, axis=axes)
  var = jnp.mean(jnp.square(t - mean), axis=axes)
  g = init_scale / jnp.sqrt(var + eps)
  return g, -mean * g


class _WeightNormed(nn.Module):
  """Shared logic: parameters v, g, b; the layer is op(w) + b with w = g v/||v||."""

  def wn_apply(self, op, v_shape, features, init_scale, data_init):
    """op(g v/||v||) + b for ``op`` linear in the kernel; g, b data-dependent at init."""
    v = self.param("v", V_INIT, v_shape, jnp.float32)
    if data_init and self.is_initializing():
      # The pre-activations t of the unit-norm direction on this batch (sec. 3).
      t = op(weight_norm(v, jnp.ones((features,), v.dtype)))
      g0, b0 = data_dependent_scale_bias(t, init_scale)
      g = self.param("g", lambda *_: g0, (features,), jnp.float32)
      b = self.param("b", lambda *_: b0, (features,), jnp.float32)
      return t * g + b          # = op(g v/||v||) + b, op being linear in the kernel
    g = self.param("g", nn.initializers.ones, (features,), jnp.float32)
    b = self.param("b", nn.initializers.zeros, (features,), jnp.float32)
    return op(weight_norm(v, g)) + b


class WNConv(_WeightNormed):
  """Weight-normalised 2-d conv (NHWC; kernel v [kh,kw,cin,features], HWIO)."""
  features: int
  kernel_size: Union[int, Sequence[int]] = (3, 3)
  strides: Union[int, Sequence[int]] = (1, 1)
  padding: Padding = "SAME"
  init_scale: float = 1.0
  data_init: bool = True
  impl: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    kh, kw = _pair(self.kernel_size)
    conv = lambda k: conv2d(x, k, self.strides, self.padding, self.impl)
    return self.wn_apply(conv, (kh, kw, x.shape[-1], self.features), self.features,
                         self.init_scale, self.data_init)


class WNDense(_WeightNormed):
  """Weight-normalised dense layer on the last axis (v [cin, features])."""
  features: int
  init_scale: float = 1.0
  data_init: bool = True

  @nn.compact
  def __call__(self, x):
    dense = lambda k: x @ k
    return self.wn_apply(dense, (x.shape[-1], self.features), self.features,
                         self.init_scale, self.data_init)


def conv_transpose_subpixel(x, kernel, stride=2, impl=None):
  """Stride-s 'VALID' transposed conv: out[s*i + a, s*j + b] += x[i, j] @ kernel[a, b].

  x [B,H,W,cin], kernel [kh,kw,cin,cout] -> [B, s(H-1)+kh, s(W-1)+kw, cout]
  (TensorFlow's ``conv2d_transpose`` with 'VALID' padding, kernel transposed to
  HWIO). Computed as one stride-1 ``conv2d`` and depth-to-space: output row
  s*q + r sums kernel rows a = r + s*t times input rows q - t (t = 0..T-1,
  T = ceil(kh/s)), a stride-1 conv whose tap u = T-1-t carries, in output
  channel group r, kernel row r + s*t (zero past kh); the same for columns.
  """
  s = stride
  kh, kw, cin, cout = kernel.shape
  _, h, w, _ = x.shape
  th, tw = -(-kh // s), -(-kw // s)
  k = jnp.pad(kernel, ((0, s * th - kh), (0, s * tw - kw), (0, 0), (0, 0)))
  k = k.reshape(th, s, tw, s, cin, cout)[::-1, :, ::-1]       # [u, r_h, v, r_w, cin, cout]
  # depth_to_space takes channel (r_h*s + r_w)*cout + c to sub-pixel (r_h, r_w).
  k = k.transpose(0, 2, 4, 1, 3, 5).reshape(th, tw, cin, s * s * cout)
  z = conv2d(x, k, (1, 1), ((th - 1, th - 1), (tw - 1, tw - 1)), impl)
  return depth_to_space(z, s)[:, :s * (h - 1) + kh, :s * (w - 1) + kw]


class WNConvTranspose(_WeightNormed):
  """Weight-normalised stride-s 'VALID' transposed conv (``conv_transpose_subpixel``).

  v [kh,kw,cin,features]; output [B, s(H-1)+kh, s(W-1)+kw, features]; callers
  crop it (PixelCNN++'s shifted deconvs keep a causal [2H, 2W] window).
  """
  features: int
  kernel_size: Union[int, Sequence[int]] = (2, 2)
  stride: int = 2
  init_scale: float = 1.0
  data_init: bool = True
  impl: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    kh, kw = _pair(self.kernel_size)
    deconv = lambda k: conv_transpose_subpixel(x, k, self.stride, self.impl)
    return self.wn_apply(deconv, (kh, kw, x.shape[-1], self.features), self.features,
                         self.init_scale, self.data_init)
