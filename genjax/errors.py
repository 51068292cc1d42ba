"""Errors that genjax reports to the user as one paragraph, without a traceback.

Everything that is the user's to fix (a bad config, a missing data package,
a workdir that belongs to another experiment) raises a subclass of
``GenjaxError``; ``launch.py`` prints its message and exits with status 2.
"""


class GenjaxError(Exception):
  """Base class: a problem the user can fix; the message says how."""


class ConfigError(GenjaxError):
  """The configuration is invalid (unknown name, bad value, bad shape)."""


class DataError(GenjaxError):
  """A dataset or its offline source is missing or unusable."""


class WorkdirError(GenjaxError):
  """The workdir cannot be used (unwritable, or holds another experiment)."""


class TrainingDiverged(GenjaxError):
  """A loss or metric became NaN/inf; the last good checkpoint is kept."""


def first_line(error, limit=300):
  """``'Type: first line of its message'``: a foreign error (orbax, jax,
  requests) named inside one of genjax's paragraphs."""
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0][:limit] if text else ''}"


def did_you_mean(name, valid):
  """A short hint naming the closest valid choices to ``name``."""
  import difflib
  close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=3)
  return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def unknown_name(kind, name, valid):
  """Error for an unknown name, listing the valid ones."""
  valid = sorted(valid)
  return ConfigError(
      f"Unknown {kind} {name!r}.{did_you_mean(name, valid)} "
      f"Valid {kind} names: {', '.join(valid)}.")


def check_choice(kind, value, valid):
  """``value`` if it is one of ``valid``; else the unknown-name error listing them."""
  if value not in valid:
    raise unknown_name(kind, value, valid)
  return value
