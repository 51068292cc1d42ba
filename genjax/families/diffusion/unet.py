"""The DDPM U-Net (Ho et al. 2020, Appendix B), the epsilon (or mean/variance) network.

A PixelCNN++-style U-Net (Salimans et al. 2017) of wide ResNet blocks with
GroupNorm, self-attention at chosen resolutions, and the diffusion time t
given to every block as a Transformer sinusoidal embedding. At the paper's
CIFAR-10 settings (ch=128, ch_mult=(1, 2, 2, 2), two blocks per level,
attention at 16x16, dropout 0.1) it has the paper's 35.7M parameters.

Image sizes: each level after the first halves H and W with a stride-2
downsample, so H and W must both be divisible by 2**(len(ch_mult) - 1):
32x32 with (1, 2, 2, 2) runs at 32, 16, 8, 4; MNIST's 28x28 with (1, 2, 2)
runs at 28, 14, 7 (not with four levels: 7 is odd). Other sizes raise
``ConfigError`` at init. ``attn_resolutions`` are feature-map heights.

Convolutions go through ``genjax.nn.Conv``; 1x1 maps (the ResBlock skip, the
attention projections) are ``nn.Dense`` on the channel axis, the same maths.
Initialisation follows DDPM: Glorot-uniform everywhere, and zero for the last
conv of each ResBlock, the attention output and the output conv, so every
block starts as the identity and the network's output starts at zero.
"""
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.core.precision import rematerialised
from genjax.errors import ConfigError
from genjax.nn.attention import DEFAULT_INIT, SelfAttention
from genjax.nn.conv import Conv, upsample_nearest
from genjax.nn.embeddings import sinusoidal_embedding
from genjax.nn.transformer import SpatialTransformer
from genjax.nn.norms import group_norm

ZERO_INIT = nn.initializers.zeros
# Blocks ``UNet.remat`` can rematerialise (Chen et al. 2016; config.model.remat).
REMAT_KINDS = ("ResBlock", "SelfAttention", "SpatialTransformer")


def check_image_size(image_shape, ch_mult):
  """ConfigError unless H and W ([H, W, ...]) allow ``len(ch_mult) - 1`` 2x downsamples."""
  h, w = image_shape[:2]
  factor = 2 ** (len(ch_mult) - 1)
  if h % factor or w % factor:
    raise ConfigError(
        f"UNet: image size {h}x{w} does not suit ch_mult={tuple(ch_mult)}: its "
        f"{len(ch_mult) - 1} downsamples need H and W divisible by {factor}. Use a "
        f"shorter ch_mult (28x28 works with 3 levels, 32x32 with up to 6) or "
        f"resize/pad the images to a multiple of {factor}.")


class ResBlock(nn.Module):
  """DDPM's residual block: x + conv(drop(act(norm(conv(act(norm(x))) + Dense(act(emb)))))).

  ``emb`` [B, E] is the time (+ label) embedding. When the channel count
  changes, the skip is a 1x1 projection (or a 3x3 conv with ``conv_shortcut``).
  """
  features: int
  dropout: float = 0.0
  conv_shortcut: bool = False

  @nn.compact
  def __call__(self, x, emb, train=False):
    h = nn.silu(group_norm(x, name="norm_0"))
    h = Conv(self.features, (3, 3), kernel_init=DEFAULT_INIT, name="conv_0")(h)
    h = h + nn.Dense(self.features, kernel_init=DEFAULT_INIT,
                     name="emb_proj")(nn.silu(emb))[:, None, None, :]
    h = nn.silu(group_norm(h, name="norm_1"))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = Conv(self.features, (3, 3), kernel_init=ZERO_INIT, name="conv_1")(h)
    if x.shape[-1] != self.features:
      if self.conv_shortcut:
        x = Conv(self.features, (3, 3), kernel_init=DEFAULT_INIT, name="skip")(x)
      else:
        x = nn.Dense(self.features, kernel_init=DEFAULT_INIT, name="skip")(x)
    return x + h


