"""StyleGAN2's generator and discriminator (Karras et al. 2020, "Analyzing and
Improving the Image Quality of StyleGAN"), built from ``genjax.nn``'s pieces.

Generator (sec. 2, fig. 2d; app. B; the skip architecture of fig. 7b / sec. 4.1):
  mapping   z -> pixel norm -> ``mapping_layers`` x [EqualDense (lr_mul 0.01,
            gain 1) + lReLU(0.2) * sqrt(2)] -> w (StyleGAN, Karras et al.
            2019, sec. 2); a label (conditional models) enters as
            StyleGAN2-ADA's: one-hot -> EqualDense -> pixel norm, concatenated
            to the normalised z.
  ws        w broadcast to ``num_ws`` = 2 log2(R) - 2 layers: the 4x4 block
            reads ws[0] (its conv) and ws[1] (its toRGB); block k >= 1 (R_k =
            4 * 2^k) reads ws[2k-1] (its up-conv; the previous toRGB's index),
            ws[2k] and ws[2k+1] (its toRGB) (StyleGAN2-ADA's ``SynthesisNetwork``).
  synthesis a learned constant 4x4 input ~ N(0, 1); per block two
            ``ModulatedConv`` 3x3 (eqs. 1-3, demodulated; the first upsamples by
            2 with the [1,3,3,1] filter), each followed by noise (one scalar
            strength, initialised to 0), a bias and lReLU(0.2) * sqrt(2); a
            toRGB per block (``ModulatedConv`` 1x1 without demodulation, plus a
            bias) added to ``upsample2d`` of the previous image. No tanh.
Discriminator (the residual architecture of fig. 7c): fromRGB (1x1) at the
input resolution, then per resolution R..8 a block [conv 3x3, conv 3x3 down 2]
plus a 1x1 down-2 skip without bias, the sum times sqrt(1/2) (``architecture=
'orig'``: no skip, StyleGAN2-ADA's 'orig', which is ProGAN's and StyleGAN's D
at a fixed resolution; its [1,3,3,1] down-conv equals their blur [1,2,1],
conv, 2x2 average pool, since the filters commute with the conv); at 4x4 the
epilogue: minibatch stddev (group 4, ProGAN sec. 3), conv 3x3, dense, dense ->
score. Conditional models project the features on a mapped label
(StyleGAN2-ADA's ``cmap``: score = <out(x), cmap(y)> / sqrt(dim); Miyato &
Koyama 2018's projection).

Channels at resolution r: min(channel_base // r, channel_max); config F is
channel_base 32768, channel_max 512 (StyleGAN2-ADA's ``stylegan2`` config).
Every weight has gain 1 (the equalised-lr constant 1 / sqrt(fan_in)) and
activations are multiplied by sqrt(2) instead (StyleGAN2's ``bias_act``).

Noise: with a ``noise`` rng stream (training, ``sample``) each layer draws
N(0, 1) per sample and pixel; without one (the picture grids, ``generate``)
it uses a fixed image per layer (StyleGAN2's ``noise_mode='const'``).
Style mixing (StyleGAN sec. 3.1) in training: with probability
``style_mixing`` the layers from a uniform crossover point on take their w from
a second latent (``mixing_cutoff``, ``mix_styles``; one point per batch, as
the references). w_avg, the running mean of the mapping's output, is a
variable of the collection 'w_avg' (the family keeps it with G's statistics in
the state): it moves in training passes whose collection is mutable,
w_avg <- mean(w) + beta (w_avg - mean(w)), and evaluation truncates toward it.
"""
import math
from typing import Any, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError
from genjax.families.gan.truncation import truncate_layers
from genjax.nn.equalized import SQRT2, EqualConv, EqualDense
from genjax.nn.modulated import ModulatedConv
from genjax.nn.resample import upsample2d
from genjax.nn.style import NoiseInjection, minibatch_stddev, pixel_norm

LRELU_SLOPE = 0.2
D_ARCHITECTURES = ("resnet", "orig")   # StyleGAN2-ADA's D architectures ('skip' not built)
SQRT_HALF = math.sqrt(0.5)
CONST_NOISE_SEED = 0   # the fixed noise images of noise-free (rng-less) passes


def resolution_log2(image_shape, arch="stylegan2"):
  """log2 of the square resolution R = 4 * 2^k (k >= 1); else a ConfigError
  naming model.arch ``arch``."""
  h, w = int(image_shape[0]), int(image_shape[1])
  k = max(h, 1).bit_length() - 1
  if h != w or h < 8 or 2 ** k != h:
    raise ConfigError(
        f"model.arch={arch!r} builds square images whose side is 4 * 2^k "
        f"(8, 16, 32, ..., 1024): its generator starts from a learned 4x4 "
        f"constant and doubles the resolution once per block, and its "
        f"discriminator halves it back to 4x4. model.image_shape "
        f"{tuple(image_shape)} is not such a size. Resize the data with a "
        f"'resize(R)' op in data.preprocess (e.g. 28x28 Fashion-MNIST or "
        f"25x25 faces -> resize(32)) and set model.image_shape to (R, R, C).")
  return k


