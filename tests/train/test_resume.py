"""Resume bars: interrupted runs end where uninterrupted ones do; SIGKILL/SIGTERM."""
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from genjax import main
from genjax.train import checkpoint as ckpt_lib
from genjax.train import loop
from tests.helpers import ROOT, load_config

VAE = "experiments/autoencoder/vae_mnist.py"


def _config(num_steps, ckpt_every):
  c = load_config(VAE)
  c.unlock()
  c.train.update(num_steps=num_steps, ckpt_every=ckpt_every, log_every=2)
  c.optim.update(decay_steps=40)  # same schedule whatever the run length
  c.lock()
  return c


def _params(workdir, config):
  run = loop._Run(config, workdir, "eval")
  state, step = run.restore_latest()
  run.ckpt.close()
  return step, jax.device_get(state)


def assert_same_state(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)   # the same leaves, by name
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  for x, y in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  main.run(_config(10, 5), whole, "train")
  main.run(_config(4, 2), parts, "train")     # stops at 4
  main.run(_config(10, 5), parts, "train")    # resumes 4 -> 10
  sa, a = _params(whole, _config(10, 5))
  sb, b = _params(parts, _config(10, 5))
  assert sa == sb == 10
  assert_same_state(a, b)  # params, optimiser, EMA, step and RNG


def _launch(workdir, num_steps, ckpt_every):
  cmd = [sys.executable, os.path.join(ROOT, "launch.py"), f"--config={VAE}:smoke",
         f"--workdir={workdir}", f"--config.train.num_steps={num_steps}",
         f"--config.train.ckpt_every={ckpt_every}", "--config.train.log_every=5",
         "--config.optim.decay_steps=40"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
  return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _wait_for_checkpoint(workdir, proc, timeout=120):
  ck = os.path.join(workdir, "checkpoints")
  t0 = time.time()
  while time.time() - t0 < timeout:
    if os.path.isdir(ck) and any(d.isdigit() for d in os.listdir(ck)):
      return
    if proc.poll() is not None:
      pytest.fail("run ended before its first checkpoint:\n" + proc.stdout.read())
    time.sleep(0.2)
  pytest.fail("no checkpoint appeared")


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_and_matches(tmp_path):
  wd = str(tmp_path / "killed")
  proc = _launch(wd, 4000, 10)
  _wait_for_checkpoint(wd, proc)
  time.sleep(1.0)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  steps = ckpt_lib.Checkpointer(wd).all_steps()
  assert steps and max(steps) < 4000
  # Re-running the same command (with a shorter run length) resumes.
  end = max(steps) + 6
  proc = _launch(wd, end, 10)
  out, _ = proc.communicate(timeout=300)
  assert proc.returncode == 0, out
  assert f"resumed from step {max(steps)}" in out
  # ... and ends where an uninterrupted run of the same length ends.
  ref = str(tmp_path / "ref")
  proc = _launch(ref, end, 10)
  out, _ = proc.communicate(timeout=300)
  assert proc.returncode == 0, out
  cfg = _config(end, 10)
  sa, a = _params(wd, cfg)
  sb, b = _params(ref, cfg)
  assert sa == sb == end
  assert_same_state(a, b)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
  wd = str(tmp_path / "term")
  proc = _launch(wd, 100000, 50000)
  # The first checkpoint only comes from the signal; wait for training to run.
  t0 = time.time()
  while not os.path.exists(os.path.join(wd, "metrics.jsonl")):
    assert proc.poll() is None, proc.stdout.read()
    assert time.time() - t0 < 120
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM, out
  assert "checkpoint saved" in out
  steps = ckpt_lib.Checkpointer(wd).all_steps()
  assert steps and 0 < steps[-1] < 100000


def test_sigint_saves_a_checkpoint_and_raises_interrupted(tmp_path, monkeypatch):
  """Ctrl-C (SIGINT) in the middle of training: the loop finishes the step,
  saves a checkpoint there and raises ``Interrupted`` (launch.py exits 130)."""
  from genjax.train import writer as writer_lib
  real_write = writer_lib.MetricWriter.write
  sent = []

  def write_then_interrupt(self, step, metrics, prefix=""):
    real_write(self, step, metrics, prefix)
    if not sent and step == 2:   # the first logged row: now press Ctrl-C
      sent.append(step)
      os.kill(os.getpid(), signal.SIGINT)

  monkeypatch.setattr(writer_lib.MetricWriter, "write", write_then_interrupt)
  wd = str(tmp_path / "int")
  with pytest.raises(loop.Interrupted) as info:
    main.run(_config(1000, 500), wd, "train")
  assert info.value.signum == signal.SIGINT
  saved = ckpt_lib.Checkpointer(wd).all_steps()
  assert saved == [info.value.step] and 2 <= info.value.step < 1000


def test_init_on_data_initialises_a_fresh_run_on_its_first_batch(tmp_path, monkeypatch):
  """``Family.init_on_data``: a fresh run calls init on the first training
  batch (weight norm's data-dependent init); a resumed run restores instead."""
  import dataclasses
  from genjax import registry
  seen = []
  make = registry.make_family

  def recording_family(config, **kwargs):
    fam = make(config, **kwargs)
    def init(rng, batch):
      seen.append(batch["image"].shape[0])   # static while tracing
      return fam.init(rng, batch)
    return dataclasses.replace(fam, init=init, init_on_data=True)

  monkeypatch.setattr(registry, "make_family", recording_family)
  wd = str(tmp_path / "run")
  main.run(_config(2, 2), wd, "train")
  batch_size = _config(2, 2).train.batch_size
  # traced on the example batch for the start-up checks (shapes only), then
  # initialised on the real batch
  assert seen == [1, batch_size], seen
  seen.clear()
  main.run(_config(3, 2), wd, "train")                  # resumes from step 2
  assert batch_size not in seen, seen                   # only shapes traced
