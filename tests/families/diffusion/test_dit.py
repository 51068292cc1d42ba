"""DiT (Peebles & Xie 2023): adaLN-Zero identity at init, patches, embeddings, sizes, conditioning."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.diffusion.dit import (
    DIT_SIZES, DiT, DiTBlock, check_latent_size, count_params, dit_kwargs, patchify,
    sincos_pos_embed_2d, timestep_embedding, unpatchify)
from genjax.nn.conv import Conv
from genjax.nn.embeddings import sinusoidal_embedding

TINY = dict(patch_size=2, hidden_size=32, depth=2, num_heads=4)
NUM_CLASSES = 3
X = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
T = jnp.array([3, 700])


def perturbed(params, seed=1, std=0.3):
  """``params`` with every all-zero leaf (the adaLN-Zero and final Dense, biases)
  replaced by N(0, std^2) draws, so the net is no longer trivial."""
  rng = np.random.default_rng(seed)

  def draw(leaf):
    if np.any(np.asarray(leaf)):
      return leaf
    return jnp.asarray(rng.normal(0, std, leaf.shape), leaf.dtype)

  return jax.tree.map(draw, params)


@pytest.fixture(scope="module")
def conditional():
  """A tiny class-conditional DiT and its init params."""
  model = DiT(**TINY, num_classes=NUM_CLASSES)
  return model, jax.jit(model.init)(jax.random.PRNGKey(0), X, T, jnp.array([0, 1]))


def test_block_is_the_identity_and_output_zero_at_init(conditional):
  model, params = conditional
  block = DiTBlock(TINY["hidden_size"], TINY["num_heads"])
  block_params = {"params": params["params"]["block_0"]}
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 32))
  c = jax.random.normal(jax.random.PRNGKey(2), (2, 32))
  np.testing.assert_array_equal(block.apply(block_params, x, c), x)
  out = model.apply(params, X, T, jnp.array([0, 2]))
  assert out.shape == X.shape and np.all(np.asarray(out) == 0)

  # Perturbing the adaLN modulation away from zero breaks the identity.
  moved = {"params": dict(block_params["params"],
                          adaLN_modulation=perturbed(block_params["params"]["adaLN_modulation"]))}
  assert np.abs(np.asarray(block.apply(moved, x, c) - x)).max() > 1e-3


def test_initialisation_follows_the_reference(conditional):
  """Zero adaLN / final Dense; N(0, 0.02) label table and timestep MLP; Xavier
  elsewhere, the patch embedding's fans those of a Linear [p*p*C -> D]."""
  _, params = conditional
  p = params["params"]
  for name in ("block_0", "block_1", "final_layer"):
    for leaf in jax.tree.leaves(p[name]["adaLN_modulation"]):
      assert not np.any(np.asarray(leaf))
  assert not any(np.any(np.asarray(leaf)) for leaf in jax.tree.leaves(p["final_layer"]["linear"]))
  for name in ("y_embedder", "t_embedder_0", "t_embedder_1"):
    weights = np.asarray(jax.tree.leaves({k: v for k, v in p[name].items() if k != "bias"})[0])
    assert abs(weights.std() - 0.02) < 0.004, (name, weights.std())
  kernel = np.asarray(p["x_embedder"]["kernel"])
  assert kernel.shape == (2 * 2 * 3, 32)
  bound = math.sqrt(6 / (12 + 32))                 # xavier_uniform, fan_in 12, fan_out 32
  assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.8 * bound
  assert not np.any(np.asarray(p["x_embedder"]["bias"]))


