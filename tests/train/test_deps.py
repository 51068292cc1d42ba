"""Runs built on trained runs (config.deps): pinning, refusals, exact resume,
frozen bundles as jit arguments and never in the consumer's checkpoints.

The consumer is the test-only linear probe of ``probe.py`` over a frozen
``ae_mnist:smoke`` run (the teacher)."""
import json
import os
import shutil
import signal
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from genjax import main
from genjax.core import sharding
from genjax.errors import ConfigError, WorkdirError
from genjax.train import checkpoint as ckpt_lib
from genjax.train import deps as deps_lib
from genjax.train import loop
from tests.helpers import ROOT, load_config, run_python, smoke_run
from tests.train import probe
from tests.train.test_resume import _params, assert_same_state


@pytest.fixture()
def teacher(smoke_root, tmp_path):
  """A private copy of the session's ae_mnist:smoke run (tests change it)."""
  src = smoke_run(probe.TEACHER, smoke_root)
  dst = str(tmp_path / "teacher")
  shutil.copytree(src, dst)
  return dst


@pytest.fixture(autouse=True)
def _probe_family(monkeypatch):
  probe.register(monkeypatch)


def _config(teacher_workdir, num_steps=6):
  c = probe.probe_config(teacher_workdir, num_steps)
  c.lock()
  return c


def _pin(workdir):
  return json.load(open(os.path.join(workdir, "config.json")))["deps"]["teacher"]


def test_first_start_pins_the_step_and_a_fingerprint(teacher, tmp_path):
  wd = str(tmp_path / "probe")
  main.run(_config(teacher, 2), wd, "train")
  pin = _pin(wd)
  assert pin["workdir"] == teacher and pin["step"] == 6
  assert pin["fingerprint"].startswith("sha256:") and len(pin["fingerprint"]) == 71


def test_resume_uses_the_pinned_step_after_the_dependency_trained_on(teacher, tmp_path):
  """The teacher trains on after the consumer started; the resumed consumer
  keeps its pinned step and ends equal to an uninterrupted run on it."""
  ref, wd = str(tmp_path / "ref"), str(tmp_path / "probe")
  main.run(_config(teacher, 6), ref, "train")
  main.run(_config(teacher, 2), wd, "train")
  longer = load_config(probe.TEACHER)
  longer.unlock()
  longer.train.num_steps = 9
  longer.lock()
  main.run(longer, teacher, "train")      # the teacher now has step 9
  main.run(_config(teacher, 6), wd, "train")
  assert _pin(wd)["step"] == 6
  sa, a = _params(ref, _config(teacher, 6))
  sb, b = _params(wd, _config(teacher, 6))
  assert _pin(wd)["step"] == 6
  assert sa == sb == 6
  assert_same_state(a, b)


def _perturb_checkpoint(workdir, step):
  """Rewrites step ``step`` of ``workdir`` with one parameter changed."""
  config = load_config(probe.TEACHER)
  run = loop._Run(config, workdir, "eval")
  state = run.ckpt.restore(run.abstract_state(), step)
  run.ckpt.close()
  params = jax.tree.map(lambda x: x, state.ema_params)
  first = jax.tree_util.tree_leaves_with_path(params)[0][0]
  params = jax.tree_util.tree_map_with_path(
      lambda p, x: x + 1e-3 if p == first else x, params)
  shutil.rmtree(os.path.join(workdir, "checkpoints", str(step)))
  ckpt = ckpt_lib.Checkpointer(workdir)
  ckpt.save(step, state.replace(ema_params=params))
  ckpt.close()


def test_a_dependency_changed_after_the_start_is_refused_on_resume(teacher, tmp_path):
  wd = str(tmp_path / "probe")
  main.run(_config(teacher, 2), wd, "train")
  _perturb_checkpoint(teacher, 6)
  with pytest.raises(WorkdirError, match="has changed since this run started"):
    main.run(_config(teacher, 4), wd, "train")


def test_a_pinned_checkpoint_that_is_gone_is_refused(teacher, tmp_path):
  wd = str(tmp_path / "probe")
  main.run(_config(teacher, 2), wd, "train")
  shutil.rmtree(os.path.join(teacher, "checkpoints", "6"))
  with pytest.raises(WorkdirError, match="step 6 .* is gone"):
    main.run(_config(teacher, 4), wd, "eval")


def test_a_resume_naming_another_step_is_refused(teacher, tmp_path):
  wd = str(tmp_path / "probe")
  main.run(_config(teacher, 2), wd, "train")
  c = probe.probe_config(teacher, 4)
  c.deps.teacher.step = 3
  c.lock()
  with pytest.raises(WorkdirError, match="was started on step 6"):
    main.run(c, wd, "train")


