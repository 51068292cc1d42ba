"""ProGAN's generator and discriminator (Karras et al. 2018, "Progressive
Growing of GANs for Improved Quality, Stability, and Variation"), built from
``genjax.nn``'s pieces, with every level built at once.

Levels l = 0..L of resolution 4 * 2^l (L = log2(R) - 2 for data of side R).
Channels at level l: nf(l + 1) with nf(stage) = min(fmap_base / 2^stage,
fmap_max) (the reference's ``nf``, fmap_decay 1; CelebA-HQ: fmap_base 8192,
fmap_max 512: 512 up to 32x32, then 256, 128, 64, 32, 16 at 1024).

Generator (Table 2, top; sec. 4.1-4.2): z -> pixel norm -> dense to 4x4 maps
(the paper's "conv 4x4" on a 1x1 input; gain sqrt(2) / 4 and one bias per
channel, as the reference) -> lReLU(0.2) -> pixel norm -> conv 3x3; then per
level an upsampling block: nearest 2x, two convs 3x3; every conv followed by
lReLU(0.2) and pixel norm; a toRGB (1x1, linear, gain 1) at every level.
Fade-in (sec. 2, fig. 2): level l at alpha shows
    lerp(upsample(toRGB_{l-1}(h_{l-1})), toRGB_l(h_l), alpha),
nearest-upsampled to R x R, so every level's image has the data's shape.
Discriminator (Table 2, bottom): fromRGB (1x1 + lReLU) at every level; per
level l >= 1 a block conv 3x3 (nf(l+1)), conv 3x3 (nf(l)), 2x average pooling;
at 4x4 minibatch stddev (sec. 3), conv 3x3, a dense layer on the 4x4 maps (the
paper's "conv 4x4") to nf(0), a dense layer to 1. At level l the input is
average-pooled to 4 * 2^l and enters through fromRGB_l; in the fade the
features at 4 * 2^(l-1) are lerp(fromRGB_{l-1}(avgpool(x_l)), block_l(h_l), alpha).

The current ``level`` (int32) and ``alpha`` (float32, in [0, 1]; 1 at level 0
and once a fade is over) are variables of the collection 'progress' of both
networks: the family writes them from the images seen (progan_family.py), so
the networks' shapes never change and growing never recompiles. Every level's
path is computed and the current one chosen with ``jnp.where`` (the
reference's 'linear' structure); ``lerp`` below is exact at alpha 0 and 1, so
a grown G at alpha 0 gives exactly the previous level's image, upsampled.
"""
from typing import Any, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError
from genjax.nn.conv import upsample_nearest
from genjax.nn.equalized import SQRT2, EqualConv, EqualDense
from genjax.nn.resample import downsample2d
from genjax.nn.style import minibatch_stddev, pixel_norm

LRELU_SLOPE = 0.2
BOX_TAPS = (1, 1)       # 2x2 average pooling through downsample2d
PROGRESS = "progress"   # the variable collection of the current level and alpha


