"""Helpers shared by the end-to-end tests."""
import contextlib
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(ROOT, "experiments")


def experiment_files():
  out = []
  for family in sorted(os.listdir(EXPERIMENTS)):
    folder = os.path.join(EXPERIMENTS, family)
    if os.path.isdir(folder):
      out += [os.path.join("experiments", family, f)
              for f in sorted(os.listdir(folder))
              if f.endswith(".py") and not f.startswith("_")]
  return out


def load_config(rel_path, arg="smoke"):
  """``get_config(arg)`` of an experiment file, as launch.py would load it."""
  path = os.path.join(ROOT, rel_path)
  spec = importlib.util.spec_from_file_location("exp_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg)
  config.lock()
  return config


def run_cli(args, env=None, timeout=300):
  """Runs ``launch.py`` in a subprocess; returns CompletedProcess (text)."""
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
  full_env.update(env or {})
  return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py")] + args,
                        cwd=ROOT, env=full_env, capture_output=True, text=True,
                        timeout=timeout)


def run_python(code, env=None, timeout=300):
  """Runs a Python snippet in a fresh interpreter (e.g. with N simulated devices)."""
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu",
                  PYTHONPATH=ROOT)
  full_env.update(env or {})
  return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env,
                        capture_output=True, text=True, timeout=timeout)


def free_port():
  """A loopback TCP port nothing listens on (bound and released)."""
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run_python_result(code, devices=1, timeout=300):
  """Runs ``code`` on ``devices`` simulated CPU devices; returns the JSON it
  printed after "RESULT" (the snippet's last such line)."""
  import json
  proc = run_python(code, timeout=timeout, env={
      "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"})
  assert proc.returncode == 0, proc.stdout + proc.stderr
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
  return json.loads(line[len("RESULT"):])


def dependency_entries(config):
  """(name, entry) of every run ``config`` builds on: config.deps and init_from."""
  entries = sorted(config.deps.items())
  if config.init_from.workdir:
    entries.append(("init_from", config.init_from))
  return entries


def with_smoke_deps(config, root):
  """Points every dependency of ``config`` at the ``:smoke`` run of the
  experiment its entry names, trained once under ``root`` (the session's)."""
  for name, entry in dependency_entries(config):
    if not entry.experiment:
      raise AssertionError(f"config.deps.{name} names no experiment to train")
    entry.workdir = smoke_run(entry.experiment, root)
  return config


def _session_smoke_run(rel_path, root, make):
  """The workdir of ``rel_path``'s smoke run under ``root``, made by
  ``make(workdir)`` the first time it is asked for."""
  workdir = os.path.join(root, os.path.basename(rel_path)[:-3])
  done = os.path.join(workdir, ".smoke_done")
  if not os.path.exists(done):
    if os.path.exists(workdir):
      import shutil
      shutil.rmtree(workdir)   # an interrupted earlier attempt
    make(workdir)
    open(done, "w").close()
  return workdir


def smoke_run(rel_path, root):
  """The workdir of ``rel_path``'s ``:smoke`` run under ``root``: trained the
  first time it is asked for (its own dependencies first)."""
  from genjax import main
  return _session_smoke_run(rel_path, root, lambda workdir: main.run(
      with_smoke_deps(load_config(rel_path), root), workdir, "train"))


@contextlib.contextmanager
def mock_catalog_data(num_examples=64):
  """``tfds.testing.mock_data`` with synchronous checkpoints: tfds swaps the
  file system functions for a temporary one while it builds each dataset,
  and an orbax save finishing in its background thread meanwhile would write
  there (a race that failed the CIFAR-10 smoke runs under load)."""
  import functools
  from unittest import mock
  import orbax.checkpoint as ocp
  import tensorflow_datasets as tfds
  sync = functools.partial(ocp.CheckpointManagerOptions, enable_async_checkpointing=False)
  with tfds.testing.mock_data(num_examples=num_examples), \
      mock.patch.object(ocp, "CheckpointManagerOptions", sync):
    yield


def share_as_smoke_run(rel_path, workdir, root):
  """Makes a finished ``:smoke`` training run in ``workdir`` (an experiment's
  own smoke test) the session's smoke run of ``rel_path`` under ``root``, when
  no consumer has trained one yet: the consumers of that run then load it
  instead of training it again."""
  import shutil
  _session_smoke_run(rel_path, root, lambda target: shutil.copytree(workdir, target))


def dependencies_first(paths):
  """``paths`` reordered so that every experiment comes after the experiments
  its dependencies name (otherwise in the given order)."""
  deps = {p: [e.experiment for _, e in dependency_entries(load_config(p))] for p in paths}
  out, seen = [], set()

  def visit(p):
    if p in seen:
      return
    seen.add(p)
    for d in deps.get(p, ()):
      visit(d)
    out.append(p)

  for p in paths:
    visit(p)
  return [p for p in out if p in deps]


def family_of(config):
  """The family of ``config``, its dependencies resolved."""
  from genjax import registry
  from genjax.core import sharding
  from genjax.train import deps
  resolved, _ = deps.resolve(config, sharding.make_mesh())
  return registry.make_family(config, deps=resolved)


def trains(config):
  """Whether the model of ``config`` (its dependencies resolved) trains."""
  return family_of(config).trains


def program_group(path):
  """Experiments whose smoke runs compile the same programs (the same family,
  model and batch) share an xdist group: under ``--dist loadgroup`` they run
  one after the other on one worker, so the second loads the first's compiled
  steps from the session's persistent XLA cache instead of compiling them
  concurrently on the other worker. An experiment built on other runs joins
  its first dependency's group, whose smoke run that worker then trains once."""
  import hashlib
  import json
  c = load_config(path)
  entries = dependency_entries(c)
  if entries:
    return program_group(entries[0][1].experiment)
  key = json.dumps({"family": c.family, "model": c.model.to_dict(),
                    "batch": c.train.batch_size}, sort_keys=True, default=str)
  return hashlib.sha1(key.encode()).hexdigest()[:10]


def sgd_rates(optimizer, n):
  """The learning rate of each of ``n`` updates of an SGD ``optimizer`` (no
  momentum): the negated update of a unit gradient on a scalar."""
  import jax.numpy as jnp
  import numpy as np
  w = {"w": jnp.zeros(())}
  state, out = optimizer.init(w), []
  for _ in range(n):
    update, state = optimizer.update({"w": jnp.ones(())}, state, w)
    out.append(-float(update["w"]))
  return np.asarray(out)
