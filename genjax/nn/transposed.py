"""Stride-2 transposed convolutions as sub-pixel convolutions, same parameters.

A PyTorch ``ConvTranspose2d(cin, cout, k, stride=2, padding=p,
output_padding=q)`` with k - 2p - 2 + q = 0 doubles H and W (pix2pix's U-Net
up-convs: k=4, p=1, q=0; CycleGAN's ResNet generator: k=3, p=1, q=1). Its
definition (the adjoint of a strided conv) is, per spatial axis,

    y[o] = sum_i x[i] w[o + p - 2 i],     0 <= o + p - 2 i < k.

Output o = 2 m + a (phase a in {0, 1}) reads x[m + t] through tap
k_idx = a + p - 2 t, so each phase is an ordinary (cross-correlation) conv of
x with a few taps: the sub-pixel convolution of Shi et al. (2016) with a
kernel scattered from w. ``TransposedConv`` stores w as [k, k, cin, cout]
(parameter count equal to PyTorch's), builds the sub-pixel kernel
[T, T, cin, 4 cout] from it at run time and runs it through ``conv.Conv``'s
conv2d and ``depth_to_space``: no ``nn.ConvTranspose``, whose backward is
~20x its forward on XLA:CPU (conv.py), and the fast CPU conv for free.
"""
from typing import Any, Callable, Optional

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from genjax.errors import ConfigError
from genjax.nn.conv import conv2d, depth_to_space


def phase_taps(kernel_size, padding):
  """{(phase a, offset t): tap index} of a stride-2 transposed conv, per axis."""
  taps = {}
  for a in (0, 1):
    for k_idx in range(kernel_size):
      if (a + padding - k_idx) % 2 == 0:
        taps[(a, (a + padding - k_idx) // 2)] = k_idx
  return taps


def check_doubles(kernel_size, padding, output_padding):
  """ConfigError unless the transposed conv maps H to exactly 2 H."""
  if kernel_size - 2 * padding - 2 + output_padding != 0 or not 0 <= output_padding < 2:
    raise ConfigError(
        f"A stride-2 transposed conv with kernel {kernel_size}, padding {padding} and "
        f"output_padding {output_padding} does not double the size (it needs "
        "kernel - 2 padding - 2 + output_padding = 0 with output_padding 0 or 1, "
        "e.g. kernel 4, padding 1, output_padding 0, or kernel 3, padding 1, "
        "output_padding 1).")


def subpixel_kernel(w, padding):
  """The [T, T, cin, 4 cout] sub-pixel kernel of transposed-conv weights
  ``w`` [k, k, cin, cout], with its offsets (t_min, t_max) per axis; output
  channel (2 a + b) cout + c is phase (a, b) of feature c (depth_to_space)."""
  k, _, cin, cout = w.shape
  taps = phase_taps(k, padding)
  offsets = sorted({t for _, t in taps})
  t_min, t_max = offsets[0], offsets[-1]
  size = t_max - t_min + 1
  # index arrays: gather w at the tap of each (row offset, col offset, phase)
  index = np.full((size, size, 2, 2, 2), -1)
  for (a, ty), ky in taps.items():
    for (b, tx), kx in taps.items():
      index[ty - t_min, tx - t_min, a, b] = (ky, kx)
  valid = jnp.asarray(index[..., 0] >= 0)
  gathered = w[np.maximum(index[..., 0], 0), np.maximum(index[..., 1], 0)]
  kernel = jnp.where(valid[..., None, None], gathered, 0)     # [T,T,2,2,cin,cout]
  kernel = kernel.transpose(0, 1, 4, 2, 3, 5).reshape(size, size, cin, 4 * cout)
  return kernel, (t_min, t_max)


def transposed_conv2d(x, w, padding, output_padding=0, impl=None):
  """PyTorch's stride-2 ``conv_transpose2d(x, w, stride=2, padding,
  output_padding)`` for NHWC ``x`` and w [k, k, cin, cout], without bias."""
  check_doubles(w.shape[0], padding, output_padding)
  kernel, (t_min, t_max) = subpixel_kernel(w, padding)
  pads = ((-t_min, t_max), (-t_min, t_max))
  return depth_to_space(conv2d(x, kernel, padding=pads, impl=impl), 2)


class TransposedConv(nn.Module):
  """A stride-2 transposed conv layer with PyTorch's parameters (module doc)."""
  features: int
  kernel_size: int = 4
  padding: int = 1
  output_padding: int = 0
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  impl: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    k = self.kernel_size
    w = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    y = transposed_conv2d(x, w.astype(x.dtype), self.padding, self.output_padding,
                          self.impl)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(y.dtype)
    return y
