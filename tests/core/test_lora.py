"""LoRA (genjax.core.lora) against references written here: numpy float64
products, lax convolutions of the two factors, and a forward pass that runs
the low-rank branch beside each frozen Dense (Hu et al. 2021, eq. 3)."""
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from safetensors.numpy import load_file

from genjax.core import lora
from genjax.errors import ConfigError
from genjax.families.diffusion.unet import UNet
from genjax.nn.attention import SelfAttention
from genjax.nn.transformer import SpatialTransformer

CONV_DN = ("NHWC", "HWIO", "NHWC")


def unet(depth):
  return UNet(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,),
              transformer_depth=depth, num_heads=2)


def unet_params(depth, shapes_only=True):
  """The small U-Net's params from jax.eval_shape; with values, every leaf
  drawn from N(0, 1) (a real init takes ~10 s of CPU compiles, and the values
  do not matter here: they only need to be distinct)."""
  x, t = jnp.zeros((1, 8, 8, 1)), jnp.zeros((1,), jnp.int32)
  shapes = jax.eval_shape(lambda: unet(depth).init(jax.random.PRNGKey(0), x, t)["params"])
  if shapes_only:
    return shapes
  rng = np.random.RandomState(depth)
  return jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), shapes)


def get(tree, path):
  for key in path.split("/"):
    tree = tree[key]
  return tree


def randomise_b(adapters, seed, std=1.0):
  """The adapters with every lora_B drawn from N(0, std^2) (a trained adapter)."""
  rng = np.random.RandomState(seed)
  def fill(kp, leaf):
    if kp[-1].key != "lora_B":
      return leaf
    return jnp.asarray(std * rng.normal(size=leaf.shape), jnp.float32)
  return jax.tree_util.tree_map_with_path(fill, adapters)


def rand(rng, *shape):
  return jnp.asarray(rng.normal(size=shape), jnp.float32)


# --- selection and init ------------------------------------------------------

def test_default_targets_select_the_unet_attention_projections():
  attn = ["down_1_attn_0", "mid_attn", "up_1_attn_0", "up_1_attn_1"]
  want0 = sorted(f"{m}/{p}/kernel" for m in attn for p in ("qkv", "out"))
  want1 = sorted(f"{m}/block_0/{a}/{p}/kernel" for m in attn
                 for a in ("self_attn", "cross_attn") for p in ("query", "key", "value", "out"))
  assert lora.select_targets(unet_params(0), lora.DEFAULT_TARGETS, 4) == want0
  assert lora.select_targets(unet_params(1), lora.DEFAULT_TARGETS, 4) == want1


def test_init_merge_is_bitwise_the_base_and_keeps_other_leaves():
  params = unet_params(1, shapes_only=False)
  paths = lora.select_targets(params, lora.DEFAULT_TARGETS, 4)
  adapters = lora.init_adapters(jax.random.PRNGKey(1), params, paths, 4)
  for p in paths:
    a, b = get(adapters, p)["lora_A"], get(adapters, p)["lora_B"]
    fan_in = get(params, p).shape[0]
    assert a.dtype == b.dtype == jnp.float32
    assert a.shape == (fan_in, 4) and b.shape == (4, get(params, p).shape[1])
    assert not np.any(np.asarray(b)) and np.all(np.abs(a) <= 1 / np.sqrt(fan_in))
    assert np.std(np.asarray(a)) > 0.3 / np.sqrt(fan_in)
  merged = lora.merge(params, [(adapters, 8.0)])
  flat_base, flat_merged = lora.flat_leaves(params), lora.flat_leaves(merged)
  assert list(flat_base) == list(flat_merged)
  for p, leaf in flat_base.items():
    assert np.array_equal(leaf, flat_merged[p]), p
    if p not in paths:
      assert flat_merged[p] is leaf, p
  assert lora.num_params(adapters) == sum(4 * sum(get(params, p).shape) for p in paths)
  assert lora.nbytes(adapters) == 4 * lora.num_params(adapters)


