"""Host input pipelines: tfds split -> preprocessed numpy batches.

``train_iterator`` yields an endless, shuffled stream; ``eval_iterator`` one
pass over a split, padded to whole batches with ``valid`` weights. Both yield dicts
of numpy arrays: ``image`` float32 [local_B,H,W,C], ``label`` int32
[local_B] (when the dataset has labels), the fields the preprocessing ops
write (``target``, ``control``, ``mask``, ...: float32; integer fields such
as ``tokens`` int32), and for evaluation ``valid`` float32 [local_B] (1 for
real examples, 0 for padding; no op may write ``valid`` at evaluation).
``local_B`` is the global batch size divided by the number of processes:
each process reads its own shard of the split (``process_index`` /
``process_count``; the trainer passes ``jax.process_index()`` and
``jax.process_count()``). With ``data.process_sharding='batch'`` each process
builds the global batches (training and evaluation) and keeps its rows, so
any number of processes sees the same batches.

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

Class subsets. ``data.classes = (0, 1)`` keeps the examples with those
labels (in train and eval); labels keep their values.

Unpaired data. ``data.unpaired`` (a mapping of data fields, plus
``prefix``) adds a second, independent stream: the main block's fields
except ``classes`` with those overrides (another dataset, other classes,
other ops), zipped batch by
batch with the first, its keys renamed (``image`` -> ``prefix``, any other
key ``k`` -> ``prefix_k``; ``prefix`` defaults to 'target'). The second
stream is the single-stream pipeline of its block with the seed
``stream_seed(seed, 1)``, so both streams are pure functions of (seed, step)
and resume exactly. At evaluation the second stream cycles through its own
``eval_split`` (fixed seed) beside the first one's padded pass.
"""
import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Optional, Tuple

from genjax.data import builders
from genjax.data import preprocess
from genjax.data._tf import tf, tfds
from genjax.errors import ConfigError, DataError

# The key of the eval batches' padding weights (1 real, 0 padding).
PADDING_KEY = "valid"
# data.unpaired's default prefix: its 'image' becomes 'target'.
UNPAIRED_PREFIX = "target"

PROCESS_SHARDINGS = ("split", "batch")
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
  classes: Tuple[int, ...] = ()  # () keeps every class.
  unpaired: Optional["Unpaired"] = None  # A second, independent stream.
  # How processes share the train and eval streams: 'split' (each reads its
  # part of the split: scales) or 'batch' (each builds the global batches and
  # keeps its rows: every process count sees the same batches).
  process_sharding: str = "split"


@dataclasses.dataclass(frozen=True)
class Unpaired:
  """``data.unpaired``: the second stream's block and its key prefix."""
  stream: DataConfig
  prefix: str = UNPAIRED_PREFIX


_FIELDS = tuple(f.name for f in dataclasses.fields(DataConfig))


def _fields_of(data_cfg, where):
  """The fields of a ConfigDict, a mapping, a DataConfig or None, as a dict."""
  if isinstance(data_cfg, DataConfig):
    return {f: getattr(data_cfg, f) for f in _FIELDS}
  if hasattr(data_cfg, "to_dict"):  # ml_collections.ConfigDict
    return data_cfg.to_dict()
  if isinstance(data_cfg, Mapping) or data_cfg is None:
    return dict(data_cfg or {})
  raise ConfigError(
      f"The {where} config must be a ConfigDict or a mapping with the fields "
      f"{', '.join(_FIELDS)}; got a {type(data_cfg).__name__}.")


def from_config(data_cfg=None, **overrides):
  """A ``DataConfig`` from a ConfigDict, a mapping, a DataConfig or kwargs.

  Unknown fields, a missing name, a bad shuffle buffer, bad classes, a bad
  unpaired block or bad preprocessing ops raise ConfigError.
  """
  fields = _fields_of(data_cfg, "data")
  fields.update(overrides)
  return _validated(fields, "data")