def test_a_resume_naming_another_dependency_is_refused(teacher, tmp_path):
  wd, other = str(tmp_path / "probe"), str(tmp_path / "other")
  main.run(_config(teacher, 2), wd, "train")
  shutil.copytree(teacher, other)
  with pytest.raises(WorkdirError, match=f"started on {teacher}"):
    main.run(_config(other, 4), wd, "train")


@pytest.mark.parametrize("case,error,match", [
    ("missing", WorkdirError, "does not exist. Train that run first"),
    ("not_a_run", WorkdirError, "is not a genjax workdir"),
    ("untrained", WorkdirError, "has no checkpoint yet"),
    ("wrong_family", ConfigError, "holds a diffusion/classifier run; the probe "
                                  "needs a autoencoder/\\* run"),
    ("no_such_step", WorkdirError, "has no such checkpoint; it has steps \\[3, 6\\]"),
    ("empty", ConfigError, "workdir is empty"),
])
def test_each_bad_dependency_fails_at_start_up(case, error, match, teacher,
                                               tmp_path, smoke_root):
  target = {"missing": str(tmp_path / "nowhere"), "empty": "",
            "not_a_run": str(tmp_path / "plain"),
            "untrained": str(tmp_path / "untrained"), "no_such_step": teacher,
            "wrong_family": "classifier", "": teacher}[case]
  os.makedirs(tmp_path / "plain")
  os.makedirs(tmp_path / "untrained")
  shutil.copy(os.path.join(teacher, "config.json"), tmp_path / "untrained")
  if case == "wrong_family":
    target = smoke_run("experiments/diffusion/classifier_mnist.py", smoke_root)
  c = probe.probe_config(target)
  if case == "no_such_step":
    c.deps.teacher.step = 5
  c.lock()
  wd = str(tmp_path / "probe")
  with pytest.raises(error, match=match):
    main.run(c, wd, "train")
  assert not os.path.exists(os.path.join(wd, "config.json"))   # nothing written


def test_an_entry_the_model_does_not_use_is_refused(teacher, tmp_path):
  from genjax.config import dependency
  c = load_config(probe.TEACHER)
  c.unlock()
  c.deps.extra = dependency(workdir=teacher)
  c.lock()
  with pytest.raises(ConfigError, match="config.deps names extra, but the "
                                        "autoencoder/ae model uses no other run"):
    main.run(c, str(tmp_path / "ae"), "train")