def block_resolutions(resolution):
  """4, 8, ..., R: the resolutions of the generator's blocks."""
  return [4 * 2 ** k for k in range(resolution_log2((resolution, resolution)) - 1)]


def channels_at(res, channel_base, channel_max):
  """Feature maps at resolution ``res``: min(channel_base // res, channel_max)."""
  return min(channel_base // res, channel_max)


def num_ws(resolution):
  """Layers of w the synthesis network reads: 2 log2(R) - 2 (18 at 1024)."""
  return 2 * resolution_log2((resolution, resolution)) - 2


def block_ws(k):
  """(first index, count) of the ws block k reads: (0, 2) for 4x4, else (2k-1, 3)."""
  return (0, 2) if k == 0 else (2 * k - 1, 3)


def style_ranges(resolution):
  """(coarse, middle, fine) ws index ranges [start, stop): the layers of the
  4-8, 16-32 and 64-R blocks (StyleGAN fig. 3, at 1024: 0-3, 4-7, 8-17);
  below 64 the blocks split into three in order (32: 4-8 | 16 | 32; 16:
  4 | 8 | 16). None when there are fewer than three blocks."""
  n = len(block_resolutions(resolution))
  if n < 3:
    return None
  cut1, cut2, last = 2 * min(2, n - 2), 2 * min(4, n - 1), num_ws(resolution)
  return (0, cut1), (cut1, cut2), (cut2, last)


def mixing_cutoff(rng, num_layers, prob):
  """StyleGAN's style mixing regularisation (sec. 3.1): a crossover layer
  uniform in {1, ..., num_layers - 1} with probability ``prob``, else
  ``num_layers`` (no crossover). int32 scalar."""
  k_cut, k_coin = jax.random.split(rng)
  cutoff = jax.random.randint(k_cut, (), 1, num_layers)
  return jnp.where(jax.random.uniform(k_coin, ()) < prob, cutoff, num_layers)


def mix_styles(ws, ws2, cutoff):
  """ws [B, L, D] with the layers from ``cutoff`` on taken from ws2."""
  layer = jnp.arange(ws.shape[1])[None, :, None]
  return jnp.where(layer < cutoff, ws, ws2)


def lrelu_gain(x):
  """StyleGAN2's activation: leaky ReLU (slope 0.2) times sqrt(2) (``bias_act``'s gain)."""
  return jax.nn.leaky_relu(x, LRELU_SLOPE) * SQRT2


def const_noise(index, shape, dtype):
  """The fixed noise image [1, H, W, 1] of synthesis layer ``index``."""
  key = jax.random.fold_in(jax.random.PRNGKey(CONST_NOISE_SEED), index)
  return jax.random.normal(key, (1,) + tuple(shape) + (1,), dtype)


class MappingNetwork(nn.Module):
  """z [B, z_dim] (and int labels [B]) -> w [B, w_dim]; z None: the label
  alone (the discriminator's label mapping)."""
  w_dim: int
  num_layers: int = 8
  lr_mul: float = 0.01
  num_classes: int = 0

  @nn.compact
  def __call__(self, z, labels=None):
    parts = [] if z is None else [pixel_norm(z)]
    if self.num_classes:
      one_hot = jax.nn.one_hot(labels, self.num_classes, dtype=jnp.float32)
      parts.append(pixel_norm(EqualDense(self.w_dim, gain=1.0, name="embed")(one_hot)))
    x = jnp.concatenate(parts, axis=-1)
    for i in range(self.num_layers):
      x = lrelu_gain(EqualDense(self.w_dim, gain=1.0, lr_mul=self.lr_mul,
                                name=f"fc{i}")(x))
    return x


class SynthesisLayer(nn.Module):
  """Modulated 3x3 conv (``up=2``: upsampling), noise, bias, lReLU * sqrt(2)."""
  features: int
  up: int = 1
  index: int = 0          # its ws index: the seed of its constant noise
  impl: Any = None

  @nn.compact
  def __call__(self, x, w):
    x = ModulatedConv(self.features, 3, up=self.up, impl=self.impl, name="conv")(x, w)
    noise = None if self.has_rng("noise") else const_noise(self.index, x.shape[1:3], x.dtype)
    x = NoiseInjection(name="noise")(x, noise)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    return lrelu_gain(x + bias.astype(x.dtype))


class ToRGB(nn.Module):
  """Modulated 1x1 conv without demodulation, plus a bias (linear)."""
  channels: int
  impl: Any = None

  @nn.compact
  def __call__(self, x, w):
    y = ModulatedConv(self.channels, 1, demodulate=False, impl=self.impl, name="conv")(x, w)
    bias = self.param("bias", nn.initializers.zeros, (self.channels,), jnp.float32)
    return y + bias.astype(y.dtype)


class SynthesisBlock(nn.Module):
  """Block k: (the constant | an up-conv), a conv, and a toRGB added to the
  upsampled image. ``ws`` [B, n, D]: the block's layers of w (``block_ws``)."""
  features: int
  image_channels: int
  k: int
  impl: Any = None

  @nn.compact
  def __call__(self, x, img, ws):
    start, _ = block_ws(self.k)
    if self.k == 0:
      const = self.param("const", nn.initializers.normal(1.0), (4, 4, self.features),
                         jnp.float32)
      x = jnp.broadcast_to(const.astype(ws.dtype), (ws.shape[0], 4, 4, self.features))
      layers = [SynthesisLayer(self.features, 1, start, self.impl, name="conv1")]
    else:
      layers = [SynthesisLayer(self.features, 2, start, self.impl, name="conv0"),
                SynthesisLayer(self.features, 1, start + 1, self.impl, name="conv1")]
    for i, layer in enumerate(layers):
      x = layer(x, ws[:, i])
    y = ToRGB(self.image_channels, self.impl, name="torgb")(x, ws[:, len(layers)])
    return x, y if img is None else upsample2d(img) + y


class SynthesisNetwork(nn.Module):
  """ws [B, num_ws, w_dim] -> images [B, R, R, C] (the skip generator)."""
  resolution: int
  image_channels: int
  channel_base: int = 32768
  channel_max: int = 512
  impl: Any = None

  @nn.compact
  def __call__(self, ws):
    x = img = None
    for k, res in enumerate(block_resolutions(self.resolution)):
      start, count = block_ws(k)
      block = SynthesisBlock(channels_at(res, self.channel_base, self.channel_max),
                             self.image_channels, k, self.impl, name=f"b{res}")
      x, img = block(x, img, ws[:, start:start + count])
    return img


class StyleGAN2Generator(nn.Module):
  """G(z [B, z_dim], labels, train, psi) -> images [B, R, R, C] (the module doc).

  Methods: ``styles(z, labels, train, psi)`` -> ws [B, num_ws, w_dim]
  (training: w_avg tracked, styles mixed with the 'mixing' rng stream;
  evaluation: truncated toward w_avg by psi) and ``synthesize(ws)``.
  """
  image_shape: Tuple[int, int, int]
  w_dim: int = 512
  mapping_layers: int = 8
  mapping_lr_mul: float = 0.01
  channel_base: int = 32768
  channel_max: int = 512
  num_classes: int = 0
  style_mixing: float = 0.9
  w_avg_beta: float = 0.995
  truncation_cutoff: int = 0    # > 0: truncate only ws[:cutoff] (StyleGAN's 8)
  impl: Any = None

  def setup(self):
    self.mapping = MappingNetwork(self.w_dim, self.mapping_layers, self.mapping_lr_mul,
                                  self.num_classes)
    self.synthesis = self.synthesis_network()
    self.w_avg = self.variable("w_avg", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)

  def synthesis_network(self):
    """The synthesis network ws -> images (StyleGAN's generator overrides it)."""
    return SynthesisNetwork(self.image_shape[0], self.image_shape[2], self.channel_base,
                            self.channel_max, self.impl)

  def broadcast(self, w):
    return jnp.broadcast_to(w[:, None, :], (w.shape[0], num_ws(self.image_shape[0]),
                                            w.shape[1]))

  def track_w_avg(self, w):
    """w_avg <- mean(w) + beta (w_avg - mean(w)) where the collection is mutable."""
    if self.is_mutable_collection("w_avg") and not self.is_initializing():
      mean = jax.lax.stop_gradient(jnp.mean(w, axis=0))
      self.w_avg.value = mean + self.w_avg_beta * (self.w_avg.value - mean)

  def mix(self, ws, z, labels):
    """Style mixing regularisation: ws crossed over with the ws of a fresh z."""
    if not self.style_mixing:
      return ws
    k_z, k_cut = jax.random.split(self.make_rng("mixing"))
    ws2 = self.broadcast(self.mapping(jax.random.normal(k_z, z.shape, z.dtype), labels))
    return mix_styles(ws, ws2, mixing_cutoff(k_cut, ws.shape[1], self.style_mixing))

  def styles(self, z, labels=None, train=False, psi=1.0):
    w = self.mapping(z, labels)
    if train:
      self.track_w_avg(w)
      return self.mix(self.broadcast(w), z, labels)
    if isinstance(psi, (int, float)) and psi == 1:
      return self.broadcast(w)
    return truncate_layers(self.broadcast(w), self.w_avg.value.astype(w.dtype), psi,
                           self.truncation_cutoff)

  def synthesize(self, ws):
    return self.synthesis(ws)

  def __call__(self, z, labels=None, train=True, psi=1.0):
    return self.synthesize(self.styles(z, labels, train, psi))


class DiscriminatorBlock(nn.Module):
  """(fromRGB,) conv 3x3, conv 3x3 down 2; 'resnet': plus a 1x1 down-2 skip,
  the sum times sqrt(1/2); 'orig': without (ProGAN's and StyleGAN's block)."""
  features: int
  out_features: int
  from_rgb: bool = False
  architecture: str = "resnet"
  impl: Any = None

  @nn.compact
  def __call__(self, x, img):
    conv = lambda f, k, name, **kw: EqualConv(f, k, gain=1.0, impl=self.impl, name=name, **kw)
    if self.from_rgb:
      x = lrelu_gain(conv(self.features, 1, "fromrgb")(img))
    h = lrelu_gain(conv(self.features, 3, "conv0")(x))
    h = lrelu_gain(conv(self.out_features, 3, "conv1", down=2)(h))
    if self.architecture == "orig":
      return h
    skip = conv(self.out_features, 1, "skip", down=2, use_bias=False)(x)
    return (skip + h) * SQRT_HALF


class DiscriminatorEpilogue(nn.Module):
  """4x4 features -> minibatch stddev, conv 3x3, dense, dense -> score [B]
  (projected on ``cmap`` [B, cmap_dim] for a conditional model)."""
  features: int
  mbstd_group: int = 4
  mbstd_channels: int = 1
  cmap_dim: int = 0
  impl: Any = None

  @nn.compact
  def __call__(self, x, cmap=None):
    if self.mbstd_channels:
      x = minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = lrelu_gain(EqualConv(self.features, 3, gain=1.0, impl=self.impl, name="conv")(x))
    x = lrelu_gain(EqualDense(self.features, gain=1.0, name="fc")(x.reshape(x.shape[0], -1)))
    out = EqualDense(self.cmap_dim or 1, gain=1.0, name="out")(x)
    if cmap is None:
      return out[:, 0]
    return jnp.sum(out * cmap, axis=1) / math.sqrt(self.cmap_dim)


class StyleGAN2Discriminator(nn.Module):
  """D(x [B, R, R, C], labels, train, update_stats) -> scores [B]: the residual
  D, or with ``architecture='orig'`` the plain one (StyleGAN2-ADA's 'orig':
  ProGAN's D at a fixed resolution, StyleGAN's D)."""
  resolution: int
  channel_base: int = 32768
  channel_max: int = 512
  num_classes: int = 0
  mapping_layers: int = 8
  mapping_lr_mul: float = 0.01
  mbstd_group: int = 4
  mbstd_channels: int = 1
  architecture: str = "resnet"        # D_ARCHITECTURES
  impl: Any = None

  @nn.compact
  def __call__(self, x, labels=None, train=True, update_stats=False):
    del train, update_stats   # no statistics
    ch = lambda res: channels_at(res, self.channel_base, self.channel_max)
    h = None
    for res in reversed(block_resolutions(self.resolution)[1:]):
      block = DiscriminatorBlock(ch(res), ch(res // 2), h is None, self.architecture,
                                 self.impl, name=f"b{res}")
      h = block(h, x)
    cmap = None
    if self.num_classes:
      cmap = MappingNetwork(ch(4), self.mapping_layers, self.mapping_lr_mul,
                            self.num_classes, name="mapping")(None, labels)
    return DiscriminatorEpilogue(ch(4), self.mbstd_group, self.mbstd_channels,
                                 0 if cmap is None else ch(4), self.impl, name="b4")(h, cmap)


def make_networks(image_shape, num_classes, s, generator_cls=StyleGAN2Generator):
  """(G, D) of ``image_shape`` from StyleGAN2Settings ``s`` (plain values);
  ``generator_cls``: StyleGAN2's G or one with another synthesis network."""
  resolution_log2(image_shape)
  common = dict(channel_base=s.channel_base, channel_max=s.channel_max,
                num_classes=num_classes)
  generator = generator_cls(
      tuple(image_shape), w_dim=s.w_dim, mapping_layers=s.mapping_layers,
      mapping_lr_mul=s.mapping_lr_mul, style_mixing=s.style_mixing,
      w_avg_beta=s.w_avg_beta, truncation_cutoff=s.w_truncation_cutoff, **common)
  discriminator = StyleGAN2Discriminator(
      image_shape[0], mapping_layers=s.mapping_layers, mapping_lr_mul=s.mapping_lr_mul,
      mbstd_group=s.mbstd_group, mbstd_channels=s.mbstd_channels,
      architecture=s.d_architecture, **common)
  return generator, discriminator
