"""The one training loop, and the eval and sample modes, for every family.

``train(config, workdir)`` runs the family contract (docs/architecture.md) under one
global ``jax.jit`` (batch sharded over all devices, state replicated and
donated), resumes from the workdir's latest checkpoint, logs, evaluates,
draws sample grids, saves on SIGTERM/SIGINT and stops on NaN/inf keeping the
last good checkpoint. ``evaluate`` and ``sample`` restore the latest
checkpoint of a workdir.
"""
import contextlib
import functools
import logging
import os
import signal
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from genjax import config as config_lib
from genjax import data as data_lib
from genjax import registry
from genjax.errors import ConfigError, TrainingDiverged, WorkdirError
from genjax.families.base import cycle_to, example_batch
from genjax.eval import evaluators
from genjax.train import checkpoint as ckpt_lib
from genjax.train import images as images_lib
from genjax.train import lock as lock_lib
from genjax.train import deps as deps_lib
from genjax.core import sharding as shard_lib
from genjax.train import workdir as workdir_lib
from genjax.train.writer import MetricWriter, read_jsonl

log = logging.getLogger("genjax")
GRID_BATCH = 32  # test images shown in reconstruction / interpolation grids


def resolve(config, deps=None):
  """Start-up checks that need no workdir: config, family, data, shapes.

  ``deps``: the resolved ``config.deps`` (``genjax.train.deps.resolve``).
  Returns ``(family, image_shape)``.
  """
  config_lib.validate(config)
  family = registry.make_family(config, deps=deps)
  unused = sorted(set(deps or {}) - set(family.deps))
  if unused:
    raise ConfigError(
        f"config.deps names {', '.join(unused)}, but the {family.family}/"
        f"{family.model} model uses "
        f"{', '.join(family.deps) if family.deps else 'no other run'}. Remove "
        "the entry, or pick the model that builds on it.")
  evaluators.split_names(list(config.train.eval_metrics) +
                         list(config.eval.metrics), family, config.data.name)
  shape = tuple(data_lib.image_shape(config.data))
  want = config.model.get("image_shape")
  if want is not None and tuple(want) != shape:
    raise ConfigError(
        f"Dataset {config.data.name!r} gives images of shape {shape} after "
        f"preprocessing {list(config.data.preprocess)}, but the model expects "
        f"{tuple(want)} (config.model.image_shape). Pick a dataset of that "
        "shape, add a resize op to config.data.preprocess, or set "
        "config.model.image_shape to match.")
  return family, shape


