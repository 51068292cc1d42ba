"""Runs built on other runs: ``config.deps`` resolved, pinned and restored.

    config.deps.<name> = genjax.config.dependency(workdir="runs/vae_mnist")
        workdir      the trained run (a genjax workdir)
        step         its checkpoint to use (None: the latest, at the first start)
        params       'ema' (default) | 'raw': which of its parameters
        fingerprint  '' (filled at the first start)

At a consumer's first start each dependency's step and a fingerprint (sha256
of its config.json and of the parameters used) are written into the
consumer's ``config.json``; every later start (resume, eval, sample) reads
the pin and refuses a dependency whose checkpoint changed or went. The
dependency's family is rebuilt from its own ``config.json`` (its
architecture is never restated), and only what its ``family.trained``
selects is restored (never the optimiser state). The restored parameters
form the dependency's *bundle* (``genjax.families.base``), which the loop
passes to the consumer's jitted functions as their last argument.

``init_from`` (fine-tuning) names a run the same way; its parameters are
copied into a fresh state once, at the first start (``copy_init``).
"""
import dataclasses
import hashlib
import json
import os
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genjax import config as config_lib
from genjax import registry
from genjax.core import params as params_lib
from genjax.core import sharding as shard_lib
from genjax.errors import ConfigError, WorkdirError, check_choice
from genjax.families.base import example_batch
from genjax.train import checkpoint as ckpt_lib
from genjax.train import workdir as workdir_lib

PARAMS = ("ema", "raw")


@dataclasses.dataclass(frozen=True)
class Dependency:
  """A trained run a consumer builds on (its parameters travel as a bundle)."""
  name: str
  workdir: str                 # absolute
  step: int
  use_ema: bool
  fingerprint: str
  config: Any                  # the run's own config (ml_collections)
  family: Any                  # rebuilt from that config
  deps: Mapping[str, "Dependency"]   # its own dependencies


class _Ref:
  """A state leaf's key path (not a pytree: ``trained`` selects it as a leaf)."""

  def __init__(self, keys):
    self.keys = keys


def _key(entry):
  for attr in ("name", "key", "idx"):
    if hasattr(entry, attr):
      return str(getattr(entry, attr))
  raise TypeError(entry)


def trained_refs(family, abstract_state, use_ema):
  """``family.trained`` applied to the state's key paths: which saved leaf each
  bundle leaf is (``trained`` only selects fields, so it runs on references)."""
  refs = jax.tree_util.tree_map_with_path(
      lambda path, _: _Ref(tuple(_key(p) for p in path)), abstract_state)
  return family.trained(refs, use_ema)


def _nested(pairs):
  """{(k1, k2, ...): v} -> nested dicts (the saved checkpoint's layout)."""
  out = {}
  for keys, value in pairs:
    node = out
    for k in keys[:-1]:
      node = node.setdefault(k, {})
    node[keys[-1]] = value
  return out


def _lookup(tree, keys):
  for k in keys:
    tree = tree[k]
  return tree


def _keyed(tree):
  """{(key, ...): leaf} of ``tree`` (the saved checkpoint's key paths)."""
  return {tuple(_key(p) for p in path): leaf
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def restore_trained(family, config, workdir, step, use_ema, mesh, frozen=None):
  """``family.trained(state, use_ema)`` of ``workdir``'s checkpoint ``step``,
  restored alone (replicated on ``mesh``): no optimiser state is read.
  ``frozen``: the bundles of the run's own dependencies (its init takes them)."""
  shapes = jax.eval_shape(frozen_last(family).init, jax.random.PRNGKey(0),
                          example_batch(tuple(config.model.image_shape)),
                          frozen or {})
  abstract = _keyed(shard_lib.replicate_abstract(shapes, mesh))
  refs = trained_refs(family, shapes, use_ema)
  item = _nested((r.keys, abstract[r.keys]) for r in jax.tree.leaves(refs))
  restored = ckpt_lib.restore_subset(workdir, item, step)
  return jax.tree.map(lambda r: _lookup(restored, r.keys), refs)


def fingerprint(run_config, trained):
  """sha256 of a run's identity (``genjax.config.identity``: its model, data,
  optimiser, dependencies; not its run length or logging) and of the
  parameters a consumer uses."""
  h = hashlib.sha256(json.dumps(config_lib.identity(run_config),
                                sort_keys=True).encode())
  for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(trained),
                           key=lambda kv: jax.tree_util.keystr(kv[0])):
    x = np.asarray(jax.device_get(leaf))
    h.update(f"{jax.tree_util.keystr(path)}:{x.dtype}:{x.shape}".encode())
    h.update(np.ascontiguousarray(x).tobytes())
  return "sha256:" + h.hexdigest()


def _where(name):
  return f"config.{name}" if name == "init_from" else f"config.deps.{name}"