def test_only_the_trained_parameters_are_restored(teacher):
  config = load_config(probe.TEACHER)
  from genjax import registry
  family = registry.make_family(config)
  mesh = sharding.make_mesh()
  got = deps_lib.restore_trained(family, config, teacher, 6, True, mesh)
  assert sorted(got) == ["model_state", "params"]   # no optimiser state, no step
  run = loop._Run(config, teacher, "eval")
  state, _ = run.restore_latest()
  run.ckpt.close()
  for x, y in zip(jax.tree.leaves(got["params"]), jax.tree.leaves(state.ema_params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  raw = deps_lib.restore_trained(family, config, teacher, 6, False, mesh)
  for x, y in zip(jax.tree.leaves(raw["params"]), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _saved_bytes(workdir, step):
  meta = ocp.StandardCheckpointer().metadata(
      os.path.join(workdir, "checkpoints", str(step), "default"))
  tree = getattr(meta, "item_metadata", meta)
  tree = getattr(tree, "tree", tree)
  return sum(int(np.prod(m.shape)) * np.dtype(m.dtype).itemsize
             for m in jax.tree.leaves(tree, is_leaf=lambda m: hasattr(m, "shape")))


def test_the_consumers_checkpoints_hold_its_own_state_only(teacher, tmp_path):
  wd = str(tmp_path / "probe")
  state = main.run(_config(teacher, 2), wd, "train")
  own = sum(np.asarray(x).nbytes for x in jax.tree.leaves(state))
  assert _saved_bytes(wd, 2) == own
  assert _saved_bytes(teacher, 6) > 3 * own   # the teacher is not in it


def test_the_frozen_bundle_is_a_jit_argument_not_a_constant(teacher, tmp_path):
  """The compiled step takes the teacher's parameters as inputs: its
  constants hold none of them, and other values give other results."""
  c = _config(teacher, 2)
  run = loop._Run(c, str(tmp_path / "probe"), "train")
  state = run.fresh_state()
  step = loop.jit_train_step(run.fam, run.mesh)
  batch = {"image": np.full((16, 28, 28, 1), 0.5, np.float32),
           "label": np.zeros((16,), np.int32)}
  batch = sharding.to_global(batch, run.mesh)
  lowered = step.lower(state, batch, run.frozen)
  n_frozen = len(jax.tree.leaves(run.frozen))
  assert len(jax.tree.leaves(lowered.args_info)) == (
      len(jax.tree.leaves(state)) + 2 + n_frozen)
  _, m1 = step(jax.tree.map(np.copy, jax.device_get(state)), batch, run.frozen)
  doubled = jax.tree.map(lambda x: 2 * x, run.frozen)
  _, m2 = step(jax.tree.map(np.copy, jax.device_get(state)), batch, doubled)
  assert float(m1["loss"]) != float(m2["loss"])
  run.ckpt.close()


KILL_SCRIPT = """
import sys
from tests.train import probe
from genjax import main
probe.register()
c = probe.probe_config({teacher!r}, num_steps={steps})
c.train.ckpt_every = 5
c.lock()
main.main_with_errors(c, {workdir!r}, "train")
"""


@pytest.mark.slow
def test_a_consumer_sigkilled_and_resumed_equals_an_uninterrupted_run(teacher, tmp_path):
  import subprocess
  import sys
  wd, ref = str(tmp_path / "killed"), str(tmp_path / "ref")
  code = KILL_SCRIPT.format(teacher=teacher, steps=5000, workdir=wd)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
  proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  ck = os.path.join(wd, "checkpoints")
  t0 = time.time()
  while not (os.path.isdir(ck) and any(d.isdigit() for d in os.listdir(ck))):
    assert proc.poll() is None, proc.stdout.read()
    assert time.time() - t0 < 180, "no checkpoint appeared"
    time.sleep(0.2)
  time.sleep(1.0)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  killed_at = max(ckpt_lib.Checkpointer(wd).all_steps())
  assert killed_at < 5000
  end = killed_at + 7
  for workdir in (wd, ref):
    out = run_python(KILL_SCRIPT.format(teacher=teacher, steps=end, workdir=workdir))
    assert out.returncode == 0, out.stdout + out.stderr
  sa, a = _params(wd, _config(teacher, end))
  sb, b = _params(ref, _config(teacher, end))
  assert sa == sb == end
  assert_same_state(a, b)


@pytest.mark.slow
def test_the_step_does_not_grow_with_the_frozen_dependency(tmp_path):
  """0.1M vs 10M frozen parameters: the compiled step's serialized size and
  its HLO stay within 1.2x (baked in as constants, the 10M teacher's would
  be ~40 MB of HLO). Compile times: benchmarks/frozen_deps.py."""
  costs = {}
  for hidden in (64, 6400):
    teacher = str(tmp_path / f"teacher{hidden}")
    config = probe.teacher_config(hidden)
    config.lock()
    main.run(config, teacher, "train")
    costs[hidden] = probe.step_costs(teacher, str(tmp_path / f"probe{hidden}"))
  small, big = costs[64], costs[6400]
  assert small["frozen_params"] < 150_000 and big["frozen_params"] > 10_000_000
  assert big["executable_bytes"] <= 1.2 * small["executable_bytes"]
  assert big["hlo_bytes"] <= 1.2 * small["hlo_bytes"]


def test_a_run_built_on_another_run_can_itself_be_a_dependency(teacher, tmp_path):
  """The probe (over the teacher) resolved as a dependency: the teacher is
  resolved from the probe's own pins and reaches the probe's init."""
  from genjax.config import dependency
  wd = str(tmp_path / "probe")
  main.run(_config(teacher, 2), wd, "train")
  dep, bundle = deps_lib.load_reference("probe", dependency(workdir=wd), {},
                                        sharding.make_mesh())
  assert (dep.step, sorted(dep.deps)) == (2, ["teacher"])
  assert dep.deps["teacher"].step == 6
  assert sorted(bundle["deps"]) == ["teacher"]
  _, state = _params(wd, _config(teacher, 2))
  for x, y in zip(jax.tree.leaves(bundle["trained"]["params"]),
                  jax.tree.leaves(state.ema_params)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_metrics_sharing_one_function_run_it_once_per_batch():
  """Names mapped to one function returning a dict (a restoration's psnr,
  ssim, ...) are computed by one call; frozen_last keeps them one function."""
  import types
  import jax.numpy as jnp
  from genjax.families.base import Family
  from genjax.train import deps as deps_lib, loop
  calls = []

  def joint(state, batch, rng):
    calls.append(1)
    x = batch["image"].sum(axis=(1, 2, 3))
    return {"a": x, "b": 2 * x}

  fam = Family("f", "m", init=None, train_step=None,
               eval_metrics={"a": joint, "b": joint, "c": lambda s, b, r: b["label"] * 1.0})
  twin = deps_lib.frozen_last(fam)
  assert twin.eval_metrics["a"] is twin.eval_metrics["b"]
  run = types.SimpleNamespace(fam=twin, rep=None)
  fn = loop._Run._eval_fn.__wrapped__(run, ("a", "b", "c"))
  batch = {"image": jnp.ones((3, 2, 2, 1)), "label": jnp.arange(3),
           "valid": jnp.array([1.0, 1.0, 0.0])}
  out = fn(None, batch, None, {})
  assert len(calls) == 1
  assert float(out["a"]) == 8.0 and float(out["b"]) == 16.0 and float(out["c"]) == 1.0
