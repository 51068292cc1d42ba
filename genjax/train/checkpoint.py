"""Orbax checkpoints in ``<workdir>/checkpoints``: periodic, keep-N, resume.

The whole training state (params, optimiser, EMA, step, base RNG, model
state) is one pytree, saved under its step. The data position is not stored:
the input pipeline is a pure function of (seed, step), so resuming at step k
re-creates the stream at batch k (see genjax/data/pipeline.py).
"""
import os
import shutil
import sys
import time

import jax
import orbax.checkpoint as ocp

from genjax.errors import WorkdirError


def _first_line(error):
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0][:300] if text else ''}"


def multihost_sync(name):
  """All processes reach this point (a no-op in a single-process run)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


class Checkpointer:

  def __init__(self, workdir, keep=3):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self):
    return self._manager.latest_step()

  def all_steps(self):
    return list(self._manager.all_steps())

  def save(self, step, state):
    """Saves ``state`` as step ``step`` (asynchronously; see ``wait``)."""
    if step in self._manager.all_steps():
      return False
    return self._manager.save(int(step), args=ocp.args.StandardSave(state),
                              force=True)

  def restore(self, abstract_state, step=None):
    """Restores into the structure, dtypes and shardings of ``abstract_state``."""
    step = self.latest_step() if step is None else step
    return self._manager.restore(
        step, args=ocp.args.StandardRestore(abstract_state))

  def restore_readable(self, abstract_state, set_aside=False):
    """``(state, step)`` of the newest checkpoint that can be read, or
    ``(None, None)`` when there is none.

    A checkpoint that cannot be read (a file truncated by a crash or a bad
    copy) is skipped with a warning naming it, falling back through the kept
    ones; none is ever deleted. ``set_aside`` (a trainer resuming) moves the
    unreadable ones to ``<workdir>/checkpoints_unreadable/`` so that their
    step numbers can be saved again. If no checkpoint can be read: a
    ``WorkdirError`` naming each one and its error.
    """
    failed = []
    for step in sorted(self.all_steps(), reverse=True):
      try:
        state = self.restore(abstract_state, step)
      except Exception as e:   # orbax/TensorStore raise many kinds
        failed.append((step, _first_line(e)))
        print(f"genjax: warning: checkpoint step {step} in {self.directory} "
              f"cannot be read ({failed[-1][1]}); trying the previous one.",
              file=sys.stderr, flush=True)
        continue
      if failed:
        moved = self._set_aside([s for s, _ in failed]) if set_aside else None
        print(f"genjax: warning: resuming from step {step}, the newest readable "
              f"checkpoint; step(s) {', '.join(str(s) for s, _ in failed)} "
              + (f"moved to {moved}." if moved else "left where they are."),
              file=sys.stderr, flush=True)
      return state, step
    if failed:
      raise WorkdirError(
          f"None of the checkpoints in {self.directory} can be read: "
          + "; ".join(f"step {s}: {why}" for s, why in failed) + ". Nothing "
          "was deleted. Restore the directory from a copy, or start the run "
          "again in a new --workdir.")
    return None, None

  def _set_aside(self, steps):
    """Moves checkpoint ``steps`` to ``checkpoints_unreadable/`` (not deleted)."""
    if jax.process_index() == 0:
      dest = self.directory + "_unreadable"
      os.makedirs(dest, exist_ok=True)
      for step in steps:
        target = os.path.join(dest, str(step))
        if os.path.exists(target):
          target += time.strftime("-%Y%m%dT%H%M%S")
        shutil.move(os.path.join(self.directory, str(step)), target)
    multihost_sync("genjax_set_aside_checkpoints")
    self._manager.reload()
    return self.directory + "_unreadable"

  def wait(self):
    self._manager.wait_until_finished()

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()


def restore_subset(workdir, item, step):
  """The leaves of ``item`` (nested dicts of ShapeDtypeStructs with
  shardings, a part of the saved state's layout) from ``workdir``'s
  checkpoint ``step``; nothing else is read (orbax partial restore)."""
  manager = ocp.CheckpointManager(os.path.join(os.path.abspath(workdir), "checkpoints"),
                                  item_handlers=ocp.PyTreeCheckpointHandler())
  try:
    return manager.restore(step, args=ocp.args.PyTreeRestore(
        item=item, restore_args=ocp.checkpoint_utils.construct_restore_args(item),
        partial_restore=True))
  finally:
    manager.close()