def _read_run(name, spec_workdir):
  """(absolute workdir, plain config) of a dependency; WorkdirError if it is no run."""
  if not spec_workdir:
    raise ConfigError(
        f"{_where(name)}.workdir is empty: name the trained run this experiment "
        f"builds on, e.g. --{_where(name)}.workdir=runs/<its workdir>.")
  workdir = os.path.abspath(os.path.expanduser(spec_workdir))
  path = workdir_lib.config_path(workdir)
  if not os.path.isdir(workdir):
    raise WorkdirError(
        f"{_where(name)}.workdir={spec_workdir!r}: {workdir} does not exist. "
        "Train that run first (python launch.py --config <its experiment> "
        f"--workdir {spec_workdir}) or point {_where(name)}.workdir at it.")
  if not os.path.exists(path):
    raise WorkdirError(
        f"{_where(name)}.workdir={spec_workdir!r}: {workdir} is not a genjax "
        "workdir (no config.json). Point it at a directory that "
        "launch.py --mode train wrote.")
  with open(path) as f:
    return workdir, json.load(f)


def _steps(workdir):
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


def _choose_step(name, workdir, spec_step, pinned):
  """The checkpoint step to use; refuses a missing or vanished one."""
  steps = _steps(workdir)
  if not steps:
    raise WorkdirError(
        f"{_where(name)}.workdir={workdir}: that run has no checkpoint yet. Train "
        "it first (or wait for its first checkpoint).")
  if pinned.get("step") is not None:
    step = int(pinned["step"])
    if spec_step is not None and int(spec_step) != step:
      raise WorkdirError(
          f"{_where(name)}.step={spec_step}: this run was started on step "
          f"{step} of {workdir}. Drop the override (or pass {step}) to resume "
          "it, or use a new --workdir for a run on another step.")
    if step not in steps:
      raise WorkdirError(
          f"{_where(name)}: this run was started on step {step} of {workdir}, "
          f"and that checkpoint is gone (the run keeps steps {steps}). Restore "
          "it, or start this experiment afresh in a new --workdir.")
    return step
  if spec_step is None:
    return steps[-1]
  if int(spec_step) not in steps:
    raise WorkdirError(
        f"{_where(name)}.step={spec_step}: {workdir} has no such checkpoint; it "
        f"has steps {steps}. Pick one of them, or None for the latest.")
  return int(spec_step)


def _check_pinned_workdir(name, workdir, pinned):
  old = pinned.get("workdir")
  if old and os.path.abspath(old) != workdir and not (
      os.path.exists(old) and os.path.samefile(old, workdir)):
    raise WorkdirError(
        f"{_where(name)}.workdir: this run was started on {old}, not {workdir}. "
        f"Pass --{_where(name)}.workdir={old} to resume it, or use a new "
        "--workdir for an experiment built on another run.")


def load_reference(name, spec, pinned, mesh, chain=()):
  """A ``Dependency`` for ``spec`` (a deps entry or init_from), checked
  against ``pinned`` (the entry the consumer's config.json holds, or {})."""
  workdir, plain = _read_run(name, spec["workdir"])
  _check_pinned_workdir(name, workdir, pinned)
  if workdir in chain:
    raise ConfigError(f"{_where(name)}: the runs depend on each other in a "
                      f"circle: {' -> '.join(chain + (workdir,))}.")
  run_config = config_lib.upgraded(ml_collections.ConfigDict(plain))
  params = check_choice(f"{_where(name)}.params", spec["params"], PARAMS)
  step = _choose_step(name, workdir, spec["step"], pinned)
  sub_deps, sub_bundles = resolve(run_config, mesh, pins=plain.get("deps") or {},
                                  chain=chain + (workdir,))
  family = registry.make_family(run_config, deps=sub_deps)
  trained = restore_trained(family, run_config, workdir, step, params == "ema", mesh,
                            sub_bundles)
  digest = fingerprint(plain, trained)
  if pinned.get("fingerprint") and pinned["fingerprint"] != digest:
    raise WorkdirError(
        f"{_where(name)}: step {step} of {workdir} has changed since this run "
        "started on it (its config or parameters differ from the fingerprint "
        "pinned in this run's config.json). Restore that run as it was, or "
        "start this experiment afresh in a new --workdir.")
  dep = Dependency(name, workdir, step, params == "ema", digest, run_config,
                   family, sub_deps)
  return dep, {"trained": trained, "deps": sub_bundles}


def resolve(config, mesh, pins=None, chain=()):
  """``({name: Dependency}, {name: bundle})`` of ``config.deps``; each entry of
  ``config.deps`` is updated in place with the step and fingerprint used."""
  deps, bundles = {}, {}
  for name in sorted(config.get("deps") or {}):
    spec = config.deps[name]
    pinned = dict((pins or {}).get(name) or {})
    dep, bundles[name] = load_reference(name, spec, pinned, mesh, chain)
    deps[name] = dep
    pin(spec, dep)
  return deps, bundles


def pin(spec, dep):
  """Writes the resolved workdir, step and fingerprint into a config entry."""
  spec.workdir, spec.step, spec.fingerprint = dep.workdir, dep.step, dep.fingerprint


def stored_config(workdir):
  """The plain config.json of ``workdir`` ({} when there is none yet)."""
  path = workdir_lib.config_path(os.path.abspath(workdir)) if workdir else None
  if not path or not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return {}   # workdir_lib.prepare says what is wrong with it


