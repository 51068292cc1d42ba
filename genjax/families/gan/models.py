"""GAN generators and discriminators: MLP GAN, DCGAN, a small SNGAN-style ResNet
(StyleGAN2's networks: stylegan2.py; StyleGAN's: stylegan.py).

Conventions (every network here):
  G(z [B, z_dim], labels int32 [B] or None, train) -> images [B, H, W, C] in [-1, 1]
  D(x [B, H, W, C], labels or None, train, update_stats) -> logits [B]
Variables: 'params' and 'batch_stats' (BatchNorm running statistics and,
with spectral norm, the power-iteration vectors u and sigma of
``flax.linen.SpectralNorm``; both are state the family keeps and checkpoints).

BatchNorm here normalises with the mean over the batch axis; under one global
``jax.jit`` with the batch sharded over a Mesh, XLA computes that mean over the
whole global batch (an all-reduce), so the statistics are global across
devices (tests/families/gan/test_family.py checks 1 vs 4 devices).

Conditioning (``num_classes > 0``):
  G  'concat'   one-hot label concatenated to z (Mirza & Osindero 2014, cGAN)
     'cbn'      conditional BatchNorm: class-dependent gain and bias after a
                parameter-free BatchNorm (de Vries et al. 2017; BigGAN, Brock et
                al. 2019, sec. 3); the label is also concatenated to z
  D  'concat'   one-hot label concatenated to D's input (as constant feature maps
                for images; Mirza & Osindero 2014)
     'projection'  logit = psi(phi(x)) + <embed(y), phi(x)> (Miyato & Koyama 2018, eq. 3)
Every convolution goes through ``genjax.nn.conv.Conv``; G upsamples with the
sub-pixel ``UpConv`` (a drop-in for a stride-2 transposed conv, much faster
backwards on XLA:CPU than ``nn.ConvTranspose``).
"""
from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError, check_choice
from genjax.families.gan import stylegan as stylegan_nets
from genjax.families.gan import progan as progan_nets
from genjax.families.gan import stylegan2 as stylegan2_nets
from genjax.nn.conv import Conv, UpConv, upsample_nearest

ARCHS = ("mlp", "dcgan", "resnet", "stylegan2", "stylegan", "progan")
G_CONDS = ("concat", "cbn")
D_CONDS = ("concat", "projection")
BN_MOMENTUM = 0.9


def check_cond(num_classes, g_cond, d_cond):
  """ConfigError (listing the valid names) for an unknown conditioning of a
  class-conditional model; an unconditional one uses neither."""
  if num_classes:
    check_choice("generator conditioning", g_cond, G_CONDS)
    check_choice("discriminator conditioning", d_cond, D_CONDS)


def base_size(image_shape, num_up, arch):
  """(h0, w0) with H = h0 * 2**num_up; ConfigError if the resolution cannot be built."""
  h, w = image_shape[:2]
  f = 2 ** num_up
  if h % f or w % f or h < f or w < f:
    raise ConfigError(
        f"The {arch} generator doubles the resolution {num_up} times (one per "
        f"entry of its channels tuple), so it builds images whose height and "
        f"width are multiples of {f}; image_shape {tuple(image_shape)} is not. "
        f"Use a channels tuple of another length or add a 'resize(H, W)' op to "
        f"data.preprocess (e.g. 25x25 faces -> resize(32)).")
  return h // f, w // f


def _one_hot(labels, num_classes):
  return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)


def _cat_label(z, labels, num_classes):
  if not num_classes:
    return z
  return jnp.concatenate([z, _one_hot(labels, num_classes)], axis=-1)


class Norm(nn.Module):
  """BatchNorm (Ioffe & Szegedy 2015), class-conditional when ``num_classes`` > 0.

  Conditional BatchNorm (BigGAN): y = (1 + gamma(c)) * BN(x) + beta(c), with
  gamma, beta class embeddings initialised to zero (so at init it is plain BN).
  """
  num_classes: int = 0

  @nn.compact
  def __call__(self, x, labels=None, train=True):
    cond = bool(self.num_classes) and labels is not None
    y = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                     use_scale=not cond, use_bias=not cond, name="bn")(x)
    if not cond:
      return y
    c = x.shape[-1]
    gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros,
                     name="gain")(labels)
    beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros,
                    name="bias")(labels)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
    return y * (1.0 + gamma.reshape(shape)) + beta.reshape(shape)


