"""Sample metrics as the loop runs them: names, start-up checks, evaluation.

A sample metric is named ``<kind>`` or ``<kind>_<feature net>``:

    fid         Fréchet distance of features (metrics.fid)
    kid         kernel distance, with its standard error (metrics.kid)
    pr          improved precision and recall (k = config.eval.pr_k)
    is          Inception Score (needs a net with logits: a classifier)
    class_hist  share of samples per predicted class, min and max (mode coverage)
    cond_acc    share of class-c samples classified as c (conditional families)
    ppl         perceptual path length in W (ppl.py; models with a mapping
                network, StyleGAN and StyleGAN2): the net's squared feature
                distance, not the paper's LPIPS-VGG

Feature nets: ``genjax.eval.features.FEATURE_NETS`` (``inception``, ``mnist``,
``fashion_mnist``). With no suffix the dataset's own classifier is used when
there is one, else Inception. ``fid_mnist`` is FID computed with the MNIST
classifier's penultimate features ("FID-MNIST"), not comparable to the
Inception FID of papers; ``fid_inception`` is the standard FID.

Samples are drawn once per evaluation by the family's jitted ``sample`` in
batches sharded over the devices, pushed through every net the metrics need,
and dropped: only features stay on the host. Class-conditional families get
class-balanced labels (sample i has class i mod K).
"""
import dataclasses
from typing import Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data as data_lib
from genjax.errors import ConfigError, unknown_name
from genjax.eval import metrics, ppl, reference
from genjax.eval.extract import Accumulator, Extractor, check_shape
from genjax.eval.features import FEATURE_NETS, load_feature_net
from genjax.core import sharding as shard_lib

KINDS = ("fid", "kid", "pr", "is", "class_hist", "cond_acc", "ppl")
PATH_EXPORTS = ("styles", "synthesize", "z_dim")   # what ppl needs of a family
NEEDS_LOGITS = ("is", "class_hist", "cond_acc")
# Datasets with a domain classifier shipped in genjax/eval/weights.
DOMAIN_NETS = {"mnist": "mnist", "fashion_mnist": "fashion_mnist"}


@dataclasses.dataclass(frozen=True)
class Spec:
  name: str   # as written in the config
  kind: str
  net: str


def default_net(data_name):
  return DOMAIN_NETS.get(data_name, "inception")


def parse(name, data_name) -> Optional[Spec]:
  """The ``Spec`` of a sample-metric name, or None if it is not one."""
  for kind in sorted(KINDS, key=len, reverse=True):
    if name == kind:
      return Spec(name, kind, default_net(data_name))
    if name.startswith(kind + "_"):
      net = name[len(kind) + 1:]
      if net not in FEATURE_NETS:
        raise unknown_name(f"feature network in metric {name!r}", net,
                           FEATURE_NETS)
      return Spec(name, kind, net)
  return None


def valid_names():
  return list(KINDS) + [f"{k}_{n}" for k in KINDS for n in FEATURE_NETS]


def split_names(names, family, data_name):
  """(per-example names, sample-metric specs); unknown names are errors."""
  per_example, specs = [], []
  for n in names:
    if n in family.eval_metrics or n in family.split_metrics:
      per_example.append(n)
      continue
    spec = parse(n, data_name)
    if spec is None:
      raise unknown_name(f"eval metric of the {family.family}/{family.model} model", n,
                         list(family.eval_metrics) + list(family.split_metrics)
                         + valid_names())
    specs.append(spec)
  return per_example, specs


