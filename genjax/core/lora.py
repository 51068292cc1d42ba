"""LoRA: low-rank adapters as pure functions over flax parameter trees.

Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models". A
frozen kernel W0 is adapted by a product of two thin matrices (eq. 3):
    h = W0 x + ΔW x = W0 x + B A x,   ΔW scaled by alpha / r   (sec. 4.1)
with A random and B zero at init, so ΔW = BA starts at zero. flax kernels are
[in, out] (y = x @ W), so here A is [fan_in, r] and B is [r, fan_out] (the
paper's A and B, transposed) and ΔW = scale * (A @ B) reshaped to the kernel.
A conv kernel [kh, kw, in, out] has fan_in = kh*kw*in: A @ B reshaped to it is
a kh x kw conv in -> r followed by a 1x1 conv r -> out (peft's conv LoRA).

Adapter trees mirror the base tree: the adapter of the kernel at
``'mid_attn/qkv/kernel'`` is ``adapters['mid_attn']['qkv']['kernel'] =
{'lora_A': A, 'lora_B': B}`` (float32), so no key holds a '/' (orbax can
checkpoint it) and its leaf paths (``'mid_attn/qkv/kernel/lora_A'``) are the
safetensors keys. The rank is read from A's shape; alpha and the weight travel
beside the tree (``merge``'s entries; a file's metadata). Merging adds in
float32 and casts back to the kernel's dtype, so merge/unmerge round trips are
exact to that dtype's rounding: with a bf16 base, keep it and use ``adapted``.
"""
import hashlib
import math

import jax
import jax.numpy as jnp
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from genjax.core.params import compile_pattern, examples, flat_leaves, nearest, path_string
from genjax.errors import ConfigError

# Attention q/k/v/out projections: SelfAttention's 'qkv'/'out' (U-Net 'mid_attn',
# '*_attn_*'), transformer Attention's 'query'/'key'/'value'/'out' ('self_attn',
# 'cross_attn'), DiT's 'attn/qkv', 'attn/proj'. The parent's name must contain
# 'attn' (not selected: SpatialTransformer 'proj_in'/'proj_out', GAN 'out').
DEFAULT_TARGETS = r"(?:.*/)?[^/]*attn[^/]*/(?:qkv|query|key|value|out|proj)/kernel"
LEAVES = ("lora_A", "lora_B")
DIFFERENT_BASE = ("the adapter was trained for a different base model; load it "
                  "onto the model it was trained for, or train one for this model")


def fans(shape):
  """(fan_in, fan_out) of a Dense [in, out] or conv [kh, kw, in, out] kernel; None otherwise."""
  if len(shape) == 2:
    return tuple(shape)
  if len(shape) == 4:
    return math.prod(shape[:3]), shape[3]
  return None


def _kernels(params):
  """{path: shape} of the Dense and conv kernels of ``params`` (leaves named 'kernel')."""
  return {p: tuple(leaf.shape) for p, leaf in flat_leaves(params).items()
          if p.rsplit("/", 1)[-1] == "kernel" and fans(leaf.shape)}


def check_rank(rank, shapes):
  """ConfigError unless 1 <= rank <= min(fan_in, fan_out) of every {path: shape}."""
  if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
    raise ConfigError(f"LoRA rank must be an integer >= 1, got {rank!r}; set e.g. rank=4.")
  for path, shape in shapes.items():
    if rank > min(fans(shape)):
      limit = min(min(fans(s)) for s in shapes.values())
      raise ConfigError(
          f"LoRA rank {rank} is larger than layer {path!r} of shape {shape} allows "
          f"(at most min(fan_in, fan_out) = {min(fans(shape))}); use rank <= "
          f"{limit} for the {len(shapes)} selected layers, or leave that layer out of the pattern.")


