"""What every mode runs inside: the run's processes started and watched.

A single-process run does nothing here. With the multi-process environment
(``genjax.core.sharding.maybe_initialize_distributed``) jax.distributed
starts, and a watchdog (``genjax.core.peers``) stops this process when
another dies; a mode that fails tells the others through it.
"""
import contextlib

from genjax.core import peers, sharding


@contextlib.contextmanager
def watched():
  sharding.maybe_initialize_distributed()
  watchdog = peers.start_if_multiprocess()
  ok = False
  try:
    yield
    ok = True
  finally:
    if watchdog is not None:
      watchdog.stop(ok)
