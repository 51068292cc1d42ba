"""Another run's trained state, for models built on models (classifier
guidance today; latent diffusion and priors over codes later)."""
import json
import os

import jax
import ml_collections

from genjax import registry
from genjax.errors import WorkdirError
from genjax.families.base import example_batch
from genjax.train import checkpoint as ckpt_lib
from genjax.core import sharding as shard_lib
from genjax.train import workdir as workdir_lib


def load_run(workdir, what="run"):
  """(config, family, state, step) of the latest checkpoint in ``workdir``.

  The config is the run's own ``config.json``; the state is restored
  replicated over this process's devices. ``what`` names the run in errors.
  """
  path = workdir_lib.config_path(workdir)
  if not os.path.exists(path):
    raise WorkdirError(f"The {what} {workdir!r} is not a genjax workdir (no "
                       "config.json); train it first and pass its --workdir.")
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  family = registry.make_family(config, runs=load_run)
  ckpt = ckpt_lib.Checkpointer(workdir)
  step = ckpt.latest_step()
  if step is None:
    raise WorkdirError(f"The {what} {workdir!r} has no checkpoint yet; train it "
                       "first.")
  mesh = shard_lib.make_mesh()
  shapes = jax.eval_shape(family.init, jax.random.PRNGKey(0),
                          example_batch(tuple(config.model.image_shape)))
  state = ckpt.restore(shard_lib.replicate_abstract(shapes, mesh), step)
  ckpt.close()
  return config, family, state, step
