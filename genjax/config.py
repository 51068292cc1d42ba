"""Shared config defaults, validation and the workdir identity rule.

Experiments build on ``base_config()`` and override a few fields, as in
score_sde and the flax examples. Every field a family or the trainer reads has
a default here, so a misspelt ``--config.a.b=...`` override is refused by
ml_collections (the config is locked) with a "Did you mean" hint.
"""
import json
import math

import ml_collections
from ml_collections.config_dict import placeholder

from genjax.errors import ConfigError

MODES = ("train", "eval", "sample")

# Fields that define *which* experiment a workdir holds. Resuming or
# evaluating with a config that differs in any of them is refused; the others
# (run length, logging intervals, evaluation and sampling settings) may change.
IDENTITY_KEYS = ("family", "model", "data", "optim", "train.batch_size",
                 "train.seed", "deps", "init_from")
# Settings groups that one model alone reads: ``model.<group>`` is part of the
# identity of that ``model.name`` (a GAN's ``model.arch``) only, so adding a
# group for a new model leaves the runs of the family's other models (whose
# config.json lacks it) resumable.
MODEL_GROUPS = {"vq": ("vqvae", "vqvae2"), "klae": ("klae",), "ldm": ("ldm",),
                "control": ("controlnet", "multi_controlnet"), "lora": ("lora",),
                "sr3": ("sr3",),
                "restore": ("restore",), "stylegan2": ("stylegan2", "stylegan"),
                "progan": ("progan",)}


def dependency(workdir="", step=None, params="ema", experiment=""):
  """A ``config.deps.<name>`` entry: a trained run this experiment builds on
  (``genjax.train.deps``). ``step`` None takes the latest checkpoint at the
  first start; the step used and a fingerprint are then pinned. ``params``:
  'ema' or 'raw'. ``experiment``: the config file that trains such a run
  (named in errors; the smoke tests train its ``:smoke`` run)."""
  return ml_collections.ConfigDict(dict(
      workdir=workdir, step=placeholder(int) if step is None else step,
      params=params, fingerprint="", experiment=experiment))


def base_config():
  c = ml_collections.ConfigDict()
  c.family = ""
  c.model = ml_collections.ConfigDict()
  c.data = ml_collections.ConfigDict(dict(
      name="mnist",
      offline=True,          # use genjax's offline builder when one exists
      data_dir=placeholder(str),  # tfds data dir for catalog datasets
      train_split="train",
      eval_split="test",
      preprocess=("scale_01",),
      shuffle_buffer=60_000,
      classes=None,          # label values to keep, e.g. (0, 1); None: all
      unpaired=None,         # a second stream: dict(classes=(1,), prefix='target')
      # several processes: 'split' (each reads its part of the split) or
      # 'batch' (each builds the global batch, keeps its rows: the same
      # batches whatever the process count)
      process_sharding="split",
  ))
  c.train = ml_collections.ConfigDict(dict(
      batch_size=128,        # global batch, split over all devices
      num_steps=10_000,
      seed=0,
      log_every=100,
      ckpt_every=1_000,
      keep_checkpoints=3,
      sample_every=2_000,    # 0: only at the end
      eval_every=0,          # 0: only at the end
      eval_metrics=(),       # metrics run during training (cheap ones)
      eval_num_examples=1_000,
      eval_num_samples=1_000,  # samples drawn for periodic sample metrics
      sync_every_step=placeholder(bool),  # None: auto (on for several CPU devices)
      # The model's activations, matmuls and convs: 'float32' | 'bfloat16'
      # (params, optimiser state, EMA and loss reductions stay float32;
      # genjax/core/precision.py). Not part of a run's identity.
      compute_dtype="float32",
      # Sharded parameters (genjax/core/sharding.py; not part of a run's
      # identity): model_parallel > 1 makes the mesh data x model; shard_params
      # 'data' or 'model' splits every state leaf (params, optimiser, EMA) of
      # at least shard_min_size elements over that axis (FSDP / ZeRO-3 style,
      # XLA gathers them where used); 'none' replicates them.
      model_parallel=1,
      shard_params="none",
      shard_min_size=1 << 18,
  ))
  c.optim = ml_collections.ConfigDict(dict(
      name="adam", lr=1e-3, schedule="constant", warmup_steps=0,
      decay_steps=placeholder(int), end_lr_fraction=0.0, b1=0.9, b2=0.999, eps=1e-8,
      weight_decay=0.0, momentum=0.9, grad_clip=0.0, ema_decay=0.999,
      # Trainable groups: ((regex, lr_multiplier), ...), first full match of a
      # '/'-joined parameter path wins, None/0 freezes, unmatched leaves train
      # at 1.0 (genjax/core/optim.py). None: no groups, as an older run's
      # config.json (which lacks the field) reads.
      groups=placeholder(tuple),
  ))
  c.eval = ml_collections.ConfigDict(dict(
      # Per-example metrics of the family (e.g. 'elbo', 'bpd') and sample
      # metrics (genjax.eval.evaluators): fid, kid, pr, is, class_hist,
      # cond_acc, each optionally suffixed with a feature net: fid_mnist,
      # fid_inception, ... (no suffix: the dataset's own classifier if it
      # has one, else Inception).
      metrics=(),
      batch_size=500,
      num_examples=placeholder(int),  # None: the whole split
      seed=0,
      num_samples=10_000,    # samples drawn for the sample metrics
      sample_batch_size=500,
      reference_split="",    # real data the samples are compared with ('' = data.eval_split)
      reference_num_examples=0,  # 0: the whole reference split
      reference_dir="",      # '' = $GENJAX_CACHE_DIR/refstats (~/.cache/genjax)
      pr_k=3,                # k of the k-NN manifolds (Kynkaanniemi et al.)
      kid_subset_size=1_000,
  ))
  # grid_rows: rows of the pictures a family draws beside its samples
  # (reconstructions, interpolations, inversions, completions).
  c.sample = ml_collections.ConfigDict(dict(num=64, use_ema=True, seed=0, grid_rows=8))
  # Trained runs this experiment builds on: name -> dependency(workdir=...).
  c.deps = ml_collections.ConfigDict()
  # Fine-tuning: copy another run's parameters (whose paths in its family's
  # ``trained`` tree, e.g. 'params/Dense_0/kernel', fully match ``include``
  # and not ``exclude``) into the fresh state at the first start.
  c.init_from = dependency()
  c.init_from.update(dict(include=".*", exclude=""))
  return c