def test_patchify_round_trip_and_equals_the_strided_conv():
  x = jax.random.normal(jax.random.PRNGKey(3), (2, 8, 12, 3))
  tokens = patchify(x, 4)
  assert tokens.shape == (2, 6, 48)
  np.testing.assert_array_equal(unpatchify(tokens, 4, 2, 3), x)
  # Token (row 1, col 2) is the patch x[:, 4:8, 8:12, :], flattened (row, col, channel).
  np.testing.assert_array_equal(tokens[:, 1 * 3 + 2], x[:, 4:8, 8:12, :].reshape(2, -1))
  # patchify + Dense is the conv with kernel = stride = p, kernel reshaped [p*p*C, D].
  conv = Conv(5, (4, 4), strides=(4, 4), padding="VALID", impl="xla")
  conv_params = conv.init(jax.random.PRNGKey(4), x)
  kernel, bias = conv_params["params"]["kernel"], conv_params["params"]["bias"]
  dense = tokens @ kernel.reshape(48, 5) + bias
  np.testing.assert_allclose(dense.reshape(2, 2, 3, 5), conv.apply(conv_params, x),
                             rtol=1e-5, atol=1e-5)


def test_sincos_pos_embed_matches_the_formula():
  dim, grid_h, grid_w = 16, 3, 5
  emb = sincos_pos_embed_2d(dim, grid_h, grid_w)
  assert emb.shape == (grid_h * grid_w, dim)
  quarter = dim // 4
  for i, j in [(0, 0), (1, 3), (2, 4), (2, 1)]:
    want = []
    for coord in (j, i):                          # columns first (MAE's meshgrid)
      want += [math.sin(coord / 10000 ** (m / quarter)) for m in range(quarter)]
      want += [math.cos(coord / 10000 ** (m / quarter)) for m in range(quarter)]
    np.testing.assert_allclose(emb[i * grid_w + j], want, rtol=1e-6, atol=1e-6)


def test_timestep_embedding_is_dits_not_ddpms():
  t = jnp.array([0.0, 5.0, 999.0])
  emb = np.asarray(timestep_embedding(t, 8))
  for b, tb in enumerate([0.0, 5.0, 999.0]):
    freqs = [math.exp(-math.log(10000) * i / 4) for i in range(4)]
    want = [math.cos(tb * f) for f in freqs] + [math.sin(tb * f) for f in freqs]
    np.testing.assert_allclose(emb[b], want, rtol=1e-4, atol=1e-4)
  assert np.abs(emb - np.asarray(sinusoidal_embedding(t, 8))).max() > 0.1


