"""One mesh over every device: batch sharded on ``data``; the state
replicated, or its large leaves split over ``data`` or ``model`` (FSDP).

This is the current form of the pmapped data-parallel step: the same maths,
written once as a global ``jax.jit`` with in/out shardings, on one CPU, on
8 GPUs, or on a multi-host pod (each process feeds its own shard of the batch).
"""
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from genjax.errors import ConfigError

DATA_AXIS = "data"
MODEL_AXIS = "model"


HEARTBEAT_ENV = "GENJAX_HEARTBEAT_TIMEOUT_S"
DEFAULT_HEARTBEAT_TIMEOUT_S = 45


def maybe_initialize_distributed():
  """Multi-process start-up when the launcher set the usual environment.

  ``JAX_COORDINATOR_ADDRESS`` (+ ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``)
  or a SLURM / Open MPI / TPU-pod environment, which jax detects itself when
  ``GENJAX_DISTRIBUTED=1``. Single-process runs (and a second call) do
  nothing. CPU processes all-reduce over gloo. A process that stops
  answering (killed, hung) is noticed by the others' watchdogs
  (``genjax.core.peers``), and by jax within ``$GENJAX_HEARTBEAT_TIMEOUT_S``
  (45) seconds; they then exit instead of waiting on it forever.
  """
  address = os.environ.get("JAX_COORDINATOR_ADDRESS")
  if not address and os.environ.get("GENJAX_DISTRIBUTED") != "1":
    return False
  if jax.distributed.is_initialized():
    return True
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  kwargs = dict(heartbeat_timeout_seconds=int(os.environ.get(
      HEARTBEAT_ENV, DEFAULT_HEARTBEAT_TIMEOUT_S)))
  if address:
    kwargs.update(coordinator_address=address,
                  num_processes=int(os.environ.get("JAX_NUM_PROCESSES", "1")),
                  process_id=int(os.environ.get("JAX_PROCESS_ID", "0")))
  jax.distributed.initialize(**kwargs)
  return True


def make_mesh(model_parallel=1):
  """All devices as ``data`` (1-D), or ``data x model`` when
  ``model_parallel`` > 1. Auto axes (jax.make_mesh defaults to Explicit)."""
  devices = np.array(jax.devices())
  if model_parallel == 1:
    return Mesh(devices, (DATA_AXIS,))
  if model_parallel < 1 or devices.size % model_parallel:
    raise ConfigError(
        f"config.train.model_parallel={model_parallel} does not divide the "
        f"{devices.size} devices of this run; use a divisor of {devices.size}.")
  return Mesh(devices.reshape(-1, model_parallel), (DATA_AXIS, MODEL_AXIS))


def data_parallel(mesh):
  """How many ways the batch is split (the ``data`` axis)."""
  return mesh.shape[DATA_AXIS]


SHARD_PARAMS = ("none", "data", "model")


def leaf_spec(shape, axis, ways, min_size):
  """``P`` splitting the largest dimension of ``shape`` that ``ways``
  divides over ``axis``, for a leaf of at least ``min_size`` elements;
  ``P()`` (replicated) otherwise."""
  if ways == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
    return P()
  fits = [d for d in range(len(shape)) if shape[d] % ways == 0]
  if not fits:
    return P()
  d = max(fits, key=lambda i: (shape[i], -i))
  return P(*([None] * d + [axis]))


def state_shardings(tree, mesh, shard_params="none", min_size=1 << 18):
  """A ``NamedSharding`` per leaf of ``tree`` (arrays or ShapeDtypeStructs):
  replicated, or split over the ``shard_params`` axis (``leaf_spec``)."""
  if shard_params not in SHARD_PARAMS:
    raise ConfigError(f"config.train.shard_params must be one of "
                      f"{', '.join(SHARD_PARAMS)}, got {shard_params!r}.")
  if shard_params == "none":
    return jax.tree.map(lambda _: replicated(mesh), tree)
  if shard_params not in mesh.axis_names:
    raise ConfigError(
        "config.train.shard_params='model' needs a model axis: set "
        "config.train.model_parallel > 1 (or shard over 'data').")
  ways = mesh.shape[shard_params]
  return jax.tree.map(lambda x: NamedSharding(
      mesh, leaf_spec(tuple(x.shape), shard_params, ways, min_size)), tree)


def replicated(mesh):
  return NamedSharding(mesh, P())


def batch_sharding(mesh):
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(global_batch, mesh, what="config.train.batch_size"):
  n = data_parallel(mesh)
  if global_batch % n:
    raise ConfigError(
        f"{what}={global_batch} does not split evenly over the {n} "
        f"data-parallel devices of this run; use a multiple of {n}.")
  if global_batch % jax.process_count():
    raise ConfigError(f"{what}={global_batch} is not divisible by the "
                      f"{jax.process_count()} processes.")


def to_global(local_batch, mesh):
  """Host-local numpy batch (this process's shard) -> global sharded arrays.
  Text fields (a ``caption``: bytes or str) stay on the host: a jitted step
  cannot take them (their ``tokens`` travel instead)."""
  sharding = batch_sharding(mesh)
  arrays = {k: np.asarray(v) for k, v in local_batch.items()}
  return {k: jax.make_array_from_process_local_data(sharding, v)
          for k, v in arrays.items() if v.dtype.kind not in "SUO"}


def replicate_abstract(tree, mesh, shardings=None):
  """ShapeDtypeStructs of ``tree`` with replicated sharding, or with
  ``shardings`` (a matching tree; for restore)."""
  if shardings is None:
    shardings = jax.tree.map(lambda _: replicated(mesh), tree)
  return jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree,
      shardings)
