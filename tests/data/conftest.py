"""Fixtures for the data tests: offline sources, and a guard against downloads.

The offline MNIST builder is prepared in the default data dir
(``$GENJAX_DATA_DIR`` or ``~/.cache/genjax/tfds``), shared with the other
tests: preparing it takes ~15 s, once per machine.
"""
import pathlib
import socket

import pytest

from genjax.data import builders
from genjax.data import emoji
from genjax.data import font_digits
from genjax.data._tf import tfds
from genjax.data.sources import ANIMAL_INSTALL
from genjax.data.sources import animal_silhouettes_paths
from genjax.data.sources import fashion_mnist_dir
from genjax.data.sources import load_mnist_arrays
from genjax.errors import DataError


@pytest.fixture
def fashion_mnist():
  """Skips the test when Debian's Fashion-MNIST files are absent."""
  try:
    return fashion_mnist_dir()
  except DataError:
    pytest.skip("Fashion-MNIST's IDX files are not installed "
                "(apt-get install dataset-fashion-mnist, or set "
                "GENJAX_FASHION_MNIST_DIR)")


@pytest.fixture
def animal_silhouettes():
  """Skips the test when the wheel animal-mnist is not installed."""
  try:
    return animal_silhouettes_paths()
  except DataError:
    pytest.skip(f"The animal silhouettes are not installed ({ANIMAL_INSTALL})")


@pytest.fixture
def emoji_font():
  """Skips the test without Noto Color Emoji or Pillow's raqm layout."""
  try:
    emoji.check_raqm()
    return emoji.font_path()
  except DataError:
    pytest.skip(f"Noto Color Emoji or libfribidi is absent ({emoji.FONT_INSTALL} "
                f"{emoji.RAQM_INSTALL.split()[-1]}, as root)")


# Debian's fonts-dejavu-core: the fonts every machine here has.
DEJAVU_CORE = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf",
               "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf",
               "DejaVuSerif-Bold.ttf")


@pytest.fixture
def dejavu_core_dir(monkeypatch, tmp_path):
  """$GENJAX_FONT_DIRS -> a folder of links to fonts-dejavu-core's six fonts
  (a small, fast font_digits set); skips without them."""
  source = pathlib.Path("/usr/share/fonts/truetype/dejavu")
  if not all((source / n).is_file() for n in DEJAVU_CORE):
    pytest.skip("fonts-dejavu-core is not installed "
                "(apt-get install fonts-dejavu-core, as root)")
  fonts = tmp_path / "fonts"
  fonts.mkdir()
  for name in DEJAVU_CORE:
    (fonts / name).symlink_to(source / name)
  monkeypatch.setenv(font_digits.FONT_DIRS_ENV, str(fonts))
  return fonts


@pytest.fixture(scope="session")
def mnist_builder():
  return builders.get_builder("mnist")


@pytest.fixture(scope="session")
def mnist_digits():
  """32 real MNIST test digits, uint8 [32,28,28,1] (the offline source)."""
  return load_mnist_arrays()["test"][0][:32]


@pytest.fixture
def no_downloads(monkeypatch):
  """Fails the test if anything tries the network, a tfds download or GCS."""
  def refuse(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args!r} {kwargs!r}")

  monkeypatch.setattr(socket.socket, "connect", refuse)
  monkeypatch.setattr(socket, "create_connection", refuse)
  monkeypatch.setattr(socket, "getaddrinfo", refuse)
  manager = tfds.download.DownloadManager
  for name in ("download", "download_and_extract", "download_kaggle_data"):
    monkeypatch.setattr(manager, name, refuse)
  gcs = tfds.core.utils.gcs_utils
  for name in ("exists", "download_gcs_dataset", "download_gcs_folder"):
    monkeypatch.setattr(gcs, name, refuse)