class SNDense(nn.Module):
  """Dense, spectrally normalised when ``sn`` (Miyato et al. 2018, eq. 8)."""
  features: int
  sn: bool = False

  @nn.compact
  def __call__(self, x, update_stats=False):
    layer = nn.Dense(self.features, name="dense")
    if self.sn:
      return nn.SpectralNorm(layer, name="sn")(x, update_stats=update_stats)
    return layer(x)


class SNConv(nn.Module):
  """``genjax.nn.conv.Conv``, spectrally normalised when ``sn``.

  The HWIO kernel is reshaped to [kh*kw*in, out] for the power iteration (as
  in the SNGAN reference code).
  """
  features: int
  kernel_size: Tuple[int, int] = (3, 3)
  strides: int = 1
  sn: bool = False
  use_bias: bool = True

  @nn.compact
  def __call__(self, x, update_stats=False):
    layer = Conv(self.features, self.kernel_size, strides=self.strides,
                 use_bias=self.use_bias, name="conv")
    if self.sn:
      return nn.SpectralNorm(layer, name="sn")(x, update_stats=update_stats)
    return layer(x)


class Head(nn.Module):
  """D's output from features phi [B, F]: psi(phi) (+ <embed(y), phi> for projection).

  Projection discriminator, Miyato & Koyama (2018) eq. 3:
      f(x, y) = psi(phi(x)) + y^T V phi(x),  V the class embedding.
  """
  num_classes: int = 0
  cond: str = "projection"
  sn: bool = False

  @nn.compact
  def __call__(self, phi, labels, update_stats):
    out = SNDense(1, self.sn, name="psi")(phi, update_stats)[:, 0]
    if self.num_classes and self.cond == "projection":
      embed = nn.Embed(self.num_classes, phi.shape[-1], name="embed")
      if self.sn:  # SNGAN-projection normalises V as well
        v = nn.SpectralNorm(embed, name="embed_sn")(labels, update_stats=update_stats)
      else:
        v = embed(labels)
      out = out + jnp.sum(v * phi, axis=-1)
    return out


def _label_maps(x, labels, num_classes):
  """One-hot labels as constant feature maps concatenated to NHWC ``x`` (cGAN)."""
  y = _one_hot(labels, num_classes)[:, None, None, :]
  y = jnp.broadcast_to(y, x.shape[:3] + (num_classes,))
  return jnp.concatenate([x, y], axis=-1)


# --------------------------------------------------------------------------
# MLP GAN (Goodfellow et al. 2014, as the source articles build it).


class MLPGenerator(nn.Module):
  """z -> [Linear + BatchNorm + ReLU] * len(hidden) -> Linear -> tanh -> image."""
  image_shape: Tuple[int, int, int]
  hidden: Sequence[int] = (256, 512, 1024)
  num_classes: int = 0
  cond: str = "concat"

  @nn.compact
  def __call__(self, z, labels=None, train=True):
    num_classes = self.num_classes
    h = _cat_label(z, labels, num_classes)
    for i, f in enumerate(self.hidden):
      h = nn.Dense(f, use_bias=False, name=f"fc{i}")(h)   # BN follows: no bias
      h = Norm(num_classes if self.cond == "cbn" else 0, name=f"norm{i}")(h, labels, train)
      h = nn.relu(h)
    size = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
    x = jnp.tanh(nn.Dense(size, name="out")(h))
    return x.reshape((z.shape[0],) + tuple(self.image_shape))


class MLPDiscriminator(nn.Module):
  """image -> flatten -> [Linear + LeakyReLU(0.2)] * len(hidden) -> Linear logit."""
  hidden: Sequence[int] = (512, 256)
  num_classes: int = 0
  cond: str = "projection"
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, labels=None, train=True, update_stats=False):
    del train  # no BatchNorm in the MLP discriminator
    num_classes = self.num_classes if labels is not None else 0
    h = x.reshape(x.shape[0], -1)
    if num_classes and self.cond == "concat":
      h = _cat_label(h, labels, num_classes)
    for i, f in enumerate(self.hidden):
      h = nn.leaky_relu(SNDense(f, self.spectral_norm, name=f"fc{i}")(h, update_stats), 0.2)
    head = Head(num_classes, self.cond, self.spectral_norm, name="head")
    return head(h, labels, update_stats)


# --------------------------------------------------------------------------
# DCGAN (Radford et al. 2016, sec. 3 "architecture guidelines").


