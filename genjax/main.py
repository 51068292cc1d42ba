"""What ``launch.py`` runs; importable so tests call it directly."""
import sys

from genjax.config import MODES
from genjax.errors import GenjaxError


def run(config, workdir, mode="train", force_unlock=False):
  """Runs ``mode`` (train | eval | sample) of ``config`` in ``workdir``.

  ``force_unlock``: training takes the workdir's lock even from a holder
  that cannot be checked (see genjax/train/lock.py)."""
  from genjax.train import loop
  if mode not in MODES:
    raise GenjaxError(f"Unknown --mode {mode!r}; valid modes: {', '.join(MODES)}.")
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
  """Runs and turns user errors into one paragraph on stderr and exit code 2."""
  from genjax.train.loop import Interrupted
  try:
    run(config, workdir, mode, force_unlock=force_unlock)
  except GenjaxError as e:
    print(f"genjax: error: {e}", file=sys.stderr, flush=True)
    sys.exit(2)
  except Interrupted as e:
    print(f"genjax: {e}; checkpoint saved. Re-run the same command to resume.",
          file=sys.stderr, flush=True)
    sys.exit(128 + e.signum)
