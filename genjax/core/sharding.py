"""One mesh over every device: batch sharded on ``data``, parameters replicated.

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


def maybe_initialize_distributed():
  """Multi-host start-up when the launcher set the usual environment.

  ``JAX_COORDINATOR_ADDRESS`` (+ ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``)
  or a SLURM / Open MPI / TPU-pod environment, which jax detects itself when
  ``GENJAX_DISTRIBUTED=1``. Single-process runs do nothing.
  """
  if os.environ.get("JAX_COORDINATOR_ADDRESS"):
    jax.distributed.initialize(
        coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
        num_processes=int(os.environ.get("JAX_NUM_PROCESSES", "1")),
        process_id=int(os.environ.get("JAX_PROCESS_ID", "0")))
  elif os.environ.get("GENJAX_DISTRIBUTED") == "1":
    jax.distributed.initialize()


def make_mesh():
  # Auto axes (jax.make_mesh now defaults to Explicit ones).
  return Mesh(np.array(jax.devices()), (DATA_AXIS,))


def replicated(mesh):
  return NamedSharding(mesh, P())


def batch_sharding(mesh):
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(global_batch, mesh, what="config.train.batch_size"):
  n = mesh.devices.size
  if global_batch % n:
    raise ConfigError(
        f"{what}={global_batch} does not split evenly over the {n} devices "
        f"of this run; use a multiple of {n}.")
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


def replicate_abstract(tree, mesh):
  """ShapeDtypeStructs of ``tree`` with replicated sharding (for restore)."""
  rep = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), tree)