class UNet(nn.Module):
  """The DDPM U-Net: ``__call__(x, t, labels=None, train=False, context=None,
  context_mask=None, pooled=None, residuals=None)`` -> [B, H, W, out_channels].

  x: [B, H, W, C] noisy images; t: [B] (or scalar) timesteps, int or float;
  labels: [B] ints in [0, num_classes] for a class-conditional net, where
  ``num_classes`` itself is the learned "null" class of classifier-free
  guidance (Ho & Salimans 2022); None there means null for the whole batch.
  ``train=True`` applies dropout with the 'dropout' rng.

  Fields: ``ch`` base width; level i has ``ch * ch_mult[i]`` channels and
  ``num_res_blocks`` ResBlocks down (``num_res_blocks + 1`` up, each taking
  a skip); attention after the blocks whose feature map height is in
  ``attn_resolutions``; ``out_channels`` None = C (epsilon), 2C for a learned
  variance; ``resample_with_conv`` False uses 2x2 average pooling and plain
  nearest upsampling instead of (strided) 3x3 convs; ``remat``: the block
  kinds (``REMAT_KINDS``) recomputed in the backward pass instead of stored
  (``genjax.core.precision.rematerialised``: same parameters, same maths).

  Latent diffusion's U-Net (Rombach et al. 2022, sec. 3.3; Stable
  Diffusion's): ``transformer_depth`` > 0 puts a ``SpatialTransformer`` of
  that depth (``genjax.nn.transformer``) where DDPM has self-attention, with
  ``num_heads`` heads; its cross-attention attends to ``context`` [B, M, D]
  (padded tokens masked by ``context_mask`` [B, M], True = real), to the
  feature map itself when there is none. ``pooled_dim``: a pooled text
  embedding ``pooled`` [B, pooled_dim] is projected and added to the time
  embedding.

  ``residuals`` = (down, mid): a ControlNet's outputs (``controlnet.py``),
  one [B, h, w, c] per skip activation (conv_in, each down block and
  downsample, in order) added to it, and one added to the middle block's
  output -- the interface of diffusers' ``down_block_additional_residuals``
  and ``mid_block_additional_residual``.
  """
  ch: int = 128
  ch_mult: Sequence[int] = (1, 2, 2, 2)
  num_res_blocks: int = 2
  attn_resolutions: Sequence[int] = (16,)
  dropout: float = 0.1
  num_heads: int = 1
  num_classes: Optional[int] = None
  out_channels: Optional[int] = None
  resample_with_conv: bool = True
  remat: Sequence[str] = ()
  transformer_depth: int = 0
  pooled_dim: Optional[int] = None

  def res_block(self, features, name):
    """A ResBlock (its ``nn.remat`` twin when rematerialised; ``train`` is
    its third positional argument)."""
    block = rematerialised(ResBlock, tuple(self.remat), static_argnums=(3,))
    return block(features, self.dropout, name=name)

  def embed(self, t, labels, batch, pooled=None):
    """The time embedding MLP of [B] timesteps, plus the label embedding (and
    a projection of the ``pooled`` [B, pooled_dim] text embedding): [B, 4 ch]."""
    t = jnp.broadcast_to(jnp.asarray(t), (batch,))
    emb = sinusoidal_embedding(t, self.ch)
    emb = nn.Dense(4 * self.ch, kernel_init=DEFAULT_INIT, name="time_dense_0")(emb)
    emb = nn.Dense(4 * self.ch, kernel_init=DEFAULT_INIT,
                   name="time_dense_1")(nn.silu(emb))
    if (pooled is None) != (self.pooled_dim is None):
      raise ValueError(f"UNet: pooled_dim={self.pooled_dim} but pooled "
                       f"{'missing' if pooled is None else 'given'}.")
    if pooled is not None:
      emb = emb + nn.Dense(4 * self.ch, kernel_init=DEFAULT_INIT, name="pooled_proj")(pooled)
    if self.num_classes is None:
      if labels is not None:
        raise ValueError("UNet: labels given to an unconditional net (num_classes=None).")
      return emb
    if labels is None:
      labels = jnp.full((batch,), self.num_classes, jnp.int32)
    return emb + nn.Embed(self.num_classes + 1, 4 * self.ch, name="label_embed")(labels)

  def downsample(self, x, name):
    if self.resample_with_conv:
      return Conv(x.shape[-1], (3, 3), strides=(2, 2), kernel_init=DEFAULT_INIT,
                  name=name)(x)
    return nn.avg_pool(x, (2, 2), strides=(2, 2))

  def upsample(self, x, name):
    x = upsample_nearest(x)
    if self.resample_with_conv:
      x = Conv(x.shape[-1], (3, 3), kernel_init=DEFAULT_INIT, name=name)(x)
    return x

  def maybe_attend(self, h, name, context=None):
    if h.shape[1] in tuple(self.attn_resolutions):
      h = self.attention(name, h, context)
    return h

  def attention(self, name, h, context):
    """DDPM's SelfAttention, or (``transformer_depth`` > 0) LDM's
    SpatialTransformer attending to ``context`` = (tokens [B, M, D], mask
    [B, M]) or to itself; ``nn.remat`` twins when rematerialised."""
    if not self.transformer_depth:
      if context is not None:
        raise ValueError("UNet: a context needs spatial transformers "
                         "(transformer_depth > 0).")
      return rematerialised(SelfAttention, tuple(self.remat))(self.num_heads, name=name)(h)
    block = rematerialised(SpatialTransformer, tuple(self.remat))(
        self.num_heads, self.transformer_depth, name=name)
    return block(h, *(context or (None, None)))

  def encode(self, x, t, labels, train, context=None, pooled=None, hint=None):
    """The embedding and the down path: (activations for the skips, [B, 4ch]
    embedding). ``hint`` [B, H, W, ch] is added to the first conv's output
    (ControlNet's encoded condition, Zhang et al. 2023 eq. 2)."""
    if x.ndim != 4:
      raise ValueError(f"UNet wants NHWC images, got shape {x.shape}.")
    check_image_size(x.shape[1:], self.ch_mult)
    emb = self.embed(t, labels, x.shape[0], pooled)
    levels = len(self.ch_mult)
    h = Conv(self.ch, (3, 3), kernel_init=DEFAULT_INIT, name="conv_in")(x)
    hs = [h if hint is None else h + hint]
    for i, mult in enumerate(self.ch_mult):
      for j in range(self.num_res_blocks):
        h = self.res_block(self.ch * mult, f"down_{i}_block_{j}")(hs[-1], emb, train)
        hs.append(self.maybe_attend(h, f"down_{i}_attn_{j}", context))
      if i != levels - 1:
        hs.append(self.downsample(hs[-1], f"down_{i}_downsample"))
    return hs, emb

  def middle(self, h, emb, train, context):
    """The middle block: ResBlock, attention, ResBlock at the lowest resolution."""
    h = self.res_block(h.shape[-1], "mid_block_0")(h, emb, train)
    h = self.attention("mid_attn", h, context)
    return self.res_block(h.shape[-1], "mid_block_1")(h, emb, train)

  @nn.compact
  def __call__(self, x, t, labels=None, train=False, context=None, context_mask=None,
               pooled=None, residuals=None):
    context = None if context is None else (context, context_mask)
    hs, emb = self.encode(x, t, labels, train, context, pooled)
    if residuals is not None:   # ControlNet's (down, mid): diffusers' interface
      down, mid = residuals
      if len(down) != len(hs):
        raise ValueError(f"UNet: {len(down)} down residuals for {len(hs)} skips.")
      hs = [h + r for h, r in zip(hs, down)]
    h = self.middle(hs[-1], emb, train, context)
    if residuals is not None:
      h = h + mid

    for i, mult in reversed(list(enumerate(self.ch_mult))):
      for j in range(self.num_res_blocks + 1):
        h = self.res_block(self.ch * mult, f"up_{i}_block_{j}")(
            jnp.concatenate([h, hs.pop()], axis=-1), emb, train)
        h = self.maybe_attend(h, f"up_{i}_attn_{j}", context)
      if i != 0:
        h = self.upsample(h, f"up_{i}_upsample")
    assert not hs, "every down-path activation is used by one skip"

    h = nn.silu(group_norm(h, name="norm_out"))
    out_channels = self.out_channels or x.shape[-1]
    return Conv(out_channels, (3, 3), kernel_init=ZERO_INIT, name="conv_out")(h)


def count_params(model, image_shape, batch=1):
  """The number of parameters of ``model`` for [H, W, C] images, without allocating them."""
  x = jax.ShapeDtypeStruct((batch, *image_shape), jnp.float32)
  t = jax.ShapeDtypeStruct((batch,), jnp.int32)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, t)
  return sum(leaf.size for leaf in jax.tree.leaves(shapes["params"]))
