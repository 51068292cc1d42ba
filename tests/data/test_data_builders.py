"""Offline tfds builders: same spec as the catalog twins, no network."""
import hashlib

import numpy as np
import pytest

from genjax.data import builders
from genjax.data import sources
from genjax.data._tf import tfds
from genjax.errors import ConfigError


def _multiset(images, labels):
  """Order-free fingerprint of (image, label) pairs (tfds reorders records)."""
  return sorted(hashlib.md5(x.tobytes() + bytes([int(y)])).hexdigest()
                for x, y in zip(images, labels))


TWINS = sorted(n for n, cls in builders.OFFLINE_BUILDERS.items()
               if getattr(cls, "CATALOG_TWIN", True))


def test_builders_without_a_catalog_twin_are_the_expected_ones():
  assert sorted(set(builders.OFFLINE_BUILDERS) - set(TWINS)) == [
      "animal_silhouettes", "emoji32", "emoji64", "font_digits", "lfw_subset"]


@pytest.mark.parametrize("name", TWINS)
def test_offline_builder_has_the_catalog_spec(name, tmp_path, no_downloads):
  # Reading the catalog twin's info needs no network (tfds ships it).
  twin = tfds.builder(name, data_dir=str(tmp_path / "catalog"))
  ours = builders.OFFLINE_BUILDERS[name](data_dir=str(tmp_path / "ours"))
  assert ours.name == twin.name
  assert ours.version == twin.version
  assert ours.info.features.to_json() == twin.info.features.to_json()
  assert ours.info.supervised_keys == twin.info.supervised_keys
  if name == "fashion_mnist":
    labels = ours.info.features["label"], twin.info.features["label"]
    assert labels[0].names == labels[1].names


# The optional sources, and the fixtures that skip without them (conftest.py).
SOURCE_FIXTURES = {"fashion_mnist": "fashion_mnist",
                   "animal_silhouettes": "animal_silhouettes",
                   "emoji32": "emoji_font", "emoji64": "emoji_font",
                   "font_digits": "dejavu_core_dir"}  # six fonts: fast
IMAGE_SHAPES = {"lfw_subset": (25, 25, 1), "emoji32": (32, 32, 3),
                "emoji64": (64, 64, 3)}  # the others: (28, 28, 1)


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xdist_group("emoji"))  # one rendering
    if n.startswith("emoji") else n for n in sorted(builders.OFFLINE_BUILDERS)])
def test_offline_builder_prepares_without_network(
    name, tmp_path, no_downloads, request):
  if name in SOURCE_FIXTURES:
    request.getfixturevalue(SOURCE_FIXTURES[name])
  builder = builders.OFFLINE_BUILDERS[name](data_dir=str(tmp_path))
  builders.prepare_offline(builder, max_examples_per_split=20)
  builder = builders.get_builder(name, data_dir=str(tmp_path))  # Reused.
  assert set(builder.info.splits) == {"train", "test"}
  assert builder.info.splits["train"].num_examples == 20
  example = next(iter(builder.as_dataset(split="test").as_numpy_iterator()))
  assert example["image"].shape == builder.info.features["image"].shape
  assert example["image"].shape == IMAGE_SHAPES.get(name, (28, 28, 1))
  assert example["image"].dtype == np.uint8


def test_prepared_mnist_matches_the_source(mnist_builder):
  splits = mnist_builder.info.splits
  assert {s: splits[s].num_examples for s in splits} == {
      "train": 60_000, "test": 10_000}
  assert mnist_builder.data_dir.startswith(builders.default_data_dir())
  batch = mnist_builder.as_dataset(split="test", batch_size=-1)
  images, labels = sources.load_mnist_arrays()["test"]
  assert (_multiset(batch["image"].numpy(), batch["label"].numpy())
          == _multiset(images, labels))


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv(builders.DATA_DIR_ENV, str(tmp_path))
  assert builders.default_data_dir() == str(tmp_path)
  monkeypatch.delenv(builders.DATA_DIR_ENV)
  assert builders.default_data_dir().endswith(".cache/genjax/tfds")


def test_offline_builders_are_not_registered():
  assert tfds.builder_cls("mnist") is not builders.Mnist


def test_unknown_dataset_lists_the_offline_names():
  with pytest.raises(ConfigError) as e:
    builders.get_builder("mnsit")
  message = str(e.value)
  assert "'mnsit'" in message
  assert all(n in message for n in builders.OFFLINE_BUILDERS)
  assert "tfds catalog" in message and "internet" in message


def test_catalog_name_under_mock_data(no_downloads, tmp_path):
  with tfds.testing.mock_data(num_examples=3):
    builder = builders.get_builder("cifar10", offline=False,
                                   data_dir=str(tmp_path))
    ds = builder.as_dataset(split="train")
    assert len(list(ds)) == 3
  assert not any(tmp_path.iterdir())  # Nothing was written.
