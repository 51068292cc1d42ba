"""Attention with a context, and LDM's spatial transformer (Rombach et al. 2022).

Multi-head attention (Vaswani et al. 2017, sec. 3.2) of queries from x
[B, N, C] to keys and values from a context [B, M, D] (x itself when there is
no context: self-attention):
    q = x W_q,  k = ctx W_k,  v = ctx W_v         (no biases, as LDM)
    head_j = softmax(q_j k_j^T / sqrt(d) + log mask) v_j
    out = concat_j(head_j) W_o + b_o
``mask`` [B, M] (True = a real context token) keeps padded tokens out of the
softmax; a row of all-False is refused by construction (every caption has
[CLS] and [SEP]).

The spatial transformer of latent diffusion (LDM's ``SpatialTransformer``,
sec. 3.3 and appendix; the block of Stable Diffusion's U-Net): a feature map
x [B, H, W, C] is GroupNorm-ed, projected (a 1x1 map, ``Dense``) to
``heads * head_dim`` channels, flattened to H*W tokens and passed through
``depth`` transformer blocks
    h = h + SelfAttn(LN(h));  h = h + CrossAttn(LN(h), context);  h = h + FF(LN(h))
with the GEGLU feed-forward FF(h) = (h W_1 + b_1) * GELU(h W_2 + b_2) W_3 + b_3
(Shazeer 2020, inner width 4 * dim), then projected back to C channels by a
zero-initialised 1x1 map and added to x: at init the block is the identity.
With no context the cross-attention attends to h itself (LDM's behaviour).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError
from genjax.nn.attention import DEFAULT_INIT
from genjax.nn.norms import group_norm

FF_MULT = 4                  # GEGLU's inner width / dim (LDM's FeedForward mult)
LN_EPSILON = 1e-5            # torch.nn.LayerNorm's default, as LDM


def split_heads(x, num_heads):
  """[B, N, heads * d] -> [B, N, heads, d]."""
  return x.reshape(x.shape[:2] + (num_heads, x.shape[-1] // num_heads))


class Attention(nn.Module):
  """Multi-head attention of x [B, N, C] to ``context`` [B, M, D] (default x):
  -> [B, N, C]. ``head_dim`` channels per head; ``zero_init_output`` starts
  the output projection at zero."""
  num_heads: int
  head_dim: int
  zero_init_output: bool = False

  @nn.compact
  def __call__(self, x, context=None, mask=None):
    context = x if context is None else context
    inner = self.num_heads * self.head_dim
    dense = lambda name: nn.Dense(inner, use_bias=False, kernel_init=DEFAULT_INIT,
                                  name=name)
    q = split_heads(dense("query")(x), self.num_heads)
    k = split_heads(dense("key")(context), self.num_heads)
    v = split_heads(dense("value")(context), self.num_heads)
    if mask is not None:
      mask = jnp.asarray(mask, bool)[:, None, None, :]        # [B, 1, 1, M]
    out = jax.nn.dot_product_attention(q, k, v, mask=mask)    # [B, N, heads, d]
    out_init = nn.initializers.zeros if self.zero_init_output else DEFAULT_INIT
    return nn.Dense(x.shape[-1], kernel_init=out_init, name="out")(
        out.reshape(out.shape[:2] + (inner,)))


class GEGLU(nn.Module):
  """The gated feed-forward (h W_a + b_a) * GELU(h W_g + b_g), then W_o + b_o
  back to the input width (Shazeer 2020, "GLU Variants"; GELU exact)."""
  mult: int = FF_MULT

  @nn.compact
  def __call__(self, h):
    dim = h.shape[-1]
    a, gate = jnp.split(nn.Dense(2 * self.mult * dim, kernel_init=DEFAULT_INIT,
                                 name="proj_in")(h), 2, axis=-1)
    return nn.Dense(dim, kernel_init=DEFAULT_INIT, name="proj_out")(
        a * nn.gelu(gate, approximate=False))


class TransformerBlock(nn.Module):
  """LDM's BasicTransformerBlock on tokens h [B, N, dim]: pre-LN self-attention,
  cross-attention to ``context`` (h when None), GEGLU feed-forward, each residual."""
  num_heads: int
  head_dim: int

  @nn.compact
  def __call__(self, h, context=None, mask=None):
    norm = lambda name: nn.LayerNorm(epsilon=LN_EPSILON, name=name)
    h = h + Attention(self.num_heads, self.head_dim, name="self_attn")(norm("norm_0")(h))
    if context is None:
      mask = None
    h = h + Attention(self.num_heads, self.head_dim, name="cross_attn")(
        norm("norm_1")(h), context, mask)
    return h + GEGLU(name="ff")(norm("norm_2")(h))


def check_heads(channels, num_heads, name):
  """ConfigError unless ``channels`` split into ``num_heads`` heads."""
  if num_heads < 1 or channels % num_heads:
    raise ConfigError(
        f"{name}: {channels} channels cannot be split into num_heads={num_heads} "
        f"heads; use a num_heads that divides {channels}.")


class SpatialTransformer(nn.Module):
  """LDM's SpatialTransformer: x [B, H, W, C] (+ context [B, M, D], mask
  [B, M]) -> x + proj_out(blocks(proj_in(GroupNorm(x)))), [B, H, W, C].

  ``num_heads`` heads of C / num_heads channels; ``depth`` blocks. The output
  projection starts at zero, so the block starts as the identity.
  """
  num_heads: int = 8
  depth: int = 1
  max_groups: int = 32

  @nn.compact
  def __call__(self, x, context=None, mask=None):
    b, c = x.shape[0], x.shape[-1]
    check_heads(c, self.num_heads, "SpatialTransformer")
    h = group_norm(x, self.max_groups, name="norm").reshape(b, -1, c)
    h = nn.Dense(c, kernel_init=DEFAULT_INIT, name="proj_in")(h)
    for i in range(self.depth):
      h = TransformerBlock(self.num_heads, c // self.num_heads,
                           name=f"block_{i}")(h, context, mask)
    h = nn.Dense(c, kernel_init=nn.initializers.zeros, name="proj_out")(h)
    return x + h.reshape(x.shape)

