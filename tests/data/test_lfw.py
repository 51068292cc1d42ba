"""The offline lfw_subset dataset: scikit-image's 100 real faces as a tfds builder."""
import hashlib

import numpy as np
import pytest

from genjax.data import builders, pipeline, sources

skimage_data = pytest.importorskip("skimage.data")


def _fingerprints(images):
  return sorted(hashlib.md5(np.ascontiguousarray(x).tobytes()).hexdigest() for x in images)


def test_source_is_the_first_100_images_quantised():
  faces = sources.load_lfw_subset_arrays()["train"]
  raw = skimage_data.lfw_subset()
  assert raw.shape == (200, 25, 25)            # 100 faces, then 100 non-faces
  assert faces.shape == (100, 25, 25, 1) and faces.dtype == np.uint8
  np.testing.assert_array_equal(faces[..., 0], np.round(raw[:100] * 255).astype(np.uint8))
  assert np.abs(faces[..., 0] / 255.0 - raw[:100]).max() <= 0.5 / 255 + 1e-12
  assert sources.load_lfw_subset_arrays()["test"] is faces    # no held-out set
  assert not faces.flags.writeable


def test_builder_prepares_offline_and_pipeline_reads_it(tmp_path, no_downloads):
  builder = builders.LfwSubset(data_dir=str(tmp_path))
  builders.prepare_offline(builder)
  builder = builders.get_builder("lfw_subset", data_dir=str(tmp_path))
  assert {s: builder.info.splits[s].num_examples for s in ("train", "test")} == {
      "train": 100, "test": 100}
  assert "label" not in builder.info.features
  got = builder.as_dataset(split="train", batch_size=-1)["image"].numpy()
  assert _fingerprints(got) == _fingerprints(sources.load_lfw_subset_arrays()["train"])

  # The GAN experiments' pipeline: resized to 32x32, scaled to [-1, 1], no labels.
  cfg = dict(name="lfw_subset", data_dir=str(tmp_path), offline=True,
             preprocess=("resize(32)", "scale_pm1"), shuffle_buffer=100)
  assert pipeline.image_shape(cfg) == (32, 32, 1)
  assert pipeline.num_classes(cfg) is None
  batch = next(pipeline.train_iterator(cfg, 16, seed=0))
  assert set(batch) == {"image"}
  assert batch["image"].shape == (16, 32, 32, 1)
  assert -1.0 <= batch["image"].min() < batch["image"].max() <= 1.0
  assert pipeline.num_eval_examples(cfg, "test") == 100


def test_train_split_slice_gives_the_mnist_600_subset(mnist_builder):
  # dcgan_mnist600.py trains on data.train_split='train[:600]' (1% of MNIST).
  cfg = dict(name="mnist", train_split="train[:600]", preprocess=("scale_pm1",),
             shuffle_buffer=600)
  assert pipeline.num_eval_examples(cfg, "train[:600]") == 600
  it = pipeline.train_iterator(cfg, 200, seed=0)
  epoch = np.concatenate([next(it)["image"] for _ in range(3)])   # 600 images
  first = mnist_builder.as_dataset(split="train[:600]", batch_size=-1)["image"].numpy()
  want = _fingerprints((first.astype(np.float32) / 127.5 - 1.0).astype(np.float32))
  assert len(set(_fingerprints(epoch))) == 600
  assert _fingerprints(epoch) == want
