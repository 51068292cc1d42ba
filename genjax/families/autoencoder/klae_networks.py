"""The KL autoencoder's networks: LDM's first stage and the PatchGAN critic.

``KLAutoencoder`` is the ``AutoencoderKL`` of Rombach et al. 2022 ("High-
Resolution Image Synthesis with Latent Diffusion Models", Sec. 3.1 and
Appendix G), with their ``Encoder`` / ``Decoder`` shape:
  encoder  conv_in; per level ``num_res_blocks`` ResNet blocks of width
           ch * ch_mult[level], a stride-2 3x3 conv between levels (LDM pads
           right and bottom by one, then a VALID conv); a middle (ResNet block,
           optional self-attention, ResNet block); GroupNorm, SiLU, conv_out
           to 2c channels; a 1x1 ``quant_conv``. Its output is the mean and
           the log-variance (clipped to [-30, 20]) of a diagonal Gaussian.
  decoder  a 1x1 ``post_quant_conv``; conv_in; the middle; per level (in
           reverse) ``num_res_blocks + 1`` ResNet blocks, a 2x nearest
           upsample + 3x3 conv between levels; GroupNorm, SiLU and the last
           layer ``decoder_out``, a 3x3 conv to the image's channels. Its
           kernel is G_L, the layer the adaptive weight of Esser et al. 2021
           (eq. 7) is taken at, so the decoder is split in ``decode_features``
           and ``output``.
len(ch_mult) levels have len(ch_mult) - 1 stride-2 steps: the downsampling
factor is f = 2 ** (len(ch_mult) - 1). The networks map [-1, 1] images to
latents and back; what the numbers mean is klae_losses.py's.

``PatchDiscriminator`` is the PatchGAN of Isola et al. 2017 (taming's
``NLayerDiscriminator``): 4x4 convs, ``num_layers`` of them of stride 2,
LeakyReLU(0.2), then two of stride 1, one logit per patch. Where taming has
BatchNorm it has GroupNorm (no running statistics in the state; per-example,
so real and fake batches can share one call). Convs start at N(0, 0.02) as
taming's ``weights_init``.
"""
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from genjax.nn.attention import SelfAttention
from genjax.nn.conv import Conv, upsample_nearest
from genjax.nn.norms import group_norm

LOGVAR_RANGE = (-30.0, 20.0)   # LDM's DiagonalGaussianDistribution clamp
LEAKY_SLOPE = 0.2
CRITIC_INIT = nn.initializers.normal(0.02)
CRITIC_KERNEL = (4, 4)


def normalised(x, name):
  """SiLU(GroupNorm(x)): LDM's ``nonlinearity(Normalize(x))``."""
  return nn.silu(group_norm(x, name=name))


class ResnetBlock(nn.Module):
  """x + conv(SiLU(norm(conv(SiLU(norm(x)))))), a 1x1 shortcut when the width changes."""
  features: int

  @nn.compact
  def __call__(self, x):
    h = Conv(self.features, (3, 3), name="conv_0")(normalised(x, "norm_0"))
    h = Conv(self.features, (3, 3), name="conv_1")(normalised(h, "norm_1"))
    if x.shape[-1] != self.features:
      x = Conv(self.features, (1, 1), name="shortcut")(x)
    return x + h


class Middle(nn.Module):
  """ResNet block, self-attention (one head, when ``attention``), ResNet block."""
  attention: bool

  @nn.compact
  def __call__(self, x):
    width = x.shape[-1]
    x = ResnetBlock(width, name="block_0")(x)
    if self.attention:
      x = SelfAttention(num_heads=1, zero_init_output=False, name="attention")(x)
    return ResnetBlock(width, name="block_1")(x)


class Encoder(nn.Module):
  """Images [B,H,W,C] in [-1, 1] -> [B, H/f, W/f, out_channels]."""
  ch: int
  ch_mult: Sequence[int]
  num_res_blocks: int
  attention: bool
  out_channels: int

  @nn.compact
  def __call__(self, x):
    h = Conv(self.ch, (3, 3), name="conv_in")(x)
    last = len(self.ch_mult) - 1
    for level, mult in enumerate(self.ch_mult):
      for block in range(self.num_res_blocks):
        h = ResnetBlock(self.ch * mult, name=f"down_{level}_block_{block}")(h)
      if level != last:
        h = Conv(h.shape[-1], (3, 3), strides=(2, 2), padding=((0, 1), (0, 1)),
                 name=f"down_{level}_downsample")(h)
    h = Middle(self.attention, name="middle")(h)
    return Conv(self.out_channels, (3, 3), name="conv_out")(normalised(h, "norm_out"))


