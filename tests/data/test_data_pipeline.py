"""Train / eval pipelines on offline MNIST, and on cifar10 under mock_data."""
import itertools

import ml_collections
import numpy as np
import pytest
from scipy import ndimage

from genjax.data import pipeline
from genjax.data._tf import tfds
from genjax.data.sources import load_mnist_arrays
from genjax.errors import ConfigError

# The 10k test split keeps these tests fast.
SMALL = dict(name="mnist", train_split="test", shuffle_buffer=500)


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def _assert_same_batches(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


@pytest.fixture(autouse=True)
def _prepared(mnist_builder):
  del mnist_builder  # Prepares offline MNIST once (a no-op when it exists).


def test_from_config_accepts_configdict_and_kwargs():
  cfg = ml_collections.ConfigDict(dict(
      name="mnist", offline=True, data_dir=None, train_split="train",
      eval_split="test", preprocess=["scale_01"], shuffle_buffer=100))
  assert pipeline.from_config(cfg) == pipeline.from_config(
      None, name="mnist", preprocess="scale_01", shuffle_buffer=100)
  with pytest.raises(ConfigError, match="shufle_buffer"):
    pipeline.from_config(dict(name="mnist", shufle_buffer=3))
  with pytest.raises(ConfigError, match="Unknown preprocessing op 'scale'"):
    pipeline.from_config(dict(name="mnist", preprocess=["scale"]))


def test_shapes_and_dtypes():
  cfg = dict(SMALL, preprocess=["resize(32)", "flip_lr", "scale_pm1"])
  assert pipeline.image_shape(cfg) == (32, 32, 1)
  assert pipeline.num_classes(cfg) == 10
  batch = next(pipeline.train_iterator(cfg, 16, seed=0))
  assert set(batch) == {"image", "label"}
  assert batch["image"].shape == (16, 32, 32, 1)
  assert batch["image"].dtype == np.float32
  assert -1 <= batch["image"].min() < batch["image"].max() <= 1
  assert batch["label"].shape == (16,) and batch["label"].dtype == np.int32


def test_without_value_op_the_model_sees_float_pixels():
  batch = next(pipeline.train_iterator(SMALL, 8, seed=0))
  assert batch["image"].dtype == np.float32 and batch["image"].max() == 255


def test_deterministic_resume_across_an_epoch_boundary():
  cfg = dict(SMALL, preprocess=["flip_lr", "binarize_dynamic"])
  k = 160  # 10k examples / 64 = 156.25 batches per epoch.
  fresh = _take(pipeline.train_iterator(cfg, 64, seed=7), k + 4)
  resumed = _take(pipeline.train_iterator(cfg, 64, seed=7, start_step=k), 4)
  _assert_same_batches(fresh[k:], resumed)
  # Epochs are reshuffled, and another seed gives other batches.
  assert not np.array_equal(fresh[0]["label"], fresh[157]["label"])
  other = next(pipeline.train_iterator(cfg, 64, seed=8))
  assert not np.array_equal(fresh[0]["label"], other["label"])


def _fingerprints(batches, key="image"):
  rows = np.concatenate([b[key] for b in batches])
  if "valid" in batches[0]:
    rows = rows[np.concatenate([b["valid"] for b in batches]) == 1]
  return [r.tobytes() for r in rows]


def test_process_shards_are_disjoint_and_cover_the_split():
  cfg = dict(SMALL, shuffle_buffer=0)
  shards = [_fingerprints(_take(pipeline.train_iterator(
      cfg, 400, seed=0, process_index=p, process_count=2), 25))
            for p in range(2)]
  assert all(len(s) == 5000 for s in shards)
  everything = _fingerprints(list(pipeline.eval_iterator(cfg, "test", 500)))
  assert sorted(shards[0] + shards[1]) == sorted(everything)
  assert len(set(shards[0]) & set(shards[1])) < 20  # A few duplicate digits.
  with pytest.raises(ConfigError, match="multiple of the number of processes"):
    pipeline.train_iterator(cfg, 401, seed=0, process_count=2)


@pytest.mark.parametrize("process_count", [2, 4])
def test_batch_sharding_gives_each_process_its_rows_of_the_global_batches(process_count):
  """data.process_sharding='batch': process p's batch k is rows
  [p*L, (p+1)*L) of the one-process batch k (augmentation included; eval
  batches with their padding mask too), so any process count sees the same
  batches; the shards are disjoint."""
  cfg = dict(SMALL, process_sharding="batch", preprocess=("flip_lr", "scale_01"))
  whole = _take(pipeline.train_iterator(cfg, 8, seed=3, start_step=2), 3)
  parts = [_take(pipeline.train_iterator(cfg, 8, seed=3, start_step=2, process_index=p,
                                         process_count=process_count), 3)
           for p in range(process_count)]
  for k, batch in enumerate(whole):
    for key in batch:
      np.testing.assert_array_equal(
          np.concatenate([part[k][key] for part in parts]), batch[key])
  evals = list(pipeline.eval_iterator(cfg, "test", 8, num_examples=20))
  eval_parts = [list(pipeline.eval_iterator(cfg, "test", 8, num_examples=20, process_index=p,
                                            process_count=process_count))
                for p in range(process_count)]
  assert all(len(part) == len(evals) == 3 for part in eval_parts)
  for k, batch in enumerate(evals):
    for key in batch:
      np.testing.assert_array_equal(
          np.concatenate([part[k][key] for part in eval_parts]), batch[key])
  with pytest.raises(ConfigError, match="process_sharding must be one of split, batch"):
    pipeline.train_iterator(dict(SMALL, process_sharding="rows"), 8, seed=0)


@pytest.mark.parametrize("process_count", [1, 3])
def test_eval_iterator_pads_with_a_mask(process_count):
  cfg = dict(SMALL, preprocess=["scale_01"])
  num = 1000
  assert pipeline.num_eval_examples(cfg, "test", num) == num
  assert pipeline.num_eval_examples(cfg, "test") == 10_000
  per_process = []
  for p in range(process_count):
    batches = list(pipeline.eval_iterator(
        cfg, "test", 90 * process_count, num_examples=num, process_index=p,
        process_count=process_count))
    for b in batches:
      assert b["image"].shape == (90, 28, 28, 1) and b["valid"].shape == (90,)
      assert b["valid"].dtype == np.float32
      assert (b["image"][b["valid"] == 0] == 0).all()
    masks = np.concatenate([b["valid"] for b in batches])
    assert masks.tolist() == sorted(masks.tolist(), reverse=True)
    per_process.append((len(batches), masks.sum()))
  assert len({n for n, _ in per_process}) == 1  # Same number of batches.
  assert sum(real for _, real in per_process) == num


def test_eval_is_fixed_and_skips_augmentation():
  cfg = dict(SMALL, preprocess=["flip_lr", "binarize_dynamic"])
  first = list(pipeline.eval_iterator(cfg, None, 1000, num_examples=2000))
  again = list(pipeline.eval_iterator(cfg, None, 1000, num_examples=2000))
  _assert_same_batches(first, again)
  raw = list(pipeline.eval_iterator(SMALL, None, 1000, num_examples=2000))
  # Binarised with p = x / 255 and never flipped: 0 and 255 stay exact.
  for b, r in zip(first, raw):
    assert ((b["image"] == 0) | (b["image"] == 1)).all()
    assert (b["image"][r["image"] == 0] == 0).all()
    assert (b["image"][r["image"] == 255] == 1).all()
    np.testing.assert_array_equal(b["label"], r["label"])


def test_unknown_dataset_name():
  with pytest.raises(ConfigError,
                     match="Valid dataset names: animal_silhouettes, emoji32, emoji64, "
                     "fashion_mnist, font_digits, lfw_subset, mnist"):
    pipeline.image_shape(dict(name="mnits"))


def test_cifar10_under_mock_data(no_downloads, tmp_path):
  cfg = dict(name="cifar10", offline=False, data_dir=str(tmp_path),
             preprocess=["flip_lr", "scale_pm1"])
  with tfds.testing.mock_data(num_examples=10):
    assert pipeline.image_shape(cfg) == (32, 32, 3)
    batches = _take(pipeline.train_iterator(cfg, 4, seed=0), 5)
    assert all(b["image"].shape == (4, 32, 32, 3) for b in batches)
    evals = list(pipeline.eval_iterator(cfg, "test", 4))
    assert [b["valid"].sum() for b in evals] == [4, 4, 2]


def test_variable_size_images_under_mock_data(no_downloads, tmp_path):
  cfg = dict(name="cycle_gan/horse2zebra", offline=False,
             data_dir=str(tmp_path), train_split="trainA", eval_split="testA",
             preprocess=["resize(16)", "scale_01"])
  with tfds.testing.mock_data(num_examples=6):
    assert pipeline.image_shape(cfg) == (16, 16, 3)
    batch = next(pipeline.train_iterator(cfg, 4, seed=0))
    assert batch["image"].shape == (4, 16, 16, 3)
    with pytest.raises(ConfigError, match="resize"):
      pipeline.image_shape(dict(cfg, preprocess=[]))


# --------------------------------------------------------------------------
# Fields beyond image and label, class subsets, unpaired streams.

PAIRED_OPS = ["greyscale(outkey='target')", "canny(outkey='control')",
              "flip_lr(inkey=('image', 'target', 'control'))",
              "random_box_mask(outkey='hole')", "scale_01(inkey='target')",
              "scale_pm1"]


def test_derived_fields_stay_aligned_in_the_pipeline():
  cfg = dict(SMALL, preprocess=PAIRED_OPS)
  assert pipeline.example_shapes(cfg) == {
      "image": (28, 28, 1), "label": (), "target": (28, 28, 1),
      "control": (28, 28, 1), "hole": (28, 28, 1)}
  batch = next(pipeline.train_iterator(cfg, 32, seed=1))
  assert {k: v.dtype for k, v in batch.items()} == {
      "image": np.float32, "label": np.int32, "target": np.float32,
      "control": np.float32, "hole": np.float32}
  # Flipped together: target is the image in [0,1], edges hug the digit.
  np.testing.assert_allclose(batch["target"], (batch["image"] + 1) / 2,
                             atol=1e-6)
  near = ndimage.binary_dilation(batch["target"][..., 0] > 0,
                                 np.ones((1, 3, 3)), iterations=2)
  assert batch["control"].sum() > 0 and (batch["control"][..., 0] <= near).all()
  raw = next(pipeline.train_iterator(SMALL, 32, seed=1))["image"]
  target = np.round(batch["target"] * 255)
  same = (target == raw).all(axis=(1, 2, 3))
  mirrored = (target == raw[:, :, ::-1]).all(axis=(1, 2, 3))
  assert (same | mirrored).all() and not same.all()


def test_an_op_may_not_write_the_eval_padding_key():
  cfg = dict(SMALL, preprocess=["random_box_mask(outkey='valid')"])
  assert "valid" in next(pipeline.train_iterator(cfg, 8, seed=0))
  with pytest.raises(ConfigError, match="padding weights"):
    pipeline.eval_dataset(cfg, None, 8)


def test_an_inpainting_mask_reaches_eval_batches_beside_their_padding():
  cfg = dict(SMALL, preprocess=["random_box_mask(outkey='mask')", "scale_01"])
  batch = next(iter(pipeline.eval_iterator(cfg, None, 8, num_examples=8)))
  assert batch["mask"].shape == (8, 28, 28, 1) and batch["valid"].shape == (8,)


def test_class_subsets_in_train_and_eval(mnist_builder):
  cfg = dict(SMALL, classes=[3, 5])  # A list, as config.json stores it.
  assert pipeline.from_config(cfg).classes == (3, 5)
  labels = np.concatenate([b["label"] for b in _take(
      pipeline.train_iterator(cfg, 64, seed=0), 3)])
  assert set(labels) == {3, 5}
  _, test_labels = load_mnist_arrays()["test"]
  expected = int(np.isin(test_labels, [3, 5]).sum())
  assert pipeline.num_eval_examples(cfg, "test") == expected
  evals = list(pipeline.eval_iterator(cfg, "test", 500))
  real = np.concatenate([b["label"][b["valid"] == 1] for b in evals])
  assert len(real) == expected and set(real) == {3, 5}


@pytest.mark.parametrize("classes, match", [
    ((10,), "label values \\[10\\] that the dataset 'mnist' lacks"),
    (("3",), "integers >= 0"), ((True,), "integers >= 0")])
def test_bad_classes(classes, match):
  with pytest.raises(ConfigError, match=match):
    pipeline.train_dataset(dict(SMALL, classes=classes), 8, seed=0)


UNPAIRED = dict(SMALL, classes=(0,), preprocess=["flip_lr", "scale_01"],
                unpaired=dict(classes=(1,), prefix="target",
                              preprocess=["dequantize"]))


def test_unpaired_streams_zip_with_renamed_keys():
  batch = next(pipeline.train_iterator(UNPAIRED, 16, seed=2))
  assert set(batch) == {"image", "label", "target", "target_label"}
  assert set(batch["label"]) == {0} and set(batch["target_label"]) == {1}
  assert pipeline.example_shapes(UNPAIRED)["target"] == (28, 28, 1)
  # Each stream is the single-stream pipeline of its own block and seed.
  block = pipeline.from_config(UNPAIRED).unpaired.stream
  alone = next(pipeline.train_iterator(block, 16,
                                       seed=pipeline.stream_seed(2, 1)))
  np.testing.assert_array_equal(batch["target"], alone["image"])
  first = next(pipeline.train_iterator(dict(UNPAIRED, unpaired=None), 16,
                                       seed=2))
  np.testing.assert_array_equal(batch["image"], first["image"])


def test_unpaired_streams_resume_exactly():
  k = 20  # A nonzero start for both streams.
  fresh = _take(pipeline.train_iterator(UNPAIRED, 16, seed=3), k + 2)
  resumed = _take(pipeline.train_iterator(UNPAIRED, 16, seed=3,
                                          start_step=k), 2)
  _assert_same_batches(fresh[k:], resumed)
  same_classes = dict(UNPAIRED, unpaired=dict(classes=(0,)))
  pair = next(pipeline.train_iterator(same_classes, 16, seed=3))
  assert not np.array_equal(pair["image"], pair["target"])  # Independent.


def test_unpaired_eval_and_config_errors():
  evals = list(pipeline.eval_iterator(UNPAIRED, None, 200, num_examples=500))
  again = list(pipeline.eval_iterator(UNPAIRED, None, 200, num_examples=500))
  _assert_same_batches(evals, again)
  assert [b["valid"].sum() for b in evals] == [200, 200, 100]
  assert all(set(b["target_label"]) == {1} for b in evals)
  inherited = pipeline.from_config(dict(UNPAIRED, unpaired={})).unpaired
  assert inherited.stream.classes == () and inherited.prefix == "target"
  assert inherited.stream.preprocess == tuple(UNPAIRED["preprocess"])
  with pytest.raises(ConfigError, match="data.unpaired config"):
    pipeline.from_config(dict(UNPAIRED, unpaired=dict(clases=(1,))))
  with pytest.raises(ConfigError, match="set another data.unpaired.prefix"):
    pipeline.train_dataset(dict(UNPAIRED, unpaired=dict(prefix="label")),
                           8, seed=0)


def test_base_config_data_block_is_valid():
  from genjax.config import base_config
  cfg = pipeline.from_config(base_config().data)
  assert cfg.classes == () and cfg.unpaired is None
  block = base_config().data
  block.unpaired = dict(classes=(1,))
  assert pipeline.from_config(block).unpaired.stream.classes == (1,)


def test_derived_fields_per_example_under_mock_data(no_downloads, tmp_path):
  cfg = dict(name="cycle_gan/horse2zebra", offline=False,
             data_dir=str(tmp_path), train_split="trainA", eval_split="testA",
             preprocess=["resize(16)", "canny(outkey='control')",
                         "half_mask('random', outkey='hole')", "scale_01"])
  with tfds.testing.mock_data(num_examples=6):
    assert pipeline.example_shapes(cfg)["control"] == (16, 16, 1)
    batch = next(pipeline.train_iterator(cfg, 4, seed=0))
    assert batch["control"].shape == batch["hole"].shape == (4, 16, 16, 1)
    assert (batch["hole"].mean(axis=(1, 2, 3)) == 0.5).all()
