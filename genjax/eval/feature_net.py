"""What a feature network is, for the sample-quality metrics.

A ``FeatureNet`` maps a batch of 8-bit images to features (and, when the net
is a classifier, logits). Every metric quantises images the same way before
they reach a feature net (``quantize``: [0,1] float -> integer levels 0..255
held in float32, as the reference FID code does when it saves PNGs), so FID
of a model and FID of data see identical inputs. The nets themselves
(``inception.py``, ``classifier.py``) are loaded by name in ``features.py``.
"""
import dataclasses
from typing import Any, Callable, Optional, Tuple

import jax.numpy as jnp

from genjax.errors import GenjaxError


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
