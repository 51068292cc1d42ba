"""genjax.nn.transformer: attention with a context, GEGLU, LDM's spatial transformer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.nn.transformer import GEGLU, Attention, SpatialTransformer


def _init_apply(module, *args):
  params = module.init(jax.random.PRNGKey(0), *args)
  return params, module.apply(params, *args)


def test_cross_attention_to_one_repeated_token_equals_attention_to_that_token():
  # Identical keys get equal softmax weights, so attending to M copies of a
  # token returns its value: out = (c W_v) W_o + b_o, for every query.
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 5, 8)), jnp.float32)
  token = jnp.asarray(rng.normal(size=(2, 1, 6)), jnp.float32)
  attn = Attention(num_heads=2, head_dim=4)
  params = attn.init(jax.random.PRNGKey(1), x, token)
  repeated = attn.apply(params, x, jnp.repeat(token, 7, axis=1))
  p = params["params"]
  value = np.asarray(token) @ np.asarray(p["value"]["kernel"])      # [2, 1, 8]
  want = value @ np.asarray(p["out"]["kernel"]) + np.asarray(p["out"]["bias"])
  np.testing.assert_allclose(repeated, np.broadcast_to(want, (2, 5, 8)), atol=1e-5)
  np.testing.assert_allclose(attn.apply(params, x, token), repeated, atol=1e-5)


def test_attention_mask_drops_padded_tokens():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(1, 3, 8)), jnp.float32)
  ctx = jnp.asarray(rng.normal(size=(1, 4, 6)), jnp.float32)
  attn = Attention(num_heads=2, head_dim=4)
  params = attn.init(jax.random.PRNGKey(2), x, ctx)
  mask = jnp.array([[True, True, False, False]])
  padded = ctx.at[:, 2:].set(100.0)    # whatever the padded tokens hold
  np.testing.assert_allclose(attn.apply(params, x, padded, mask),
                             attn.apply(params, x, ctx[:, :2]), atol=1e-5)


def test_attention_matches_brute_force_softmax():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(1, 3, 4)).astype(np.float32)
  ctx = rng.normal(size=(1, 5, 3)).astype(np.float32)
  attn = Attention(num_heads=1, head_dim=4)
  params, got = _init_apply(attn, jnp.asarray(x), jnp.asarray(ctx))
  p = jax.tree.map(np.asarray, params["params"])
  q, k, v = x[0] @ p["query"]["kernel"], ctx[0] @ p["key"]["kernel"], ctx[0] @ p["value"]["kernel"]
  logits = q @ k.T / np.sqrt(4.0)
  w = np.exp(logits - logits.max(1, keepdims=True))
  w /= w.sum(1, keepdims=True)
  want = (w @ v) @ p["out"]["kernel"] + p["out"]["bias"]
  np.testing.assert_allclose(got[0], want, atol=1e-5)


def test_geglu_is_value_times_gelu_of_gate():
  from scipy.special import erf
  rng = np.random.default_rng(3)
  h = rng.normal(size=(2, 3, 4)).astype(np.float32)
  params, got = _init_apply(GEGLU(mult=2), jnp.asarray(h))
  p = jax.tree.map(np.asarray, params["params"])
  inner = h @ p["proj_in"]["kernel"] + p["proj_in"]["bias"]
  a, gate = inner[..., :8], inner[..., 8:]
  gelu = 0.5 * gate * (1.0 + erf(gate / np.sqrt(2.0)))
  want = (a * gelu) @ p["proj_out"]["kernel"] + p["proj_out"]["bias"]
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_spatial_transformer_starts_as_identity_and_uses_its_context():
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.normal(size=(2, 4, 4, 8)), jnp.float32)
  ctx = jnp.asarray(rng.normal(size=(2, 3, 5)), jnp.float32)
  block = SpatialTransformer(num_heads=2, depth=2)
  params, out = _init_apply(block, x, ctx)
  np.testing.assert_array_equal(out, x)      # proj_out starts at zero
  params = jax.tree.map(lambda a: a + 0.1, params)
  one = block.apply(params, x, ctx)
  other = block.apply(params, x, ctx + 1.0)
  assert one.shape == x.shape and not np.allclose(one, other, atol=1e-4)
  assert {"block_0", "block_1"} <= set(params["params"])


def test_spatial_transformer_refuses_heads_that_do_not_divide_channels():
  with pytest.raises(ConfigError, match="num_heads=3"):
    SpatialTransformer(num_heads=3).init(jax.random.PRNGKey(0), jnp.zeros((1, 2, 2, 8)))
