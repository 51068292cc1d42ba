"""The train step's numerics and memory policies: compute dtype and rematerialisation.

**Mixed precision** (``config.train.compute_dtype``: 'float32' | 'bfloat16').
Micikevicius et al. (2018), "Mixed Precision Training": activations, matmuls
and convolutions run in the low precision while a float32 master copy of the
weights takes the updates. Here the parameters, optimiser state, EMA and the
losses' reductions stay float32; ``mixed_precision_loss`` wraps a family's
loss so that

  1. the floating parameters are cast to the compute dtype inside the
     differentiated function (the gradient of ``astype`` is the cast back, so
     the gradients reach the float32 masters as float32);
  2. every flax module method called while the loss runs casts its floating
     array arguments to the compute dtype (``autocast``, a flax method
     interceptor), so a module with ``dtype=None`` computes in it: ``nn.Dense``
     and ``genjax.nn.Conv`` in ``result_type(x, kernel)``, GroupNorm/LayerNorm
     with their statistics in float32 (flax's default) and their output in
     bfloat16;
  3. the outermost module call's floating outputs are cast back to float32,
     so everything the loss does with the model's output (likelihoods, MSE,
     means over the batch) is float32.

No family's loss changes: the model boundary is found by the interceptor.
bfloat16 keeps float32's exponent range, so no loss scaling is needed (their
sec. 3.2 is for float16). What stays float32: frozen dependencies' parameters
(a consumer's ``frozen`` bundles; their modules compute in float32 by
promotion), the model's state (e.g. code statistics) and whatever a loss
computes outside the model (noise, schedules, targets).

**Rematerialisation** (``config.model.remat``: block kinds, e.g.
``('ResBlock', 'SelfAttention')``). Chen et al. (2016), "Training Deep Nets
with Sublinear Memory Cost": a checkpointed block keeps only its inputs for
the backward pass and recomputes its activations there, trading one more
forward of the block for its activation memory. ``rematerialised`` gives the
``flax.linen.remat`` twin of a block class; the block keeps its name, so the
parameter paths (and checkpoints) do not change.
"""
import contextlib
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError, unknown_name

COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
COMPUTE_DTYPE_FIELD = "config.train.compute_dtype"
REMAT_FIELD = "config.model.remat"


def compute_dtype(name):
  """The jnp dtype of a ``compute_dtype`` name; a ConfigError naming the valid ones."""
  if not isinstance(name, str) or name not in COMPUTE_DTYPES:
    raise unknown_name(COMPUTE_DTYPE_FIELD, name, tuple(COMPUTE_DTYPES))
  return COMPUTE_DTYPES[name]


def read_compute_dtype(config):
  """The compute dtype of ``config.train.compute_dtype`` (checked).

  The default lives in ``genjax/config.py:base_config``; a run's config.json
  written before the field existed lacks it and ran in float32.
  """
  return compute_dtype(config.train.get("compute_dtype", "float32"))


def require_float32(dtype, who):
  """ConfigError unless ``dtype`` is float32: ``who`` has no mixed-precision step."""
  if jnp.dtype(dtype) != jnp.float32:
    raise ConfigError(
        f"{COMPUTE_DTYPE_FIELD}={jnp.dtype(dtype).name!r}: {who} has no "
        "mixed-precision step yet; set it to 'float32'.")


def _is_floating(x):
  return isinstance(x, (jax.Array, jnp.ndarray)) and jnp.issubdtype(x.dtype, jnp.floating)


def cast_floating(tree, dtype):
  """``tree`` with its floating array leaves cast to ``dtype`` (others untouched)."""
  return jax.tree.map(lambda x: x.astype(dtype) if _is_floating(x) else x, tree)


@contextlib.contextmanager
def autocast(dtype):
  """While active (at trace time), every flax module method casts its
  floating array arguments to ``dtype``, and the outermost call's floating
  outputs come back as float32."""
  depth = [0]

  def interceptor(next_fun, args, kwargs, context):
    del context
    args, kwargs = cast_floating((args, kwargs), dtype)
    depth[0] += 1
    try:
      out = next_fun(*args, **kwargs)
    finally:
      depth[0] -= 1
    return cast_floating(out, jnp.float32) if depth[0] == 0 else out

  with nn.intercept_methods(interceptor):
    yield


def mixed_precision_loss(loss_fn, dtype):
  """``loss_fn(params, model_state, batch, rng, *frozen)`` with its model run
  in ``dtype`` (the module docstring): params cast inside, model outputs
  float32. float32 returns ``loss_fn`` itself (the same program)."""
  if jnp.dtype(dtype) == jnp.float32:
    return loss_fn

  def wrapped(params, *args):
    with autocast(dtype):
      return loss_fn(cast_floating(params, dtype), *args)

  return wrapped


def read_remat(config, valid, model):
  """``config.model.remat`` as a tuple of block kinds, each one of ``valid``
  (the kinds ``model`` can rematerialise); a ConfigError names them.

  A config.json written before the field existed lacks it: no remat.
  """
  kinds = config.model.get("remat", ())
  if isinstance(kinds, str) or not isinstance(kinds, (tuple, list)):
    raise ConfigError(f"{REMAT_FIELD} must be a tuple of block kinds, e.g. "
                      f"{tuple(valid)[:1]!r} or (), got {kinds!r}.")
  kinds = tuple(kinds)
  for kind in kinds:
    if kind not in valid:
      if not valid:
        raise ConfigError(
            f"{REMAT_FIELD}={kinds!r}: {model} has no blocks to rematerialise; "
            "leave it empty (the diffusion U-Net and PixelCNN++ have some).")
      raise unknown_name(f"{REMAT_FIELD} block kind for {model}", kind, tuple(valid))
  return kinds


@functools.lru_cache(maxsize=None)
def _remat_class(cls, static_argnums):
  return nn.remat(cls, static_argnums=static_argnums)


def rematerialised(cls, kinds, static_argnums=()):
  """``cls`` itself, or its ``nn.remat`` twin when its name is in ``kinds``.

  ``static_argnums`` count ``self`` as 0 (flax's convention for lifted
  modules): the Python flags of ``__call__`` (``train``) must be passed
  positionally there.
  """
  if cls.__name__ not in kinds:
    return cls
  return _remat_class(cls, tuple(static_argnums))
