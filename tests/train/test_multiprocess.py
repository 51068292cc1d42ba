"""Multi-process data parallelism on loopback (jax.distributed, gloo): N
processes of one CPU device each train what one process trains, process 0
alone writes, and a killed process stops the others in seconds; the
relaunch resumes and ends where an uninterrupted run ends."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from genjax import main
from tests.helpers import ROOT, free_port, load_config
from tests.train.test_resume import _params

VAE = "experiments/autoencoder/vae_mnist.py"
OVERRIDES = dict(log_every=2, decay_steps=40, batch_size=16)


def _start(n, workdir, num_steps, ckpt_every, logs):
  """``n`` launch.py processes of one run on this machine."""
  port = free_port()
  args = [sys.executable, os.path.join(ROOT, "launch.py"), f"--config={VAE}:smoke",
          f"--workdir={workdir}", f"--config.train.num_steps={num_steps}",
          f"--config.train.ckpt_every={ckpt_every}",
          f"--config.train.log_every={OVERRIDES['log_every']}",
          f"--config.train.batch_size={OVERRIDES['batch_size']}",
          f"--config.optim.decay_steps={OVERRIDES['decay_steps']}",
          "--config.data.process_sharding=batch"]
  procs = []
  for i in range(n):
    env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2",
               JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
               JAX_NUM_PROCESSES=str(n), JAX_PROCESS_ID=str(i),
               XLA_FLAGS="--xla_force_host_platform_device_count=1")
    out = open(os.path.join(logs, f"process_{i}.log"), "w")
    procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT))
  return procs


def _finish(procs, logs, timeout=400):
  for i, p in enumerate(procs):
    try:
      p.wait(timeout=timeout)
    finally:
      if p.poll() is None:
        p.kill()
    out = open(os.path.join(logs, f"process_{i}.log")).read()
    assert p.returncode == 0, f"process {i}:\n{out[-4000:]}"


def _config(num_steps, ckpt_every):
  c = load_config(VAE)
  c.unlock()
  c.train.update(num_steps=num_steps, ckpt_every=ckpt_every,
                 log_every=OVERRIDES["log_every"], batch_size=OVERRIDES["batch_size"])
  c.optim.decay_steps = OVERRIDES["decay_steps"]
  c.data.process_sharding = "batch"
  c.lock()
  return c


def assert_same_state(a, b):
  """The issue's bar, rtol 1e-5, relative to each tensor's scale: the
  all-reduce sums in another order than one process does, so round-off
  grows over the steps (near-zero entries carry it as absolute error)."""
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    x, y = np.asarray(x), np.asarray(y)
    scale = float(np.max(np.abs(y))) if y.size else 0.0
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * scale)


def _rows(workdir):
  return [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]


def _assert_processes_train_what_one_does(n, tmp_path):
  many, one = str(tmp_path / f"p{n}"), str(tmp_path / "p1")
  logs = str(tmp_path)
  procs = _start(n, many, 4, 2, logs)
  main.run(_config(4, 2), one, "train")   # meanwhile, in this process
  _finish(procs, logs)
  sa, a = _params(one, _config(4, 2))
  sb, b = _params(many, _config(4, 2))
  assert sa == sb == 4
  assert_same_state(a, b)   # params, optimiser, EMA, step, RNG
  # process 0 alone writes: one row per logged step, one launch logged
  ra, rb = _rows(one), _rows(many)
  assert [r["step"] for r in ra] == [r["step"] for r in rb]
  launches = [json.loads(l) for l in open(os.path.join(many, "commands.log"))]
  assert [e["mode"] for e in launches].count("train") == 1
  for x, y in zip(ra, rb):   # the same losses, and the same eval over all processes
    for k in ("loss", "eval/nelbo", "eval/num_examples"):
      if k in x:
        assert y[k] == pytest.approx(x[k], rel=1e-5), k


def test_two_processes_train_what_one_process_trains(tmp_path):
  _assert_processes_train_what_one_does(2, tmp_path)


@pytest.mark.slow
def test_four_processes_train_what_one_process_trains(tmp_path):
  _assert_processes_train_what_one_does(4, tmp_path)


@pytest.mark.slow
def test_a_killed_process_stops_the_others_and_the_relaunch_ends_equal(tmp_path):
  wd, logs = str(tmp_path / "run"), str(tmp_path)
  procs = _start(2, wd, 100000, 10, logs)
  ck = os.path.join(wd, "checkpoints")
  t0 = time.time()
  while not (os.path.isdir(ck) and any(d.isdigit() and int(d) >= 20 for d in os.listdir(ck))):
    assert all(p.poll() is None for p in procs) and time.time() - t0 < 300
    time.sleep(0.5)
  procs[1].send_signal(signal.SIGKILL)
  t_kill = time.time()
  procs[0].wait(timeout=60)        # the bar: the others exit within 60 s
  waited = time.time() - t_kill
  out = open(os.path.join(logs, "process_0.log")).read()
  # either its collective failed ("process 0 of 2 failed") or its watchdog
  # saw process 1 stop ("process(es) 1 of 2 stopped answering")
  assert procs[0].returncode != 0 and "genjax: error: process" in out, out[-3000:]
  assert "Re-run the same command on every process" in out
  assert waited < 60
  steps = sorted(int(d) for d in os.listdir(ck) if d.isdigit())
  end = steps[-1] + 4
  _finish(_start(2, wd, end, 10, logs), logs)
  assert f"resumed from step {steps[-1]}" in open(os.path.join(logs, "process_0.log")).read()
  ref = str(tmp_path / "ref")
  main.run(_config(end, 10), ref, "train")
  sa, a = _params(ref, _config(end, 10))
  sb, b = _params(wd, _config(end, 10))
  assert sa == sb == end
  assert_same_state(a, b)


def test_launch_local_without_arguments_prints_its_usage():
  proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "launch_local.sh")],
                        capture_output=True, text=True)
  assert proc.returncode == 2 and "usage: bash scripts/launch_local.sh N" in proc.stderr
