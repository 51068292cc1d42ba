"""One trainer per workdir: an exclusive lock, ``<workdir>/train.lock``.

The lock is an advisory ``flock`` on the file, which the kernel drops when its
holder exits however it exits (SIGKILL included), plus the holder's host and
PID written in the file for the message a refused trainer prints and for
workdirs shared between hosts (where ``flock`` may not reach the other host):

* free, or last held by a process of this host that is gone: taken (a stale
  holder is named in a warning);
* held by a live process of this host: refused, naming it;
* last written by another host: refused (that process cannot be checked from
  here) unless ``--force_unlock``, which takes the lock whoever holds it.

Refusing writes nothing: the refused trainer leaves every file as it was.
Eval and sample modes read a workdir without the lock.
"""
import fcntl
import json
import logging
import os
import socket
import sys
import time

from genjax.errors import WorkdirError

LOCK_NAME = "train.lock"
log = logging.getLogger("genjax")


class WorkdirLocked(WorkdirError):
  """Another trainer holds the workdir."""


def _read_holder(fd):
  os.lseek(fd, 0, os.SEEK_SET)
  text = os.read(fd, 1 << 16).decode("utf-8", "replace")
  try:
    holder = json.loads(text)
  except ValueError:
    return None
  return holder if isinstance(holder, dict) else None


def _describe(holder):
  if not holder:
    return "a trainer whose lock file is unreadable"
  return (f"PID {holder.get('pid')} on host {holder.get('host')!r} (since "
          f"{holder.get('since')}; command: {' '.join(holder.get('argv') or [])})")


def _refuse(workdir, holder, why):
  path = os.path.join(workdir, LOCK_NAME)
  return WorkdirLocked(
      f"The workdir {workdir} is being trained by {_describe(holder)}; {why}. "
      "Two trainers on one workdir would overwrite each other's checkpoints and "
      "metrics, so this one stops without touching it. Wait for that run to "
      "end (or stop it), use another --workdir, or, only if that process is "
      f"certainly gone, re-run with --force_unlock (lock file: {path}).")


class WorkdirLock:
  """The held lock; ``release`` (or process exit) frees it."""

  def __init__(self, workdir, fd, path):
    self.workdir, self._fd, self.path = workdir, fd, path

  def __del__(self):   # a lock left by code that never released it
    self.release()

  def release(self):
    if getattr(self, "_fd", None) is None:
      return
    try:   # the file goes first, so no one takes a lock on a name being removed
      if _same_file(self._fd, self.path):
        os.unlink(self.path)
    finally:
      os.close(self._fd)
      self._fd = None


def _same_file(fd, path):
  try:
    st = os.stat(path)
  except FileNotFoundError:
    return False
  own = os.fstat(fd)
  return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _write_holder(fd):
  me = dict(host=socket.gethostname(), pid=os.getpid(),
            since=time.strftime("%Y-%m-%dT%H:%M:%S"), argv=sys.argv)
  os.ftruncate(fd, 0)
  os.lseek(fd, 0, os.SEEK_SET)
  os.write(fd, json.dumps(me).encode())
  os.fsync(fd)


def acquire(workdir, force=False):
  """Takes ``workdir``'s lock (the directory must exist); a ``WorkdirLock``."""
  path = os.path.join(workdir, LOCK_NAME)
  if force and os.path.exists(path):
    log.warning("--force_unlock: taking %s from %s", path, _describe(
        _read_holder_of(path)))
    os.unlink(path)   # a live holder keeps its (now nameless) file
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _read_holder(fd)
      os.close(fd)
      raise _refuse(workdir, holder, "that process is alive") from None
    if _same_file(fd, path):
      break
    os.close(fd)   # its holder released (removed) it meanwhile: open anew
  holder = _read_holder(fd)
  if holder and holder.get("host") != socket.gethostname():
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    raise _refuse(workdir, holder, "that host's processes cannot be checked "
                  "from here")
  if holder:
    print(f"genjax: warning: taking over the stale lock of {_describe(holder)}, "
          "which is no longer running.", file=sys.stderr, flush=True)
  _write_holder(fd)
  return WorkdirLock(workdir, fd, path)


def _read_holder_of(path):
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return None
  try:
    return _read_holder(fd)
  finally:
    os.close(fd)
