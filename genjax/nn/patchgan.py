"""PatchGAN discriminator (Isola et al. 2017, "Image-to-Image Translation with
Conditional Adversarial Networks", sec. 3.2.2 and app. 6.1.2).

D classifies each N x N patch of its input as real or fake and outputs a map
of logits; its receptive field N is set by the number of stride-2 layers
``n_layers`` (the reference's ``NLayerDiscriminator``): C64-C128-C256-C512
(4x4 convs, stride 2 but the last two, which have stride 1 and the 1-channel
output) gives the paper's 70 x 70 for n_layers = 3; n_layers = 1 gives
16 x 16 ("PixelGAN" is 1 x 1), 2 gives 34 x 34, the sizes that suit 28-32 px
images. Widths ndf * min(2^n, 8); LeakyReLU(0.2); no norm on the first
layer; a conv before a batch norm has no bias (the reference's use_bias).
For pix2pix D sees the (input, output) pair concatenated on channels.
"""
import flax.linen as nn

from genjax.errors import ConfigError
from genjax.nn.conv import Conv
from genjax.nn.norms import image_norm, norm_has_affine

KERNEL = 4
PAD = 1   # the reference's padding of every 4x4 conv


def layer_strides(n_layers):
  """Strides of the n_layers + 2 convs: n_layers of 2, then 1 and 1 (the last
  is the 1-channel logit map)."""
  return (2,) * n_layers + (1, 1)


def receptive_field(n_layers, kernel=KERNEL):
  """N of an N x N PatchGAN: r <- (r - 1) s + k from one output pixel back
  through every layer (70 for n_layers = 3)."""
  r = 1
  for s in reversed(layer_strides(n_layers)):
    r = (r - 1) * s + kernel
  return r


def layer_widths(ndf, n_layers):
  """Output channels of every conv: ndf * min(2^n, 8), then 1."""
  return tuple(ndf * min(2 ** n, 8) for n in range(n_layers + 1)) + (1,)


def check_patchgan(n_layers, image_shape):
  """ConfigError unless the image leaves the logit map at least 1 x 1."""
  size = min(image_shape[:2])
  for s in layer_strides(n_layers):
    size = (size + 2 * PAD - KERNEL) // s + 1
  if n_layers < 0 or size < 1:
    raise ConfigError(
        f"A PatchGAN with n_layers={n_layers} on {tuple(image_shape[:2])} images "
        f"leaves no output (receptive field {receptive_field(max(n_layers, 0))}); "
        "use fewer layers (1 gives 16 x 16 patches, 2 gives 34 x 34) or larger images.")


class PatchGAN(nn.Module):
  """The reference's NLayerDiscriminator: [B,H,W,C] -> logits [B,h,w,1]."""
  ndf: int = 64
  n_layers: int = 3
  norm: str = "batch"

  @nn.compact
  def __call__(self, x, train=False):
    widths = layer_widths(self.ndf, self.n_layers)
    strides = layer_strides(self.n_layers)
    last = len(widths) - 1
    for i, (features, stride) in enumerate(zip(widths, strides)):
      normed = 0 < i < last
      x = Conv(features, KERNEL, stride, padding=PAD,
               use_bias=not (normed and norm_has_affine(self.norm)), name=f"conv{i}")(x)
      if normed:
        x = image_norm(x, self.norm, train, name=f"norm{i}")
      if i < last:
        x = nn.leaky_relu(x, 0.2)
    return x

