"""Image-to-image generators: pix2pix's U-Net and CycleGAN's ResNet.

``UNetTranslator`` (Isola et al. 2017, sec. 3.2.1 and app. 6.1.1; the
reference's ``UnetGenerator``): ``num_downs`` 4x4 stride-2 convs halve the
image down to 1 x 1 at 2^num_downs px (8 for 256 px), widths ngf, 2 ngf,
4 ngf, then 8 ngf; the decoder mirrors them with stride-2 transposed convs,
each up-conv's output concatenated to the mirrored encoder feature (the
skips). Encoder: LeakyReLU(0.2) before each conv but the first, a norm
after each but the first and the innermost; decoder: ReLU before each
transposed conv, a norm after each but the outermost (tanh there), dropout
0.5 in the (num_downs - 5) decoder layers just below the innermost — the
paper's only noise source, applied at test time too (sec. 3.1; the caller
passes ``train``/``dropout`` and a 'dropout' rng).

``ResNetTranslator`` (Zhu et al. 2017, app. 7.2, after Johnson et al. 2016;
the reference's ``ResnetGenerator``): c7s1-ngf, d2ngf, d4ngf, n_blocks
residual blocks of two reflection-padded 3x3 convs, u2ngf, ungf, c7s1-C with
tanh; instance norm by default; the up-convs are 3x3 stride-2 transposed
convs with output padding 1.

Parameter counts equal the references' (a conv before an affine norm has no
bias): the tests check unet_256 54.414 M and resnet_9blocks 11.378 M.
"""
import flax.linen as nn
import jax.numpy as jnp

from genjax.nn.conv import Conv, check_divisible
from genjax.nn.norms import image_norm, norm_has_affine
from genjax.nn.transposed import TransposedConv


def unet_widths(num_downs, ngf):
  """Encoder output widths, outermost first: ngf, 2 ngf, 4 ngf, then 8 ngf."""
  return tuple(ngf * min(2 ** i, 8) for i in range(num_downs))


def check_unet(num_downs, image_shape):
  """ConfigError unless H and W are divisible by 2^num_downs."""
  check_divisible(image_shape, num_downs, "the U-Net translator's image_shape")


class UNetTranslator(nn.Module):
  """[B,H,W,Cin] -> [B,H,W,out_channels] in (-1, 1) (module doc)."""
  out_channels: int
  num_downs: int = 8
  ngf: int = 64
  norm: str = "batch"
  dropout: bool = True
  dropout_at_test: bool = True   # pix2pix's noise: dropout when sampling too

  def conv_bias(self, outermost_up=False):
    # the reference's use_bias (no bias before an affine norm) on every conv
    # but the outermost up-conv, which has one
    return outermost_up or not norm_has_affine(self.norm)

  @nn.compact
  def __call__(self, x, train=False):
    widths = unet_widths(self.num_downs, self.ngf)
    innermost = self.num_downs - 1
    skips = []
    for i, features in enumerate(widths):
      if i:
        x = nn.leaky_relu(x, 0.2)
      normed = 0 < i < innermost
      x = Conv(features, 4, 2, padding=1, use_bias=self.conv_bias(), name=f"down{i}")(x)
      if normed:
        x = image_norm(x, self.norm, train, name=f"down_norm{i}")
      skips.append(x)
    for i in reversed(range(self.num_downs)):
      if i < innermost:
        x = jnp.concatenate([skips[i], x], axis=-1)
      x = nn.relu(x)
      features = widths[i - 1] if i else self.out_channels
      x = TransposedConv(features, 4, 1, use_bias=self.conv_bias(i == 0), name=f"up{i}")(x)
      if i == 0:
        return jnp.tanh(x)
      x = image_norm(x, self.norm, train, name=f"up_norm{i}")
      if self.dropout and innermost - self.num_downs + 5 <= i < innermost:
        x = nn.Dropout(0.5, deterministic=not (train or self.dropout_at_test))(x)
    return x


PADDINGS = ("reflect", "zeros")


def reflect_pad(x, pad):
  """Reflection padding of H and W (PyTorch's ReflectionPad2d)."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def padded_conv(x, features, kernel, padding, use_bias, name):
  """A stride-1 conv keeping H and W: reflection padding then a 'VALID'
  conv (CycleGAN), or the conv's own zero padding (StarGAN)."""
  pad = kernel // 2
  if padding == "reflect":
    return Conv(features, kernel, padding="VALID", use_bias=use_bias, name=name)(
        reflect_pad(x, pad))
  return Conv(features, kernel, padding=pad, use_bias=use_bias, name=name)(x)


class ResidualBlock(nn.Module):
  """x + [pad, conv3x3, norm, ReLU, (dropout), pad, conv3x3, norm](x)."""
  norm: str = "instance"
  dropout: bool = False
  padding: str = "reflect"

  @nn.compact
  def __call__(self, x, train=False):
    bias = not norm_has_affine(self.norm)
    h = padded_conv(x, x.shape[-1], 3, self.padding, bias, "conv0")
    h = nn.relu(image_norm(h, self.norm, train, name="norm0"))
    if self.dropout:
      h = nn.Dropout(0.5, deterministic=not train)(h)
    h = padded_conv(h, x.shape[-1], 3, self.padding, bias, "conv1")
    return x + image_norm(h, self.norm, train, name="norm1")


class ResNetTranslator(nn.Module):
  """[B,H,W,Cin] -> [B,H,W,out_channels] in (-1, 1) (module doc).

  CycleGAN's by default; StarGAN's generator (Choi et al. 2018, app. 7.2) is
  the same with ``padding='zeros'``, 4x4 resampling convs
  (``resample_kernel=4``: stride-2 convs and transposed convs with padding
  1), norm 'instance_affine' and no bias on the last conv (``head_bias``).
  """
  out_channels: int
  n_blocks: int = 9
  ngf: int = 64
  norm: str = "instance"
  dropout: bool = False
  num_downs: int = 2
  padding: str = "reflect"     # PADDINGS
  resample_kernel: int = 3     # 3 (CycleGAN) | 4 (StarGAN)
  head_bias: bool = True

  @nn.compact
  def __call__(self, x, train=False):
    bias = not norm_has_affine(self.norm)
    k = self.resample_kernel
    x = padded_conv(x, self.ngf, 7, self.padding, bias, "stem")
    x = nn.relu(image_norm(x, self.norm, train, name="stem_norm"))
    for i in range(self.num_downs):
      x = Conv(self.ngf * 2 ** (i + 1), k, 2, padding=1, use_bias=bias, name=f"down{i}")(x)
      x = nn.relu(image_norm(x, self.norm, train, name=f"down_norm{i}"))
    for i in range(self.n_blocks):
      x = ResidualBlock(self.norm, self.dropout, self.padding, name=f"block{i}")(x, train)
    for i in reversed(range(self.num_downs)):
      x = TransposedConv(self.ngf * 2 ** i, k, 1, output_padding=4 - k, use_bias=bias,
                         name=f"up{i}")(x)
      x = nn.relu(image_norm(x, self.norm, train, name=f"up_norm{i}"))
    x = padded_conv(x, self.out_channels, 7, self.padding, self.head_bias, "head")
    return jnp.tanh(x)
