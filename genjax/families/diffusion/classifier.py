"""The time-conditioned noisy classifier p(y | x_t, t) of classifier guidance.

Dhariwal & Nichol (2021), sec. 4 and appendix: the U-Net's encoder half
(time embedding, down path with attention) and its middle block, then
GroupNorm-SiLU, global average pooling and a linear layer to the class
logits. Trained on x_t ~ q(x_t | x_0) at uniform t with cross-entropy, as its
own experiment (``model.name='classifier'``).
"""
import flax.linen as nn

from genjax.families.diffusion.unet import ResBlock, UNet
from genjax.nn.attention import SelfAttention
from genjax.nn.norms import group_norm


class NoisyClassifier(UNet):
  """``__call__(x, t, train=False)`` -> [B, num_outputs] logits.

  The U-Net fields configure the encoder; ``num_classes`` stays None (the
  classifier is not label-conditioned) and ``num_outputs`` is the number of
  classes it predicts.
  """
  num_outputs: int = 10

  @nn.compact
  def __call__(self, x, t, labels=None, train=False):
    hs, emb = self.encode(x, t, None, train)
    h = ResBlock(hs[-1].shape[-1], self.dropout, name="mid_block_0")(hs[-1], emb, train)
    h = SelfAttention(self.num_heads, name="mid_attn")(h)
    h = nn.silu(group_norm(h, name="norm_out")).mean(axis=(1, 2))
    return nn.Dense(self.num_outputs, name="head")(h)
