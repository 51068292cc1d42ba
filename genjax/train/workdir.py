"""Workdir conventions: refuse what would clobber another run, record the config.

<workdir>/config.json      the resolved config of the run
<workdir>/checkpoints/     orbax
<workdir>/metrics.jsonl    one JSON object per logged step
<workdir>/tb/              TensorBoard events
<workdir>/samples/         step_<N>.png, sample_<step>.png, other grids
<workdir>/commands.log     one JSON line per launch: time, mode, argv
<workdir>/train.lock       held while a trainer runs (genjax/train/lock.py)
"""
import json
import os
import sys
import tempfile
import time

import jax

from genjax import config as config_lib
from genjax.errors import WorkdirError
from genjax.train.lock import LOCK_NAME


def config_path(workdir):
  return os.path.join(workdir, "config.json")


def _check_writable(workdir):
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=workdir, prefix=".write_test"):
      pass
  except OSError as e:
    raise WorkdirError(
        f"The workdir {workdir!r} cannot be written ({e.strerror or e}). "
        "Choose a directory you can write to with --workdir.") from None


def _foreign_entries(workdir):
  """What a directory holds besides what a starting trainer (process 0 of a
  multi-process run, meanwhile) writes first."""
  return [n for n in os.listdir(workdir) if not n.startswith(".") and
          n not in (LOCK_NAME, "config.json.tmp")]


def prepare(workdir, config, mode, record=None, lock=None):
  """Checks ``workdir`` for ``mode`` and (for training) records the config.

  A workdir whose config.json names a different experiment (see
  ``config.IDENTITY_KEYS``) is refused for every mode; nothing in it is
  touched. Evaluation and sampling need an existing run, unless ``record``
  (a model with nothing to train: its eval or sample starts the run).
  ``lock(workdir)`` (a trainer's ``genjax.train.lock.acquire``) runs after
  the checks and before anything is written; it raises to refuse.
  In a multi-process run only process 0 writes.
  """
  record = mode == "train" if record is None else record
  if not workdir:
    raise WorkdirError("No --workdir given: every run needs one, e.g. "
                       "--workdir runs/vae_mnist. Re-running the same command "
                       "resumes from it.")
  workdir = os.path.abspath(workdir)
  path = config_path(workdir)
  new = config_lib.to_plain(config)
  if os.path.exists(path):
    try:
      with open(path) as f:
        old = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
      raise WorkdirError(
          f"{path} exists but cannot be read as JSON ({e}); this workdir may "
          "belong to something else. Use another --workdir.") from None
    diffs = config_lib.identity_diff(old, new)
    if diffs:
      raise WorkdirError(
          f"The workdir {workdir} holds a different experiment; refusing to "
          f"touch it. Its config differs in: {'; '.join(diffs[:8])}"
          f"{' ...' if len(diffs) > 8 else ''}. Use a new --workdir for a new "
          "experiment, or the same config to resume it.")
  elif not record:
    raise WorkdirError(
        f"--mode {mode} needs a trained run, but {workdir} has no config.json. "
        "Train first with --mode train and the same --workdir.")
  elif os.path.isdir(workdir) and _foreign_entries(workdir):
    raise WorkdirError(
        f"The workdir {workdir} is not empty and holds no genjax run "
        f"(no config.json); refusing to write into it. Use a new --workdir.")
  _check_writable(workdir)
  if lock is not None:
    lock(workdir)
  if record and jax.process_index() == 0:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      json.dump(new, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
  return workdir


def log_command(workdir, mode):
  """Appends the command line of this launch to ``<workdir>/commands.log``."""
  if jax.process_index() != 0:
    return
  line = json.dumps(dict(time=time.strftime("%Y-%m-%dT%H:%M:%S"), mode=mode,
                         argv=sys.argv))
  with open(os.path.join(workdir, "commands.log"), "a") as f:
    f.write(line + "\n")


def launched_experiment(workdir):
  """The ``--config`` of the last train launch in ``workdir``, if logged."""
  path = os.path.join(workdir, "commands.log")
  found = None
  if os.path.exists(path):
    for line in open(path):
      try:
        entry = json.loads(line)
      except ValueError:
        continue
      argv = entry.get("argv") or []
      for i, a in enumerate(argv):
        if a.startswith("--config="):
          found = a.split("=", 1)[1]
        elif a == "--config" and i + 1 < len(argv):
          found = argv[i + 1]
  return found