def test_adapter_tree_has_no_slash_keys_and_orbax_round_trips(tmp_path):
  params = unet_params(0)
  paths = lora.select_targets(params, lora.DEFAULT_TARGETS, 2)
  adapters = randomise_b(lora.init_adapters(jax.random.PRNGKey(0), params, paths, 2), 0)
  keys = [k.key for kp, _ in jax.tree_util.tree_flatten_with_path(adapters)[0] for k in kp]
  assert keys and not any("/" in k for k in keys)
  ckpt = ocp.StandardCheckpointer()
  ckpt.save(tmp_path / "lora", adapters)
  ckpt.wait_until_finished()
  restored = ckpt.restore(tmp_path / "lora")
  assert jax.tree.structure(restored) == jax.tree.structure(adapters)
  for x, y in zip(jax.tree.leaves(restored), jax.tree.leaves(adapters)):
    assert np.array_equal(x, y)


# --- the maths against independent references ------------------------------

def test_dense_output_equals_hand_computed_low_rank_branch():
  rng = np.random.RandomState(0)
  dense = nn.Dense(6, name="proj")
  x = rand(rng, 5, 7)
  params = {"proj": dense.init(jax.random.PRNGKey(0), x)["params"]}
  params["proj"]["bias"] = rand(rng, 6)
  rank, alpha = 3, 5.0
  paths = lora.select_targets(params, "proj/kernel", rank)
  adapters = randomise_b(lora.init_adapters(jax.random.PRNGKey(2), params, paths, rank), 1)
  merged = lora.merge(params, [(adapters, alpha)])
  out = dense.apply({"params": merged["proj"]}, x)
  f64 = lambda v: np.asarray(v, np.float64)
  w, b = f64(params["proj"]["kernel"]), f64(params["proj"]["bias"])
  a, bb = f64(adapters["proj"]["kernel"]["lora_A"]), f64(adapters["proj"]["kernel"]["lora_B"])
  ref = f64(x) @ w + b + (alpha / rank) * ((f64(x) @ a) @ bb)
  assert np.abs(ref - ((f64(x) @ w) + b)).max() > 0.1    # the branch is not negligible
  np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_conv_lora_is_a_kxk_conv_to_rank_then_a_1x1_conv():
  rng = np.random.RandomState(1)
  kh, kw, cin, cout, rank, alpha = 3, 3, 4, 6, 2, 3.0
  params = {"conv": {"kernel": rand(rng, kh, kw, cin, cout), "bias": rand(rng, cout)}}
  paths = lora.select_targets(params, "conv/kernel", rank)
  adapters = randomise_b(lora.init_adapters(jax.random.PRNGKey(3), params, paths, rank), 2)
  a = adapters["conv"]["kernel"]["lora_A"]
  b = adapters["conv"]["kernel"]["lora_B"]
  assert a.shape == (kh * kw * cin, rank) and b.shape == (rank, cout)
  merged = lora.merge(params, [(adapters, alpha)])
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=CONV_DN)
  x = rand(rng, 2, 5, 5, cin)
  got = conv(x, merged["conv"]["kernel"])
  down = conv(x, a.reshape(kh, kw, cin, rank))            # kh x kw conv, in -> r
  up = conv(down, b.reshape(1, 1, rank, cout))            # 1x1 conv, r -> out
  want = conv(x, params["conv"]["kernel"]) + (alpha / rank) * up
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_alpha_is_honoured():
  rng = np.random.RandomState(2)
  params = {"attn": {"qkv": {"kernel": rand(rng, 4, 12)}}}
  rank = 2
  adapters = randomise_b(lora.init_adapters(
      jax.random.PRNGKey(4), params, ["attn/qkv/kernel"], rank), 3)
  base = np.asarray(params["attn"]["qkv"]["kernel"], np.float64)
  d = lambda alpha: (np.asarray(lora.merge(params, [(adapters, alpha)])["attn"]["qkv"]["kernel"])
                     - base)
  ab = adapters["attn"]["qkv"]["kernel"]
  product = np.asarray(ab["lora_A"], np.float64) @ np.asarray(ab["lora_B"], np.float64)
  np.testing.assert_allclose(d(rank), product, atol=1e-5)            # alpha = r: scale 1
  np.testing.assert_allclose(d(2 * rank), 2 * product, atol=1e-5)    # alpha = 2r: doubled
  np.testing.assert_allclose(d(2 * rank), 2 * d(rank), atol=1e-5)


