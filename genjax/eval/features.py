"""Feature networks behind the sample-quality metrics.

A ``FeatureNet`` maps a batch of 8-bit images to features (and, when the net
is a classifier, logits). Every metric quantises images the same way before
they reach a feature net (``quantize``: [0,1] float -> integer levels 0..255
held in float32, as the reference FID code does when it saves PNGs), so FID
of a model and FID of data see identical inputs.

    net = load_feature_net("mnist")          # or "inception", "fashion_mnist"
    out = net.apply(net.params, quantize(images01))   # {"features": [B,D], "logits": [B,K]}

Names map to "module:attribute" loaders (imported on use, cached per process).
"""
import dataclasses
import functools
import importlib
from typing import Any, Callable, Optional, Tuple

import jax.numpy as jnp

from genjax.errors import GenjaxError, unknown_name

FEATURE_NETS = {
    "inception": "genjax.eval.inception:load_inception",
    "mnist": "genjax.eval.classifier:load_mnist",
    "fashion_mnist": "genjax.eval.classifier:load_fashion_mnist",
}


class MissingWeights(GenjaxError, FileNotFoundError):
  """A feature network's weights file is not installed."""


class BadWeights(GenjaxError, ValueError):
  """A feature network's weights file is not the expected one."""


@dataclasses.dataclass(frozen=True)
class FeatureNet:
  name: str
  # What the features depend on: the weights' hash and the preprocessing
  # version. Stored with reference statistics; a mismatch is refused.
  identity: str
  params: Any
  # (params, levels float32 [B,H,W,C] with integer values 0..255)
  #   -> {"features": [B,D] float32, "logits": [B,K] float32 (classifiers)}
  apply: Callable[..., Any]
  feature_dim: int
  num_classes: Optional[int] = None
  # (H, W, C) the net requires, or None when it takes any size (Inception
  # resizes to 299 and repeats grey channels).
  input_shape: Optional[Tuple[int, int, int]] = None


def quantize(images):
  """[0,1] float images -> float32 integer levels 0..255 (round half to even)."""
  return jnp.round(jnp.clip(images.astype(jnp.float32), 0.0, 1.0) * 255.0)


@functools.lru_cache(maxsize=None)
def load_feature_net(name: str) -> FeatureNet:
  if name not in FEATURE_NETS:
    raise unknown_name("feature network", name, FEATURE_NETS)
  module, attr = FEATURE_NETS[name].split(":")
  return getattr(importlib.import_module(module), attr)()
