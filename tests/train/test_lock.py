"""One trainer per workdir (genjax/train/lock.py): a live holder refuses a
second trainer without changing a byte; a dead holder's lock is taken over;
another host's lock needs --force_unlock; eval reads without the lock."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from genjax import main
from genjax.errors import WorkdirError
from genjax.train import lock as lock_lib
from tests.helpers import ROOT, load_config, run_cli

VAE = "experiments/autoencoder/vae_mnist.py"


def _config(num_steps):
  c = load_config(VAE)
  c.unlock()
  c.train.update(num_steps=num_steps, ckpt_every=2, log_every=1)
  c.lock()
  return c


def _checksums(workdir):
  out = {}
  for d, _, files in os.walk(workdir):
    for f in files:
      p = os.path.join(d, f)
      out[os.path.relpath(p, workdir)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
  return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("lock") / "run")
  main.run(_config(2), wd, "train")
  return wd


def _hold(workdir):
  """A separate process that takes ``workdir``'s lock and sleeps."""
  code = ("import sys, time\nfrom genjax.train import lock\n"
          f"held = lock.acquire({workdir!r})\nprint('held', flush=True)\ntime.sleep(600)")
  proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT))
  assert proc.stdout.readline().strip() == "held"
  return proc


def test_a_second_trainer_on_a_live_workdir_is_refused_and_changes_nothing(trained):
  holder = _hold(trained)
  try:
    before = _checksums(trained)
    with pytest.raises(lock_lib.WorkdirLocked, match=f"PID {holder.pid} on host"):
      main.run(_config(6), trained, "train")
    assert _checksums(trained) == before
    # eval and sample read without the lock
    c = _config(6)
    c.unlock()
    c.eval.metrics = ("nelbo",)
    c.eval.num_examples = 16
    c.lock()
    assert main.run(c, trained, "eval")["step"] == 2
  finally:
    holder.kill()
    holder.wait()
  # the holder is gone (SIGKILL): its lock is stale and the next trainer takes it
  main.run(_config(4), trained, "train")
  assert not os.path.exists(os.path.join(trained, lock_lib.LOCK_NAME))


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
  wd = str(tmp_path / "run")
  os.makedirs(wd)
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  with open(os.path.join(wd, lock_lib.LOCK_NAME), "w") as f:
    json.dump(dict(host=socket.gethostname(), pid=dead.pid, since="then",
                   argv=["launch.py"]), f)
  main.run(_config(2), wd, "train")
  assert f"taking over the stale lock of PID {dead.pid}" in capsys.readouterr().err
  assert not os.path.exists(os.path.join(wd, lock_lib.LOCK_NAME))


def test_another_hosts_lock_is_refused_unless_forced(tmp_path):
  wd = str(tmp_path / "run")
  os.makedirs(wd)
  path = os.path.join(wd, lock_lib.LOCK_NAME)
  with open(path, "w") as f:
    json.dump(dict(host="node-17", pid=4242, since="then", argv=["launch.py"]), f)
  with pytest.raises(lock_lib.WorkdirLocked, match="node-17.*--force_unlock"):
    main.run(_config(2), wd, "train")
  assert os.listdir(wd) == [lock_lib.LOCK_NAME]       # nothing else written
  main.run(_config(2), wd, "train", force_unlock=True)
  assert os.path.exists(os.path.join(wd, "config.json"))


def test_the_lock_is_released_when_training_fails(tmp_path, monkeypatch):
  from genjax.train import loop

  def broken(*args, **kwargs):
    raise RuntimeError("the data went away")

  wd = str(tmp_path / "run")
  with monkeypatch.context() as m:
    m.setattr(loop.data_lib, "train_iterator", broken)
    with pytest.raises(RuntimeError, match="the data went away"):
      main.run(_config(2), wd, "train")
  assert os.path.exists(os.path.join(wd, "config.json"))   # it had started
  main.run(_config(2), wd, "train")   # not blocked by a lock left behind


def test_racing_trainers_get_one_lock(tmp_path):
  wd = str(tmp_path)
  won, lost = [], []
  start = threading.Barrier(8)

  def take():
    start.wait()
    try:
      won.append(lock_lib.acquire(wd))
    except WorkdirError:
      lost.append(1)

  threads = [threading.Thread(target=take) for _ in range(8)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert len(won) == 1 and len(lost) == 7
  won[0].release()
  lock_lib.acquire(wd).release()


@pytest.mark.slow
def test_cli_second_launch_on_a_running_workdir_exits_naming_the_first(tmp_path):
  wd = str(tmp_path / "run")
  cmd = [sys.executable, os.path.join(ROOT, "launch.py"), f"--config={VAE}:smoke",
         f"--workdir={wd}", "--config.train.num_steps=100000",
         "--config.train.ckpt_every=100000", "--config.train.log_every=5"]
  first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL,
                           env=dict(os.environ, JAX_PLATFORMS="cpu"))
  try:
    t0 = time.time()
    while not os.path.exists(os.path.join(wd, "metrics.jsonl")):
      assert first.poll() is None and time.time() - t0 < 120
      time.sleep(0.2)
    second = run_cli([f"--config={VAE}:smoke", f"--workdir={wd}"])
    assert second.returncode == 2, second.stderr
    assert f"PID {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
  finally:
    first.send_signal(signal.SIGKILL)
    first.wait()