def max_level(image_shape):
  """L of square data of side R = 4 * 2^L; else a one-paragraph ConfigError."""
  h, w = int(image_shape[0]), int(image_shape[1])
  if h != w or h < 4 or h % 4 or (h // 4) & (h // 4 - 1):
    raise ConfigError(
        "model.arch='progan' grows square images from 4x4, doubling the side "
        "once per level, so the data's side must be 4 * 2^k (4, 8, 16, 32, ..., "
        f"1024). model.image_shape {tuple(image_shape)} is not such a size. Pad "
        "or resize the data in data.preprocess (28x28 MNIST -> 'pad(2)' gives "
        "32x32; others 'resize(R)') and set model.image_shape to (R, R, C).")
  return (h // 4).bit_length() - 1


def nf(stage, fmap_base, fmap_max):
  """Feature maps of stage s: min(fmap_base / 2^s, fmap_max) (the reference's nf)."""
  return min(int(fmap_base / 2.0 ** stage), fmap_max)


def lrelu(x):
  return jax.nn.leaky_relu(x, LRELU_SLOPE)


def lerp(a, b, t):
  """(1 - t) a + t b: exactly a at t = 0 and exactly b at t = 1 (finite a, b)."""
  return (1.0 - t) * a + t * b


def avgpool(x):
  """2x2 average pooling [B,H,W,C] -> [B,H/2,W/2,C] (ProGAN's downscaling)."""
  return downsample2d(x, BOX_TAPS)


def pyramid(x, levels):
  """[x at level 0, ..., x at level ``levels``]: x (level ``levels``) and its
  repeated 2x average poolings."""
  out = [x]
  for _ in range(levels):
    out.append(avgpool(out[-1]))
  return out[::-1]


def progress_variables(module):
  """(level, alpha) of the 'progress' collection: level 0, alpha 1 at init."""
  level = module.variable(PROGRESS, "level", lambda: jnp.zeros((), jnp.int32))
  alpha = module.variable(PROGRESS, "alpha", lambda: jnp.ones((), jnp.float32))
  return level.value, alpha.value


def select_level(candidates, level):
  """candidates[level] for a traced int ``level`` (an exact select)."""
  out = candidates[0]
  for i, candidate in enumerate(candidates[1:], start=1):
    out = jnp.where(level == i, candidate, out)
  return out


def grown_images(images, level, alpha):
  """The generator's output [B, R, R, C] from the toRGB image of every level
  (``images[l]`` at 4 * 2^l): the current level's, faded in by alpha, nearest-
  upsampled to full size (sec. 2, fig. 2)."""
  top = len(images) - 1
  candidates = [upsample_nearest(images[0], 2 ** top)]
  for l in range(1, top + 1):
    faded = lerp(upsample_nearest(images[l - 1]), images[l], alpha)
    candidates.append(upsample_nearest(faded, 2 ** (top - l)))
  return select_level(candidates, level)


def level_images(x, level, alpha, top):
  """Real images [B, R, R, C] as D sees them at (level, alpha): average-pooled
  to 4 * 2^level, in the fade lerped with their further-pooled copy (upsampled),
  then nearest-upsampled back to R x R (the reference's ``process_reals``)."""
  return grown_images(pyramid(x, top), level, alpha)


class ConvAct(nn.Module):
  """Equalised-lr conv (gain sqrt(2)), lReLU(0.2), and pixel norm in G."""
  features: int
  kernel_size: int = 3
  normalize: bool = True
  impl: Any = None

  @nn.compact
  def __call__(self, x):
    x = lrelu(EqualConv(self.features, self.kernel_size, impl=self.impl, name="conv")(x))
    return pixel_norm(x) if self.normalize else x


class LatentBlock(nn.Module):
  """G's 4x4 block: z -> pixel norm -> dense to 4x4 x features (gain sqrt(2)/4,
  a bias per channel) -> lReLU -> pixel norm -> conv 3x3."""
  features: int
  impl: Any = None

  @nn.compact
  def __call__(self, z):
    x = EqualDense(16 * self.features, gain=SQRT2 / 4, use_bias=False, name="dense")(
        pixel_norm(z))
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    x = x.reshape(z.shape[0], 4, 4, self.features) + bias.astype(x.dtype)
    x = pixel_norm(lrelu(x))
    return ConvAct(self.features, impl=self.impl, name="conv")(x)


class UpBlock(nn.Module):
  """G's block of one level: nearest 2x upsampling, two convs 3x3."""
  features: int
  impl: Any = None

  @nn.compact
  def __call__(self, x):
    x = ConvAct(self.features, impl=self.impl, name="conv0")(upsample_nearest(x))
    return ConvAct(self.features, impl=self.impl, name="conv1")(x)


class ProGANGenerator(nn.Module):
  """G(z [B, z_dim], labels, train) -> images [B, R, R, C] at the current
  level and alpha (the module doc). ``all_levels`` returns the toRGB image of
  every level instead."""
  image_shape: Tuple[int, int, int]
  fmap_base: int = 8192
  fmap_max: int = 512
  impl: Any = None

  def level_images(self, z):
    """[toRGB_l(h_l) at 4 * 2^l for l = 0..L]."""
    ch = lambda l: nf(l + 1, self.fmap_base, self.fmap_max)
    to_rgb = lambda l: EqualConv(self.image_shape[2], 1, gain=1.0, impl=self.impl,
                                 name=f"torgb{4 * 2 ** l}")
    h = LatentBlock(ch(0), self.impl, name="b4")(z)
    images = [to_rgb(0)(h)]
    for l in range(1, max_level(self.image_shape) + 1):
      h = UpBlock(ch(l), self.impl, name=f"b{4 * 2 ** l}")(h)
      images.append(to_rgb(l)(h))
    return images

  @nn.compact
  def __call__(self, z, labels=None, train=True, all_levels=False):
    del labels, train   # unconditional; no statistics
    level, alpha = progress_variables(self)
    images = self.level_images(z)
    return images if all_levels else grown_images(images, level, alpha)


class DownBlock(nn.Module):
  """D's block of level l: conv 3x3 (features), conv 3x3 (out_features), 2x average pooling."""
  features: int
  out_features: int
  impl: Any = None

  @nn.compact
  def __call__(self, x):
    x = ConvAct(self.features, normalize=False, impl=self.impl, name="conv0")(x)
    x = ConvAct(self.out_features, normalize=False, impl=self.impl, name="conv1")(x)
    return avgpool(x)


class Epilogue(nn.Module):
  """D's 4x4 block: minibatch stddev, conv 3x3, dense (the paper's conv 4x4)
  to ``dense_features``, dense to 1 (gain 1) -> scores [B]."""
  features: int
  dense_features: int
  mbstd_group: int = 4
  impl: Any = None

  @nn.compact
  def __call__(self, x):
    if self.mbstd_group > 1:
      x = minibatch_stddev(x, self.mbstd_group)
    x = ConvAct(self.features, normalize=False, impl=self.impl, name="conv")(x)
    x = lrelu(EqualDense(self.dense_features, name="dense0")(x.reshape(x.shape[0], -1)))
    return EqualDense(1, gain=1.0, name="dense1")(x)[:, 0]


class ProGANDiscriminator(nn.Module):
  """D(x [B, R, R, C], labels, train, update_stats) -> scores [B] at the
  current level and alpha (the module doc)."""
  resolution: int
  fmap_base: int = 8192
  fmap_max: int = 512
  mbstd_group: int = 4
  impl: Any = None

  @nn.compact
  def __call__(self, x, labels=None, train=True, update_stats=False):
    del labels, train, update_stats   # unconditional; no statistics
    level, alpha = progress_variables(self)
    ch = lambda l: nf(l + 1, self.fmap_base, self.fmap_max)
    from_rgb = lambda l: ConvAct(ch(l), 1, normalize=False, impl=self.impl,
                                 name=f"fromrgb{4 * 2 ** l}")
    top = max_level((self.resolution, self.resolution))
    inputs = pyramid(x, top)
    h = from_rgb(top)(x)
    for l in range(top, 0, -1):
      block = DownBlock(ch(l), ch(l - 1), self.impl, name=f"b{4 * 2 ** l}")(h)
      # above the level: fromRGB of the pooled input; at it: the fade; below: the block
      t = jnp.where(l > level, 0.0, jnp.where(l == level, alpha, 1.0)).astype(x.dtype)
      h = lerp(from_rgb(l - 1)(inputs[l - 1]), block, t)
    return Epilogue(ch(0), nf(0, self.fmap_base, self.fmap_max), self.mbstd_group,
                    self.impl, name="b4")(h)


def make_networks(image_shape, num_classes, s):
  """(G, D) of ``image_shape`` from ProGANSettings ``s`` (plain values)."""
  del num_classes   # unconditional (labels are refused at start-up: progan_family)
  max_level(image_shape)
  common = dict(fmap_base=s.fmap_base, fmap_max=s.fmap_max)
  return (ProGANGenerator(tuple(image_shape), **common),
          ProGANDiscriminator(image_shape[0], mbstd_group=s.mbstd_group, **common))