def reference_param_count(depth, hidden_size, num_heads, patch_size, in_channels,
                          out_channels, num_classes, mlp_ratio=4.0, latent=32):
  """(trainable, frozen pos_embed) parameter counts of facebookresearch/DiT's
  ``models.DiT``, summed by hand over its layers' shapes (Linear: in*out + out;
  the head count does not change them)."""
  del num_heads
  d, p = hidden_size, patch_size
  linear = lambda i, o: i * o + o
  mlp = int(d * mlp_ratio)
  x_embedder = linear(p * p * in_channels, d)               # PatchEmbed conv, bias
  t_embedder = linear(256, d) + linear(d, d)
  y_embedder = (num_classes + 1) * d                         # + the CFG null row
  block = (linear(d, 3 * d) + linear(d, d)                   # timm Attention, qkv_bias
           + linear(d, mlp) + linear(mlp, d)                 # timm Mlp
           + linear(d, 6 * d))                               # adaLN_modulation
  final = linear(d, 2 * d) + linear(d, p * p * out_channels)
  trainable = x_embedder + t_embedder + y_embedder + depth * block + final
  return trainable, (latent // p) ** 2 * d


# Table 4 of the paper: parameters (M) of DiT-<size>/2 on 32x32x4 latents
# (256x256 images), 1000 classes, learned sigma. Established with the formula
# above, read off the reference's models.py: the trainable counts are
# S 32,865,056, B 130,315,808, L 457,840,672, XL 674,834,720, which round to
# the table's figures. The reference's train.py prints sum(model.parameters()),
# which also counts the frozen pos_embed Parameter (256 x D): 675,129,632 for
# XL, but 130,512,416 (131M, not the table's 130M) for B, so the table counts
# trainable parameters, as count_params does (the embedding is a constant here).
PAPER_PARAMS_M = {"S": 33, "B": 130, "L": 458, "XL": 675}


@pytest.mark.parametrize("size", list(PAPER_PARAMS_M))
def test_parameter_counts_match_the_reference_and_paper(size):
  model = DiT(**dit_kwargs(f"DiT-{size}/2"), num_classes=1000, out_channels=8)
  n = count_params(model, (32, 32, 4))
  trainable, pos = reference_param_count(**DIT_SIZES[size], patch_size=2, in_channels=4,
                                         out_channels=8, num_classes=1000)
  assert n == trainable
  assert round(n / 1e6) == PAPER_PARAMS_M[size]
  if size == "XL":
    assert (n, n + pos) == (674_834_720, 675_129_632)


def test_labels_null_class_and_interface_errors(conditional):
  model, params = conditional
  params = perturbed(params)
  null = model.apply(params, X, T)
  np.testing.assert_array_equal(null, model.apply(params, X, T, jnp.full((2,), NUM_CLASSES)))
  assert np.abs(np.asarray(null - model.apply(params, X, T, jnp.array([0, 0])))).max() > 1e-3
  with pytest.raises(ValueError, match="adaLN only"):
    model.apply(params, X, T, context=jnp.zeros((2, 4, 8)))
  unconditional = DiT(**TINY)
  u_params = unconditional.init(jax.random.PRNGKey(0), X, T)
  with pytest.raises(ValueError, match="unconditional"):
    unconditional.apply(u_params, X, T, jnp.array([0, 1]))


def test_pooled_changes_the_output_and_cfg_output_shape():
  model = DiT(**TINY, num_classes=NUM_CLASSES, pooled_dim=5, out_channels=6)
  pooled = jax.random.normal(jax.random.PRNGKey(5), (2, 5))
  params = model.init(jax.random.PRNGKey(0), X, T, None, pooled=pooled)
  assert params["params"]["pooled_proj"]["kernel"].shape == (5, 32)
  params = perturbed(params)
  out = model.apply(params, X, T, jnp.array([0, 1]), pooled=pooled)
  assert out.shape == (2, 8, 8, 6)                        # [B, H, W, 2C]
  other = model.apply(params, X, T, jnp.array([0, 1]), pooled=pooled + 1.0)
  assert np.abs(np.asarray(out - other)).max() > 1e-3
  with pytest.raises(ValueError, match="pooled"):
    model.apply(params, X, T, jnp.array([0, 1]))


def test_remat_keeps_parameters_and_maths():
  fields = dict(TINY, depth=1)
  model, remat = DiT(**fields), DiT(**fields, remat=("DiTBlock",))
  params = perturbed(jax.jit(model.init)(jax.random.PRNGKey(0), X, T))
  assert (jax.tree.structure(jax.eval_shape(remat.init, jax.random.PRNGKey(0), X, T))
          == jax.tree.structure(params))
  grad = lambda m: jax.jit(jax.grad(lambda p: jnp.sum(m.apply(p, X, T) ** 2)))(params)
  # two programs' float32 round-off: entries of ~5 agree to 1e-6, entries
  # that cancel to ~0 differ by ~1e-6 absolute (atol 1e-5 of that scale)
  for a, b in zip(jax.tree.leaves(grad(model)), jax.tree.leaves(grad(remat))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_names_and_sizes_are_checked():
  assert dit_kwargs("DiT-XL/2") == dict(depth=28, hidden_size=1152, num_heads=16,
                                        patch_size=2)
  assert dit_kwargs("DiT-S/8")["patch_size"] == 8
  for bad in ("DiT-XXL/2", "DiT-B/3", "dit-b/2"):
    with pytest.raises(ConfigError, match="DiT-B/4"):
      dit_kwargs(bad)
  check_latent_size((32, 32, 4), 8)
  check_latent_size((28, 28, 1), 4)
  with pytest.raises(ConfigError, match="patch_size=8"):
    check_latent_size((28, 28, 1), 8)
  with pytest.raises(ConfigError, match="num_heads"):
    DiT(patch_size=2, hidden_size=32, depth=1, num_heads=5).init(
        jax.random.PRNGKey(0), X, T)
