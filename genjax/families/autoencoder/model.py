"""Encoder and decoder networks and the two autoencoder models.

The networks only map images to vectors and back: a decoder outputs
``out_channels`` numbers per pixel and knows nothing of what they mean (see
``likelihoods.py``). Every conv goes through ``genjax.nn.Conv`` / ``UpConv``.
"""
from typing import Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from genjax.errors import unknown_name
from genjax.nn.conv import Conv, UpConv, check_divisible
from genjax.nn.mlp import MLP, get_activation

ARCHITECTURES = ("mlp", "conv")


class MLPEncoder(nn.Module):
  """Flatten -> MLP(hidden) -> Dense(outputs)."""
  hidden: Sequence[int]
  outputs: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    return MLP(self.hidden, self.activation, out_features=self.outputs)(x)


class ConvEncoder(nn.Module):
  """Stride-2 3x3 conv stages of widths ``channels`` -> flatten -> Dense(outputs).

  Each stage halves H and W, so H and W must be divisible by 2**len(channels).
  """
  channels: Sequence[int]
  outputs: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, x):
    act = get_activation(self.activation)
    for width in self.channels:
      x = act(Conv(width, (3, 3), strides=(2, 2))(x))
    return nn.Dense(self.outputs)(x.reshape(x.shape[0], -1))


class MLPDecoder(nn.Module):
  """MLP(hidden) -> Dense(H*W*out_channels) -> [B,H,W,out_channels].

  ``hidden`` is in decoder order (the encoder's reversed, when mirrored).
  """
  hidden: Sequence[int]
  image_shape: Tuple[int, int, int]
  out_channels: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, z):
    h, w = self.image_shape[:2]
    x = MLP(self.hidden, self.activation, out_features=h * w * self.out_channels)(z)
    return x.reshape(z.shape[0], h, w, self.out_channels)


class ConvDecoder(nn.Module):
  """Dense to the smallest map -> 2x UpConv stages -> [B,H,W,out_channels].

  Mirrors ``ConvEncoder`` with the same (encoder-order) ``channels``: the code
  becomes a (H/2^n, W/2^n, channels[-1]) map; each 2x ``UpConv`` stage goes to
  the previous stage's width (channels[-2], ..., channels[0]), and the last
  stage is the output layer: a sub-pixel conv straight to ``out_channels``
  at full resolution (Shi et al. 2016 use the sub-pixel conv as the output
  layer the same way), so no conv runs at full resolution over many channels.
  """
  channels: Sequence[int]
  image_shape: Tuple[int, int, int]
  out_channels: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, z):
    act = get_activation(self.activation)
    h, w = check_divisible(self.image_shape, len(self.channels))
    x = act(nn.Dense(h * w * self.channels[-1])(z)).reshape(-1, h, w, self.channels[-1])
    for width in reversed(self.channels[:-1]):
      x = act(UpConv(width, (3, 3))(x))
    return UpConv(self.out_channels, (3, 3), name="output")(x)


def make_encoder(architecture, outputs, hidden, channels, activation):
  """The encoder for ``architecture``: 'mlp' uses ``hidden``, 'conv' ``channels``."""
  if architecture == "mlp":
    return MLPEncoder(tuple(hidden), outputs, activation)
  if architecture == "conv":
    return ConvEncoder(tuple(channels), outputs, activation)
  raise unknown_name("architecture", architecture, ARCHITECTURES)


def make_decoder(architecture, image_shape, out_channels, hidden, channels, activation):
  """The decoder mirroring ``make_encoder``'s (``hidden`` given in encoder order)."""
  image_shape = tuple(image_shape)
  if architecture == "mlp":
    return MLPDecoder(tuple(reversed(hidden)), image_shape, out_channels, activation)
  if architecture == "conv":
    return ConvDecoder(tuple(channels), image_shape, out_channels, activation)
  raise unknown_name("architecture", architecture, ARCHITECTURES)


class Autoencoder(nn.Module):
  """Deterministic code: ``encode(x) -> z``, ``decode(z) -> per-pixel outputs``."""
  encoder: nn.Module
  decoder: nn.Module

  def encode(self, x):
    return self.encoder(x)

  def decode(self, z):
    return self.decoder(z)

  def __call__(self, x):
    return self.decode(self.encode(x))


class VAE(Autoencoder):
  """Gaussian code (Kingma & Welling 2014): ``encode(x) -> (mean, logvar)`` of q(z|x).

  The encoder network outputs 2 * latent_dim numbers; ``__call__`` decodes the
  mean (used for initialisation and deterministic reconstructions).
  """

  def encode(self, x):
    mean, logvar = jnp.split(self.encoder(x), 2, axis=-1)
    return mean, logvar

  def __call__(self, x):
    return self.decode(self.encode(x)[0])


def make_model(name, architecture, image_shape, latent_dim, out_channels, hidden=(),
               channels=(), activation="relu"):
  """``VAE`` for name 'vae', else an ``Autoencoder`` ('ae', 'dae'), from plain arguments."""
  if architecture == "conv":
    check_divisible(image_shape, len(channels))
  outputs = 2 * latent_dim if name == "vae" else latent_dim
  encoder = make_encoder(architecture, outputs, hidden, channels, activation)
  decoder = make_decoder(architecture, image_shape, out_channels, hidden, channels,
                         activation)
  cls = VAE if name == "vae" else Autoencoder
  return cls(encoder, decoder)