class DCGANGenerator(nn.Module):
  """z -> Linear to [h0, w0, channels[0]] -> [2x UpConv + BN + ReLU] per channel -> conv -> tanh.

  ``channels`` lists the width after each 2x upsampling; h0 = H / 2**len(channels)
  (28x28: 7 -> 14 -> 28 with two entries; 32x32: 4 -> 8 -> 16 -> 32 with three).
  """
  image_shape: Tuple[int, int, int]
  channels: Sequence[int] = (128, 64)
  num_classes: int = 0
  cond: str = "concat"

  @nn.compact
  def __call__(self, z, labels=None, train=True):
    num_classes = self.num_classes if labels is not None else 0
    norm_classes = num_classes if self.cond == "cbn" else 0
    h0, w0 = base_size(self.image_shape, len(self.channels), "DCGAN")
    c0 = 2 * self.channels[0]
    # Layers followed by BatchNorm have no bias (BN removes it; its gradient
    # would be pure round-off, which Adam turns into lr-sized steps).
    h = nn.Dense(h0 * w0 * c0, use_bias=False, name="fc")(_cat_label(z, labels, num_classes))
    h = h.reshape(z.shape[0], h0, w0, c0)
    h = nn.relu(Norm(norm_classes, name="norm_in")(h, labels, train))
    for i, c in enumerate(self.channels):
      h = UpConv(c, (3, 3), use_bias=False, name=f"up{i}")(h)
      h = nn.relu(Norm(norm_classes, name=f"norm{i}")(h, labels, train))
    x = Conv(self.image_shape[-1], (3, 3), name="out")(h)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """[strided 4x4 conv (+ BN) + LeakyReLU(0.2)] per channel -> flatten -> linear logit.

  DCGAN puts no BatchNorm on D's first layer; ``batch_norm`` adds it to the others.
  """
  channels: Sequence[int] = (64, 128)
  num_classes: int = 0
  cond: str = "projection"
  spectral_norm: bool = False
  batch_norm: bool = False

  @nn.compact
  def __call__(self, x, labels=None, train=True, update_stats=False):
    num_classes = self.num_classes if labels is not None else 0
    concat = num_classes and self.cond == "concat"
    h = _label_maps(x, labels, num_classes) if concat else x
    for i, c in enumerate(self.channels):
      bn = self.batch_norm and i > 0
      h = SNConv(c, (4, 4), 2, self.spectral_norm, use_bias=not bn,
                 name=f"conv{i}")(h, update_stats)
      if bn:
        h = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                         name=f"bn{i}")(h)
      h = nn.leaky_relu(h, 0.2)
    h = h.reshape(h.shape[0], -1)
    head = Head(num_classes, self.cond, self.spectral_norm, name="head")
    return head(h, labels, update_stats)


# --------------------------------------------------------------------------
# Small ResNet G/D for 32x32 (SNGAN, Miyato et al. 2018, appendix B.4; BigGAN blocks).