def with_pretrained(frozen, family, mesh):
  """``frozen`` plus a bundle per pretrained weight set of ``family``
  (``family.pretrained``: name -> loader of ``{"params": ...}``, the bundle's
  ``trained``), replicated on ``mesh``."""
  out = dict(frozen)
  for name, load in sorted(family.pretrained.items()):
    if name in out:
      raise ConfigError(
          f"config.deps.{name} clashes with the pretrained weights {name!r} of "
          f"the {family.family}/{family.model} model: rename the dependency.")
    out[name] = jax.device_put({"trained": load(), "deps": {}},
                               shard_lib.replicated(mesh))
  return out


_FROZEN_LAST = {}   # id(family) -> (family, its frozen-last twin); see frozen_last


def frozen_last(family):
  """``family`` with every contract function taking ``frozen`` last, so the
  loop calls one way; families without dependencies ignore it. The same
  family gives the same twin (kept while the registry keeps the family), so
  JAX's caches of programs traced from its functions serve every later run
  in the process."""
  if family.deps or family.pretrained:
    return family
  if id(family) in _FROZEN_LAST and _FROZEN_LAST[id(family)][0] is family:
    return _FROZEN_LAST[id(family)][1]
  drop = lambda f: None if f is None else (lambda *a: f(*a[:-1]))
  # Metric names sharing one function (computed together) share one twin.
  dropped = {id(f): drop(f) for f in family.eval_metrics.values()}
  twin = dataclasses.replace(
      family, init=drop(family.init), train_step=drop(family.train_step),
      eval_metrics={k: dropped[id(f)] for k, f in family.eval_metrics.items()},
      split_metrics={k: m._replace(stats=drop(m.stats))
                     for k, m in family.split_metrics.items()},
      sample=drop(family.sample), image_grids=drop(family.image_grids))
  _FROZEN_LAST[id(family)] = (family, twin)
  while len(_FROZEN_LAST) > registry.KEEP:
    _FROZEN_LAST.pop(next(iter(_FROZEN_LAST)))
  return twin


def init_source(config, stored, workdir, mesh, mode):
  """The ``config.init_from`` run to copy from, as ``(Dependency, bundle)``;
  None when there is none or this run already has its own checkpoint (its
  state, not the source, is then restored). The entry is pinned like a
  dependency (the stored pin is kept on resume, eval and sample)."""
  spec = config.init_from
  if not spec.workdir:
    return None
  pinned = dict(stored.get("init_from") or {})
  own = workdir and _steps(os.path.abspath(workdir))
  if mode != "train" or (own and pinned.get("fingerprint")):
    _check_pinned_workdir("init_from", os.path.abspath(spec.workdir), pinned)
    for key in ("workdir", "step", "fingerprint"):
      if pinned.get(key) is not None:
        spec[key] = pinned[key]
    return None
  dep, bundle = load_reference("init_from", spec, pinned, mesh)
  pin(spec, dep)
  return dep, bundle


def init_from(family, state, source, spec):
  """A fresh ``state`` with ``source``'s parameters copied in (see
  ``copy_init``); ``state`` itself when there is no source."""
  if source is None:
    return state
  dep, bundle = source
  copied = check_copy(family, state, source, spec)
  print(f"genjax: init_from {dep.workdir} step {dep.step}: copied "
        f"{len(copied)} parameter arrays", flush=True)
  return copy_init(family, state, bundle, spec)


def _trained_view(family, state, use_ema):
  """(refs, leaves) of ``family.trained`` over ``state``: which state leaf
  each trained leaf is, and its value."""
  refs = trained_refs(family, state, use_ema)
  flat = _keyed(state)
  return refs, jax.tree.map(lambda r: flat[r.keys], refs)


def check_copy(family, state, source, spec):
  """The paths ``copy_init`` copies; its start-up errors (a pattern that
  matches nothing, a missing path, a shape mismatch) from the state's
  shapes alone. [] without a source."""
  if source is None:
    return []
  _, dst = _trained_view(family, state, False)
  return params_lib.copy_paths(dst, source[1]["trained"], spec["include"],
                               spec["exclude"])


def copy_init(family, state, source_bundle, spec):
  """``state`` with the ``init_from`` run's parameters copied in (params, and
  the EMA when kept) where their ``trained`` paths match ``spec.include``
  (and not ``spec.exclude``)."""
  new_state = state
  for use_ema in (False, True):
    refs, dst = _trained_view(family, state, use_ema)
    merged = params_lib.copy_matching(dst, source_bundle["trained"],
                                      spec["include"], spec["exclude"])
    # distinct buffers for params and EMA: the train step donates both
    new_state = _write_back(new_state, refs, jax.tree.map(jnp.copy, merged))
  return new_state


def _write_back(state, refs, values):
  """``state`` with the leaf each ref names replaced by the matching value."""
  updates = {r.keys: v for r, v in zip(jax.tree.leaves(refs), jax.tree.leaves(values))}
  paths, treedef = jax.tree_util.tree_flatten_with_path(state)
  leaves = [updates.get(tuple(_key(p) for p in path), leaf) for path, leaf in paths]
  return jax.tree_util.tree_unflatten(treedef, leaves)