def check_specs(specs, family, image_shape):
  """Start-up checks: nets load, take these images, have logits if needed."""
  for s in specs:
    net = load_feature_net(s.net)
    check_shape(net, image_shape, f"metric {s.name!r}")
    if s.kind in NEEDS_LOGITS and net.num_classes is None:
      raise ConfigError(
          f"Metric {s.name!r} needs class logits, but the {s.net!r} feature "
          "network has none (the FID Inception export ends at the 2048-d "
          "pool). Use a classifier net, e.g. "
          f"{s.kind}_{next(iter(DOMAIN_NETS))}.")
    if family.sample is None:
      raise ConfigError(
          f"Metric {s.name!r} scores samples, but the {family.family}/{family.model} model "
          "of this experiment does not generate images.")
    if s.kind == "ppl" and not all(e in family.exports for e in PATH_EXPORTS):
      raise ConfigError(
          f"Metric {s.name!r} (perceptual path length) interpolates in W, the "
          f"space of a mapping network's output; the {family.family}/{family.model} "
          "model has none (it needs the exports styles and synthesize). Use it "
          "with model.arch='stylegan' or 'stylegan2'.")
    if s.kind == "cond_acc" and family.num_classes is None and not family.cond_keys:
      raise ConfigError(
          f"Metric {s.name!r} measures class-conditional samples, but the "
          f"{family.family}/{family.model} model of this experiment is unconditional. Use "
          "class_hist for the class balance of unconditional samples.")


def result_keys(name, data_name):
  """The main keys an evaluation writes for metric ``name`` (per-example
  metrics write their own name)."""
  spec = parse(name, data_name)
  if spec is None:
    return [name]
  n = spec.net
  return {"pr": [f"precision_{n}", f"recall_{n}"],
          "class_hist": [f"class_min_{n}", f"class_max_{n}"]}.get(
              spec.kind, [f"{spec.kind}_{n}"])


def _value_metrics(spec, fake, ref, cfg, cond):
  """Metric values of one spec from sample and reference features."""
  net = spec.net
  if spec.kind == "fid":
    return {f"fid_{net}": metrics.fid(ref.features, fake.features)}
  if spec.kind == "kid":
    v, se = metrics.kid(ref.features, fake.features, cfg.kid_subset_size,
                        seed=cfg.seed)
    return {f"kid_{net}": v, f"kid_{net}_stderr": se}
  if spec.kind == "pr":
    p, r = metrics.precision_recall(ref.features, fake.features, cfg.pr_k,
                                    real_radii=ref.radii(cfg.pr_k))
    return {f"precision_{net}": p, f"recall_{net}": r}
  if spec.kind == "is":
    m, s = metrics.inception_score(fake.logits)
    return {f"is_{net}": m, f"is_{net}_std": s}
  if spec.kind == "class_hist":
    h = metrics.class_histogram(fake.logits, fake.logits.shape[1])
    out = {f"class_hist_{net}/{c}": float(v) for c, v in enumerate(h)}
    out[f"class_min_{net}"] = float(h.min())
    out[f"class_max_{net}"] = float(h.max())
    return out
  if spec.kind == "cond_acc":
    return {f"cond_acc_{net}": metrics.conditional_accuracy(fake.logits, cond)}
  raise AssertionError(spec.kind)


