"""genjax: generative image models in JAX/Flax under one trainer."""

__version__ = "0.1.0"


def load(workdir, step=None):
  """A trained run as a Python object (``genjax.api.Run``): its config, step,
  exported functions and ``sample(num, seed=..., cond=...)``."""
  from genjax import api
  return api.load(workdir, step)
