"""The shipped MNIST / Fashion-MNIST classifiers behind FID-MNIST."""
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.data import pipeline
from genjax.data.sources import fashion_mnist_dir
from genjax.errors import ConfigError, DataError
from genjax.eval import classifier
from genjax.eval.features import (BadWeights, MissingWeights,
                                   load_feature_net, quantize)

MIN_ACCURACY = {"mnist": 0.99, "fashion_mnist": 0.90}


def _require_data(name):
  if name == "fashion_mnist":
    try:
      fashion_mnist_dir()
    except DataError:
      pytest.skip("Fashion-MNIST's IDX files are not installed "
                  "(apt-get install dataset-fashion-mnist, or set "
                  "GENJAX_FASHION_MNIST_DIR)")


@pytest.mark.parametrize("name", classifier.DATASETS)
def test_shipped_net_outputs_and_file(name):
  net = load_feature_net(name)
  assert net.name == name
  assert net.feature_dim == 128 and net.num_classes == 10
  assert net.input_shape == (28, 28, 1)
  assert re.fullmatch(rf"{name}-classifier/sha256:[0-9a-f]{{16}}", net.identity)
  path = classifier.weights_path(name)
  assert path.stat().st_size < 2 * 1024 * 1024
  assert net.identity == classifier.identity_of(name, path.read_bytes())
  levels = quantize(jax.random.uniform(jax.random.PRNGKey(0), (3, 28, 28, 1)))
  out = net.apply(net.params, levels)
  assert out["features"].shape == (3, 128) and out["features"].dtype == jnp.float32
  assert out["logits"].shape == (3, 10) and out["logits"].dtype == jnp.float32
  assert bool(jnp.all(jnp.isfinite(out["logits"])))
  # The report next to the weights describes these very bytes.
  report = json.loads(path.with_suffix(".json").read_text())
  assert report["file_bytes"] == path.stat().st_size
  assert report["identity"] == net.identity
  assert report["test_accuracy"] >= MIN_ACCURACY[name]


def test_wrong_image_shape_is_a_clear_error():
  net = load_feature_net("mnist")
  with pytest.raises(ConfigError, match=r"\[B, 28, 28, 1\]"):
    net.apply(net.params, jnp.zeros((2, 32, 32, 3)))


def test_identity_follows_the_weight_bytes(monkeypatch, tmp_path):
  shipped = classifier.weights_path("mnist").read_bytes()
  monkeypatch.setattr(classifier, "WEIGHTS_DIR", tmp_path)
  (tmp_path / "mnist_classifier.msgpack").write_bytes(shipped)
  same = classifier.load_mnist()
  assert same.identity == load_feature_net("mnist").identity

  variables = classifier.variables_from_bytes(shipped)
  params = jax.tree_util.tree_map(lambda a: a, variables["params"])
  params["Dense_1"]["bias"] = params["Dense_1"]["bias"].at[0].add(1e-3)
  changed = classifier.variables_to_bytes({**variables, "params": params})
  (tmp_path / "mnist_classifier.msgpack").write_bytes(changed)
  other = classifier.load_mnist()
  assert other.identity != same.identity
  assert other.identity.startswith("mnist-classifier/sha256:")


def test_missing_weights_name_the_training_command(monkeypatch, tmp_path):
  monkeypatch.setattr(classifier, "WEIGHTS_DIR", tmp_path / "nowhere")
  with pytest.raises(MissingWeights, match=re.escape(
      "python scripts/train_feature_nets.py --dataset fashion_mnist")):
    classifier.load_fashion_mnist()


def test_corrupt_weights_are_a_clear_error(monkeypatch, tmp_path):
  monkeypatch.setattr(classifier, "WEIGHTS_DIR", tmp_path)
  (tmp_path / "mnist_classifier.msgpack").write_bytes(b"not msgpack")
  with pytest.raises(BadWeights, match="train_feature_nets.py"):
    classifier.load_mnist()


@pytest.mark.parametrize("name", classifier.DATASETS)
def test_test_split_accuracy(name):
  _require_data(name)
  net = load_feature_net(name)
  cfg = pipeline.DataConfig(name=name, preprocess=("scale_01",))
  correct = total = 0
  for batch in pipeline.eval_iterator(cfg, "test", 1000):
    out = net.apply(net.params, quantize(batch["image"]))
    hit = np.asarray(jnp.argmax(out["logits"], -1)) == batch["label"]
    correct += int(np.sum(hit * batch["valid"]))
    total += int(np.sum(batch["valid"]))
  assert total == 10_000
  assert correct / total >= MIN_ACCURACY[name], correct / total
