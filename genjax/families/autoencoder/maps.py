"""Encoders and decoders between images and spatial code maps (VQ-VAE).

van den Oord et al. 2017, sec. 4.1: the encoder is stride-2 4x4 convolutions
(one per entry of ``channels``, each halving H and W), a 3x3 conv, residual
blocks (ReLU, 3x3 conv, ReLU, 1x1 conv), and a 1x1 conv to the code dimension
D; the decoder mirrors it with 2x sub-pixel up-convolutions (``UpConv``) in
place of transposed convolutions. VQ-VAE-2 (Razavi et al. 2019) stacks two
such maps. Every conv goes through ``genjax.nn.Conv`` / ``UpConv``.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.conv import Conv, UpConv


class ResidualStack(nn.Module):
  """``num_blocks`` x (x + 1x1(ReLU(3x3(ReLU(x))))), then ReLU (sec. 4.1)."""
  num_blocks: int
  hidden: int

  @nn.compact
  def __call__(self, x):
    for block in range(self.num_blocks):
      y = Conv(self.hidden, (3, 3), name=f"block_{block}_conv3")(nn.relu(x))
      x = x + Conv(x.shape[-1], (1, 1), name=f"block_{block}_conv1")(nn.relu(y))
    return nn.relu(x)


class MapEncoder(nn.Module):
  """[B,H,W,C] -> z_e [B, H/2^n, W/2^n, code_dim], n = len(channels)."""
  channels: Sequence[int]
  code_dim: int
  res_blocks: int = 2
  res_hidden: int = 32

  @nn.compact
  def __call__(self, x):
    for stage, width in enumerate(self.channels):
      x = Conv(width, (4, 4), strides=(2, 2), name=f"down_{stage}")(x)
      x = nn.relu(x) if stage + 1 < len(self.channels) else x
    x = Conv(self.channels[-1], (3, 3), name="conv_mid")(x)
    x = ResidualStack(self.res_blocks, self.res_hidden, name="res")(x)
    return Conv(self.code_dim, (1, 1), name="to_code")(x)


class MapDecoder(nn.Module):
  """z_q [B, h, w, code_dim] -> [B, h*2^n, w*2^n, out_channels] logits."""
  channels: Sequence[int]
  out_channels: int
  res_blocks: int = 2
  res_hidden: int = 32

  @nn.compact
  def __call__(self, z):
    x = Conv(self.channels[-1], (3, 3), name="conv_in")(z)
    x = ResidualStack(self.res_blocks, self.res_hidden, name="res")(x)
    for stage, width in enumerate(reversed(self.channels[:-1])):
      x = nn.relu(UpConv(width, (3, 3), name=f"up_{stage}")(x))
    return UpConv(self.out_channels, (3, 3), name="output")(x)


class VQVAE(nn.Module):
  """Encoder and decoder of a VQ-VAE; the quantiser between them is quantize.py.

  ``learned_codebook``: the codebook [K, D] is the parameter ``codebook``
  (trained by the codebook loss); otherwise the family keeps it in the model
  state (the EMA codebook) and this module has none.
  """
  encoder: nn.Module
  decoder: nn.Module
  num_codes: int
  code_dim: int
  learned_codebook: bool

  def setup(self):
    if self.learned_codebook:
      self.codebook = self.param("codebook", codebook_init,
                                 (self.num_codes, self.code_dim))

  def encode(self, x):
    return self.encoder(x)

  def decode(self, z):
    return self.decoder(z)

  def learned_codes(self):
    return self.codebook

  def __call__(self, x):
    return self.decode(self.encode(x))


def codebook_init(key, shape, dtype=jnp.float32):
  """A fresh codebook [K, D], uniform in +-sqrt(3 / D): variance 1 / D per
  component, unit expected squared norm (sonnet's VectorQuantizer init)."""
  limit = (3.0 / shape[-1]) ** 0.5
  return jax.random.uniform(key, shape, dtype, -limit, limit)


def make_vqvae(image_shape, channels, vq):
  """The VQ-VAE of ``vq`` (vq_steps.VQSettings) for images of ``image_shape``:
  its decoder emits one logit per sub-pixel (image = sigmoid)."""
  encoder = MapEncoder(tuple(channels), vq.code_dim, vq.res_blocks, vq.res_hidden)
  decoder = MapDecoder(tuple(channels), image_shape[-1], vq.res_blocks, vq.res_hidden)
  return VQVAE(encoder, decoder, vq.num_codes, vq.code_dim, vq.learned)
