"""Host input pipelines: tfds split -> preprocessed numpy batches.

``train_iterator`` yields an endless, shuffled stream; ``eval_iterator`` one
pass over a split, padded to whole batches with a ``mask``. Both yield dicts
of numpy arrays: ``image`` float32 [local_B,H,W,C], ``label`` int32
[local_B] (when the dataset has labels), and for evaluation ``mask`` float32
[local_B] (1 for real examples, 0 for padding). ``local_B`` is the global
batch size divided by the number of processes: each process reads its own
shard of the split (``process_index`` / ``process_count``; the trainer passes
``jax.process_index()`` and ``jax.process_count()``).

Deterministic resume. The training stream is a pure function of the data
config, the seed and the process shard: the per-process shard is cached in
memory when it is small, shuffled with tf.data's seeded shuffle (a new order
each epoch, the same orders every run) and repeated; ``start_step=k`` skips
the first ``k * local_B`` examples *before* batching, and the stateless seed
of the random preprocessing ops of batch i is derived from (seed, process, i).
So the batches yielded from ``start_step=k`` equal those of a fresh iterator
after k batches: a run resumed from step k sees exactly the data the
uninterrupted run would have seen. (Skipping costs about 1 µs per example:
~1 s per million examples, paid once at start-up.)

Preprocessing (``genjax.data.preprocess``) runs vectorised on whole batches
when the dataset's images have a fixed shape, and per example before
batching otherwise (then the ops must end in a fixed shape, e.g. ``resize``).
Evaluation skips the training-only ops and uses a fixed seed, so e.g. a
dynamically binarised test set is the same at every evaluation.
"""
import dataclasses
import math
from collections.abc import Mapping
from typing import Optional, Tuple

from genjax.data import builders
from genjax.data import preprocess
from genjax.data._tf import tf, tfds
from genjax.errors import ConfigError, DataError

# The split shard of one process is cached in memory when it is this small.
CACHE_LIMIT_BYTES = 1 << 30
# Seed of the random preprocessing ops at evaluation (fixed: reproducible).
EVAL_SEED = 0


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """The ``data`` block of a config."""
  name: str
  offline: bool = True
  data_dir: Optional[str] = None
  train_split: str = "train"
  eval_split: str = "test"
  preprocess: Tuple[str, ...] = ()
  shuffle_buffer: int = 10_000


_FIELDS = tuple(f.name for f in dataclasses.fields(DataConfig))


def from_config(data_cfg=None, **overrides):
  """A ``DataConfig`` from a ConfigDict, a mapping, a DataConfig or kwargs.

  Unknown fields, a missing name, a bad shuffle buffer or bad preprocessing
  ops raise ConfigError.
  """
  if isinstance(data_cfg, DataConfig):
    fields = dataclasses.asdict(data_cfg)
  elif hasattr(data_cfg, "to_dict"):  # ml_collections.ConfigDict
    fields = data_cfg.to_dict()
  elif isinstance(data_cfg, Mapping) or data_cfg is None:
    fields = dict(data_cfg or {})
  else:
    raise ConfigError(
        f"The data config must be a ConfigDict or a mapping with the fields "
        f"{', '.join(_FIELDS)}; got a {type(data_cfg).__name__}.")
  fields.update(overrides)
  unknown = sorted(set(fields) - set(_FIELDS))
  if unknown:
    raise ConfigError(
        f"Unknown field(s) {', '.join(unknown)} in the data config; the valid "
        f"fields are {', '.join(_FIELDS)}. Remove or rename them.")
  if not fields.get("name"):
    raise ConfigError(
        "The data config has no dataset name; set data.name, e.g. 'mnist'.")
  ops = fields.get("preprocess") or ()
  if isinstance(ops, str):
    ops = [s.strip() for s in ops.split("|") if s.strip()]
  fields["preprocess"] = tuple(ops)
  preprocess.parse_ops(fields["preprocess"])  # Fails early on bad ops.
  buffer = fields.get("shuffle_buffer", DataConfig.shuffle_buffer)
  if not isinstance(buffer, int) or buffer < 0:
    raise ConfigError(
        f"data.shuffle_buffer must be an integer >= 0 (0: no shuffling), "
        f"got {buffer!r}.")
  return DataConfig(**fields)


def _builder(cfg):
  return builders.get_builder(cfg.name, offline=cfg.offline,
                              data_dir=cfg.data_dir)


