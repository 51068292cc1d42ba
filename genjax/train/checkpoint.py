"""Orbax checkpoints in ``<workdir>/checkpoints``: periodic, keep-N, resume.

The whole training state (params, optimiser, EMA, step, base RNG, model
state) is one pytree, saved under its step. The data position is not stored:
the input pipeline is a pure function of (seed, step), so resuming at step k
re-creates the stream at batch k (see genjax/data/pipeline.py).
"""
import contextlib
import errno
import os
import shutil
import sys
import time

import jax
import orbax.checkpoint as ocp

from genjax.errors import WorkdirError, first_line


def _disk_full(error):
  """Whether ``error`` (or one it came from) is a full disk or quota."""
  seen = 0
  while error is not None and seen < 10:
    text = str(error)
    if (getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        or "No space left on device" in text or "Disk quota exceeded" in text
        or "RESOURCE_EXHAUSTED" in text and "space" in text.lower()):
      return True
    error, seen = error.__cause__ or error.__context__, seen + 1
  return False


def multihost_sync(name):
  """All processes reach this point (a no-op in a single-process run)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


# Steps past keep-N are renamed (atomically) into this subdirectory and
# emptied from there: deleting a step in place is not atomic, and a process
# killed during it would leave a listed step with missing files.
TRASH = ".deleted"


class Checkpointer:

  def __init__(self, workdir, keep=3):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             todelete_subdir=TRASH))
    self._empty_trash()

  def _empty_trash(self):
    trash = os.path.join(self.directory, TRASH)
    if jax.process_index() == 0 and os.path.isdir(trash):
      for name in os.listdir(trash):
        shutil.rmtree(os.path.join(trash, name), ignore_errors=True)

  def latest_step(self):
    return self._manager.latest_step()

  def all_steps(self):
    return list(self._manager.all_steps())

  def save(self, step, state):
    """Saves ``state`` as step ``step`` (asynchronously; see ``wait``)."""
    if step in self._manager.all_steps():
      return False
    with self._disk_errors(step):
      saved = self._manager.save(int(step), args=ocp.args.StandardSave(state),
                                 force=True)
    self._empty_trash()
    return saved

  @contextlib.contextmanager
  def _disk_errors(self, step):
    """A full disk (or quota) while saving: one paragraph, not a traceback.
    Orbax writes under a temporary name, so the earlier steps stay intact."""
    try:
      yield
    except Exception as e:
      if not _disk_full(e):
        raise
      kept = [s for s in self.all_steps() if s != step]
      free = shutil.disk_usage(self.directory).free / 2 ** 20
      raise WorkdirError(
          f"Saving a checkpoint in {self.directory} failed: the disk is full "
          f"or over quota ({first_line(e)}; {free:.1f} MiB free). The earlier "
          f"checkpoints ({', '.join(map(str, kept)) or 'none'}) are intact. Free "
          "some space (or lower config.train.keep_checkpoints), then re-run "
          "the same command to resume.") from None

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
        failed.append((step, first_line(e)))
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
    with self._disk_errors(None):
      self._manager.wait_until_finished()

  def close(self):
    self.wait()
    self._manager.close()
    self._empty_trash()


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