def lora_forward(module, params, adapters, alpha, *args):
  """The unmerged forward: every adapted Dense returns x W0 + b + (alpha/r) (x A) B."""
  def interceptor(next_fun, call_args, kwargs, context):
    out = next_fun(*call_args, **kwargs)
    mod = context.module
    if not isinstance(mod, nn.Dense) or context.method_name != "__call__":
      return out
    try:
      ab = get(adapters, "/".join(mod.path) + "/kernel")
    except KeyError:
      return out
    rank = ab["lora_B"].shape[0]
    return out + (alpha / rank) * ((call_args[0] @ ab["lora_A"]) @ ab["lora_B"])
  with nn.intercept_methods(interceptor):
    return module.apply({"params": params}, *args)


class Wrapped(nn.Module):
  """An attention layer named 'attn', as the U-Net and DiT name theirs."""
  kind: str

  @nn.compact
  def __call__(self, *args):
    if self.kind == "SelfAttention":
      return SelfAttention(num_heads=2, name="attn")(*args)
    return SpatialTransformer(num_heads=2, depth=1, name="attn")(*args)


@pytest.mark.parametrize("kind", ["SelfAttention", "SpatialTransformer"])
def test_merged_equals_unmerged_forward(kind):
  rng = np.random.RandomState(3)
  x, ctx = rand(rng, 2, 4, 4, 8), rand(rng, 2, 3, 5)
  module, args = Wrapped(kind), ((x,) if kind == "SelfAttention" else (x, ctx))
  params = module.init(jax.random.PRNGKey(0), *args)["params"]
  if kind == "SpatialTransformer":      # its zero-initialised proj_out would hide everything
    params["attn"]["proj_out"]["kernel"] = rand(rng, 8, 8)
  paths = lora.select_targets(params, lora.DEFAULT_TARGETS, 2)
  assert len(paths) == (2 if kind == "SelfAttention" else 8)
  adapters = randomise_b(lora.init_adapters(jax.random.PRNGKey(5), params, paths, 2), 4, 0.5)
  alpha = 4.0
  base_out = module.apply({"params": params}, *args)
  merged_out = module.apply({"params": lora.merge(params, [(adapters, alpha)])}, *args)
  unmerged_out = lora_forward(module, params, adapters, alpha, *args)
  jitted = jax.jit(lambda p, a, *xs: module.apply({"params": lora.adapted(p, a, alpha)}, *xs))
  assert np.abs(merged_out - base_out).max() > 1e-2          # the adapters do something
  np.testing.assert_allclose(merged_out, unmerged_out, atol=1e-5, rtol=0)
  np.testing.assert_allclose(jitted(params, adapters, *args), unmerged_out, atol=1e-5, rtol=0)


def test_merge_unmerge_cycles_do_not_drift_the_base():
  params = unet_params(1, shapes_only=False)
  paths = lora.select_targets(params, lora.DEFAULT_TARGETS, 4)
  adapters = randomise_b(lora.init_adapters(jax.random.PRNGKey(6), params, paths, 4), 5)
  entries = [(adapters, 8.0, 0.8)]
  p = params
  for _ in range(10):
    merged = lora.merge(p, entries)
    assert max(np.abs(get(merged, q) - get(p, q)).max() for q in paths) > 0.1
    p = lora.unmerge(merged, entries)
  drift = max(float(np.abs(np.asarray(get(p, q)) - np.asarray(get(params, q))).max())
              for q in paths)
  print(f"max abs drift of the base kernels after 10 merge/unmerge cycles: {drift:.3g}")
  assert drift <= 1e-6


def test_several_weighted_adapters_add_up():
  rng = np.random.RandomState(4)
  params = {"attn": {"qkv": {"kernel": rand(rng, 4, 12), "bias": rand(rng, 12)},
                     "out": {"kernel": rand(rng, 4, 4)}},
            "conv": {"kernel": rand(rng, 3, 3, 2, 5)}}
  everything = lora.select_targets(params, ".*", 2)
  assert everything == ["attn/out/kernel", "attn/qkv/kernel", "conv/kernel"]
  a1 = randomise_b(lora.init_adapters(jax.random.PRNGKey(7), params, everything, 2), 6)
  a2 = randomise_b(lora.init_adapters(jax.random.PRNGKey(8), params, everything[1:], 3), 7)
  (al1, w1), (al2, w2) = (4.0, 0.7), (1.5, -0.4)
  merged = lora.merge(params, [(a1, al1, w1), (a2, al2, w2)])
  for path in everything:
    want = np.asarray(get(params, path), np.float64)
    for ad, alpha, w, r in ((a1, al1, w1, 2), (a2, al2, w2, 3)):
      if path in everything[1:] or ad is a1:
        ab = get(ad, path)
        prod = np.asarray(ab["lora_A"], np.float64) @ np.asarray(ab["lora_B"], np.float64)
        want = want + w * (alpha / r) * prod.reshape(want.shape)
    np.testing.assert_allclose(get(merged, path), want, atol=1e-5, err_msg=path)
  assert merged["attn"]["qkv"]["bias"] is params["attn"]["qkv"]["bias"]