# Fields added after runs were written, with the value a run written before
# them had in effect: ``upgraded`` fills them into an older config.json.
ADDED_FIELDS = {"sample.grid_rows": 8, "model.stylegan2.d_architecture": "resnet",
                "sample.w_truncation_cutoff": 0, "data.process_sharding": "split"}


def upgraded(config):
  """``config`` (a run's saved ConfigDict) with every ``ADDED_FIELDS`` entry it
  lacks set to the value that run used, so families read one set of fields."""
  with config.unlocked():
    for dotted, value in ADDED_FIELDS.items():
      *parents, leaf = dotted.split(".")
      node = config
      for part in parents:
        node = node[part] if part in node else None
        if node is None:   # the group itself is absent (another model's)
          break
      if node is not None and leaf not in node:
        node[leaf] = value
  return config


def _with_added_fields(plain):
  """A plain config with the ``ADDED_FIELDS`` it lacks, where their group
  exists: a run written before a field existed is the same experiment as
  one that sets the field to the value that run had in effect."""
  plain = to_plain(plain)
  for dotted, value in ADDED_FIELDS.items():
    *parents, leaf = dotted.split(".")
    node = plain
    for part in parents:
      node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
      node.setdefault(leaf, value)
  return plain


def parse_arg(arg, variants=()):
  """The ``:ARG`` of ``--config FILE:ARG``: nothing, ``smoke``, or one of the
  experiment's named ``variants``."""
  if arg in (None, "", "smoke") or arg in variants:
    return arg or None
  named = "".join(f", ':{v}'" for v in variants)
  raise ConfigError(f"Unknown config argument {arg!r}: this experiment accepts "
                    f"':smoke' (a run of seconds){named} or nothing.")


def shrink_for_smoke(c):
  """The ``:smoke`` argument: the same experiment, a run of seconds.

  Model sizes are shrunk by each experiment; this shrinks the run itself.
  """
  c.train.update(batch_size=16, num_steps=6, log_every=2, ckpt_every=3,
                 sample_every=0, eval_every=0, eval_num_examples=16,
                 eval_num_samples=16)
  c.data.shuffle_buffer = 1_000
  c.eval.update(batch_size=16, num_examples=16, num_samples=16,
                sample_batch_size=16, reference_num_examples=64)
  c.sample.update(num=8, grid_rows=2)
  return c


