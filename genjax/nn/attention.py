"""Multi-head self-attention over the positions of a feature map, with a residual.

The attention block of DDPM (Ho et al. 2020, following the self-attention of
Wang et al. 2018 "Non-local Neural Networks" and Zhang et al. 2019 SAGAN),
generalised to several heads (Vaswani et al. 2017, sec. 3.2.2):
    h = GroupNorm(x);  q, k, v = h W_q, h W_k, h W_v   (a 1x1 projection, one Dense)
    head_j = softmax(q_j k_j^T / sqrt(d)) v_j           (over all H*W positions)
    out = x + concat_j(head_j) W_o
The projections are ``nn.Dense`` on the channel axis, the same maths as 1x1
convs. The softmax attention is ``jax.nn.dot_product_attention`` (XLA on CPU;
a fused kernel where the backend has one), with softmax in float32.
"""
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError
from genjax.nn.norms import group_norm

# DDPM's default_init: variance scaling 1, fan_avg, uniform (Glorot uniform).
DEFAULT_INIT = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")


class SelfAttention(nn.Module):
  """Self-attention with ``num_heads`` heads over all positions of x: [B, ..., C] -> same shape.

  x is usually an NHWC feature map (the positions are its H*W pixels), but
  any [B, positions..., C] works. C must be divisible by ``num_heads``; each
  head has C / num_heads channels. With ``zero_init_output`` (as DDPM) the
  output projection starts at zero, so the block starts as the identity.
  """
  num_heads: int = 1
  max_groups: int = 32              # GroupNorm groups (fewer if C is not divisible)
  zero_init_output: bool = True
  kernel_init: Callable[..., Any] = DEFAULT_INIT

  @nn.compact
  def __call__(self, x):
    b, c = x.shape[0], x.shape[-1]
    if self.num_heads < 1 or c % self.num_heads:
      raise ConfigError(
          f"SelfAttention: {c} channels cannot be split into num_heads="
          f"{self.num_heads} heads; use a num_heads that divides {c}.")
    d = c // self.num_heads
    h = group_norm(x, self.max_groups, name="norm").reshape(b, -1, c)
    qkv = nn.Dense(3 * c, kernel_init=self.kernel_init, name="qkv")(h)
    q, k, v = jnp.split(qkv.reshape(b, -1, 3 * self.num_heads, d), 3, axis=2)
    out = jax.nn.dot_product_attention(q, k, v)       # [B, N, heads, d], scale 1/sqrt(d)
    out_init = nn.initializers.zeros if self.zero_init_output else self.kernel_init
    out = nn.Dense(c, kernel_init=out_init, name="out")(out.reshape(b, -1, c))
    return x + out.reshape(x.shape)
