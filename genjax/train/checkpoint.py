"""Orbax checkpoints in ``<workdir>/checkpoints``: periodic, keep-N, resume.

The whole training state (params, optimiser, EMA, step, base RNG, model
state) is one pytree, saved under its step. The data position is not stored:
the input pipeline is a pure function of (seed, step), so resuming at step k
re-creates the stream at batch k (see genjax/data/pipeline.py).
"""
import os

import orbax.checkpoint as ocp


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
