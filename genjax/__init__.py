"""genjax: generative image models in JAX/Flax under one trainer."""

__version__ = "0.1.0"
