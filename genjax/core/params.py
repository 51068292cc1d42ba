"""Parameter paths: naming, matching and copying the leaves of parameter trees.

A leaf's path is its flax path joined by '/', e.g. ``'Dense_0/kernel'`` or
``'down_0/ResBlock_0/Conv_0/kernel'`` for a tree of ``variables['params']``
(dict keys as they are, list indices as numbers). Patterns are Python regular
expressions matched against the whole path (``re.fullmatch``): ``'Dense_0/.*'``
is every leaf under ``Dense_0``, ``'.*bias'`` every bias, ``'Dense_0'`` alone
matches nothing (it names a subtree, not a leaf).

Used by the optimiser's trainable groups (``genjax.core.optim``) and by
``init_from`` (initialising a run from another run's parameters:
``copy_matching``). Everything here works on arrays and on
``jax.ShapeDtypeStruct`` leaves alike, so the checks run at start-up under
``jax.eval_shape``.
"""
import difflib
import re

import jax
import numpy as np

from genjax.errors import ConfigError

NUM_EXAMPLES = 5   # paths named in an error message


def path_string(key_path):
  """The '/'-joined path of a ``jax.tree_util`` key path."""
  return jax.tree_util.keystr(key_path, simple=True, separator="/")


def flat_leaves(tree):
  """``{path: leaf}`` of every leaf of ``tree``, in ``jax.tree.leaves`` order."""
  pairs, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {path_string(kp): leaf for kp, leaf in pairs}


def leaf_paths(tree):
  """The '/'-joined paths of the leaves of ``tree`` (``jax.tree.leaves`` order)."""
  return list(flat_leaves(tree))


def compile_pattern(pattern, where):
  """``pattern`` compiled; a ConfigError naming ``where`` (the config field)
  when it is not a string or not a regular expression."""
  if not isinstance(pattern, str):
    raise ConfigError(f"{where} must be a regular expression (a string), got "
                      f"{pattern!r}.")
  try:
    return re.compile(pattern)
  except re.error as e:
    raise ConfigError(f"{where} = {pattern!r} is not a valid regular "
                      f"expression ({e}); fix the pattern (Python re syntax, "
                      "matched against the whole '/'-joined path).") from None


def match_paths(tree, pattern):
  """The paths of ``tree`` that ``pattern`` (a regex) matches whole (re.fullmatch)."""
  regex = compile_pattern(pattern, "the pattern")
  return [p for p in leaf_paths(tree) if regex.fullmatch(p)]


def examples(paths, num=NUM_EXAMPLES):
  """A few paths for an error message: 'a', 'b', ... (+N more)."""
  paths = list(paths)
  shown = ", ".join(repr(p) for p in paths[:num])
  more = f" (+{len(paths) - num} more)" if len(paths) > num else ""
  return (shown + more) if paths else "(none: the tree has no leaves)"


def nearest(path, candidates, num=3):
  """The candidates closest to ``path`` by spelling (the first few if none is close)."""
  close = difflib.get_close_matches(path, list(candidates), n=num, cutoff=0.3)
  return close or list(candidates)[:num]


def _shape_dtype(leaf):
  """(shape, dtype) of an array, a ShapeDtypeStruct or a Python number."""
  if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
    return tuple(leaf.shape), np.dtype(leaf.dtype)
  arr = np.asarray(leaf)
  return arr.shape, arr.dtype


def _selected(src_paths, include, exclude):
  """The source paths matching ``include`` and not ``exclude``; ConfigErrors
  when either pattern selects nothing (a typo would otherwise copy nothing,
  or everything, silently)."""
  inc = compile_pattern(include, "init_from include")
  hits = [p for p in src_paths if inc.fullmatch(p)]
  if not hits:
    raise ConfigError(
        f"The include pattern {include!r} matches no parameter of the source "
        f"run (patterns match whole '/'-joined paths). Its paths: "
        f"{examples(src_paths)}. Fix the pattern, e.g. 'encoder/.*'.")
  if not exclude:
    return hits
  exc = compile_pattern(exclude, "init_from exclude")
  kept = [p for p in hits if not exc.fullmatch(p)]
  if len(kept) == len(hits):
    raise ConfigError(
        f"The exclude pattern {exclude!r} matches none of the {len(hits)} "
        f"included paths ({examples(hits)}); fix it, or leave it '' to "
        "exclude nothing.")
  return kept


def _check_present(paths, dst_paths):
  """ConfigError listing the selected source paths the destination lacks."""
  dst_set = set(dst_paths)
  missing = [p for p in paths if p not in dst_set]
  if missing:
    raise ConfigError(
        f"{len(missing)} of the {len(paths)} parameters selected to copy are "
        f"not in the model being initialised: {examples(missing)}. Nearest "
        f"paths it has: {examples(nearest(missing[0], dst_paths))}. Narrow "
        "the include pattern, or add an exclude pattern for them.")


def _check_shapes(paths, dst, src):
  """ConfigError naming the first path whose shape or dtype differs."""
  for p in paths:
    (d_shape, d_dtype), (s_shape, s_dtype) = _shape_dtype(dst[p]), _shape_dtype(src[p])
    if d_shape != s_shape or d_dtype != s_dtype:
      raise ConfigError(
          f"Cannot copy parameter {p!r}: the source has shape {s_shape} "
          f"{s_dtype}, the model being initialised {d_shape} {d_dtype}. The "
          "two architectures differ there; exclude the path (e.g. "
          f"exclude={re.escape(p)!r}) or match the model's config.")


def copy_paths(dst, src, include=".*", exclude=""):
  """The paths ``copy_matching(dst, src, include, exclude)`` copies, in
  ``dst``'s leaf order, after its checks (see there). For the log line
  "copied N of M leaves": N = len(copy_paths(...)), M = len(leaf_paths(dst))."""
  dst_flat, src_flat = flat_leaves(dst), flat_leaves(src)
  chosen = _selected(list(src_flat), include, exclude)
  _check_present(chosen, list(dst_flat))
  _check_shapes(chosen, dst_flat, src_flat)
  chosen = set(chosen)
  return [p for p in dst_flat if p in chosen]


def copy_matching(dst, src, include=".*", exclude=""):
  """``dst`` with every leaf of ``src`` whose path matches ``include`` and not
  ``exclude`` (regexes, re.fullmatch; ``exclude=''`` excludes nothing) copied
  to the same path; the other leaves of ``dst`` (its fresh initialisation)
  are kept as they are. Returns a new tree of ``dst``'s structure; neither
  input is changed. Source leaves are copied as they are (same object).

  ConfigError at start-up, naming the paths, when: ``include`` matches no
  leaf of ``src``; ``exclude`` (if given) removes none of them; a selected
  source path is missing from ``dst`` (a few are listed, with the nearest
  paths ``dst`` has); a selected leaf's shape or dtype differs (the path and
  both shapes). ``copy_paths`` gives the list of copied paths.
  """
  chosen = set(copy_paths(dst, src, include, exclude))
  src_flat = flat_leaves(src)

  def pick(key_path, leaf):
    path = path_string(key_path)
    return src_flat[path] if path in chosen else leaf

  return jax.tree_util.tree_map_with_path(pick, dst)
