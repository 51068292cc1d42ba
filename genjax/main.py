"""What ``launch.py`` runs; importable so tests call it directly."""
import os
import sys

from genjax.config import MODES
from genjax.errors import GenjaxError, first_line


def run(config, workdir, mode="train", force_unlock=False):
  """Runs ``mode`` (train | eval | sample) of ``config`` in ``workdir``.

  ``force_unlock``: training takes the workdir's lock even from a holder
  that cannot be checked (see genjax/train/lock.py)."""
  from genjax.train import processes
  if mode not in MODES:
    raise GenjaxError(f"Unknown --mode {mode!r}; valid modes: {', '.join(MODES)}.")
  with processes.watched():
    return _run(config, workdir, mode, force_unlock)


def _run(config, workdir, mode, force_unlock):
  from genjax.train import loop
  if mode == "train":
    return loop.train(config, workdir, force_unlock=force_unlock)
  if mode == "eval":
    res = loop.evaluate(config, workdir)
    counts = ", ".join(f"{res[k]} {w}" for k, w in
                       (("num_examples", "examples"), ("num_samples", "samples"))
                       if k in res)
    print(f"genjax eval (step {res['step']}, split {res['split']}, {counts}):",
          flush=True)
    for k in sorted(res):
      if k not in ("step", "split", "num_examples", "num_samples") and not k.endswith("_stderr"):
        err = res.get(k + "_stderr")
        extra = f" ± {err:.4g}" if err is not None else ""
        print(f"  {k}: {res[k]:.6g}{extra}", flush=True)
    return res
  paths = loop.sample(config, workdir)
  for p in paths:
    print(f"genjax: wrote {p}", flush=True)
  return paths


def main_with_errors(config, workdir, mode, force_unlock=False):
  """Runs and turns user errors into one paragraph on stderr and exit code 2.

  In a multi-process run a process that fails exits at once (``os._exit``:
  no shutdown barrier, which would wait for processes that go on); the
  others' watchdogs see it and stop too (``genjax.core.peers``)."""
  from genjax.train.loop import Interrupted
  try:
    run(config, workdir, mode, force_unlock=force_unlock)
  except GenjaxError as e:
    _exit(2, f"genjax: error: {e}")
  except Interrupted as e:
    _exit(128 + e.signum, f"genjax: {e}; checkpoint saved. Re-run the same "
          "command to resume.")
  except Exception as e:
    if not _multiprocess():
      raise
    import jax
    import traceback
    traceback.print_exc()
    _exit(1, f"genjax: error: process {jax.process_index()} of "
          f"{jax.process_count()} failed ({first_line(e)}). "
          "If another process was killed or crashed, this is its echo. Re-run "
          "the same command on every process: training resumes from the last "
          "complete checkpoint.")


def _multiprocess():
  """Whether jax.distributed runs (asked without starting a backend)."""
  import jax
  return jax.distributed.is_initialized()


def _exit(status, message):
  print(message, file=sys.stderr, flush=True)
  if _multiprocess():
    sys.stdout.flush()
    os._exit(status)
  sys.exit(status)
