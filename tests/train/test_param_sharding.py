"""Sharded parameters (config.train.shard_params, model_parallel): the rule
per leaf and the start-up errors. Sharded runs on 8 simulated devices equal
the replicated run and one device: tests/train/test_multidevice.py."""
import pytest
from jax.sharding import PartitionSpec as P

from genjax.core import sharding
from genjax.errors import ConfigError
from tests.helpers import load_config


def test_leaf_spec_splits_the_largest_divisible_dimension_of_large_leaves():
  assert sharding.leaf_spec((3, 3, 32, 64), "data", 8, 1000) == P(None, None, None, "data")
  assert sharding.leaf_spec((64, 32), "model", 2, 1000) == P("model")
  assert sharding.leaf_spec((5, 7, 9), "data", 8, 10) == P()      # nothing divides
  assert sharding.leaf_spec((64,), "data", 8, 1000) == P()        # below the threshold
  assert sharding.leaf_spec((), "data", 8, 0) == P()              # a scalar
  assert sharding.leaf_spec((16, 16), "data", 1, 0) == P()        # one way


def test_bad_sharding_settings_are_refused_at_start_up(tmp_path):
  from genjax import main
  for fields, match in ((dict(shard_params="zero3"), "must be one of none, data, model"),
                        (dict(shard_params="model"), "needs a model axis"),
                        (dict(model_parallel=3), "does not divide")):
    c = load_config("experiments/autoencoder/vae_mnist.py")
    c.unlock()
    c.train.update(**fields)
    c.lock()
    with pytest.raises(ConfigError, match=match):
      main.run(c, str(tmp_path / "run"), "train")
    assert not (tmp_path / "run").exists()