def select_targets(params, pattern=DEFAULT_TARGETS, rank=4):
  """The sorted paths of the Dense (2-D) and conv (4-D) kernels whose path
  ``pattern`` matches whole (re.fullmatch); biases and norm scales never.
  ConfigError when the pattern is not a regex, selects no kernel, or ``rank``
  is < 1 or larger than a selected layer allows."""
  regex = compile_pattern(pattern, "the LoRA target pattern")
  kernels = _kernels(params)
  chosen = {p: s for p, s in sorted(kernels.items()) if regex.fullmatch(p)}
  if not chosen:
    raise ConfigError(
        f"The LoRA target pattern {pattern!r} selects no Dense or conv kernel. "
        f"Kernels of this model: {examples(sorted(kernels))}. Fix the pattern: "
        "it must match whole '/'-joined paths ending in '/kernel', e.g. "
        "'.*attn.*/kernel' (the default selects attention q/k/v/out projections).")
  check_rank(rank, chosen)
  return list(chosen)


def nest(flat):
  """{'a/b/c': leaf} -> {'a': {'b': {'c': leaf}}} (the inverse of flat_leaves for dicts)."""
  tree = {}
  for path, leaf in flat.items():
    *parents, name = path.split("/")
    node = tree
    for key in parents:
      node = node.setdefault(key, {})
    node[name] = leaf
  return tree


def init_adapters(rng, params, paths, rank):
  """A float32 adapter tree (module doc) for the kernels at ``paths``: A
  [fan_in, r] kaiming-uniform with a=sqrt(5) as peft/loralib, i.e.
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)); B [r, fan_out] zeros, so ΔW = 0 (sec. 4.1)."""
  kernels = _kernels(params)
  missing = [p for p in paths if p not in kernels]
  if missing:
    raise ConfigError(f"No Dense or conv kernel at {examples(missing)}; nearest: "
                      f"{examples(nearest(missing[0], kernels))}. Use select_targets' paths.")
  check_rank(rank, {p: kernels[p] for p in paths})
  flat = {}
  for key, path in zip(jax.random.split(rng, len(paths)), sorted(paths)):
    fan_in, fan_out = fans(kernels[path])
    bound = 1.0 / math.sqrt(fan_in)
    flat[path + "/lora_A"] = jax.random.uniform(key, (fan_in, rank), jnp.float32, -bound, bound)
    flat[path + "/lora_B"] = jnp.zeros((rank, fan_out), jnp.float32)
  return nest(flat)


def entries(adapters):
  """{kernel path: {'lora_A': A, 'lora_B': B}} of an adapter tree; ConfigError if it is not one."""
  out = {}
  for path, leaf in flat_leaves(adapters).items():
    parent, _, name = path.rpartition("/")
    if name not in LEAVES or not parent:
      raise ConfigError(f"{path!r} is not a LoRA leaf: an adapter tree's leaves are "
                        f"'<kernel path>/lora_A' and '/lora_B'; build it with init_adapters.")
    out.setdefault(parent, {})[name] = leaf
  for path, pair in out.items():
    if len(pair) != 2:
      raise ConfigError(f"The adapter of {path!r} has only {list(pair)}; it needs both "
                        "lora_A and lora_B (a truncated or foreign file?).")
  return out


def check_adapters(params, adapters):
  """ConfigError naming the path when an adapter's kernel is missing from
  ``params`` or its A/B shapes do not fit the kernel (a different base model)."""
  kernels = _kernels(params)
  for path, ab in entries(adapters).items():
    if path not in kernels:
      raise ConfigError(f"LoRA adapter for {path!r}: this model has no kernel there "
                        f"(nearest: {examples(nearest(path, kernels))}); {DIFFERENT_BASE}.")
    (fan_in, fan_out), a, b = fans(kernels[path]), ab["lora_A"].shape, ab["lora_B"].shape
    if len(a) != 2 or len(b) != 2 or a[0] != fan_in or b[1] != fan_out or a[1] != b[0]:
      raise ConfigError(
          f"LoRA adapter for {path!r} has A {tuple(a)}, B {tuple(b)}, which do not fit "
          f"the kernel {kernels[path]} (A must be [{fan_in}, r], B [r, {fan_out}]); "
          f"{DIFFERENT_BASE}.")


def delta(adapter, shape, scale):
  """ΔW = scale * (A @ B) reshaped to the kernel ``shape``, float32 (eq. 3)."""
  a, b = jnp.asarray(adapter["lora_A"], jnp.float32), jnp.asarray(adapter["lora_B"], jnp.float32)
  return (scale * (a @ b)).reshape(shape)


