"""Streaming feature extraction: image batches in, features (and logits) out.

Batches are global arrays sharded over the mesh's data axis; the feature net
runs under one ``jax.jit`` per (net, batch shape), so every device computes
its shard. Only features reach the host; images never accumulate. Each batch
is checked: images must be floating point in [0, 1], the contract of
``family.sample`` — a uint8 batch or a [-1, 1] batch would otherwise give a
silently wrong FID.
"""
import dataclasses
from typing import Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from genjax.errors import ConfigError
from genjax.eval.feature_net import FeatureNet, quantize

# Values this far outside [0,1] are an error, not float rounding.
RANGE_TOLERANCE = 1e-3


class ImageRangeError(ConfigError):
  """Images handed to a metric are not floats in [0, 1]."""


def check_dtype(images, where):
  if not jnp.issubdtype(images.dtype, jnp.floating):
    hint = (" Divide uint8 images by 255." if images.dtype == jnp.uint8 else "")
    raise ImageRangeError(
        f"{where}: images must be floating point in [0, 1]; got dtype "
        f"{images.dtype}.{hint}")


def check_range(lo, hi, where):
  if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE or not (
      np.isfinite(lo) and np.isfinite(hi)):
    hint = ""
    if lo < -RANGE_TOLERANCE and lo >= -1 - RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
      hint = " This looks like [-1, 1] data: map it with (x + 1) / 2."
    elif hi > 1 + RANGE_TOLERANCE and hi <= 255 + RANGE_TOLERANCE and lo >= -RANGE_TOLERANCE:
      hint = " This looks like [0, 255] data: divide by 255."
    raise ImageRangeError(
        f"{where}: images must be in [0, 1]; got values in [{lo:.4g}, "
        f"{hi:.4g}].{hint}")


def check_shape(net: FeatureNet, image_shape, where):
  """Start-up check that ``net`` accepts images of ``image_shape``: a net of
  a fixed size takes images of its channels at any height and width
  (``fit_to_net`` resizes them)."""
  if net.input_shape is not None and image_shape[-1] != net.input_shape[-1]:
    raise ConfigError(
        f"{where}: the {net.name!r} feature network takes images of shape "
        f"{tuple(net.input_shape)} (or resized to it), but these are "
        f"{tuple(image_shape)}. Use the metric with another feature net (e.g. "
        "fid_inception), or the net of this dataset.")


def fit_to_net(images, input_shape):
  """Images [B,H,W,C] of another height and width than a fixed-size net's
  ``input_shape``, resized to it (antialiased bilinear, as the data op
  ``resize``: e.g. a 32x32 model of 28x28 Fashion-MNIST scored by its
  classifier, its samples and reference data alike); others unchanged."""
  if input_shape is None or tuple(images.shape[1:]) == tuple(input_shape):
    return images
  shape = images.shape[:1] + tuple(input_shape)
  return jax.image.resize(images, shape, "linear", antialias=True).astype(images.dtype)


@dataclasses.dataclass
class Features:
  """Features of a set of images (host NumPy): [N, D], and [N, K] logits."""
  features: np.ndarray
  logits: Optional[np.ndarray] = None


class Extractor:
  """Jitted, sharded feature pass of one ``FeatureNet``."""

  def __init__(self, net: FeatureNet, mesh=None):
    self.net = net
    rep = (None if mesh is None else
           jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))

    def fn(params, images):
      out = net.apply(params, quantize(fit_to_net(images, net.input_shape)))
      out = {k: v.astype(jnp.float32) for k, v in out.items()}
      out["min"], out["max"] = jnp.min(images), jnp.max(images)
      return out

    self._fn = jax.jit(fn, out_shardings=rep)

  def __call__(self, images, where="feature extraction"):
    """{'features': [B,D], 'logits'?: [B,K]} as NumPy, after the range check."""
    check_dtype(images, where)
    check_shape(self.net, images.shape[1:], where)
    out = jax.device_get(self._fn(self.net.params, images))
    check_range(float(out.pop("min")), float(out.pop("max")), where)
    return {k: np.asarray(v) for k, v in out.items()}


class Accumulator:
  """Collects per-batch outputs (dropping padding rows) into ``Features``."""

  def __init__(self):
    self.parts: Dict[str, List[np.ndarray]] = {}

  def add(self, out, mask=None):
    keep = None if mask is None else np.asarray(mask) > 0
    for k, v in out.items():
      self.parts.setdefault(k, []).append(v if keep is None else v[keep])

  def result(self) -> Features:
    cat = {k: np.concatenate(v) for k, v in self.parts.items()}
    return Features(cat["features"], cat.get("logits"))
