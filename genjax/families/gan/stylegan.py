"""StyleGAN's generator (Karras et al. 2019, "A Style-Based Generator
Architecture for Generative Adversarial Networks"), ``model.arch='stylegan'``.

Only the synthesis network is StyleGAN's own; the rest is shared with
StyleGAN2 (``stylegan2.py``): the mapping network z -> w (sec. 2, 8 layers,
lr multiplier 0.01; StyleGAN2's keeps the sqrt(2) gain after the lReLU instead
of in the weights, which differs only in the scale of the biases), w_avg,
style mixing (sec. 3.1), truncation in w with StyleGAN's optional cutoff
(``sample.w_truncation_cutoff``, app. B), and the discriminator, StyleGAN2's
with ``architecture='orig'`` (ProGAN's D at a fixed resolution).

Synthesis (fig. 1b; the reference's ``G_synthesis`` with ``structure='fixed'``):
  4x4      a learned constant [4, 4, C] (initialised to ones, shared by the
           batch) -> epilogue(ws[0]); conv 3x3 -> epilogue(ws[1])
  R_k      (k >= 1, R_k = 4 * 2^k) up-conv 3x3 -> epilogue(ws[2k]);
           conv 3x3 -> epilogue(ws[2k + 1])
  toRGB    a 1x1 conv (gain 1) at the final resolution only: no skips and no
           progressive growing (the paper's FFHQ results grow progressively;
           the reference's 'fixed' structure is this network)
  epilogue noise (one N(0, 1) image per sample times a learned per-channel
           strength, initialised to 0), bias, lReLU(0.2), instance norm and
           the style: AdaIN(x, y) = y_s (x - mu(x)) / sigma(x) + y_b (eq. 1),
           y = A(w), A an affine layer with gain 1, y_s = 1 + its first half
           (``genjax.nn.style.AdaIN``)
The up-conv is the reference's nearest-neighbour 2x upsampling, conv 3x3 and
blur [1, 2, 1] in one: nearest upsampling is zero insertion followed by the
filter [1, 1], and [1, 1] * [1, 2, 1] = [1, 3, 3, 1], so it is ``EqualConv``'s
up=2 with StyleGAN2's filter (the filter and the conv commute; only border
pixels differ, by where the zero padding falls). Convolutions have
equalised learning rate with He's gain sqrt(2) in the weights (ProGAN's and
StyleGAN's convention), the lReLU no gain. There is no tanh.

Channels at resolution r: min(channel_base // r, channel_max); the paper's
(``fmap_base`` 8192: nf(log2 r - 1)) is channel_base 16384, channel_max 512.
ws: 2 log2(R) - 2 (18 at 1024), one per layer, toRGB reads none. Noise: with
a ``noise`` rng stream (training, ``sample``) drawn per sample, else the
fixed image of each layer (``stylegan2.const_noise``), as StyleGAN2's.
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.families.gan.stylegan2 import (LRELU_SLOPE, StyleGAN2Generator,
                                           block_resolutions, channels_at,
                                           const_noise, make_networks)
from genjax.nn.equalized import EqualConv
from genjax.nn.style import AdaIN, NoiseInjection


def layer_ws(k):
  """The ws indices of block k's two layers: (2k, 2k + 1)."""
  return 2 * k, 2 * k + 1


class LayerEpilogue(nn.Module):
  """Noise (per-channel strength), bias, lReLU(0.2), instance norm, AdaIN of w
  (the reference's ``layer_epilogue``); ``index``: its ws index."""
  index: int

  @nn.compact
  def __call__(self, x, w):
    noise = None if self.has_rng("noise") else const_noise(self.index, x.shape[1:3], x.dtype)
    x = NoiseInjection(per_channel=True, name="noise")(x, noise)
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],), jnp.float32)
    x = jax.nn.leaky_relu(x + bias.astype(x.dtype), LRELU_SLOPE)
    return AdaIN(name="adain")(x, w)


class SynthesisBlock(nn.Module):
  """Block k: (the constant | an up-conv) and a conv, each with its epilogue.
  ``ws`` [B, 2, D]: the block's two styles (``layer_ws``)."""
  features: int
  k: int
  impl: Any = None

  @nn.compact
  def __call__(self, x, ws):
    first, second = layer_ws(self.k)
    conv = lambda name, up: EqualConv(self.features, 3, up=up, use_bias=False,
                                      impl=self.impl, name=name)
    if self.k == 0:
      const = self.param("const", nn.initializers.ones, (4, 4, self.features), jnp.float32)
      x = jnp.broadcast_to(const.astype(ws.dtype), (ws.shape[0], 4, 4, self.features))
    else:
      x = conv("conv0", 2)(x)
    x = LayerEpilogue(first, name="epilogue0")(x, ws[:, 0])
    x = conv("conv1", 1)(x)
    return LayerEpilogue(second, name="epilogue1")(x, ws[:, 1])


class SynthesisNetwork(nn.Module):
  """ws [B, num_ws, w_dim] -> images [B, R, R, C] (the module doc)."""
  resolution: int
  image_channels: int
  channel_base: int = 16384
  channel_max: int = 512
  impl: Any = None

  @nn.compact
  def __call__(self, ws):
    x = None
    for k, res in enumerate(block_resolutions(self.resolution)):
      first, _ = layer_ws(k)
      block = SynthesisBlock(channels_at(res, self.channel_base, self.channel_max), k,
                             self.impl, name=f"b{res}")
      x = block(x, ws[:, first:first + 2])
    return EqualConv(self.image_channels, 1, gain=1.0, impl=self.impl, name="torgb")(x)


class StyleGANGenerator(StyleGAN2Generator):
  """StyleGAN2's G (mapping, w_avg, mixing, truncation: ``styles``) with
  StyleGAN's synthesis network (``synthesize``)."""

  def synthesis_network(self):
    return SynthesisNetwork(self.image_shape[0], self.image_shape[2], self.channel_base,
                            self.channel_max, self.impl)


def make_stylegan_networks(image_shape, num_classes, s):
  """(G, D) of ``image_shape`` from StyleGAN2Settings ``s``: StyleGAN's G and
  StyleGAN2's D of ``s.d_architecture`` ('orig' for StyleGAN)."""
  return make_networks(image_shape, num_classes, s, generator_cls=StyleGANGenerator)
