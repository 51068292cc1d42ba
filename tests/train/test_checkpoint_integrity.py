"""Checkpoint integrity: an unreadable latest checkpoint is skipped (named,
set aside, never deleted) and the run resumes from the previous one, ending
where an uninterrupted run ends; none readable is one clear error; a save
killed at any moment never leaves a checkpoint that is listed but unreadable."""
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from genjax import main
from genjax.errors import WorkdirError
from genjax.train import checkpoint as ckpt_lib
from tests.helpers import ROOT
from tests.train.test_resume import _config, _params, assert_same_state


def _truncate_arrays(workdir, step):
  """Cuts every array file of checkpoint ``step`` to half (a crash mid-copy)."""
  root = os.path.join(workdir, "checkpoints", str(step))
  cut = 0
  for d, _, files in os.walk(root):
    if os.path.basename(d) == "d":
      for f in files:
        p = os.path.join(d, f)
        os.truncate(p, os.path.getsize(p) // 2)
        cut += 1
  assert cut, f"no array files under {root}"


def test_an_unreadable_latest_checkpoint_is_skipped_and_the_run_ends_equal(
    tmp_path, capsys):
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  main.run(_config(6, 2), whole, "train")
  main.run(_config(4, 2), parts, "train")          # checkpoints 2 and 4
  _truncate_arrays(parts, 4)
  capsys.readouterr()
  main.run(_config(6, 2), parts, "train")          # 4 unreadable: from 2
  err = capsys.readouterr().err
  assert "checkpoint step 4" in err and "cannot be read" in err
  assert "resuming from step 2" in err
  aside = tmp_path / "parts" / "checkpoints_unreadable" / "4"
  assert aside.is_dir() and any(aside.rglob("*"))  # kept, not deleted
  sa, a = _params(whole, _config(6, 2))
  sb, b = _params(parts, _config(6, 2))
  assert sa == sb == 6
  assert_same_state(a, b)


def test_no_readable_checkpoint_is_one_clear_error_and_nothing_is_deleted(tmp_path):
  wd = str(tmp_path / "run")
  main.run(_config(4, 2), wd, "train")
  for step in (2, 4):
    _truncate_arrays(wd, step)
  before = sorted(str(p) for p in (tmp_path / "run").rglob("*"))
  with pytest.raises(WorkdirError, match=r"None of the checkpoints .* step 4: .*step 2: "):
    main.run(_config(4, 2), wd, "eval")
  with pytest.raises(WorkdirError, match="Nothing was deleted"):
    main.run(_config(6, 2), wd, "train")
  after = sorted(str(p) for p in (tmp_path / "run").rglob("*"))
  assert [p for p in before if p not in after] == []


SAVER = """
import sys, numpy as np, jax.numpy as jnp
from genjax.train.checkpoint import Checkpointer
ck = Checkpointer(sys.argv[1], keep=3)
step = (ck.latest_step() or 0) + 1
print('ready', flush=True)
while True:
  ck.save(step, {'w': jnp.full((512, 1024), float(step)), 'step': jnp.int32(step)})
  step += 1
"""


def _kill_during_saves(directory, rng):
  proc = subprocess.Popen([sys.executable, "-c", SAVER, directory], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu"))
  assert proc.stdout.readline().strip() == "ready"
  time.sleep(rng.uniform(0.05, 1.5))
  proc.kill()
  proc.wait()


def _every_listed_checkpoint_reads(directory):
  ck = ckpt_lib.Checkpointer(directory)
  steps = ck.all_steps()
  for step in steps:
    got = ck.restore({"w": np.zeros((512, 1024), np.float32),
                      "step": np.zeros((), np.int32)}, step)
    assert int(got["step"]) == step and float(got["w"][0, 0]) == step
  ck.close()
  return steps


@pytest.mark.parametrize("trials", [pytest.param(2, id="2_trials"),
                                    pytest.param(20, id="20_trials",
                                                 marks=pytest.mark.slow)])
def test_a_save_killed_at_a_random_moment_never_lists_an_unreadable_checkpoint(
    tmp_path, trials):
  rng = random.Random(trials)
  directory = str(tmp_path / "saves")
  seen = set()
  for _ in range(trials):
    _kill_during_saves(directory, rng)
    seen.update(_every_listed_checkpoint_reads(directory))
  assert seen   # some saves completed and every listed one was readable


@pytest.fixture
def small_disk(tmp_path):
  """A 3 MiB tmpfs (root only: skipped where mounting is not allowed)."""
  mount = tmp_path / "disk"
  mount.mkdir()
  proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                        capture_output=True, text=True)
  if proc.returncode:
    pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip()})")
  yield mount
  subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_while_saving_is_one_paragraph_and_keeps_the_saved_steps(small_disk):
  wd = str(small_disk / "run")
  cmd = [sys.executable, os.path.join(ROOT, "launch.py"),
         "--config=experiments/autoencoder/vae_mnist.py:smoke", f"--workdir={wd}",
         "--config.train.num_steps=1000", "--config.train.ckpt_every=1",
         "--config.train.keep_checkpoints=1000", "--config.train.log_every=1000"]
  env = dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 2, proc.stderr[-3000:]
  last = [l for l in proc.stderr.splitlines() if l.startswith("genjax: error:")][-1]
  assert "the disk is full or over quota" in last and "are intact" in last
  steps = ckpt_lib.Checkpointer(wd).all_steps()
  assert len(steps) >= 2
  # space again: every listed step is complete and readable, and the same
  # command resumes from the last saved step
  subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
  for step in steps:
    _params_at(wd, step)
  proc = subprocess.run(cmd[:4] + [f"--config.train.num_steps={steps[-1] + 2}"] + cmd[5:],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f"resumed from step {steps[-1]}" in proc.stdout


def _params_at(workdir, step):
  from genjax.train import loop
  from tests.helpers import load_config
  run = loop._Run(load_config("experiments/autoencoder/vae_mnist.py"), workdir, "eval")
  try:
    return run.ckpt.restore(run.abstract_state(), step)
  finally:
    run.close()