def _validated(fields, where):
  """The checked ``DataConfig`` of ``fields`` (``where``: 'data', ...)."""
  unknown = sorted(set(fields) - set(_FIELDS))
  if unknown:
    raise ConfigError(
        f"Unknown field(s) {', '.join(unknown)} in the {where} config; the "
        f"valid fields are {', '.join(_FIELDS)}. Remove or rename them.")
  if not fields.get("name"):
    raise ConfigError(
        f"The {where} config has no dataset name; set {where}.name, e.g. "
        "'mnist'.")
  ops = fields.get("preprocess") or ()
  if isinstance(ops, str):
    ops = [s.strip() for s in ops.split("|") if s.strip()]
  fields["preprocess"] = tuple(ops)
  preprocess.parse_ops(fields["preprocess"])  # Fails early on bad ops.
  buffer = fields.get("shuffle_buffer", DataConfig.shuffle_buffer)
  if not isinstance(buffer, int) or buffer < 0:
    raise ConfigError(
        f"{where}.shuffle_buffer must be an integer >= 0 (0: no shuffling), "
        f"got {buffer!r}.")
  fields["classes"] = _classes(fields.get("classes"), where)
  if fields.get("process_sharding", "split") not in PROCESS_SHARDINGS:
    raise ConfigError(
        f"{where}.process_sharding must be one of {', '.join(PROCESS_SHARDINGS)}"
        f", got {fields['process_sharding']!r}.")
  fields["unpaired"] = _unpaired(fields.get("unpaired"), fields, where)
  return DataConfig(**fields)


def _classes(value, where):
  """``data.classes`` as a tuple of label values (() or None: all)."""
  classes = tuple(value or ())
  if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
             for c in classes):
    raise ConfigError(
        f"{where}.classes must be a tuple of label values (integers >= 0), "
        f"e.g. (0, 1); got {value!r}. Use () for every class.")
  return classes


def _unpaired(value, fields, where):
  """``data.unpaired`` -> ``Unpaired``: its fields over the main block's."""
  if value is None or isinstance(value, Unpaired):
    return value
  inner = f"{where}.unpaired"
  block = _fields_of(value, inner)
  prefix = block.pop("prefix", UNPAIRED_PREFIX)
  if not isinstance(prefix, str) or not prefix.isidentifier():
    raise ConfigError(
        f"{inner}.prefix must be a key name such as 'target' (the second "
        f"stream's image becomes it, its other keys prefix_key); got "
        f"{prefix!r}.")
  if block.get("unpaired") is not None:
    raise ConfigError(
        f"{inner} has an unpaired block of its own; there are at most two "
        f"streams, so remove {inner}.unpaired.")
  # Classes belong to a dataset: the second stream keeps all unless it says.
  base = {k: v for k, v in fields.items() if k not in ("unpaired", "classes")}
  return Unpaired(_validated({**base, **block, "unpaired": None}, inner),
                  prefix)


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


def _stream_shapes(cfg, builder):
  """Each field's shape per example after the ops of one stream."""
  shapes = {"image": _raw_image_shape(cfg, builder)}
  if "label" in builder.info.features:
    shapes["label"] = ()
  return preprocess.output_shapes(cfg.preprocess, shapes)


def _fixed(shape, cfg, key):
  if None in shape:
    raise ConfigError(
        f"The dataset {cfg.name!r} has images of varying size (shape {shape} "
        f"of {key!r} after preprocessing); add a 'resize(H, W)' op to "
        "data.preprocess.")
  return shape


def image_shape(data_cfg):
  """The image shape (H, W, C) the model sees, after preprocessing."""
  cfg = from_config(data_cfg)
  shape = _stream_shapes(cfg, _builder(cfg))["image"]
  return _fixed(shape, cfg, "image")


def example_shapes(data_cfg):
  """The shape per example of every field of a batch, after preprocessing:
  ``{'image': (H, W, C), 'label': (), 'control': (H, W, 1), ...}``, the
  unpaired stream's under its renamed keys (eval's ``valid`` not included)."""
  cfg = from_config(data_cfg)
  shapes = _stream_shapes(cfg, _builder(cfg))
  if cfg.unpaired is not None:
    other = cfg.unpaired.stream
    shapes.update(_renamed(_stream_shapes(other, _builder(other)),
                           cfg.unpaired.prefix))
  return {k: _fixed(tuple(v), cfg, k) for k, v in shapes.items()}


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


def _check_classes(cfg, builder):
  """``data.classes`` needs labels, and label values the dataset has."""
  features = builder.info.features
  if "label" not in features:
    raise ConfigError(
        f"data.classes={cfg.classes} keeps examples by label, but the dataset "
        f"{cfg.name!r} has no label; set data.classes=() for it.")
  n = getattr(features["label"], "num_classes", None)
  bad = [c for c in cfg.classes if n is not None and c >= n]
  if bad:
    raise ConfigError(
        f"data.classes={cfg.classes} has label values {bad} that the dataset "
        f"{cfg.name!r} lacks (its labels are 0..{n - 1}); fix data.classes.")


def _in_classes(classes):
  wanted = tf.constant(classes, tf.int64)
  return lambda ex: tf.reduce_any(
      tf.equal(tf.cast(ex["label"], tf.int64), wanted))