def _avgpool2(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class GBlock(nn.Module):
  """BN-ReLU-up2-conv3-BN-ReLU-conv3 + (up2-conv1) shortcut; BN class-conditional with cbn."""
  features: int
  num_classes: int = 0

  @nn.compact
  def __call__(self, x, labels, train):
    h = nn.relu(Norm(self.num_classes, name="norm0")(x, labels, train))
    h = Conv(self.features, (3, 3), use_bias=False, name="conv0")(upsample_nearest(h))
    h = nn.relu(Norm(self.num_classes, name="norm1")(h, labels, train))
    h = Conv(self.features, (3, 3), name="conv1")(h)
    return h + Conv(self.features, (1, 1), name="skip")(upsample_nearest(x))


class DBlock(nn.Module):
  """(ReLU)-conv3-ReLU-conv3-avgpool + conv1-avgpool shortcut (the first block has no leading ReLU)."""
  features: int
  first: bool = False
  sn: bool = False

  @nn.compact
  def __call__(self, x, update_stats):
    h = x if self.first else nn.relu(x)
    h = SNConv(self.features, (3, 3), 1, self.sn, name="conv0")(h, update_stats)
    h = SNConv(self.features, (3, 3), 1, self.sn, name="conv1")(nn.relu(h), update_stats)
    skip = SNConv(self.features, (1, 1), 1, self.sn, name="skip")(x, update_stats)
    return _avgpool2(h) + _avgpool2(skip)


class ResNetGenerator(nn.Module):
  """z -> Linear to 4x4 -> GBlock per channel (2x each) -> BN-ReLU-conv3-tanh."""
  image_shape: Tuple[int, int, int]
  channels: Sequence[int] = (128, 128, 128)
  num_classes: int = 0
  cond: str = "cbn"

  @nn.compact
  def __call__(self, z, labels=None, train=True):
    num_classes = self.num_classes if labels is not None else 0
    norm_classes = num_classes if self.cond == "cbn" else 0
    h0, w0 = base_size(self.image_shape, len(self.channels), "ResNet")
    h = nn.Dense(h0 * w0 * self.channels[0], name="fc")(_cat_label(z, labels, num_classes))
    h = h.reshape(z.shape[0], h0, w0, self.channels[0])
    for i, c in enumerate(self.channels):
      h = GBlock(c, norm_classes, name=f"block{i}")(h, labels, train)
    h = nn.relu(Norm(0, name="norm_out")(h, None, train))
    return jnp.tanh(Conv(self.image_shape[-1], (3, 3), name="out")(h))


class ResNetDiscriminator(nn.Module):
  """DBlock per channel (each halves H, W) -> ReLU -> global sum pooling -> Head."""
  channels: Sequence[int] = (128, 128)
  num_classes: int = 0
  cond: str = "projection"
  spectral_norm: bool = True

  @nn.compact
  def __call__(self, x, labels=None, train=True, update_stats=False):
    del train
    num_classes = self.num_classes if labels is not None else 0
    concat = num_classes and self.cond == "concat"
    h = _label_maps(x, labels, num_classes) if concat else x
    for i, c in enumerate(self.channels):
      h = DBlock(c, first=i == 0, sn=self.spectral_norm, name=f"block{i}")(h, update_stats)
    h = jnp.sum(nn.relu(h), axis=(1, 2))
    head = Head(num_classes, self.cond, self.spectral_norm, name="head")
    return head(h, labels, update_stats)


def make_networks(arch, image_shape, *, g_hidden=(256, 512, 1024),
                  d_hidden=(512, 256), g_channels=(128, 64), d_channels=(64, 128),
                  num_classes=0, g_cond="cbn", d_cond="projection",
                  spectral_norm=False, d_batch_norm=False, stylegan2=None, progan=None):
  """(G, D) modules for ``arch`` in ARCHS, from plain arguments.

  ``g_hidden``/``d_hidden`` are the MLP widths; ``g_channels``/``d_channels``
  the conv widths (G: one entry per 2x upsampling; D: one per 2x downsampling);
  ``stylegan2``: StyleGAN2's settings (``stylegan2.make_networks``);
  ``progan``: ProGAN's (``progan.make_networks``).
  """
  check_choice("GAN architecture", arch, ARCHS)
  check_cond(num_classes, g_cond, d_cond)
  image_shape = tuple(int(d) for d in image_shape)
  if arch == "stylegan2":
    return stylegan2_nets.make_networks(image_shape, num_classes, stylegan2)
  if arch == "stylegan":
    return stylegan_nets.make_stylegan_networks(image_shape, num_classes, stylegan2)
  if arch == "progan":
    return progan_nets.make_networks(image_shape, num_classes, progan)
  if arch == "mlp":
    if d_batch_norm:
      raise ConfigError("model.d_batch_norm=True: the MLP discriminator has no "
                        "BatchNorm (the source articles' D); use arch 'dcgan'.")
    return (MLPGenerator(image_shape, tuple(g_hidden), num_classes, g_cond),
            MLPDiscriminator(tuple(d_hidden), num_classes, d_cond, spectral_norm))
  if arch == "dcgan":
    base_size(image_shape, len(g_channels), "DCGAN")
    return (DCGANGenerator(image_shape, tuple(g_channels), num_classes, g_cond),
            DCGANDiscriminator(tuple(d_channels), num_classes, d_cond,
                               spectral_norm, d_batch_norm))
  if d_batch_norm:
    raise ConfigError("model.d_batch_norm=True: the ResNet discriminator uses "
                      "spectral norm, not BatchNorm; set d_batch_norm=False.")
  base_size(image_shape, len(g_channels), "ResNet")
  h = image_shape[0]
  if h % (2 ** len(d_channels)):
    raise ConfigError(f"The ResNet discriminator halves H={h} {len(d_channels)} "
                      "times (one per d_channels entry); H must be divisible by "
                      f"{2 ** len(d_channels)}.")
  return (ResNetGenerator(image_shape, tuple(g_channels), num_classes, g_cond),
          ResNetDiscriminator(tuple(d_channels), num_classes, d_cond, spectral_norm))


def apply_with_stats(module, params, stats, *args, train, **kwargs):
  """``(output, new stats)`` of ``module``; ``stats`` ({} or {'batch_stats': ...})
  are updated (mutable) in training mode and passed through unchanged otherwise."""
  variables = {"params": params, **stats}
  if train and stats:
    out, new = module.apply(variables, *args, train=True, mutable=list(stats), **kwargs)
    return out, dict(new)
  return module.apply(variables, *args, train=train, **kwargs), stats