def _image_feature(cfg, builder):
  features = builder.info.features
  if "image" not in features:
    raise DataError(
        f"The dataset {cfg.name!r} has no 'image' feature (it has "
        f"{', '.join(features.keys())}); genjax's pipelines need one, so pick "
        "an image dataset for data.name.")
  return features["image"]


def _raw_image_shape(cfg, builder):
  return tuple(_image_feature(cfg, builder).shape)


def image_shape(data_cfg):
  """The image shape (H, W, C) the model sees, after preprocessing."""
  cfg = from_config(data_cfg)
  shape = preprocess.output_shape(
      cfg.preprocess, _raw_image_shape(cfg, _builder(cfg)))
  if None in shape:
    raise ConfigError(
        f"The dataset {cfg.name!r} has images of varying size (shape {shape} "
        "after preprocessing); add a 'resize(H, W)' op to data.preprocess.")
  return shape


def num_classes(data_cfg):
  """The number of label classes, or None when the dataset has no label."""
  cfg = from_config(data_cfg)
  features = _builder(cfg).info.features
  return getattr(features["label"], "num_classes", None) if (
      "label" in features) else None


# --------------------------------------------------------------------------
# Reading examples.


def _split_size(builder, split):
  """Number of examples in ``split``, or None if the metadata lacks it."""
  try:
    return int(builder.info.splits[split].num_examples)
  except (KeyError, ValueError, TypeError):
    return None


def _read(cfg, builder, split, process_index=0, process_count=1, take=None):
  """The split's examples (image and label only) for one process.

  With ``take``, the first ``take`` examples of the split are sharded;
  otherwise the whole split, reading only this process's part when the
  split's size is known.
  """
  if not 0 <= process_index < process_count:
    raise ConfigError(
        f"process_index={process_index} is not in [0, process_count="
        f"{process_count}); pass jax.process_index() and jax.process_count().")
  even = (take is None and process_count > 1
          and _split_size(builder, split) is not None)
  read_split = (tfds.even_splits(split, n=process_count)[process_index]
                if even else split)
  ds = builder.as_dataset(split=read_split, shuffle_files=False)
  keys = [k for k in ("image", "label") if k in ds.element_spec]
  ds = ds.map(lambda ex: {k: ex[k] for k in keys},
              num_parallel_calls=tf.data.AUTOTUNE)
  if take is not None:
    ds = ds.take(take)
  if process_count > 1 and not even:
    ds = ds.shard(process_count, process_index)
  return ds


def _cache_if_small(ds, cfg, builder):
  shape = _raw_image_shape(cfg, builder)
  n = int(ds.cardinality())
  if None not in shape and n >= 0 and n * math.prod(shape) <= CACHE_LIMIT_BYTES:
    ds = ds.cache()
  return ds


def _base_seed(seed, process_index):
  base = tf.constant([0, int(seed)], tf.int64)
  return tf.random.experimental.stateless_fold_in(base, process_index)


def _to_model_dtypes(batch):
  out = dict(batch)
  out["image"] = tf.cast(batch["image"], tf.float32)
  if "label" in batch:
    out["label"] = tf.cast(batch["label"], tf.int32)
  return out


def _preprocess_fn(ops, base_seed, train):
  def fn(index, example):
    seed = tf.random.experimental.stateless_fold_in(base_seed, index)
    return preprocess.apply_ops(ops, example, seed, train=train)
  return fn


def _batch_and_preprocess(ds, cfg, builder, local_batch, base_seed, *,
                          first_batch, train, pad_to=None):
  """Batches ``ds`` and applies the ops (per batch, or per example first).

  Batches are numbered from ``first_batch`` (examples from ``first_batch *
  local_batch`` when the ops run per example) to derive the ops' stateless
  seeds. ``pad_to``: pad the example stream with zero examples (mask 0) to
  this many examples before batching.
  """
  ops = preprocess.parse_ops(cfg.preprocess)
  apply = _preprocess_fn(ops, base_seed, train)
  per_batch = None not in _raw_image_shape(cfg, builder)
  if not per_batch:
    image_shape(cfg)  # Fails with a clear error if the ops leave a None.
    ds = tf.data.Dataset.zip(
        tf.data.Dataset.counter(first_batch * local_batch), ds)
    ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
  if pad_to is not None:
    ds = _pad(ds, pad_to)
  ds = ds.batch(local_batch, drop_remainder=True)
  if per_batch:
    ds = tf.data.Dataset.zip(tf.data.Dataset.counter(first_batch), ds)
    ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE)
  ds = ds.map(_to_model_dtypes, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


def _pad(ds, total):
  """Adds ``mask`` (1.0) and pads with zero examples (mask 0.0) to ``total``."""
  ds = ds.map(lambda ex: {**ex, "mask": tf.constant(1.0)})
  zeros = tf.nest.map_structure(
      lambda spec: tf.zeros(spec.shape, spec.dtype), ds.element_spec)
  padding = tf.data.Dataset.from_tensors(zeros).repeat()
  return ds.concatenate(padding).take(total)


def _options(ds):
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)


