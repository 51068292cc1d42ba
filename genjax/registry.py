"""Explicit name -> factory tables. No registration by import side effect.

Factories are named as "module:attribute" strings and imported on use, so
importing genjax stays cheap and one family's dependencies never load for
another.
"""
import collections
import importlib
import json

from genjax.errors import unknown_name

FAMILIES = {
    "autoencoder": "genjax.families.autoencoder.family:make_family",
    "autoregressive": "genjax.families.autoregressive.factory:make_family",
    "diffusion": "genjax.families.diffusion.family:make_family",
    "gan": "genjax.families.gan.family:make_family",
    "translation": "genjax.families.translation.family:make_family",
}


def _resolve(table, kind, name):
  if name not in table:
    raise unknown_name(kind, name, table)
  module, attr = table[name].split(":")
  return getattr(importlib.import_module(module), attr)


# The families built last in this process, by what they are built from: the
# same config (up to how long and how often the loop does things, which no
# family reads) over the same pinned dependencies gives the same Family
# object, so its functions -- and the programs JAX traced and compiled from
# them -- are reused by the next train / eval / sample / genjax.load.
_BUILT = collections.OrderedDict()
KEEP = 16
LOOP_ONLY = ("num_steps", "log_every", "ckpt_every", "sample_every", "eval_every")


def _built_key(config, deps):
  """What a family is built from, as a string; None (not kept) when a
  dependency carries no pin (a stand-in built by hand)."""
  if any(getattr(d, "fingerprint", None) is None for d in (deps or {}).values()):
    return None
  plain = config.to_dict()
  plain["train"] = {k: v for k, v in dict(plain.get("train") or {}).items()
                    if k not in LOOP_ONLY}
  pins = sorted((name, d.workdir, d.step, d.fingerprint, d.use_ema)
                for name, d in (deps or {}).items())
  return json.dumps([plain, pins], sort_keys=True, default=repr)


def make_family(config, deps=None):
  """The family named by ``config.family``, built from the config.

  ``deps``: ``{name: genjax.train.deps.Dependency}`` for the trained runs of
  ``config.deps`` (their configs and families, no parameters: those reach the
  family's functions as their ``frozen`` argument). The trainer resolves them
  and passes them in, so families never import the trainer above them.
  Families are pure, so one built before from the same config and pinned
  dependencies is returned again (``_BUILT``).
  """
  key = _built_key(config, deps)
  if key is not None and key in _BUILT:
    _BUILT.move_to_end(key)
    return _BUILT[key]
  family = _resolve(FAMILIES, "family", config.family)(config, deps=deps)
  if key is None:
    return family
  _BUILT[key] = family
  while len(_BUILT) > KEEP:
    _BUILT.popitem(last=False)
  return family
