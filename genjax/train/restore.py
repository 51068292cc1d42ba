"""A trained run restored whole, with its dependencies: what ``genjax.load``
and the benchmarks read."""
import dataclasses
import json
import os
from typing import Any, Mapping

import jax
import ml_collections

from genjax import config as config_lib
from genjax import registry
from genjax.core import sharding as shard_lib
from genjax.errors import WorkdirError
from genjax.families.base import example_batch
from genjax.train import checkpoint as ckpt_lib
from genjax.train import deps as deps_lib
from genjax.train import workdir as workdir_lib


@dataclasses.dataclass(frozen=True)
class LoadedRun:
  workdir: str
  config: Any                 # the run's own config.json
  family: Any                 # as built from it (functions without ``frozen``)
  fam: Any                    # the same with ``frozen`` last (deps.frozen_last)
  state: Any                  # restored, replicated over this process's devices
  step: int                   # its checkpoint step (0 for a model that trains nothing)
  deps: Mapping[str, Any]     # name -> deps.Dependency (pinned in config.json)
  frozen: Mapping[str, Any]   # name -> the dependency's bundle
  mesh: Any


def read_config(workdir, what="run"):
  """The ``config.json`` of ``workdir`` as (ConfigDict, plain dict)."""
  path = workdir_lib.config_path(workdir)
  if not os.path.exists(path):
    raise WorkdirError(f"The {what} {workdir!r} is not a genjax workdir (no "
                       "config.json); train it first and pass its --workdir.")
  with open(path) as f:
    plain = json.load(f)
  return config_lib.upgraded(ml_collections.ConfigDict(plain)), plain


def load_run(workdir, step=None, what="run"):
  """The run in ``workdir`` at checkpoint ``step`` (None: the latest), its
  dependencies restored at the steps pinned in its config.json."""
  workdir = os.path.abspath(workdir)
  config, plain = read_config(workdir, what)
  mesh = shard_lib.make_mesh()
  deps, frozen = deps_lib.resolve(config, mesh, pins=plain.get("deps") or {})
  family = registry.make_family(config, deps=deps)
  frozen = deps_lib.with_pretrained(frozen, family, mesh)
  fam = deps_lib.frozen_last(family)
  rng = jax.random.PRNGKey(config.train.seed)
  example = example_batch(tuple(config.model.image_shape))
  if not family.trains:
    state = jax.jit(fam.init, out_shardings=shard_lib.replicated(mesh))(
        rng, example, frozen)
    return LoadedRun(workdir, config, family, fam, state, 0, deps, frozen, mesh)
  ckpt = ckpt_lib.Checkpointer(workdir)
  try:
    steps = ckpt.all_steps()
    if not steps:
      raise WorkdirError(f"The {what} {workdir!r} has no checkpoint yet; train "
                         "it first.")
    step = max(steps) if step is None else int(step)
    if step not in steps:
      raise WorkdirError(f"The {what} {workdir!r} has no checkpoint at step "
                         f"{step}; it has steps {sorted(steps)}.")
    shapes = jax.eval_shape(fam.init, rng, example, frozen)
    state = ckpt.restore(shard_lib.replicate_abstract(shapes, mesh), step)
  finally:
    ckpt.close()
  return LoadedRun(workdir, config, family, fam, state, step, deps, frozen, mesh)
