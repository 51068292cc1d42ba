"""Image grids, the config identity rule and workdir refusals."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from genjax import config as config_lib
from genjax.errors import ConfigError, WorkdirError
from genjax.train import images, workdir


def test_grid_png_round_trip(tmp_path):
  g = np.zeros((2, 3, 4, 5, 1), np.float32)
  g[1, 2] = 1.0
  path = images.save_grid(g, str(tmp_path / "g.png"))
  img = np.asarray(Image.open(path))
  assert img.shape == (2 * 5 + 1, 3 * 6 + 1)
  # cell (1, 2) is white, cell (0, 0) black, padding white
  assert img[1 + 5 + 1, 1 + 2 * 6] == 255 and img[1, 1] == 0 and img[0, 0] == 255


def test_as_grid_pads_last_row():
  g = images.as_grid(np.zeros((5, 2, 2, 3)), cols=3)
  assert g.shape == (2, 3, 2, 2, 3) and g[1, 2].min() == 1.0


def test_to_uint8_rounds_and_clips():
  np.testing.assert_array_equal(images.to_uint8([-0.1, 0.5, 1.2, 1 / 255]),
                                [0, 128, 255, 1])


def _cfg():
  c = config_lib.base_config()
  c.family = "autoencoder"
  return c


def test_identity_diff_ignores_run_length_but_not_model():
  a, b = _cfg(), _cfg()
  b.train.num_steps = 5
  b.eval.metrics = ["x"]
  assert config_lib.identity_diff(config_lib.to_plain(a), config_lib.to_plain(b)) == []
  b.data.name = "fashion_mnist"
  b.optim.lr = 0.5
  diffs = config_lib.identity_diff(config_lib.to_plain(a), config_lib.to_plain(b))
  assert any("data.name" in d for d in diffs) and any("optim.lr" in d for d in diffs)


def test_validate_rejects_bad_values():
  c = _cfg()
  c.train.batch_size = 0
  with pytest.raises(ConfigError, match="batch_size"):
    config_lib.validate(c)
  c = _cfg()
  c.optim.ema_decay = 1.5
  with pytest.raises(ConfigError, match="ema_decay"):
    config_lib.validate(c)


def test_parse_arg():
  assert config_lib.parse_arg("smoke") == "smoke"
  assert config_lib.parse_arg(None) is None
  with pytest.raises(ConfigError, match="smoke"):
    config_lib.parse_arg("smok")


def test_workdir_of_another_experiment_is_refused_untouched(tmp_path):
  wd = str(tmp_path / "run")
  workdir.prepare(wd, _cfg(), "train")
  before = open(os.path.join(wd, "config.json")).read()
  other = _cfg()
  other.model.latent_dim = 7
  with pytest.raises(WorkdirError, match="different experiment"):
    workdir.prepare(wd, other, "train")
  assert open(os.path.join(wd, "config.json")).read() == before
  longer = _cfg()
  longer.train.num_steps = 99
  workdir.prepare(wd, longer, "train")  # same experiment, longer run: fine
  assert json.load(open(os.path.join(wd, "config.json")))["train"]["num_steps"] == 99


def test_non_genjax_directory_and_eval_without_run_are_refused(tmp_path):
  (tmp_path / "precious.txt").write_text("keep me")
  with pytest.raises(WorkdirError, match="not empty"):
    workdir.prepare(str(tmp_path), _cfg(), "train")
  assert (tmp_path / "precious.txt").read_text() == "keep me"
  with pytest.raises(WorkdirError, match="Train first"):
    workdir.prepare(str(tmp_path / "new"), _cfg(), "eval")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_workdir_nonroot(tmp_path):
  ro = tmp_path / "ro"
  ro.mkdir()
  ro.chmod(0o500)
  with pytest.raises(WorkdirError, match="cannot be written"):
    workdir.prepare(str(ro / "run"), _cfg(), "train")


def test_unwritable_workdir(tmp_path):
  blocker = tmp_path / "file"
  blocker.write_text("x")  # a file where a directory should go
  with pytest.raises(WorkdirError, match="cannot be written"):
    workdir.prepare(str(blocker / "run"), _cfg(), "train")