class SampleEvaluator:
  """Draws samples from a family and computes the named sample metrics."""

  def __init__(self, family, config, mesh, image_shape, specs: List[Spec],
               frozen=None):
    """``family.sample`` takes ``frozen`` last when ``frozen`` is given (the
    trainer's dependencies' bundles); otherwise (state, rng, num, cond)."""
    self.family, self.config, self.mesh = family, config, mesh
    self.frozen = frozen
    check_specs(list(specs), family, image_shape)
    self.specs = [s for s in specs if s.kind != "ppl"]
    self.path_specs = [s for s in specs if s.kind == "ppl"]   # their own latents
    self.nets = {s.net: load_feature_net(s.net) for s in self.specs}
    self.extractors = {n: Extractor(net, mesh) for n, net in self.nets.items()}
    cfg = config.eval
    shard_lib.check_batch_size(cfg.sample_batch_size, mesh,
                               "config.eval.sample_batch_size")
    self._sample = None if family.sample is None else jax.jit(
        family.sample, static_argnums=2,
        out_shardings=shard_lib.batch_sharding(mesh))
    self._refs: Dict[str, reference.Reference] = {}

  def reference(self, net_name):
    if net_name not in self._refs:
      cfg, data = self.config.eval, self.config.data
      self._refs[net_name] = reference.get(
          self.nets[net_name], data, cfg.reference_split or data.eval_split,
          cfg.reference_num_examples, cfg.batch_size, self.mesh,
          directory=cfg.reference_dir or None,
          extractor=self.extractors[net_name])
    return self._refs[net_name]

  def sample_features(self, state, num_samples, desc="samples"):
    """Features of ``num_samples`` fresh samples for every net, and the labels."""
    cfg = self.config.eval
    bs = cfg.sample_batch_size
    k = self.family.num_classes
    labels = [] if k is None else np.arange(num_samples) % k
    accs = {n: Accumulator() for n in self.nets}
    key = jax.random.PRNGKey(cfg.seed)
    from tqdm import tqdm
    bar = tqdm(total=num_samples, desc=desc, unit="img", leave=False,
               mininterval=2, disable=jax.process_index() != 0)
    fields = self.eval_fields(num_samples)
    for i, start in enumerate(range(0, num_samples, bs)):
      take = min(bs, num_samples - start)
      cond, field_labels = next(fields)
      if k is None and field_labels is not None:
        labels.append(np.asarray(field_labels)[:take])
      if k is not None:
        cond["label"] = jnp.asarray(np.arange(start, start + bs) % k, jnp.int32)
      cond = cond or None
      args = () if self.frozen is None else (self.frozen,)
      images = self._sample(state, jax.random.fold_in(key, i), bs, cond, *args)
      for n, ext in self.extractors.items():
        out = ext(images, where=f"samples of the {self.family.family}/{self.family.model} model")
        accs[n].add({a: v[:take] for a, v in out.items()})
      bar.update(take)
    bar.close()
    if k is None:   # conditioned on eval fields: the classes those examples hold
      labels = np.concatenate(labels) if labels else None
    return {n: a.result() for n, a in accs.items()}, labels

  def eval_fields(self, num_samples):
    """(batches of the family's ``cond_keys`` fields, their examples' labels
    or None) from the eval split (in order, cycled past its end): what
    conditional samples are drawn for (a caption's tokens name its example's
    class, which ``cond_acc`` then checks)."""
    keys = tuple(getattr(self.family, "cond_keys", ()))
    bs = self.config.eval.sample_batch_size
    if not keys:
      while True:
        yield {}, None
    while True:
      for local in data_lib.eval_iterator(
          self.config.data, self.config.data.eval_split, bs,
          num_examples=num_samples, process_index=jax.process_index(),
          process_count=jax.process_count()):
        batch = shard_lib.to_global(local, self.mesh)
        yield {key: batch[key] for key in keys}, local.get(self.family.label_key)

  def path_lengths(self, state, num_samples):
    """ppl_<net> of every perceptual path length spec (ppl.py)."""
    cfg = self.config.eval
    rep = None if self.mesh is None else shard_lib.replicated(self.mesh)
    return {f"ppl_{s.net}": ppl.perceptual_path_length(
        self.family, load_feature_net(s.net), state, num_samples,
        cfg.sample_batch_size, cfg.seed, self.config.sample.use_ema, rep)
        for s in self.path_specs}

  def __call__(self, state, num_samples, step=None):
    out = self.path_lengths(state, num_samples)
    if not self.specs:
      return dict(out, num_samples=int(num_samples)) if out else {}
    for n in self.nets:   # reference first: its cost is paid once, cached
      self.reference(n)
    feats, labels = self.sample_features(
        state, num_samples, desc="samples" if step is None else f"samples@{step}")
    for s in self.specs:
      out.update(_value_metrics(s, feats[s.net], self.reference(s.net),
                                self.config.eval, labels))
    out["num_samples"] = int(num_samples)
    return out