def _read(cfg, builder, split, process_index=0, process_count=1, take=None):
  """The split's examples (image and label only) for one process.

  Only the examples of ``cfg.classes`` when it is set. With ``take``, the
  first ``take`` (kept) examples of the split are sharded; otherwise the
  whole split, reading only this process's part when the split's size is
  known.
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
  if cfg.classes:
    _check_classes(cfg, builder)
    ds = ds.filter(_in_classes(cfg.classes))
  if take is not None:
    ds = ds.take(take)
  if process_count > 1 and not even:
    ds = ds.shard(process_count, process_index)
  return ds


def _cache_if_small(ds, cfg, builder, split):
  """Caches ``ds`` when it is small (a class subset: when its split is)."""
  shape = _raw_image_shape(cfg, builder)
  n = int(ds.cardinality())
  if n < 0:  # Filtered: the split's size bounds it.
    n = _split_size(builder, split) or -1
  if None not in shape and n >= 0 and n * math.prod(shape) <= CACHE_LIMIT_BYTES:
    ds = ds.cache()
  return ds


def _base_seed(seed, process_index):
  base = tf.constant([0, int(seed)], tf.int64)
  return tf.random.experimental.stateless_fold_in(base, process_index)


def _to_model_dtype(value):
  """Integer fields (labels, tokens) to int32; pixels, maps, masks float32."""
  if value.dtype == tf.string:
    return value
  if value.dtype.is_integer and value.dtype != tf.uint8:
    return tf.cast(value, tf.int32)
  return tf.cast(value, tf.float32)


def _to_model_dtypes(batch):
  return {k: _to_model_dtype(v) for k, v in batch.items()}


def stream_seed(seed, stream):
  """The seed of stream ``stream``: 0 (the main one) keeps ``seed``; the
  unpaired stream (1) gets a seed derived from it by a stateless fold-in."""
  if stream == 0:
    return int(seed)
  base = tf.constant([0, int(seed)], tf.int64)
  folded = tf.random.experimental.stateless_fold_in(base, stream)
  return int(folded.numpy()[-1]) & 0x7FFFFFFF


def _renamed(example, prefix):
  """The second stream's keys: ``image`` -> prefix, ``k`` -> prefix_k."""
  return {(prefix if k == "image" else f"{prefix}_{k}"): v
          for k, v in example.items()}


def _zip_streams(first, second, prefix):
  """One batch from a batch of each stream, the second's keys renamed."""
  clash = sorted(set(first.element_spec)
                 & set(_renamed(second.element_spec, prefix)))
  if clash:
    raise ConfigError(
        f"The unpaired stream's keys {clash} (renamed with the prefix "
        f"{prefix!r}) are the first stream's keys too; set another "
        "data.unpaired.prefix.")
  ds = tf.data.Dataset.zip((first, second))
  ds = ds.map(lambda a, b: {**a, **_renamed(b, prefix)},
              num_parallel_calls=tf.data.AUTOTUNE)
  return ds.prefetch(tf.data.AUTOTUNE)


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
  seeds. ``pad_to``: pad the example stream with zero examples (valid 0) to
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
  """Adds ``valid`` (1.0) and pads with zero examples (valid 0.0) to ``total``."""
  ds = ds.map(lambda ex: {**ex, PADDING_KEY: tf.constant(1.0)})
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


def _train_stream(cfg, local_batch, seed, start_step, process_index,
                  process_count):
  """One stream's batches: a pure function of (cfg, seed, step, process)."""
  builder = _builder(cfg)
  ds = _read(cfg, builder, cfg.train_split, process_index, process_count)
  ds = _cache_if_small(ds, cfg, builder, cfg.train_split)
  if cfg.shuffle_buffer > 1:
    ds = ds.shuffle(cfg.shuffle_buffer, seed=seed,
                    reshuffle_each_iteration=True)
  ds = ds.repeat().skip(start_step * local_batch)
  return _batch_and_preprocess(
      ds, cfg, builder, local_batch, _base_seed(seed, process_index),
      first_batch=start_step, train=True)


def train_dataset(data_cfg, global_batch_size, *, seed, start_step=0,
                  process_index=0, process_count=1):
  """The tf.data.Dataset behind ``train_iterator`` (same arguments)."""
  cfg = from_config(data_cfg)
  local_batch = _local_batch_size(global_batch_size, process_count)
  rows = None
  if cfg.process_sharding == "batch" and process_count > 1:
    rows = slice(process_index * local_batch, (process_index + 1) * local_batch)
    local_batch, process_index, process_count = global_batch_size, 0, 1
  shard = dict(start_step=start_step, process_index=process_index,
               process_count=process_count)
  ds = _train_stream(cfg, local_batch, seed, **shard)
  if cfg.unpaired is not None:
    other = _train_stream(cfg.unpaired.stream, local_batch,
                          stream_seed(seed, 1), **shard)
    ds = _zip_streams(ds, other, cfg.unpaired.prefix)
  if rows is not None:   # 'batch': this process's rows of the global batch
    ds = ds.map(lambda b: {k: v[rows] for k, v in b.items()})
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