# --- files -------------------------------------------------------------------

def test_safetensors_round_trip_and_refusals(tmp_path):
  params = Wrapped("SelfAttention").init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 8)))["params"]
  paths = lora.select_targets(params, lora.DEFAULT_TARGETS, 2)
  adapters = randomise_b(lora.init_adapters(jax.random.PRNGKey(9), params, paths, 2), 8)
  meta = lora.lora_metadata(2, 3.0, lora.DEFAULT_TARGETS, lora.base_fingerprint(params))
  file = str(tmp_path / "a.safetensors")
  lora.save_safetensors(file, adapters, meta)
  loaded, loaded_meta = lora.load_safetensors(file)
  assert loaded_meta == meta and float(loaded_meta["lora_alpha"]) == 3.0
  assert jax.tree.structure(loaded) == jax.tree.structure(adapters)
  for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(adapters)):
    assert got.dtype == np.float32 and np.array_equal(got, want)
  lora.check_fingerprint(loaded_meta, lora.base_fingerprint(params))
  other = Wrapped("SelfAttention").init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 16)))["params"]
  with pytest.raises(ConfigError, match="different base model"):
    lora.check_fingerprint(loaded_meta, lora.base_fingerprint(other))
  with pytest.raises(ConfigError, match=re.escape(repr(paths[0])) + ".*different base model"):
    lora.merge(other, [(loaded, 3.0)])
  with pytest.raises(ConfigError,
                     match="'elsewhere/(qkv|out)/kernel'.*no kernel there.*different base"):
    lora.merge(params, [({"elsewhere": loaded["attn"]}, 3.0)])


def test_export_params_writes_slash_joined_paths(tmp_path):
  params = unet_params(0, shapes_only=False)
  file = str(tmp_path / "p.safetensors")
  lora.export_params(file, params, {"step": "10"})
  flat = load_file(file)
  assert sorted(flat) == sorted(lora.flat_leaves(params))
  assert all(np.array_equal(v, lora.flat_leaves(params)[k]) for k, v in flat.items())
  with pytest.raises(ConfigError, match="str to str.*str\\(\\)"):
    lora.export_params(file, params, {"step": 10})


# --- config errors -----------------------------------------------------------

@pytest.mark.parametrize("pattern, rank, match", [
    ("down_1_attn_0/qkv", 4, r"selects no Dense or conv kernel.*'conv_in/kernel'.*Fix the pattern"),
    (".*/bias", 4, r"selects no Dense or conv kernel.*end.*'/kernel'"),
    (lora.DEFAULT_TARGETS, 33, r"rank 33 is larger than layer 'down_1_attn_0/out/kernel' of "
                               r"shape \(32, 32\).*at most.*32.*use rank <= 32"),
    (lora.DEFAULT_TARGETS, 0, r"integer >= 1.*set e\.g\. rank=4"),
    ("(attn", 4, r"not a valid regular expression.*fix the pattern"),
])
def test_config_errors(pattern, rank, match):
  with pytest.raises(ConfigError, match=match):
    lora.select_targets(unet_params(0), pattern, rank)


def test_conv_rank_limit_counts_the_kernel_window():
  params = {"conv": {"kernel": jnp.zeros((3, 3, 2, 40))}}     # fan_in 18, fan_out 40
  assert lora.select_targets(params, "conv/kernel", 18) == ["conv/kernel"]
  with pytest.raises(ConfigError, match=r"\(3, 3, 2, 40\).*use rank <= 18"):
    lora.select_targets(params, "conv/kernel", 19)
