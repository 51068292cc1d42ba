"""Parameter paths, matching and copy_matching (init_from) against a brute-force walk."""
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.core import params
from genjax.errors import ConfigError


class Block(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(2)(x)


class Net(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(Block()(nn.Dense(2)(x)))


def tree(seed=0, bias_shape=(3,)):
  """A nested tree with dict keys and a list, leaves of distinct values."""
  rng = np.random.RandomState(seed)
  leaf = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
  return {"enc": {"Dense_0": {"kernel": leaf(2, 3), "bias": leaf(*bias_shape)},
                  "Dense_1": {"kernel": leaf(3, 3)}},
          "dec": {"layers": [leaf(3), leaf(4)], "bias": leaf(2)}}


def walk(node, prefix=""):
  """Brute force: {path: leaf} by recursion over dicts and lists."""
  if isinstance(node, dict):
    items = sorted(node.items())   # jax flattens dicts in key order
  elif isinstance(node, (list, tuple)):
    items = enumerate(node)
  else:
    return {prefix[:-1]: node}
  out = {}
  for key, child in items:
    out.update(walk(child, f"{prefix}{key}/"))
  return out


def test_leaf_paths_of_a_flax_module_are_slash_joined():
  variables = Net().init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
  paths = params.leaf_paths(variables["params"])
  assert sorted(paths) == sorted([
      "Dense_0/kernel", "Dense_0/bias", "Block_0/Dense_0/kernel",
      "Block_0/Dense_0/bias", "Dense_1/kernel", "Dense_1/bias"])
  assert params.leaf_paths(tree()) == list(walk(tree()))  # leaves order, lists


def test_match_paths_is_a_full_match():
  t = tree()
  assert params.match_paths(t, "enc/Dense_0") == []          # a subtree, no leaf
  assert params.match_paths(t, ".*bias") == ["dec/bias", "enc/Dense_0/bias"]
  assert params.match_paths(t, "dec/layers/1") == ["dec/layers/1"]
  with pytest.raises(ConfigError, match=re.escape("'enc/(' is not a valid")):
    params.match_paths(t, "enc/(")


@pytest.mark.parametrize("include,exclude", [
    (".*", ""), ("enc/.*", ".*bias"), ("dec/layers/.*|enc/Dense_1/kernel", "")])
def test_copy_matching_copies_exactly_the_matching_leaves(include, exclude):
  dst, src = tree(0), tree(1)
  out = params.copy_matching(dst, src, include, exclude)
  flat_dst, flat_src, flat_out = walk(dst), walk(src), walk(out)
  want = {p for p in flat_src if re.fullmatch(include, p)
          and not (exclude and re.fullmatch(exclude, p))}
  assert set(flat_out) == set(flat_dst)
  for p, leaf in flat_out.items():
    assert leaf is (flat_src[p] if p in want else flat_dst[p]), p
  assert params.copy_paths(dst, src, include, exclude) == [
      p for p in flat_dst if p in want]
  assert jax.tree.structure(out) == jax.tree.structure(dst)


def test_copy_checks_run_on_abstract_trees():
  dst = jax.eval_shape(lambda: tree(0))
  assert params.copy_paths(dst, tree(1), "enc/.*") == [
      "enc/Dense_0/bias", "enc/Dense_0/kernel", "enc/Dense_1/kernel"]


def test_include_matching_nothing_names_the_pattern_and_paths():
  with pytest.raises(ConfigError) as e:
    params.copy_matching(tree(0), tree(1), include="encoder/.*")
  assert "'encoder/.*'" in str(e.value) and "'enc/Dense_0/kernel'" in str(e.value)
  with pytest.raises(ConfigError, match="exclude pattern 'nothing'"):
    params.copy_matching(tree(0), tree(1), exclude="nothing")


def test_missing_destination_path_is_named_with_the_nearest():
  src = tree(1)
  src["enc"]["Dense_2"] = {"kernel": jnp.zeros((3, 3))}
  with pytest.raises(ConfigError) as e:
    params.copy_matching(tree(0), src, include="enc/.*")
  msg = str(e.value)
  assert "'enc/Dense_2/kernel'" in msg and "'enc/Dense_1/kernel'" in msg
  assert "1 of the 4" in msg


def test_shape_and_dtype_mismatches_name_path_and_both_shapes():
  with pytest.raises(ConfigError) as e:
    params.copy_matching(tree(0), tree(1, bias_shape=(5,)))
  msg = str(e.value)
  assert "'enc/Dense_0/bias'" in msg and "(5,)" in msg and "(3,)" in msg
  src = jax.tree.map(lambda x: x.astype(jnp.bfloat16), tree(1))
  with pytest.raises(ConfigError, match="bfloat16.*float32"):
    params.copy_matching(tree(0), src)