def require(config, dotted):
  """The field ``dotted`` ('model.noise_level') of ``config``; a ConfigError
  naming where its default lives when the config lacks it.

  Family code reads its settings through this (or plain attribute access),
  never with a fallback: defaults live only in ``base_config`` and the
  families' ``config.py``, so there is one value for each.
  """
  node = config
  for part in dotted.split("."):
    try:
      node = node[part]
    except (KeyError, AttributeError, TypeError):
      family = config.get("family", "") if hasattr(config, "get") else ""
      where = (f"genjax/families/{family}/config.py:default_config()" if family
               else "the family's config.py:default_config()")
      raise ConfigError(
          f"config.{dotted} is missing. Experiment configs start from "
          f"{where}, which sets every field the family reads (with "
          "genjax/config.py:base_config()); build the config on it, or set "
          f"config.{dotted} yourself.") from None
  return node


def read_grid_rows(config):
  """``config.sample.grid_rows`` (>= 1): rows of a family's picture grids."""
  rows = require(config, "sample.grid_rows")
  if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
    raise ConfigError(f"config.sample.grid_rows must be an integer >= 1 (rows of "
                      f"the pictures drawn beside the samples), got {rows!r}.")
  return rows


def lookup(config, dotted):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


def to_plain(x):
  """A JSON-comparable copy (tuples become lists, ConfigDicts dicts)."""
  return json.loads(json.dumps(x.to_dict() if hasattr(x, "to_dict") else x,
                               default=str))


def _identity_value(plain, key):
  """``plain``'s value of an identity key; a run built on no other run has
  ``deps`` {} and ``init_from`` {} however its config spells that (configs
  written before these fields existed lack them)."""
  node = plain
  for part in key.split("."):
    node = node.get(part) if isinstance(node, dict) else None
  node = to_plain(node)
  if key == "model" and isinstance(node, dict):
    # Rematerialisation changes memory, not the maths: a run may resume with
    # it turned on or off (genjax/core/precision.py). Another model's
    # settings group (MODEL_GROUPS) is not this model's (a GAN's model is its arch).
    name = node.get("name", node.get("arch"))
    node = {k: v for k, v in node.items() if k != "remat"
            and name in MODEL_GROUPS.get(k, (name,))}
  if key == "deps":
    return node or {}
  if key == "init_from":
    return node if isinstance(node, dict) and node.get("workdir") else {}
  return node


def identity(plain):
  """The identity fields of a plain config: what makes it the same experiment."""
  return {key: _identity_value(plain, key) for key in IDENTITY_KEYS}


def identity_diff(old, new):
  """The identity keys on which two configs (plain dicts) differ, each read
  with the ``ADDED_FIELDS`` it lacks (a dependency's fingerprint, by
  ``identity``, uses its file as written)."""
  diffs = []
  old, new = _with_added_fields(old), _with_added_fields(new)
  for key in IDENTITY_KEYS:
    a, b = _identity_value(old, key), _identity_value(new, key)
    if a != b:
      if isinstance(a, dict) and isinstance(b, dict):
        for sub in sorted(set(a) | set(b)):
          if a.get(sub) != b.get(sub):
            diffs.append(f"{key}.{sub}: {a.get(sub)!r} -> {b.get(sub)!r}")
      else:
        diffs.append(f"{key}: {a!r} -> {b!r}")
  return diffs


def split_names(names):
  """Metric name lists as typed on a command line: ``fid_mnist,kid_mnist``,
  ``(fid_mnist, kid_mnist)`` or repeated flags -> a tuple of names."""
  if isinstance(names, str):
    names = (names,)
  out = []
  for item in names:
    out += [n.strip(" '\"") for n in str(item).strip("()[] ").split(",")]
  return tuple(n for n in out if n)


def validate(config):
  """Start-up checks that do not need data or devices (normalises metric lists)."""
  config.eval.metrics = split_names(config.eval.metrics)
  config.train.eval_metrics = split_names(config.train.eval_metrics)
  t = config.train
  for name in ("batch_size", "num_steps", "log_every", "ckpt_every",
               "keep_checkpoints"):
    if not isinstance(t[name], int) or t[name] <= 0:
      raise ConfigError(f"config.train.{name} must be a positive integer, "
                        f"got {t[name]!r}.")
  for name in ("sample_every", "eval_every"):
    if not isinstance(t[name], int) or t[name] < 0:
      raise ConfigError(f"config.train.{name} must be an integer >= 0 "
                        f"(0 means only at the end), got {t[name]!r}.")
  if not config.family:
    raise ConfigError("config.family is empty: the experiment file must set "
                      "it (e.g. 'autoencoder').")
  for name in ("lr", "d_lr"):
    lr = config.optim.get(name)
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr)
                               and lr > 0):
      raise ConfigError(f"config.optim.{name} must be a finite number > 0, "
                        f"got {lr!r}.")
  if not 0.0 <= config.optim.ema_decay < 1.0:
    raise ConfigError("config.optim.ema_decay must be in [0, 1), got "
                      f"{config.optim.ema_decay}.")
