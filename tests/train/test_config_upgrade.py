"""Runs written before a config field existed still load: ``config.upgraded``
fills ``ADDED_FIELDS`` with the value those runs had in effect; the grid
rows field itself is checked."""
import json

import ml_collections
import pytest

from genjax.config import ADDED_FIELDS, base_config, read_grid_rows, upgraded
from genjax.errors import ConfigError
from genjax.train import restore


def test_a_saved_config_without_grid_rows_reads_as_the_eight_rows_it_drew(tmp_path):
  plain = json.loads(json.dumps(base_config().to_dict(), default=list))
  del plain["sample"]["grid_rows"]
  (tmp_path / "config.json").write_text(json.dumps(plain))
  config, saved = restore.read_config(str(tmp_path))
  assert read_grid_rows(config) == 8
  assert "grid_rows" not in saved["sample"]   # fingerprints read the file as written


def test_upgrading_keeps_a_value_the_run_set():
  config = ml_collections.ConfigDict({"sample": {"grid_rows": 3}})
  assert upgraded(config).sample.grid_rows == 3
  assert ADDED_FIELDS["sample.grid_rows"] == base_config().sample.grid_rows


@pytest.mark.parametrize("rows", [0, -1, True])   # (ConfigDict refuses non-ints itself)
def test_grid_rows_must_be_a_positive_integer(rows):
  config = base_config()
  config.sample.grid_rows = rows
  with pytest.raises(ConfigError, match="grid_rows must be an integer >= 1"):
    read_grid_rows(config)


def test_a_denoiser_run_written_before_the_model_groups_keeps_its_identity(tmp_path):
  """A settings group of one model (MODEL_GROUPS: model.sr3, model.lora, ...)
  added to the diffusion defaults leaves an older ddpm run resumable."""
  from genjax.config import MODEL_GROUPS, identity_diff
  from genjax.families.diffusion.config import default_config
  plain = json.loads(json.dumps(default_config().to_dict(), default=list))
  for group in MODEL_GROUPS:
    plain["model"].pop(group, None)
  (tmp_path / "config.json").write_text(json.dumps(plain))
  _, saved = restore.read_config(str(tmp_path))
  now = json.loads(json.dumps(default_config().to_dict(), default=list))
  assert identity_diff(saved, now) == []
