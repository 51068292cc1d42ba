"""Multi-layer perceptrons and activations looked up by name."""
from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from genjax.errors import unknown_name

ACTIVATIONS = {
    "relu": nn.relu,
    "elu": nn.elu,
    "silu": nn.silu,
    "gelu": nn.gelu,
    "tanh": jnp.tanh,
    "leaky_relu": nn.leaky_relu,   # negative slope 0.01
    "softplus": nn.softplus,
    "sigmoid": nn.sigmoid,
    "identity": lambda x: x,
}
NORMS = ("none", "layer")


def get_activation(name):
  """The activation function called ``name``; ConfigError listing the valid ones."""
  if name not in ACTIVATIONS:
    raise unknown_name("activation", name, ACTIVATIONS)
  return ACTIVATIONS[name]


def check_norm(norm):
  """``norm`` itself if it is a known norm name (None counts as 'none')."""
  norm = norm or "none"
  if norm not in NORMS:
    raise unknown_name("norm", norm, NORMS)
  return norm


class Linear(nn.Module):
  """Dense -> optional LayerNorm -> activation."""
  features: int
  activation: str = "relu"
  norm: Optional[str] = None

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(self.features)(x)
    if check_norm(self.norm) == "layer":
      x = nn.LayerNorm()(x)
    return get_activation(self.activation)(x)


class MLP(nn.Module):
  """A stack of ``Linear`` blocks of widths ``features`` on the last axis.

  With ``out_features`` set, a final plain Dense layer (no activation) follows.
  """
  features: Sequence[int]
  activation: str = "relu"
  norm: Optional[str] = None
  out_features: Optional[int] = None

  @nn.compact
  def __call__(self, x):
    for width in self.features:
      x = Linear(width, self.activation, self.norm)(x)
    if self.out_features is not None:
      x = nn.Dense(self.out_features)(x)
    return x
