"""A catalog dataset that is neither prepared nor downloadable fails within
seconds with one paragraph (not after minutes of retries with a traceback)."""
import socket
import time

import pytest

from genjax.data import builders, download
from genjax.errors import DataError
from tests.helpers import free_port, run_cli



def _closed_port():
  return f"127.0.0.1:{free_port()}"


def test_the_network_probe_tells_a_listening_port_from_a_closed_one():
  server = socket.socket()
  server.bind(("127.0.0.1", 0))
  server.listen()
  try:
    assert download.network_reachable(f"127.0.0.1:{server.getsockname()[1]}")
  finally:
    server.close()
  assert not download.network_reachable(_closed_port())
  assert not download.network_reachable("no-such-host.invalid:443", timeout=1.0)


def test_an_unprepared_catalog_dataset_without_network_fails_fast(tmp_path, monkeypatch):
  monkeypatch.setenv(download.PROBE_ENV, _closed_port())
  for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
    monkeypatch.delenv(k, raising=False)
  t0 = time.time()
  with pytest.raises(DataError) as info:
    builders.get_builder("kmnist", offline=False, data_dir=str(tmp_path))
  assert time.time() - t0 < 10
  message = str(info.value)
  assert "'kmnist'" in message and str(tmp_path) in message
  assert "download_and_prepare()" in message and "mnist" in message
  assert not any(tmp_path.iterdir())


def test_cli_catalog_dataset_offline_fails_in_seconds_without_traceback(tmp_path):
  t0 = time.time()
  proc = run_cli(["--config=experiments/autoencoder/vae_mnist.py:smoke",
                  f"--workdir={tmp_path / 'run'}", "--config.data.name=kmnist",
                  "--config.data.offline=False",
                  f"--config.data.data_dir={tmp_path / 'tfds'}"],
                 env={download.PROBE_ENV: _closed_port(), "HTTPS_PROXY": "",
                      "https_proxy": "", "HTTP_PROXY": "", "http_proxy": "",
                      "ALL_PROXY": ""})
  elapsed = time.time() - t0
  assert proc.returncode == 2, proc.stderr
  assert "Traceback" not in proc.stderr
  assert "genjax: error: The tfds catalog dataset 'kmnist'" in proc.stderr
  assert not (tmp_path / "run").exists()
  assert elapsed < 30   # the interpreter and jax start-up included; the check itself: < 10 s above
