"""The offline animal_silhouettes dataset: the wheel animal-mnist==0.4."""
import gzip
import hashlib
import importlib.metadata
import io
import os
import pickle

import numpy as np
import pytest

from genjax.data import builders, pipeline, sources
from genjax.errors import DataError


def _raw(paths):
  """The wheel's images and labels, in file order."""
  out = []
  for path in paths:
    with gzip.open(path, "rb") as f:
      out.append(sources.restricted_load(f))
  return out


def _hashes(images):
  return [hashlib.md5(np.ascontiguousarray(x).tobytes()).hexdigest()
          for x in images]


def test_arrays_shapes_dtypes_and_counts(animal_silhouettes):
  del animal_silhouettes
  arrays = sources.load_animal_silhouettes_arrays()
  assert set(arrays) == {"train", "test"}
  for split, n in (("train", 9_001), ("test", 999)):
    images, labels = arrays[split]
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9
    assert not images.flags.writeable and not labels.flags.writeable
  test_counts = np.bincount(arrays["test"][1], minlength=10)
  np.testing.assert_array_equal(
      test_counts + np.bincount(arrays["train"][1], minlength=10), [1000] * 10)
  assert test_counts.min() >= 97 and test_counts.max() <= 102
  assert sources.load_animal_silhouettes_arrays() is arrays  # cached
  assert len(sources.ANIMAL_CLASSES) == 10


def test_split_is_every_tenth_first_copy(animal_silhouettes):
  images, labels = _raw(animal_silhouettes)
  n = len(images)
  np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 1000))
  # Reference: the first copy of each image by np.unique over whole rows.
  _, first, inverse = np.unique(images.reshape(n, -1), axis=0,
                                return_index=True, return_inverse=True)
  first_copy = first[inverse.ravel()]
  assert (first_copy != np.arange(n)).sum() == 284  # the file's duplicates
  test = first_copy % 10 == 9
  arrays = sources.load_animal_silhouettes_arrays()
  for split, keep in (("train", ~test), ("test", test)):
    np.testing.assert_array_equal(arrays[split][0][..., 0], images[keep])
    np.testing.assert_array_equal(arrays[split][1], labels[keep])
  # No image of 'test' is in 'train'.
  assert not set(_hashes(arrays["test"][0])) & set(_hashes(arrays["train"][0]))


def test_restricted_unpickler_refuses_a_disallowed_numpy_global():
  # numpy.load is in numpy, yet not one of the names arrays need.
  payload = b"cnumpy\nload\n(S'/etc/passwd'\ntR."
  with pytest.raises(pickle.UnpicklingError, match="numpy.load"):
    sources.restricted_load(io.BytesIO(payload))


class _Evil:

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.system, (f"touch {self.path}",))


def test_animal_loader_refuses_a_malicious_pickle(tmp_path):
  marker = tmp_path / "pwned"
  paths = tmp_path / "images.gz", tmp_path / "labels.gz"
  for path in paths:
    with gzip.open(path, "wb") as f:
      pickle.dump(_Evil(marker), f, protocol=4)
  with pytest.raises(pickle.UnpicklingError, match="os|posix"):
    sources.load_animal_pickles(*paths)
  assert not marker.exists()


def test_missing_wheel_names_the_install_command(monkeypatch):
  def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)
  monkeypatch.setattr(importlib.metadata, "files", missing)
  with pytest.raises(DataError,
                     match=r"`pip install --no-deps animal-mnist==0\.4`"):
    sources.LOADERS["animal_silhouettes"]()


def test_wheel_without_its_files_names_the_reinstall(monkeypatch):
  monkeypatch.setattr(importlib.metadata, "files", lambda name: [])
  with pytest.raises(DataError, match=r"animal-mnist==0\.4 --force-reinstall"):
    sources.animal_silhouettes_paths()


def test_builder_and_pipeline(animal_silhouettes, tmp_path, no_downloads):
  del animal_silhouettes
  builder = builders.AnimalSilhouettes(data_dir=str(tmp_path))
  builders.prepare_offline(builder, max_examples_per_split=50)
  builder = builders.get_builder("animal_silhouettes", data_dir=str(tmp_path))
  assert builder.info.features["label"].names == list(sources.ANIMAL_CLASSES)
  got = builder.as_dataset(split="test", batch_size=-1)
  images, labels = sources.load_animal_silhouettes_arrays()["test"]
  assert (sorted(zip(_hashes(got["image"].numpy()), got["label"].numpy()))
          == sorted(zip(_hashes(images[:50]), labels[:50])))

  cfg = dict(name="animal_silhouettes", data_dir=str(tmp_path),
             preprocess=("scale_01",), shuffle_buffer=50)
  assert pipeline.num_classes(cfg) == 10
  assert pipeline.image_shape(cfg) == (28, 28, 1)
  batch = next(pipeline.train_iterator(cfg, 8, seed=0))
  assert batch["image"].shape == (8, 28, 28, 1)
  assert batch["label"].dtype == np.int32
