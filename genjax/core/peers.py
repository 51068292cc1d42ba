"""A multi-process run stops as a whole: when one process dies, the others
exit with one paragraph instead of waiting in a collective forever.

Each process's watchdog thread bumps its own counter in the coordination
service's key-value store every ``INTERVAL_S`` seconds and reads the others';
a counter that does not move for ``$GENJAX_PEER_TIMEOUT_S`` (20) seconds, or
a coordinator that no longer answers, ends this process (exit status 3) after
printing which process stopped and how to resume. jax's own heartbeat
(``genjax.core.sharding``, 45 s) is the backstop; it aborts with a crash dump.
"""
import os
import sys
import threading
import time

import jax

TIMEOUT_ENV = "GENJAX_PEER_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 20.0
INTERVAL_S = 1.0
EXIT_STATUS = 3
_KEY = "genjax/alive/{}"


def _client():
  """jax's coordination-service client (a private API: None if it moved)."""
  try:
    from jax._src import distributed
    return distributed.global_state.client
  except (ImportError, AttributeError):
    return None


def _stop_everything(message):
  print(f"genjax: error: {message} Re-run the same command on every process: "
        "training resumes from the last complete checkpoint.",
        file=sys.stderr, flush=True)
  os._exit(EXIT_STATUS)


class Watchdog:
  """Started by a multi-process run (``start``); ``stop`` before a clean exit."""

  def __init__(self, timeout_s=None):
    self.timeout_s = float(timeout_s or os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)
    self._done = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True,
                                    name="genjax-peer-watchdog")

  def start(self):
    self._thread.start()
    return self

  def stop(self, ok=True):
    """This process ends: its counter reads 'done' (never stale) or, after
    an error, 'failed' (the others stop at their next look)."""
    self._done.set()
    self._thread.join()
    try:
      _client().key_value_set(_KEY.format(jax.process_index()),
                              "done" if ok else "failed", allow_overwrite=True)
    except Exception:   # the coordinator already left: nothing to tell
      pass

  def _run(self):
    me, n = jax.process_index(), jax.process_count()
    seen = {p: (None, time.monotonic()) for p in range(n) if p != me}
    beat = 0
    while not self._done.wait(INTERVAL_S):
      beat += 1
      try:
        _client().key_value_set(_KEY.format(me), str(beat), allow_overwrite=True)
        values = {p: _try_get(_KEY.format(p)) for p in seen}
      except Exception as e:   # the coordination service (process 0) is gone
        if self._done.is_set():
          return
        _stop_everything(f"process {me} of {n} lost the coordinator (process 0) "
                         f"({type(e).__name__}); it was killed or crashed, so "
                         "this process stops too.")
      failed = [p for p, v in values.items() if v == "failed"]
      if failed and not self._done.is_set():
        _stop_everything(f"process(es) {', '.join(map(str, failed))} of {n} "
                         "stopped with an error (see its output), so process "
                         f"{me} stops too.")
      now = time.monotonic()
      for p, value in values.items():
        if value == "done":
          seen[p] = (value, float("inf"))
        elif value != seen[p][0]:
          seen[p] = (value, now)
      stale = [p for p, (_, t) in seen.items() if now - t > self.timeout_s]
      if stale and not self._done.is_set():
        _stop_everything(
            f"process(es) {', '.join(map(str, stale))} of {n} stopped answering "
            f"for {self.timeout_s:.0f} s (killed, crashed or hung), so process "
            f"{me} stops too rather than wait for them forever.")


def _try_get(key):
  try:
    return _client().key_value_try_get(key)
  except Exception as e:   # not written yet: NOT_FOUND
    if "NOT_FOUND" in str(e) or "not found" in str(e).lower():
      return None
    raise


def start_if_multiprocess():
  """A running ``Watchdog`` in a multi-process run, else None."""
  if jax.process_count() == 1:
    return None
  if _client() is None:
    print("genjax: warning: this jax has no coordination-service client where "
          "genjax looks (jax._src.distributed.global_state.client), so no "
          "watchdog runs: a dead process is noticed by jax's heartbeat alone.",
          file=sys.stderr, flush=True)
    return None
  return Watchdog().start()
