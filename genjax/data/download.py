"""Catalog datasets that are not prepared: download them, or fail in seconds.

tfds retries an unreachable download for minutes and then ends in a
``requests`` traceback. Before downloading, genjax checks in a few seconds
that the network answers (a TCP connection to tfds' storage host, or to
``$GENJAX_NETWORK_PROBE`` = ``host:port``; skipped behind an HTTP(S) proxy,
which tfds uses and a bare connection does not), and turns a failed download
into one paragraph: the dataset, the data dir it looked in, and how to
prepare it on a machine with internet and copy it here.
"""
import os
import socket
import threading

from genjax.errors import DataError, first_line

PROBE_ENV = "GENJAX_NETWORK_PROBE"
DEFAULT_PROBE = "storage.googleapis.com:443"
PROBE_TIMEOUT_S = 4.0


def network_reachable(address=None, timeout=PROBE_TIMEOUT_S):
  """Whether a TCP connection to ``host:port`` opens within ``timeout`` s
  (name resolution included: it runs in a thread that is not waited for)."""
  host, _, port = (address or os.environ.get(PROBE_ENV) or DEFAULT_PROBE).rpartition(":")
  result = []

  def connect():
    try:
      socket.create_connection((host, int(port)), timeout=timeout).close()
      result.append(True)
    except (OSError, ValueError):
      result.append(False)

  thread = threading.Thread(target=connect, daemon=True)
  thread.start()
  thread.join(timeout + 1.0)
  return bool(result and result[0])


def _behind_proxy():
  return any(os.environ.get(k) for k in
             ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"))


def _mocked(builder):
  """Under ``tfds.testing.mock_data`` nothing is downloaded (tests)."""
  fn = type(builder).download_and_prepare
  return getattr(fn, "__qualname__", "").startswith("mock_data.")


def not_prepared(builder, offline_names, why):
  full = f"{builder.name}/{builder.builder_config.name}" if builder.builder_config else builder.name
  return DataError(
      f"The tfds catalog dataset {full!r} is not prepared in {builder.data_dir} "
      f"and cannot be downloaded here ({why}). Prepare it on a machine with "
      "internet (python -c \"import tensorflow_datasets as tfds; "
      f"tfds.builder('{full}').download_and_prepare()\"), copy its folder "
      f"(~/tensorflow_datasets/{builder.name}) into {builder.data_dir_root} (or set "
      "--config.data.data_dir to where it is), and run again. Datasets that "
      f"need no download: {', '.join(sorted(offline_names))}.")


def download_and_prepare(builder, offline_names):
  """``builder.download_and_prepare()``, or a ``DataError`` within seconds
  when the network is unreachable and at the first failed download."""
  if not (_behind_proxy() or _mocked(builder) or network_reachable()):
    raise not_prepared(builder, offline_names, "the network is unreachable")
  try:
    builder.download_and_prepare()
  except OSError as e:   # requests' ConnectionError is an OSError
    raise not_prepared(builder, offline_names, first_line(e, 200)) from None
