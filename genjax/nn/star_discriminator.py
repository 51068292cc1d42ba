"""StarGAN's discriminator (Choi et al. 2018, "StarGAN: Unified Generative
Adversarial Networks for Multi-Domain Image-to-Image Translation", sec. 3.1
and app. 7.2; the reference's ``Discriminator``): a PatchGAN body with two
heads.

Body: ``n_layers`` 4x4 stride-2 convs (padding 1, with bias), widths
ndf * 2^i, each followed by LeakyReLU(0.01); no normalisation (the WGAN-GP
penalty is per example). Heads on the body's [B, H/2^n, W/2^n, ndf 2^(n-1)]
map: D_src, a 3x3 conv to one channel (a map of real/fake scores), and
D_cls, a conv whose kernel covers the whole map, to ``num_domains`` logits.
Neither head has a bias. At 128 px with n_layers 6, ndf 64 and 5 domains it
has the reference's 44,762,048 parameters.
"""
import flax.linen as nn

from genjax.errors import ConfigError
from genjax.nn.conv import Conv

KERNEL = 4


def check_star_discriminator(n_layers, image_shape):
  """ConfigError unless H and W are divisible by 2^n_layers (the class head's
  kernel is the body's whole output map)."""
  h, w = image_shape[:2]
  step = 2 ** n_layers
  if n_layers < 1 or h % step or w % step:
    raise ConfigError(
        f"StarGAN's discriminator halves {h}x{w} images n_layers={n_layers} times, "
        f"and its class head's kernel is the remaining map, so H and W must be "
        f"divisible by 2^n_layers = {step} (n_layers >= 1). Pad the images (e.g. "
        "'pad(2)' for 28 -> 32 px) or change model.d_layers.")


class StarDiscriminator(nn.Module):
  """[B,H,W,C] -> (src logits [B,H/2^n,W/2^n,1], domain logits [B,num_domains])."""
  num_domains: int
  ndf: int = 64
  n_layers: int = 6

  @nn.compact
  def __call__(self, x):
    for i in range(self.n_layers):
      x = Conv(self.ndf * 2 ** i, KERNEL, 2, padding=1, name=f"conv{i}")(x)
      x = nn.leaky_relu(x, 0.01)
    src = Conv(1, 3, padding=1, use_bias=False, name="src")(x)
    cls = Conv(self.num_domains, x.shape[1:3], padding="VALID", use_bias=False,
               name="cls")(x)
    return src, cls.reshape(cls.shape[0], self.num_domains)