class Decoder(nn.Module):
  """Latents [B, h, w, c] -> the last layer's input [B, H, W, ch * ch_mult[0]]."""
  ch: int
  ch_mult: Sequence[int]
  num_res_blocks: int
  attention: bool

  @nn.compact
  def __call__(self, z):
    h = Conv(self.ch * self.ch_mult[-1], (3, 3), name="conv_in")(z)
    h = Middle(self.attention, name="middle")(h)
    for level in reversed(range(len(self.ch_mult))):
      for block in range(self.num_res_blocks + 1):
        h = ResnetBlock(self.ch * self.ch_mult[level], name=f"up_{level}_block_{block}")(h)
      if level:
        h = Conv(h.shape[-1], (3, 3), name=f"up_{level}_upsample")(upsample_nearest(h))
    return normalised(h, "norm_out")


class KLAutoencoder(nn.Module):
  """``encode(x) -> (mean, logvar)``, ``decode(z) -> images`` (both in [-1, 1]
  units); ``decode = output . decode_features``, ``output`` the last layer."""
  ch: int
  ch_mult: Sequence[int]
  num_res_blocks: int
  attention: bool
  latent_channels: int
  image_channels: int

  def setup(self):
    c, levels = self.latent_channels, tuple(self.ch_mult)
    self.encoder = Encoder(self.ch, levels, self.num_res_blocks, self.attention, 2 * c)
    self.quant_conv = Conv(2 * c, (1, 1))
    self.post_quant_conv = Conv(c, (1, 1))
    self.decoder = Decoder(self.ch, levels, self.num_res_blocks, self.attention)
    self.decoder_out = Conv(self.image_channels, (3, 3))

  def encode(self, x):
    mean, logvar = jnp.split(self.quant_conv(self.encoder(x)), 2, axis=-1)
    return mean, jnp.clip(logvar, *LOGVAR_RANGE)

  def decode_features(self, z):
    return self.decoder(self.post_quant_conv(z))

  def output(self, features):
    return self.decoder_out(features)

  def decode(self, z):
    return self.output(self.decode_features(z))

  def __call__(self, x):
    return self.decode(self.encode(x)[0])


def critic_conv(features, strides, use_bias, name):
  """A 4x4 conv of the PatchGAN, padding 1, weights N(0, 0.02)."""
  return Conv(features, CRITIC_KERNEL, strides=strides, padding=1, use_bias=use_bias,
              kernel_init=CRITIC_INIT, name=name)


class PatchDiscriminator(nn.Module):
  """Images [B,H,W,C] in [-1, 1] -> patch logits [B, h', w', 1]."""
  channels: int = 64          # taming's ndf
  num_layers: int = 3         # taming's n_layers: the stride-2 convs

  @nn.compact
  def __call__(self, x):
    act = lambda h: nn.leaky_relu(h, LEAKY_SLOPE)
    h = act(critic_conv(self.channels, 2, True, "conv_0")(x))
    for n in range(1, self.num_layers + 1):
      width = self.channels * min(2 ** n, 8)
      strides = 2 if n < self.num_layers else 1
      h = critic_conv(width, strides, False, f"conv_{n}")(h)
      h = act(group_norm(h, name=f"norm_{n}"))
    return critic_conv(1, 1, True, "logits")(h)


def patch_size(size, num_layers):
  """The side of the PatchGAN's logit map for an input side ``size``: each
  stride-2 4x4 conv (padding 1) halves it (floor), the two stride-1 ones
  take one each."""
  for _ in range(num_layers):
    size //= 2
  return size - 2


def most_critic_layers(size):
  """The most stride-2 layers a PatchGAN of ``size`` x ``size`` inputs takes
  (its logit map at least 1 x 1)."""
  layers = 0
  while patch_size(size, layers + 1) >= 1:
    layers += 1
  return layers
