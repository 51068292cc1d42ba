"""Explicit name -> factory tables. No registration by import side effect.

Factories are named as "module:attribute" strings and imported on use, so
importing genjax stays cheap and one family's dependencies never load for
another.
"""
import importlib

from genjax.errors import unknown_name

FAMILIES = {
    "autoencoder": "genjax.families.autoencoder.family:make_family",
    "autoregressive": "genjax.families.autoregressive.factory:make_family",
    "diffusion": "genjax.families.diffusion.family:make_family",
    "gan": "genjax.families.gan.family:make_family",
}


def _resolve(table, kind, name):
  if name not in table:
    raise unknown_name(kind, name, table)
  module, attr = table[name].split(":")
  return getattr(importlib.import_module(module), attr)


def make_family(config, deps=None):
  """The family named by ``config.family``, built from the config.

  ``deps``: ``{name: genjax.train.deps.Dependency}`` for the trained runs of
  ``config.deps`` (their configs and families, no parameters: those reach the
  family's functions as their ``frozen`` argument). The trainer resolves them
  and passes them in, so families never import the trainer above them.
  """
  return _resolve(FAMILIES, "family", config.family)(config, deps=deps)
