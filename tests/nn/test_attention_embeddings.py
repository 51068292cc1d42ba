"""genjax.nn.attention / embeddings / norms: formulas and symmetries."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.nn.attention import SelfAttention
from genjax.nn.embeddings import sinusoidal_embedding
from genjax.nn.norms import num_groups


def test_sinusoidal_embedding_matches_formula():
  t = np.array([0.0, 1.0, 17.0, 999.0])
  dim, half = 10, 5
  got = np.asarray(sinusoidal_embedding(jnp.asarray(t), dim))
  want = np.zeros((4, dim))
  for b in range(4):
    for i in range(half):
      w = 10000.0 ** (-i / (half - 1))
      want[b, i] = math.sin(t[b] * w)
      want[b, half + i] = math.cos(t[b] * w)
  np.testing.assert_allclose(got, want, atol=1e-4)
  assert got.shape == (4, dim)


def test_sinusoidal_embedding_odd_dim_scalar_and_int_t():
  emb = sinusoidal_embedding(jnp.array([3, 5]), 7, max_period=100.0)
  assert emb.shape == (2, 7)
  np.testing.assert_array_equal(emb[:, -1], 0.0)
  np.testing.assert_allclose(emb[:, :6], sinusoidal_embedding(jnp.array([3.0, 5.0]), 6,
                                                              max_period=100.0))
  assert sinusoidal_embedding(4.0, 8).shape == (8,)


def test_num_groups_is_largest_divisor_up_to_32_without_singleton_groups():
  assert num_groups(128) == 32
  assert num_groups(256) == 32
  assert num_groups(64) == 32
  assert num_groups(48) == 24
  assert num_groups(32) == 16
  assert num_groups(16) == 8
  assert num_groups(14) == 7
  assert num_groups(37) == 1
  assert num_groups(1) == 1
  assert num_groups(64, max_groups=4) == 4


def _random_params(layer, x, seed=0):
  """Random non-zero params of ``layer`` (numpy draws on its eval_shape'd init)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(layer.init, jax.random.PRNGKey(0), x)
  return jax.tree.map(lambda a: rng.normal(0, 0.3, a.shape).astype(np.float32) + 1, shapes)


def _reference_attention(params, x, num_heads):
  """Plain-numpy attention with the same parameters (GroupNorm with C/G-sized groups)."""
  p = jax.tree.map(np.asarray, params["params"])
  b, h, w, c = x.shape
  g = num_groups(c)
  xs = np.asarray(x, np.float64).reshape(b, h * w, g, c // g)
  mean = xs.mean(axis=(1, 3), keepdims=True)
  var = xs.var(axis=(1, 3), keepdims=True)
  n = ((xs - mean) / np.sqrt(var + 1e-6)).reshape(b, h * w, c)
  n = n * p["norm"]["scale"] + p["norm"]["bias"]
  qkv = n @ p["qkv"]["kernel"] + p["qkv"]["bias"]
  q, k, v = np.split(qkv, 3, axis=-1)
  d = c // num_heads
  heads = []
  for j in range(num_heads):
    qj, kj, vj = (a[..., j * d:(j + 1) * d] for a in (q, k, v))
    logits = qj @ kj.transpose(0, 2, 1) / math.sqrt(d)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    heads.append(probs @ vj)
  out = np.concatenate(heads, -1) @ p["out"]["kernel"] + p["out"]["bias"]
  return np.asarray(x) + out.reshape(x.shape)


@pytest.fixture(scope="module")
def attention_case():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 5, 8))
  layer = SelfAttention(num_heads=2)
  return jax.jit(layer.apply), _random_params(layer, x), x


def test_attention_matches_reference(attention_case):
  apply, params, x = attention_case
  np.testing.assert_allclose(apply(params, x), _reference_attention(params, x, 2),
                             rtol=1e-4, atol=1e-4)


def test_attention_is_permutation_equivariant_over_positions(attention_case):
  apply, params, x = attention_case
  b, h, w, c = x.shape
  perm = np.random.default_rng(0).permutation(h * w)
  permute = lambda a: a.reshape(b, h * w, c)[:, perm].reshape(b, h, w, c)
  np.testing.assert_allclose(apply(params, permute(x)), permute(apply(params, x)),
                             rtol=1e-5, atol=1e-5)


def test_attention_starts_as_identity_and_checks_heads():
  x = jax.random.normal(jax.random.PRNGKey(3), (1, 3, 3, 6))
  layer = SelfAttention(num_heads=3)
  y = jax.jit(lambda x: layer.apply(layer.init(jax.random.PRNGKey(4), x), x))(x)
  np.testing.assert_array_equal(y, x)   # the output projection starts at zero
  with pytest.raises(ConfigError, match="num_heads=4"):
    jax.eval_shape(SelfAttention(num_heads=4).init, jax.random.PRNGKey(4), x)
