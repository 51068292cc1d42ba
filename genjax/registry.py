"""Explicit name -> factory tables. No registration by import side effect.

Factories are named as "module:attribute" strings and imported on use, so
importing genjax stays cheap and one family's dependencies never load for
another.
"""
import importlib

from genjax.errors import unknown_name

FAMILIES = {
    "autoencoder": "genjax.families.autoencoder.family:make_family",
    "autoregressive": "genjax.families.autoregressive.family:make_family",
    "diffusion": "genjax.families.diffusion.family:make_family",
    "gan": "genjax.families.gan.family:make_family",
}


def _resolve(table, kind, name):
  if name not in table:
    raise unknown_name(kind, name, table)
  module, attr = table[name].split(":")
  return getattr(importlib.import_module(module), attr)


def make_family(config, runs=None):
  """The family named by ``config.family``, built from the config.

  ``runs``: the loader of other trained runs, ``runs(workdir, what) ->
  (config, family, state, step)``, that the trainer hands to families built
  on trained models (``genjax.train.restore.load_run``). It is passed in, not
  imported, so families never import the trainer that sits above them.
  """
  return _resolve(FAMILIES, "family", config.family)(config, runs=runs)
