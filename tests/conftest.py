"""Shared test set-up: quiet TensorFlow, no GPU grabbing, offline only.

XLA's persistent compilation cache is shared by the whole session (the xdist
workers and the subprocesses the tests start inherit the variable): a resume
or a second experiment with the same model then loads the compiled step
instead of compiling it again. It starts empty on every run, so the first
compile of every program is still exercised.
"""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

if "PYTEST_XDIST_WORKER" not in os.environ and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache = tempfile.mkdtemp(prefix="genjax-test-xla-")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
  atexit.register(shutil.rmtree, _cache, True)

# The suite's time is mostly XLA compiling many small programs that then run
# for milliseconds: LLVM at -O0 compiles them faster (opt-out: set
# xla_backend_optimization_level in XLA_FLAGS yourself). Inherited by the
# xdist workers and the subprocesses the tests start.
# Compiling without XLA:CPU's fusion emitters saves ~13% of the time
# (195 s -> 169 s on a sample of GAN, diffusion and smoke tests): they are
# off too (opt-out: set xla_cpu_use_fusion_emitters yourself). Both change
# float32 round-off only, never what a program computes.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_backend_optimization_level=0").strip()
if "xla_cpu_use_fusion_emitters" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] += " --xla_cpu_use_fusion_emitters=false"


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_families():
  """Families built by one test are not handed to the next (the registry
  keeps recent ones for a process's later runs: a smoke test's legs reuse
  them; another test may patch what a family is built from)."""
  yield
  from genjax import registry
  registry._BUILT.clear()
  import sys
  deps = sys.modules.get("genjax.train.deps")
  if deps is not None:
    deps._FROZEN_LAST.clear()
  # The compiled programs of finished tests: a worker that kept them all grew
  # to 8 GB over the suite (and XLA crashed compiling in one at the end);
  # a later test's identical program loads from the persistent cache.
  jax = sys.modules.get("jax")
  if jax is not None:
    jax.clear_caches()


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory):
  """Where the session's dependency smoke runs live (each trained once per
  worker: ``tests.helpers.smoke_run``)."""
  return str(tmp_path_factory.mktemp("smoke_runs"))



def pytest_runtest_logreport(report):
  """With GENJAX_TEST_TIMELINE=FILE, each worker appends a line per finished
  test (worker, test, finish time) to FILE: consecutive finish times of one
  worker give where the suite's wall time goes and how the workers' loads
  compare."""
  path = os.environ.get("GENJAX_TEST_TIMELINE")
  if not path or report.when != "teardown" or hasattr(report, "node"):
    return   # (the xdist controller's copy of a worker's report has .node)
  import json
  import time
  with open(path, "a") as f:
    f.write(json.dumps({"worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                        "test": report.nodeid, "end": time.time()}) + "\n")