def _summed_deltas(params, adapters_list):
  """{kernel path: Σ weight * (alpha / r) * ΔW} over entries (adapters, alpha[, weight])."""
  kernels, total = _kernels(params), {}
  for entry in adapters_list:
    if len(entry) not in (2, 3):
      raise ConfigError(f"A LoRA entry must be (adapters, alpha) or (adapters, alpha, "
                        f"weight), got a tuple of {len(entry)}.")
    adapters, alpha, weight = (*entry, 1.0)[:3]
    check_adapters(params, adapters)
    for path, ab in entries(adapters).items():
      scale = weight * alpha / ab["lora_A"].shape[1]          # alpha / r, sec. 4.1
      d = delta(ab, kernels[path], scale)
      total[path] = total[path] + d if path in total else d
  return total


def _apply(params, adapters_list, sign):
  """params with sign * Σ ΔW added to the adapted kernels (computed in float32)."""
  total = _summed_deltas(params, adapters_list)

  def add(key_path, leaf):
    path = path_string(key_path)
    if path not in total:
      return leaf
    return (jnp.asarray(leaf, jnp.float32) + sign * total[path]).astype(leaf.dtype)

  return jax.tree_util.tree_map_with_path(add, params)


def merge(params, adapters_list):
  """params with every adapted kernel W + Σ weight * (alpha / r) * ΔW; entries
  are (adapters, alpha) or (adapters, alpha, weight), r read from A. The other
  leaves are returned as they are (same objects). Nothing is mutated."""
  return _apply(params, adapters_list, 1.0)


def unmerge(params, adapters_list):
  """The inverse of ``merge``: W - Σ weight * (alpha / r) * ΔW (exact up to
  the kernel dtype's rounding)."""
  return _apply(params, adapters_list, -1.0)


def adapted(params, adapters, alpha, weight=1.0):
  """The params to run a forward pass with one adapter applied (W0 + ΔW, eq. 3);
  pure, so call it inside the jitted step and keep params and adapters apart."""
  return merge(params, [(adapters, alpha, weight)])


def num_params(adapters):
  """The number of adapter parameters (Σ r * (fan_in + fan_out))."""
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(adapters))


def nbytes(adapters):
  """The bytes the adapter arrays take."""
  return sum(math.prod(leaf.shape) * np.dtype(leaf.dtype).itemsize
             for leaf in jax.tree.leaves(adapters))


def base_fingerprint(params):
  """A short hash of a tree's leaf paths, shapes and dtypes (not values)."""
  lines = sorted(f"{p}:{tuple(leaf.shape)}:{np.dtype(leaf.dtype)}"
                 for p, leaf in flat_leaves(params).items())
  return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def lora_metadata(rank, alpha, targets, fingerprint):
  """The string metadata a LoRA file carries."""
  return {"lora_rank": str(rank), "lora_alpha": repr(float(alpha)),
          "lora_targets": targets, "base_fingerprint": fingerprint}


def check_fingerprint(metadata, expected):
  """ConfigError unless the file's 'base_fingerprint' equals ``expected``."""
  found = metadata.get("base_fingerprint")
  if found != expected:
    raise ConfigError(f"This LoRA file's base_fingerprint is {found!r}, this model's "
                      f"is {expected!r}: {DIFFERENT_BASE}.")


def export_params(path, tree, metadata=None):
  """Writes any parameter tree to a safetensors file, keys its '/'-joined leaf paths."""
  metadata = dict(metadata or {})
  bad = {k: v for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))}
  if bad:
    raise ConfigError(f"safetensors metadata must map str to str; convert {bad!r} "
                      "with str() (e.g. lora_metadata does).")
  save_file({p: np.asarray(leaf) for p, leaf in flat_leaves(tree).items()}, path, metadata=metadata)


def save_safetensors(path, adapters, metadata):
  """Writes an adapter tree and its metadata (see lora_metadata) to ``path``."""
  entries(adapters)
  export_params(path, adapters, metadata)


def load_safetensors(path):
  """(adapter tree of numpy arrays, metadata dict) read from a safetensors file."""
  with safe_open(path, framework="np") as f:
    metadata = dict(f.metadata() or {})
  adapters = nest(load_file(path))
  entries(adapters)
  return adapters, metadata
