"""Fine-tuning (config.init_from) and trainable subsets (config.optim.groups)
through the trainer, on the ddpm_finetune experiments over a ddpm_mnist
smoke run."""
import json
import os

import jax
import numpy as np
import pytest

from genjax import main, registry
from genjax.core import params as params_lib
from genjax.core import sharding
from genjax.errors import ConfigError
from genjax.train import deps as deps_lib
from genjax.train import loop
from tests.helpers import load_config, program_group, smoke_run

# One worker takes these with the ddpm experiments' smoke tests (their xdist
# group), so the session trains the ddpm_mnist smoke source once there.
SOURCE = "experiments/diffusion/ddpm_mnist.py"
pytestmark = pytest.mark.xdist_group(program_group(SOURCE))
FINETUNE = "experiments/diffusion/ddpm_finetune_fashion_mnist.py"
DECODER = "experiments/diffusion/ddpm_finetune_decoder_fashion_mnist.py"


@pytest.fixture(scope="module")
def source(smoke_root):
  return smoke_run(SOURCE, smoke_root)


def _source_params(workdir, use_ema=True):
  config = load_config(SOURCE)
  family = registry.make_family(config)
  return jax.device_get(deps_lib.restore_trained(
      family, config, workdir, 6, use_ema, sharding.make_mesh())["params"])


def _config(path, source, **init_from):
  c = load_config(path)
  c.init_from.workdir = source
  c.init_from.update(init_from)
  return c


def _flat(tree):
  return {params_lib.path_string(p): np.asarray(x)
          for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def test_a_fresh_run_starts_from_the_sources_parameters(source, tmp_path):
  run = loop._Run(_config(FINETUNE, source), str(tmp_path / "ft"), "train")
  state = jax.device_get(run.fresh_state())
  run.ckpt.close()
  want = _flat(_source_params(source))
  for got in (_flat(state.params), _flat(state.ema_params)):
    assert sorted(got) == sorted(want)
    for k in want:
      np.testing.assert_array_equal(got[k], want[k], err_msg=k)
  pin = json.load(open(tmp_path / "ft" / "config.json"))["init_from"]
  assert pin["step"] == 6 and pin["fingerprint"].startswith("sha256:")


def test_include_copies_a_subset_and_leaves_the_rest_fresh(source, tmp_path):
  c = _config(FINETUNE, source, include="params/down_.*")
  run = loop._Run(c, str(tmp_path / "ft"), "train")
  state = _flat(jax.device_get(run.fresh_state()).params)
  run.ckpt.close()
  want = _flat(_source_params(source))
  copied = [k for k in want if k.startswith("down_")]
  assert copied and len(copied) < len(want)
  for k in want:
    same = np.array_equal(state[k], want[k])
    assert same == (k in copied) or np.all(want[k] == 0), k


def test_an_include_that_matches_nothing_is_a_start_up_error(source, tmp_path):
  c = _config(FINETUNE, source, include="params/encoder/.*")
  with pytest.raises(ConfigError, match="params/encoder/"):
    main.run(c, str(tmp_path / "ft"), "train")
  assert not os.path.exists(tmp_path / "ft" / "config.json")   # nothing written


def test_a_shape_mismatch_names_the_paths(source, tmp_path):
  c = _config(FINETUNE, source)
  c.model.ch = 8
  with pytest.raises(ConfigError, match="'params/conv_in/.*the source has shape"):
    main.run(c, str(tmp_path / "ft"), "train")
  assert not os.path.exists(tmp_path / "ft" / "config.json")


def test_a_trainable_group_that_matches_nothing_is_a_start_up_error(source, tmp_path):
  c = _config(DECODER, source)
  c.optim.groups = (("decoder/.*", 1.0), (".*", None))
  with pytest.raises(ConfigError, match="decoder/"):
    main.run(c, str(tmp_path / "dec"), "train")
  assert not os.path.exists(tmp_path / "dec" / "config.json")


@pytest.mark.slow
def test_decoder_only_fine_tuning_keeps_the_rest_bitwise(source, tmp_path):
  """The trainer's real loop with optim.groups: frozen leaves (params and EMA)
  are the source's bit for bit after training; the decoder half trained."""
  state = jax.device_get(main.run(_config(DECODER, source), str(tmp_path / "dec"),
                                  "train"))
  start = _flat(_source_params(source))
  decoder = [k for k in start if k.split("/")[0].startswith("up_")
             or k.split("/")[0] in ("norm_out", "conv_out")]
  assert decoder and len(decoder) < len(start)
  for got in (_flat(state.params), _flat(state.ema_params)):
    for k, x in start.items():
      if k in decoder:
        continue
      assert got[k].tobytes() == x.tobytes(), k
    assert any(not np.array_equal(got[k], start[k]) for k in decoder)