def _local_batch_size(global_batch_size, process_count):
  if global_batch_size < 1 or global_batch_size % process_count:
    raise ConfigError(
        f"The global batch size {global_batch_size} must be a positive "
        f"multiple of the number of processes ({process_count}); change the "
        "batch size in the config.")
  return global_batch_size // process_count


# --------------------------------------------------------------------------
# Public pipelines.


def train_dataset(data_cfg, global_batch_size, *, seed, start_step=0,
                  process_index=0, process_count=1):
  """The tf.data.Dataset behind ``train_iterator`` (same arguments)."""
  cfg = from_config(data_cfg)
  local_batch = _local_batch_size(global_batch_size, process_count)
  builder = _builder(cfg)
  ds = _read(cfg, builder, cfg.train_split, process_index, process_count)
  ds = _cache_if_small(ds, cfg, builder)
  if cfg.shuffle_buffer > 1:
    ds = ds.shuffle(cfg.shuffle_buffer, seed=seed,
                    reshuffle_each_iteration=True)
  ds = ds.repeat().skip(start_step * local_batch)
  ds = _batch_and_preprocess(
      ds, cfg, builder, local_batch, _base_seed(seed, process_index),
      first_batch=start_step, train=True)
  return _options(ds)


def train_iterator(data_cfg, global_batch_size, *, seed, start_step=0,
                   process_index=0, process_count=1):
  """An endless iterator of training batches (numpy dicts) for one process.

  Args:
    data_cfg: the config's ``data`` block (see ``from_config``).
    global_batch_size: examples per step over all processes; each process
      yields ``global_batch_size // process_count`` of them.
    seed: seeds the shuffle and the random preprocessing ops.
    start_step: the number of batches already consumed: the iterator yields
      exactly what a fresh one (``start_step=0``) yields after that many.
    process_index, process_count: this process's shard of the split.
  """
  return train_dataset(
      data_cfg, global_batch_size, seed=seed, start_step=start_step,
      process_index=process_index,
      process_count=process_count).as_numpy_iterator()


def num_eval_examples(data_cfg, split=None, num_examples=None):
  """The number of real examples evaluated on ``split`` (all processes)."""
  cfg = from_config(data_cfg)
  builder = _builder(cfg)
  split = split or cfg.eval_split
  n = _split_size(builder, split)
  if n is None:  # E.g. under tfds.testing.mock_data: count the records.
    n = int(builder.as_dataset(split=split).cardinality())
    if n < 0:
      n = sum(1 for _ in builder.as_dataset(split=split))
  return n if num_examples is None else min(n, int(num_examples))


def eval_dataset(data_cfg, split, global_batch_size, *, num_examples=None,
                 process_index=0, process_count=1):
  """The tf.data.Dataset behind ``eval_iterator`` (same arguments)."""
  cfg = from_config(data_cfg)
  split = split or cfg.eval_split
  local_batch = _local_batch_size(global_batch_size, process_count)
  builder = _builder(cfg)
  total = num_eval_examples(cfg, split, num_examples)
  # Every process yields the same number of batches (the largest shard's).
  per_process = -(-total // process_count)
  num_batches = -(-per_process // local_batch)
  ds = _read(cfg, builder, split, process_index, process_count, take=total)
  ds = _batch_and_preprocess(
      ds, cfg, builder, local_batch, _base_seed(EVAL_SEED, process_index),
      first_batch=0, train=False, pad_to=num_batches * local_batch)
  return _options(ds)


def eval_iterator(data_cfg, split, global_batch_size, *, num_examples=None,
                  process_index=0, process_count=1):
  """One pass over ``split`` (its first ``num_examples`` if given).

  Batches are padded to full size: each carries ``mask`` float32 [local_B]
  (1 real, 0 padding), and every process yields the same number of batches.
  Training-only ops are skipped; random ops use a fixed seed, so every
  evaluation sees the same data. ``split=None`` means ``data.eval_split``.
  """
  return eval_dataset(
      data_cfg, split, global_batch_size, num_examples=num_examples,
      process_index=process_index,
      process_count=process_count).as_numpy_iterator()