@functools.lru_cache(maxsize=64)
def _count_in_classes(cfg, split):
  """The number of examples of ``cfg.classes`` in ``split`` (labels only)."""
  builder = _builder(cfg)
  _check_classes(cfg, builder)
  ds = builder.as_dataset(split=split, shuffle_files=False,
                          decoders={"image": tfds.decode.SkipDecoding()})
  ds = ds.filter(_in_classes(cfg.classes))
  return int(ds.reduce(0, lambda n, _: n + 1))


def num_eval_examples(data_cfg, split=None, num_examples=None):
  """The number of real examples evaluated on ``split`` (all processes)."""
  cfg = from_config(data_cfg)
  builder = _builder(cfg)
  split = split or cfg.eval_split
  n = (_count_in_classes(cfg, split) if cfg.classes
       else _split_size(builder, split))
  if n is None:  # E.g. under tfds.testing.mock_data: count the records.
    n = int(builder.as_dataset(split=split).cardinality())
    if n < 0:
      n = sum(1 for _ in builder.as_dataset(split=split))
  return n if num_examples is None else min(n, int(num_examples))


def _check_padding_key(cfg):
  if PADDING_KEY in preprocess.written_keys(cfg.preprocess):
    raise ConfigError(
        f"An op of data.preprocess writes {PADDING_KEY!r}, which eval "
        "batches use for their padding weights; write the field under "
        "another key (outkey=...) for evaluation, or only train with it.")


def _unpaired_eval_stream(cfg, local_batch, process_index, process_count):
  """The second stream at evaluation: its eval split, cycled, fixed seed."""
  builder = _builder(cfg)
  if num_eval_examples(cfg) == 0:
    raise ConfigError(
        f"The unpaired stream's eval split {cfg.eval_split!r} of "
        f"{cfg.name!r} has no examples (classes {cfg.classes}); fix "
        "data.unpaired.")
  ds = _read(cfg, builder, cfg.eval_split, process_index, process_count)
  base = _base_seed(stream_seed(EVAL_SEED, 1), process_index)
  return _batch_and_preprocess(ds.repeat(), cfg, builder, local_batch, base,
                               first_batch=0, train=False)


def eval_dataset(data_cfg, split, global_batch_size, *, num_examples=None,
                 process_index=0, process_count=1):
  """The tf.data.Dataset behind ``eval_iterator`` (same arguments)."""
  cfg = from_config(data_cfg)
  _check_padding_key(cfg)
  split = split or cfg.eval_split
  local_batch = _local_batch_size(global_batch_size, process_count)
  if cfg.process_sharding == "batch" and process_count > 1:
    rows = slice(process_index * local_batch, (process_index + 1) * local_batch)
    ds = eval_dataset(cfg, split, global_batch_size, num_examples=num_examples)
    return ds.map(lambda b: {k: v[rows] for k, v in b.items()})
  builder = _builder(cfg)
  total = num_eval_examples(cfg, split, num_examples)
  # Every process yields the same number of batches (the largest shard's).
  per_process = -(-total // process_count)
  num_batches = -(-per_process // local_batch)
  ds = _read(cfg, builder, split, process_index, process_count, take=total)
  ds = _batch_and_preprocess(
      ds, cfg, builder, local_batch, _base_seed(EVAL_SEED, process_index),
      first_batch=0, train=False, pad_to=num_batches * local_batch)
  if cfg.unpaired is not None:
    other = _unpaired_eval_stream(cfg.unpaired.stream, local_batch,
                                  process_index, process_count)
    ds = _zip_streams(ds, other, cfg.unpaired.prefix)
  return _options(ds)


def eval_iterator(data_cfg, split, global_batch_size, *, num_examples=None,
                  process_index=0, process_count=1):
  """One pass over ``split`` (its first ``num_examples`` if given).

  Batches are padded to full size: each carries ``valid`` float32 [local_B]
  (1 real, 0 padding), and every process yields the same number of batches.
  Training-only ops are skipped; random ops use a fixed seed, so every
  evaluation sees the same data. ``split=None`` means ``data.eval_split``.
  """
  return eval_dataset(
      data_cfg, split, global_batch_size, num_examples=num_examples,
      process_index=process_index,
      process_count=process_count).as_numpy_iterator()