class _Run:
  """What every mode sets up: checked config, dependencies, family, mesh.

  ``self.fam`` is the family with ``frozen`` (the dependencies' bundles, a
  jit argument) as every function's last argument.
  """

  def __init__(self, config, workdir, mode, force_unlock=False):
    self.config = config
    self.lock = None
    config_lib.validate(config)
    self.mesh = shard_lib.make_mesh(config.train.model_parallel)
    stored = deps_lib.stored_config(workdir)
    self.deps, self.frozen = deps_lib.resolve(config, self.mesh,
                                              pins=stored.get("deps") or {})
    self.init_source = deps_lib.init_source(config, stored, workdir,
                                            self.mesh, mode)
    self.family, self.image_shape = resolve(config, self.deps)
    self.frozen = deps_lib.with_pretrained(self.frozen, self.family, self.mesh)
    self.fam = deps_lib.frozen_last(self.family)
    shard_lib.check_batch_size(config.train.batch_size, self.mesh)
    shard_lib.check_batch_size(config.eval.batch_size, self.mesh,
                               "config.eval.batch_size")
    if mode == "train" and not self.family.trains:
      raise ConfigError(
          f"The {self.family.family}/{self.family.model} model has nothing to "
          f"train: it joins the trained runs of config.deps "
          f"({', '.join(self.family.deps)}). Run it with --mode eval or "
          "--mode sample (a new --workdir records which runs it used).")
    self.base_rng = jax.random.PRNGKey(config.train.seed)
    self.example = example_batch(self.image_shape)
    # Tracing init checks what only parameter shapes can (trainable groups
    # that match nothing, an init_from copy that does not fit) before the
    # workdir is touched.
    self.shapes = jax.eval_shape(self.fam.init, self.base_rng, self.example,
                                 self.frozen)
    self.state_sh = shard_lib.state_shardings(
        self.shapes, self.mesh, config.train.shard_params,
        config.train.shard_min_size)
    deps_lib.check_copy(self.family, self.shapes, self.init_source,
                        config.init_from)
    self.workdir = workdir_lib.prepare(
        workdir, config, mode, record=mode == "train" or not self.family.trains,
        lock=(functools.partial(self._take_lock, force=force_unlock)
              if mode == "train" else None))
    try:
      workdir_lib.log_command(self.workdir, mode)
      self.rep = shard_lib.replicated(self.mesh)
      self.batch_sh = shard_lib.batch_sharding(self.mesh)
      self.writer = MetricWriter(self.workdir)
      self.ckpt = ckpt_lib.Checkpointer(self.workdir,
                                        keep=config.train.keep_checkpoints)
    except BaseException:
      self.release()
      raise

  def _take_lock(self, workdir, force):
    """A trainer's exclusive lock on ``workdir`` (process 0 takes it for all)."""
    if jax.process_index() == 0:
      self.lock = lock_lib.acquire(workdir, force=force)

  def release(self):
    if self.lock is not None:
      self.lock.release()
      self.lock = None

  def close(self):
    """Finishes pending saves and writes, then frees the workdir's lock."""
    try:
      self.ckpt.close()
      self.writer.close()
    finally:
      self.release()

  def abstract_state(self):
    return shard_lib.replicate_abstract(self.shapes, self.mesh, self.state_sh)

  def fresh_state(self, batch=None):
    """``family.init`` on the example batch, or on ``batch`` (data-dependent
    init); then ``config.init_from``'s parameters copied in."""
    init = jax.jit(self.fam.init, out_shardings=self.state_sh)
    state = init(self.base_rng, self.example if batch is None else batch,
                 self.frozen)
    state = deps_lib.init_from(self.family, state, self.init_source,
                               self.config.init_from)
    return jax.device_put(state, self.state_sh)

  def restore_latest(self):
    if not self.family.trains:   # nothing of its own: a fresh (empty) state
      return self.fresh_state(), 0
    state, step = self.ckpt.restore_readable(self.abstract_state())
    if step is None:
      raise WorkdirError(f"{self.workdir} has no checkpoint yet; train first "
                         "(--mode train) with the same --workdir.")
    return state, step

  @functools.cached_property
  def grid_batch(self):
    n = -(-GRID_BATCH // self.mesh.devices.size) * self.mesh.devices.size
    batches = data_lib.eval_iterator(
        self.config.data, self.config.data.eval_split, n, num_examples=n,
        process_index=jax.process_index(), process_count=jax.process_count())
    return shard_lib.to_global(next(iter(batches)), self.mesh)

  def write_pictures(self, state, step, name):
    """Samples as ``samples/<name>.png``; the family's grids beside them."""
    cfg = self.config.sample
    rng = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), step)
    paths = []
    if self.family.sample is not None:   # e.g. a classifier has no samples
      out = self.sample_fn(state, rng, cfg.num, self.picture_cond(cfg.num),
                           self.frozen)
    if self.family.sample is not None and jax.process_index() == 0:
      paths.append(images_lib.save_grid(
          np.asarray(jax.device_get(out)),
          os.path.join(self.workdir, "samples", f"{name}.png")))
    if self.family.image_grids is not None:
      grids = self.grids_fn(state, self.grid_batch, rng, self.frozen)
      if jax.process_index() == 0:
        for key, grid in jax.device_get(grids).items():
          paths.append(images_lib.save_grid(
              np.asarray(grid),
              os.path.join(self.workdir, "samples", f"{key}_{name}.png")))
    return paths

  def picture_cond(self, num):
    """The ``cond`` of pictured samples: the family's ``cond_keys`` fields of
    the grid's eval images (cycled to ``num``); None when it has none."""
    if not self.family.cond_keys:
      return None
    return {k: cycle_to(self.grid_batch[k], num) for k in self.family.cond_keys}

  @functools.cached_property
  def sample_fn(self):
    return jax.jit(self.fam.sample, static_argnums=2, out_shardings=self.rep)

  @functools.cached_property
  def grids_fn(self):
    return jax.jit(self.fam.image_grids, out_shardings=self.rep)

  @functools.lru_cache(maxsize=None)
  def _eval_fn(self, names):
    """Jitted masked sums of the named per-example metrics (compiled once per run)."""
    fns = {n: self.fam.eval_metrics[n] for n in names if n in self.fam.eval_metrics}
    split = {n: self.fam.split_metrics[n].stats for n in names
             if n in self.fam.split_metrics}

    def sums(state, batch, rng, frozen):
      mask = batch["valid"]
      out = {"count": jnp.sum(mask)}
      joint = {}   # a function giving several metrics (a dict) runs once
      for n, f in fns.items():
        if id(f) not in joint:
          joint[id(f)] = f(state, batch, rng, frozen)
        v = joint[id(f)]
        v = (v[n] if isinstance(v, dict) else v).astype(jnp.float32)
        out[n] = jnp.sum(v * mask)
        out[n + "/sq"] = jnp.sum(jnp.square(v) * mask)
      for n, f in split.items():   # per-example statistics [B, ...], summed
        v = f(state, batch, rng, frozen).astype(jnp.float32)
        out[n] = jnp.sum(v * mask.reshape((-1,) + (1,) * (v.ndim - 1)), axis=0)
      return out

    return jax.jit(sums, out_shardings=self.rep)

  @functools.lru_cache(maxsize=None)
  def sample_evaluator(self, names):
    """The sample metrics among ``names`` (their nets loaded and checked)."""
    _, specs = evaluators.split_names(names, self.family, self.config.data.name)
    return evaluators.SampleEvaluator(self.fam, self.config, self.mesh,
                                      self.image_shape, specs, self.frozen)

  def evaluate(self, state, names, num_examples, step, num_samples):
    """Per-example metrics over the eval split, then sample metrics."""
    names = tuple(names)  # checked at start-up (resolve)
    per_example, _ = evaluators.split_names(names, self.family,
                                            self.config.data.name)
    result = self.evaluate_examples(state, tuple(per_example), num_examples,
                                    step)
    result.update(self.sample_evaluator(names)(state, num_samples, step))
    return result

  def evaluate_examples(self, state, names, num_examples, step):
    """Masked means (and standard errors) of per-example metrics over the split."""
    if not names:
      return {}
    fn = self._eval_fn(names)
    cfg = self.config.eval
    batches = data_lib.eval_iterator(
        self.config.data, self.config.data.eval_split, cfg.batch_size,
        num_examples=num_examples, process_index=jax.process_index(),
        process_count=jax.process_count())
    total = None
    key = jax.random.PRNGKey(cfg.seed)
    from tqdm import tqdm
    n_total = data_lib.num_eval_examples(self.config.data,
                                         self.config.data.eval_split,
                                         num_examples)
    bar = tqdm(total=n_total, desc=f"eval@{step}", unit="img",
               disable=jax.process_index() != 0, leave=False, mininterval=2)
    for i, local in enumerate(batches):
      batch = shard_lib.to_global(local, self.mesh)
      got = jax.device_get(fn(state, batch, jax.random.fold_in(key, i),
                              self.frozen))
      total = got if total is None else {k: total[k] + got[k] for k in total}
      bar.update(int(got["count"]))
    bar.close()
    count = float(total["count"])
    result = {}
    for n in names:
      if n in self.fam.split_metrics:
        result[n] = float(self.fam.split_metrics[n].reduce(np.asarray(total[n]), count))
        continue
      mean = float(total[n]) / count
      var = max(float(total[n + "/sq"]) / count - mean * mean, 0.0)
      result[n] = mean
      result[n + "_stderr"] = float(np.sqrt(var / max(count - 1.0, 1.0)))
    result["num_examples"] = int(round(count))
    return result


