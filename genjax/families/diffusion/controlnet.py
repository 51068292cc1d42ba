"""ControlNet's networks (Zhang, Rao & Agrawala 2023, "Adding Conditional
Control to Text-to-Image Diffusion Models"): a trainable copy of a U-Net's
encoder and middle block, a small condition encoder, and zero convolutions.

Sec. 3.1, eq. 2: y_c = F(x; Theta) + Z(F(x + Z(c; Theta_z1); Theta_c); Theta_z2),
where F(.; Theta) is the locked block, F(.; Theta_c) its trainable copy and Z
a 1x1 convolution whose weight and bias start at zero. Here (as in the
authors' code and diffusers' ``ControlNetModel``) the copy runs over the whole
down path and middle block once, the encoded condition is added after the
copy's input convolution, and one zero 1x1 conv per skip activation (and one
on the middle block) gives the residuals the locked U-Net adds to its skips
and middle (``UNet(..., residuals=(down, mid))``). At initialisation every
residual is exactly zero, so the controlled model is the locked one.

Parameter names of the copied parts equal the U-Net's (``conv_in``,
``down_*``, ``mid_*``, ``time_dense_*``, ``label_embed``, ``pooled_proj``):
``COPIED`` selects them to initialise the copy from the locked weights.
"""
import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from genjax.errors import ConfigError
from genjax.families.diffusion.unet import UNet, ZERO_INIT
from genjax.nn.attention import DEFAULT_INIT
from genjax.nn.conv import Conv

# The leaves of a ControlNet that are copies of the locked U-Net's.
COPIED = r"(conv_in|down_\d+_.*|mid_.*|time_dense_\d|label_embed|pooled_proj)/.*"


def control_factor(control_hw, denoiser_hw):
  """f = control size / the denoiser's input size (1 for pixel diffusion, the
  first stage's downsampling for latent diffusion): a power of 2, the same
  on both axes; a ConfigError otherwise."""
  (ch, cw), (h, w) = control_hw, denoiser_hw
  factor = ch // h
  if ch != factor * h or cw != factor * w or factor < 1 or factor & (factor - 1):
    raise ConfigError(
        f"ControlNet: a {ch}x{cw} control map cannot be brought to the denoiser's "
        f"{h}x{w} by stride-2 convolutions; its size must be a power-of-2 multiple "
        "of the denoiser's input on both axes (the images' size for pixel diffusion).")
  return factor


class HintEncoder(nn.Module):
  """The condition encoder E(c) (sec. 3.2): 3x3 convs with SiLU, one stride-2
  conv per halving of ``factor`` (16 -> 32 -> 96 -> 256 channels in Stable
  Diffusion's), then a zero-initialised 3x3 conv to ``features``."""
  channels: Sequence[int]
  features: int
  factor: int

  @nn.compact
  def __call__(self, c):
    widths = tuple(self.channels)
    h = nn.silu(Conv(widths[0], (3, 3), kernel_init=DEFAULT_INIT, name="conv_in")(c))
    for i in range(int(math.log2(self.factor))):
      width = widths[min(i + 1, len(widths) - 1)]
      h = nn.silu(Conv(width, (3, 3), strides=(2, 2), kernel_init=DEFAULT_INIT,
                       name=f"down_{i}")(h))
      h = nn.silu(Conv(width, (3, 3), kernel_init=DEFAULT_INIT, name=f"conv_{i}")(h))
    return Conv(self.features, (3, 3), kernel_init=ZERO_INIT, name="zero_out")(h)


class ControlNet(UNet):
  """``__call__(x, t, control, labels=None, train=False, context=None,
  context_mask=None, pooled=None)`` -> (down residuals, mid residual) for
  ``UNet(..., residuals=...)`` of the same fields. ``control`` [B, fH, fW, C]
  is the condition map at f times the denoiser's input size."""
  hint_channels: Sequence[int] = (16, 32, 96, 256)

  @nn.compact
  def __call__(self, x, t, control, labels=None, train=False, context=None,
               context_mask=None, pooled=None):
    factor = control_factor(control.shape[1:3], x.shape[1:3])
    hint = HintEncoder(self.hint_channels, self.ch, factor, name="hint")(control)
    context = None if context is None else (context, context_mask)
    hs, emb = self.encode(x, t, labels, train, context, pooled, hint=hint)
    mid = self.middle(hs[-1], emb, train, context)
    zero = lambda h, name: nn.Dense(h.shape[-1], kernel_init=ZERO_INIT, name=name)(h)
    down = tuple(zero(h, f"zero_{i}") for i, h in enumerate(hs))
    return down, zero(mid, "zero_mid")


def scaled(residuals, scale):
  """ControlNet residuals times the conditioning scale (a float or [B])."""
  down, mid = residuals
  s = lambda r: r * jnp.reshape(jnp.asarray(scale, r.dtype), (-1,) + (1,) * (r.ndim - 1))
  return tuple(s(r) for r in down), s(mid)


def summed(all_residuals, weights):
  """Multi-ControlNet: sum_k w_k residuals_k (diffusers' MultiControlNetModel)."""
  parts = [scaled(r, w) for r, w in zip(all_residuals, weights)]
  down = tuple(sum(rs) for rs in zip(*(p[0] for p in parts)))
  return down, sum(p[1] for p in parts)
