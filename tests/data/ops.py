"""Helpers for the op tests: run an op eagerly and inside tf.data."""
import numpy as np

from genjax.data import preprocess as pp
from genjax.data._tf import tf

SEED = (3, 4)


def images(batch=8, h=6, w=5, c=2, seed=0, extremes=True):
  """Random uint8 images; with ``extremes`` the first two are 255 and 0."""
  rng = np.random.default_rng(seed)
  out = rng.integers(0, 256, (batch, h, w, c), dtype=np.uint8)
  if extremes:
    out[0] = 255
    out[1] = 0
  return out


def run(spec, images, seed=SEED, batch_size=4, key="image", example=None):
  """The op's ``key`` output applied eagerly, checked equal to the op inside
  tf.data (a whole batch; and smaller batches: same shapes and dtypes).

  ``example``: the input dict (default ``{'image': images}``).
  """
  op = pp.parse_op(spec)
  example = {"image": images} if example is None else example
  seed = tf.constant(seed, tf.int64)
  eager = op({k: tf.constant(v) for k, v in example.items()}, seed)[key]
  eager = eager.numpy()
  n = len(next(iter(example.values())))
  ds = tf.data.Dataset.from_tensor_slices(example).batch(n)
  in_data = np.concatenate([b[key] for b in ds.map(
      lambda ex: op(ex, seed)).as_numpy_iterator()])
  np.testing.assert_array_equal(eager, in_data)
  if batch_size:
    ds = tf.data.Dataset.from_tensor_slices(example).batch(batch_size)
    small = next(ds.map(lambda ex: op(ex, seed)).as_numpy_iterator())[key]
    assert small.shape[1:] == eager.shape[1:] and small.dtype == eager.dtype
  return eager


def run_one(spec, image, seed=SEED):
  """The op's output on a single example [H,W,C] (eagerly)."""
  out = pp.parse_op(spec)({"image": tf.constant(image)},
                          tf.constant(seed, tf.int64))
  return out["image"].numpy()
