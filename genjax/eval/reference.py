"""Reference statistics of real data, cached per (dataset, split, feature net).

Real images are read with the ``scale_01`` value op (8-bit data in [0,1],
whatever the model's own preprocessing) and the config's shape ops (resize),
so samples and data reach the feature net through the same ``quantize``. A
cache file holds the features (for KID and precision/recall), their mean and
covariance (for FID), the k-NN radii and the feature net's identity; a file
made by another net is refused, never reused.

Files live in ``$GENJAX_CACHE_DIR/refstats`` (default ``~/.cache/genjax``),
or in ``config.eval.reference_dir`` (e.g. inside a workdir).
"""
import dataclasses
import json
import os
import re
from typing import Optional

import jax
import numpy as np

from genjax import data as data_lib
from genjax.data import preprocess as pp
from genjax.errors import ConfigError
from genjax.eval import metrics
from genjax.eval.extract import Accumulator, Extractor
from genjax.core import sharding as shard_lib

FORMAT_VERSION = 1


class ReferenceMismatch(ConfigError):
  """A cached reference file was made by another feature net or data."""


@dataclasses.dataclass
class Reference:
  features: np.ndarray
  mean: np.ndarray
  cov: np.ndarray
  logits: Optional[np.ndarray]
  meta: dict
  _radii: dict = dataclasses.field(default_factory=dict)

  def radii(self, k):
    if k not in self._radii:
      self._radii[k] = metrics.knn_radii(self.features, k)
    return self._radii[k]


def default_dir():
  root = os.environ.get("GENJAX_CACHE_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "genjax")
  return os.path.join(root, "refstats")


def reference_ops(preprocess):
  """The config's shape ops on ``image`` followed by ``scale_01``: real 8-bit
  data in [0,1] (ops deriving other fields are left out)."""
  keep = [op.spec for op in pp.parse_ops(preprocess)
          if op.definition.shape is not None and not op.definition.train_only
          and "image" in op.outkeys]
  return tuple(keep) + ("scale_01",)


def _slug(s):
  return re.sub(r"[^A-Za-z0-9.]+", "-", s).strip("-")


def reference_path(directory, data_cfg, split, net_name, num_examples):
  cfg = data_lib.from_config(data_cfg)
  ops = "_".join(_slug(o) for o in reference_ops(cfg.preprocess))
  n = "all" if not num_examples else str(int(num_examples))
  name = f"{_slug(cfg.name)}-{_slug(split)}-{ops}-{net_name}-n{n}.npz"
  return os.path.join(directory or default_dir(), name)


def save(path, ref: Reference):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + f".tmp{os.getpid()}"
  arrays = dict(features=ref.features, mean=ref.mean, cov=ref.cov)
  if ref.logits is not None:
    arrays["logits"] = ref.logits
  with open(tmp, "wb") as f:
    np.savez(f, meta=np.array(json.dumps(ref.meta)), **arrays)
  os.replace(tmp, path)


def load(path, expect):
  """Loads a cache file, refusing it unless its metadata equals ``expect``."""
  with np.load(path, allow_pickle=False) as z:
    meta = json.loads(str(z["meta"]))
    diff = sorted(k for k in set(meta) | set(expect)
                  if meta.get(k) != expect.get(k))
    if diff:
      detail = "; ".join(f"{k}: file has {meta.get(k)!r}, wanted "
                         f"{expect.get(k)!r}" for k in diff)
      raise ReferenceMismatch(
          f"Reference statistics {path} do not match this evaluation "
          f"({detail}). They were made by another feature network or data "
          "and are not reused. Delete the file to recompute it, or point "
          "config.eval.reference_dir elsewhere.")
    logits = z["logits"] if "logits" in z.files else None
    return Reference(z["features"], z["mean"], z["cov"], logits, meta)


def compute(net, data_cfg, split, num_examples, batch_size, mesh,
            extractor=None, progress=True):
  """Features of the real ``split`` (its first ``num_examples``; 0 = all)."""
  cfg = data_lib.from_config(data_cfg)
  cfg = dataclasses.replace(cfg, preprocess=reference_ops(cfg.preprocess),
                            unpaired=None)
  extractor = extractor or Extractor(net, mesh)
  num = num_examples or None
  total = data_lib.num_eval_examples(cfg, split, num)
  it = data_lib.eval_iterator(cfg, split, batch_size, num_examples=num,
                              process_index=jax.process_index(),
                              process_count=jax.process_count())
  from tqdm import tqdm
  bar = tqdm(total=total, desc=f"reference {cfg.name}/{split} [{net.name}]",
             unit="img", leave=False, mininterval=2,
             disable=not progress or jax.process_index() != 0)
  acc = Accumulator()
  for local in it:
    batch = shard_lib.to_global(local, mesh)
    out = extractor(batch["image"], where=f"reference data {cfg.name}/{split}")
    acc.add(out, jax.device_get(batch["valid"]))
    bar.update(int(np.sum(local["valid"])))
  bar.close()
  feats = acc.result()
  mean, cov = metrics.mean_cov(feats.features)
  return Reference(feats.features, mean, cov, feats.logits, {})


def get(net, data_cfg, split, num_examples, batch_size, mesh, directory=None,
        extractor=None):
  """The cached reference for (data, split, net, count); computed if absent."""
  cfg = data_lib.from_config(data_cfg)
  path = reference_path(directory, cfg, split, net.name, num_examples)
  expect = dict(format=FORMAT_VERSION, dataset=cfg.name, split=split,
                preprocess=list(reference_ops(cfg.preprocess)),
                num_examples=int(num_examples or 0),
                feature_net=net.name, feature_net_identity=net.identity)
  if os.path.exists(path):
    return load(path, expect)
  ref = compute(net, cfg, split, num_examples, batch_size, mesh, extractor)
  ref.meta = dict(expect)
  if jax.process_index() == 0:
    save(path, ref)
  return ref