def _all_finite(tree):
  leaves = [x for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  if not leaves:
    return jnp.array(True)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def jit_train_step(family, mesh, state_sh=None):
  """The step of ``family`` (``frozen`` last: ``deps.frozen_last``) under one
  global jit: batch sharded, state replicated (or as ``state_sh``: a
  matching tree of shardings) and donated, the frozen
  dependencies' bundles a replicated argument that is not donated (so the
  compiled program does not grow with them).

  The step also reports whether the new state is finite, so the loop never
  checkpoints a NaN state (the frozen bundles are not the step's to check).
  """

  def guarded_step(state, batch, frozen):
    state, metrics = family.train_step(state, batch, frozen)
    return state, dict(metrics, state_finite=_all_finite(state))

  rep = shard_lib.replicated(mesh)
  state_sh = rep if state_sh is None else state_sh
  return jax.jit(guarded_step,
                 in_shardings=(state_sh, shard_lib.batch_sharding(mesh), rep),
                 out_shardings=(state_sh, rep), donate_argnums=0)


@contextlib.contextmanager
def _stop_on_signals():
  """SIGTERM/SIGINT set a flag; the loop saves a checkpoint and exits."""
  flag = {"signal": None}

  def handler(signum, frame):
    del frame
    flag["signal"] = signum

  old = {}
  if jax.process_index() >= 0 and sys.platform != "win32":
    try:
      for s in (signal.SIGTERM, signal.SIGINT):
        old[s] = signal.signal(s, handler)
    except ValueError:  # not the main thread (e.g. called from a test thread)
      old = {}
  try:
    yield flag
  finally:
    for s, h in old.items():
      signal.signal(s, h)


class Interrupted(Exception):
  """Raised after a signal-triggered save; launch.py exits with 128 + signal."""

  def __init__(self, signum, step):
    super().__init__(f"stopped by signal {signum} at step {step}")
    self.signum, self.step = signum, step


def _previous_train_time(workdir):
  rows = [r for r in read_jsonl(os.path.join(workdir, "metrics.jsonl"))
          if "train_time_s" in r]
  return rows[-1]["train_time_s"] if rows else 0.0


def train(config, workdir, force_unlock=False):
  """Trains (or resumes) the experiment in ``workdir``; returns the final state.

  The trainer holds the workdir's lock (``genjax.train.lock``) throughout;
  ``force_unlock`` takes it from a holder that cannot be checked."""
  run = _Run(config, workdir, "train", force_unlock=force_unlock)
  try:
    return _train(run, config)
  finally:
    run.close()


def _train(run, config):
  cfg = config.train
  run.sample_evaluator(tuple(cfg.eval_metrics))  # nets load and fit, at start-up
  batch_size = cfg.batch_size
  state, start = run.ckpt.restore_readable(run.abstract_state(), set_aside=True)
  if start is not None:
    log.info("Resumed from checkpoint at step %d in %s", start, run.workdir)
    print(f"genjax: resumed from step {start} ({run.ckpt.directory})",
          flush=True)
  else:
    start = 0
    # Data-dependent init happens on the first batch (below); one init program.
    state = None if run.family.init_on_data else run.fresh_state()
  sync = cfg.sync_every_step
  if sync is None:
    sync = jax.default_backend() == "cpu" and jax.device_count() > 1

  step_fn = jit_train_step(run.fam, run.mesh, run.state_sh)
  batches = data_lib.train_iterator(
      config.data, batch_size, seed=cfg.seed, start_step=start,
      process_index=jax.process_index(), process_count=jax.process_count())
  from tqdm import tqdm
  bar = tqdm(total=cfg.num_steps, initial=start, unit="step", desc="train",
             disable=jax.process_index() != 0,
             mininterval=1 if sys.stderr.isatty() else 30)
  train_time = _previous_train_time(run.workdir)
  sums, n_summed = {}, 0
  if start >= cfg.num_steps:
    print(f"genjax: {run.workdir} is already trained to step {start} "
          f"(config.train.num_steps={cfg.num_steps}); nothing to do. Raise "
          "--config.train.num_steps to train longer.", flush=True)

  def check(step, metrics):
    """Host copy of a step's metrics; stops on NaN/inf (lagging one step)."""
    nonlocal sums, n_summed
    host = {k: float(v) for k, v in jax.device_get(metrics).items()}
    finite = host.pop("state_finite") > 0.5
    bad = [k for k, v in host.items() if not np.isfinite(v)]
    if bad or not finite:
      run.ckpt.wait()
      what = ", ".join(bad) if bad else "the parameters"
      last = run.ckpt.latest_step()
      kept = (f"the last good checkpoint (step {last}) is kept in "
              f"{run.ckpt.directory}" if last is not None else
              "no checkpoint had been saved yet, so a re-run starts from step 0")
      raise TrainingDiverged(
          f"Training diverged: {what} became NaN/inf at step {step}. Stopped "
          f"without saving; {kept}. Lower --config.optim.lr, set "
          "--config.optim.grad_clip, or check the data, then re-run.")
    for k, v in host.items():
      sums[k] = sums.get(k, 0.0) + v
    n_summed += 1
    return host

  compiled, compile_s, pending = None, None, None
  t_log, steps_since_log = time.perf_counter(), 0
  try:
    with _stop_on_signals() as stop:
      for step in range(start, cfg.num_steps):
        batch = shard_lib.to_global(next(batches), run.mesh)
        if state is None:   # e.g. weight normalisation's data-dependent init
          state = run.fresh_state(batch)
        if compiled is None:
          t0 = time.perf_counter()
          compiled = step_fn.lower(state, batch, run.frozen).compile()
          compile_s = time.perf_counter() - t0
          log.info("train step compiled in %.1fs", compile_s)
          t_log = time.perf_counter()
        state, metrics = compiled(state, batch, run.frozen)
        if sync:
          jax.block_until_ready(metrics)
        if pending is not None:
          check(*pending)
        done = step + 1
        steps_since_log += 1
        pending = (done, metrics)
        is_last = done == cfg.num_steps
        at = lambda every: every and done % every == 0
        boundary = (at(cfg.log_every) or at(cfg.ckpt_every) or
                    at(cfg.sample_every) or at(cfg.eval_every) or is_last or
                    stop["signal"] is not None)
        if not boundary:
          bar.update(1)
          continue
        t_boundary = time.perf_counter()
        logged = False
        check(*pending)
        pending = None
        bar.update(1)
        if at(cfg.log_every) or is_last:
          now = time.perf_counter()
          dt = now - t_log
          train_time += dt
          row = {k: v / n_summed for k, v in sums.items()}
          row.update(images_per_sec=steps_since_log * batch_size / dt,
                     images_seen=done * batch_size, train_time_s=train_time)
          if compile_s is not None:
            row["compile_s"], compile_s = compile_s, None
          run.writer.write(done, row)
          bar.set_postfix(loss=f"{row.get('loss', float('nan')):.4g}",
                          img_s=f"{row['images_per_sec']:.0f}")
          sums, n_summed, steps_since_log = {}, 0, 0
          logged = True
        if at(cfg.ckpt_every) or is_last or stop["signal"] is not None:
          run.ckpt.save(done, state)
        if at(cfg.sample_every) or is_last:
          run.write_pictures(state, done, f"step_{done}")
        if (at(cfg.eval_every) or is_last) and cfg.eval_metrics:
          res = run.evaluate(state, cfg.eval_metrics, cfg.eval_num_examples,
                             done, cfg.eval_num_samples)
          run.writer.write(done, res, prefix="eval/")
        if stop["signal"] is not None:
          run.ckpt.wait()
          raise Interrupted(stop["signal"], done)
        # Checkpoints, pictures and evaluation do not count as training time.
        t_log = (time.perf_counter() if logged else
                 t_log + time.perf_counter() - t_boundary)
  finally:
    bar.close()
  return run.fresh_state() if state is None else state   # (num_steps == 0)


def evaluate(config, workdir):
  """Computes ``config.eval.metrics`` for the latest checkpoint; appends to metrics.jsonl."""
  run = _Run(config, workdir, "eval")
  try:
    return _evaluate(run, config)
  finally:
    run.close()


def _evaluate(run, config):
  names = list(config.eval.metrics)
  if not names:
    valid = (sorted(run.family.eval_metrics) + sorted(run.family.split_metrics)
             + evaluators.valid_names())
    raise ConfigError("config.eval.metrics is empty; name the metrics to "
                      f"compute, from: {', '.join(valid)}.")
  run.sample_evaluator(tuple(names))  # nets load and fit, before restoring
  state, step = run.restore_latest()
  t0 = time.perf_counter()
  res = run.evaluate(state, names, config.eval.num_examples, step,
                     config.eval.num_samples)
  res["eval_time_s"] = time.perf_counter() - t0
  res["split"] = config.data.eval_split
  run.writer.write(step, {k: v for k, v in res.items() if k != "split"},
                   prefix="eval/")
  return dict(res, step=step)


def sample(config, workdir):
  """Writes ``samples/sample_<step>.png`` (and the family's grids) from the latest checkpoint."""
  run = _Run(config, workdir, "sample")
  try:
    state, step = run.restore_latest()
    return run.write_pictures(state, step, f"sample_{step}")
  finally:
    run.close()
