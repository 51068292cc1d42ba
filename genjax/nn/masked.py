"""Masked (causal) convolutions for autoregressive image models.

van den Oord et al. (2016), "Pixel Recurrent Neural Networks", sec. 3.4: an
autoregressive model p(x) = prod_i p(x_i | x_<i) over pixels in raster order,
and inside a pixel over the colour channels R -> G -> B, must let the output at
pixel (i, j), channel c, see only pixels before (i, j) and channels < c of
(i, j). A convolution keeps this when its kernel is masked:

  * taps above the centre row, and left of the centre in the centre row, are
    fully visible (those pixels come earlier in raster order);
  * taps right of the centre in the centre row, and every tap below, are zero;
  * at the centre tap the features are split into ``num_image_channels``
    groups (R, G, B); mask 'A' (first layer only) lets output group c see
    input groups < c, mask 'B' (every later layer) groups <= c.

Groups are contiguous blocks of features: feature k of n features belongs to
group ``k * num_image_channels // n``. With n = C * P this is group ``k // P``,
so an output layer of C*P features reshaped to [..., C, P] gives channel c the
logits of group c. ``num_splits`` handles layers whose outputs are several
equal blocks used side by side (the two halves of a gated unit, the four LSTM
gates): each block is grouped on its own.

Kernels are HWIO and every convolution goes through ``genjax.nn.conv.conv2d``.
"""
from typing import Any, Callable, Optional, Sequence, Union

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from genjax.nn.conv import conv2d

MASK_TYPES = ("A", "B")


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def channel_groups(num_features, num_image_channels):
  """The colour group (0 .. num_image_channels - 1) of each of ``num_features`` features.

  Contiguous blocks: feature k is in group ``k * num_image_channels // num_features``.
  """
  if num_features < num_image_channels:
    raise ValueError(
        f"{num_features} features cannot be split into {num_image_channels} colour "
        f"groups (every group needs at least one feature); use at least "
        f"{num_image_channels} features.")
  return (np.arange(num_features) * num_image_channels) // num_features


def causal_mask(kernel_h, kernel_w, in_channels, out_channels, mask_type,
                num_image_channels=1):
  """The float32 [kernel_h, kernel_w, in, out] (HWIO) mask of van den Oord et al. (2016), sec. 3.4.

  The centre tap is ((kernel_h - 1) // 2, (kernel_w - 1) // 2), the tap that
  'SAME' padding aligns with the output pixel. Taps in earlier rows, or left
  of the centre in the centre row, are 1; later taps 0; at the centre, output
  group c sees input groups < c (type 'A') or <= c (type 'B').
  """
  if mask_type not in MASK_TYPES:
    raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}.")
  ch, cw = (kernel_h - 1) // 2, (kernel_w - 1) // 2
  mask = np.zeros((kernel_h, kernel_w, in_channels, out_channels), np.float32)
  mask[:ch] = 1.0                      # rows above the centre
  mask[ch, :cw] = 1.0                  # left of the centre in the centre row
  g_in = channel_groups(in_channels, num_image_channels)
  g_out = channel_groups(out_channels, num_image_channels)
  if mask_type == "A":
    mask[ch, cw] = g_in[:, None] < g_out[None, :]
  else:
    mask[ch, cw] = g_in[:, None] <= g_out[None, :]
  return mask


def split_causal_mask(kernel_h, kernel_w, in_channels, out_channels, mask_type,
                      num_image_channels=1, num_splits=1):
  """``causal_mask`` for ``num_splits`` equal output blocks, each grouped R, G, B on its own."""
  if out_channels % num_splits:
    raise ValueError(f"{out_channels} output features do not split into {num_splits} "
                     f"equal blocks.")
  mask = causal_mask(kernel_h, kernel_w, in_channels, out_channels // num_splits,
                     mask_type, num_image_channels)
  return np.concatenate([mask] * num_splits, axis=-1)


class MaskedConv(nn.Module):
  """A 'SAME' stride-1 convolution whose HWIO kernel is multiplied by ``causal_mask``.

  Parameters ``kernel`` [kh, kw, in, features] and ``bias`` [features]; masked
  taps hold parameters that never receive gradient (the mask multiplies the
  kernel before the convolution). ``num_splits`` > 1 groups each of that many
  equal output blocks separately (gated units, LSTM gates).
  """
  features: int
  kernel_size: Union[int, Sequence[int]]
  mask_type: str
  num_image_channels: int = 1
  use_bias: bool = True
  num_splits: int = 1
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros
  impl: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    kh, kw = _pair(self.kernel_size)
    kernel = self.param("kernel", self.kernel_init,
                        (kh, kw, x.shape[-1], self.features), jnp.float32)
    mask = split_causal_mask(kh, kw, x.shape[-1], self.features, self.mask_type,
                             self.num_image_channels, self.num_splits)
    # The mask in the kernel's dtype (a bfloat16 compute dtype stays bfloat16).
    y = conv2d(x, kernel * mask.astype(kernel.dtype), (1, 1), "SAME", self.impl)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,), jnp.float32)
    return y


def down_shift(x, n=1):
  """[B, H, W, F] shifted down ``n`` rows (zeros enter at the top): row i gets row i - n."""
  if n == 0:
    return x
  return jnp.pad(x, ((0, 0), (n, 0), (0, 0), (0, 0)))[:, :x.shape[1]]


def right_shift(x, n=1):
  """[B, H, W, F] shifted right ``n`` columns (zeros enter on the left)."""
  if n == 0:
    return x
  return jnp.pad(x, ((0, 0), (0, 0), (n, 0), (0, 0)))[:, :, :x.shape[2]]
