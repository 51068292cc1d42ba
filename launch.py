"""Launches a genjax experiment.

  python launch.py --config experiments/autoencoder/vae_mnist.py \
      --workdir runs/vae_mnist [--mode train|eval|sample] [--config.a.b=value]
      [--force_unlock]

Append ``:smoke`` to the config path for a run of seconds. Re-running the same
command resumes from the workdir's latest checkpoint.
"""
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# XLA's persistent compilation cache: a resumed or repeated run loads its
# compiled steps instead of compiling them again. JAX_COMPILATION_CACHE_DIR=
# (empty) turns it off; JAX reads both variables when it is imported.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    os.environ.get("GENJAX_CACHE_DIR") or os.path.expanduser("~/.cache/genjax"), "xla"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1.0")

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

config_flags.DEFINE_config_file(
    "config", None, "Experiment file experiments/<family>/<name>.py[:ARG].",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it exists).")
flags.DEFINE_enum("mode", "train", ["train", "eval", "sample"], "What to do.")
flags.DEFINE_bool("force_unlock", False, "Take the workdir's training lock "
                  "from a holder that cannot be checked (another host's, or "
                  "one known to be gone). Never while that run is alive.")
flags.mark_flags_as_required(["config", "workdir"])


def _check_config_file(argv):
  """A missing experiment file is named, with the ones that exist."""
  from genjax.errors import ConfigError
  for i, a in enumerate(argv):
    value = a.split("=", 1)[1] if a.startswith("--config=") else (
        argv[i + 1] if a == "--config" and i + 1 < len(argv) else None)
    if value is None:
      continue
    path = value.split(":", 1)[0]
    if not os.path.isfile(path):
      root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "experiments")
      known = sorted(os.path.relpath(os.path.join(d, f))
                     for d, _, fs in os.walk(root) for f in fs
                     if f.endswith(".py") and not f.startswith("_"))
      raise ConfigError(f"No experiment file {path!r}. Experiments: "
                        f"{', '.join(known)}.")


def parse_flags(argv):
  """absl flag parsing, with config and override errors as one paragraph."""
  from genjax.errors import GenjaxError
  try:
    _check_config_file(argv)
    return flags.FLAGS(argv)
  except GenjaxError as e:
    message = str(e)
  except flags.Error as e:
    message = f"{e}. Usage: python launch.py --config FILE[:smoke] --workdir DIR [--mode train|eval|sample] [--config.a.b=value]"
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    text = " ".join(str(e).replace("\\n", " ").replace("\\'", "'").split())
    hint = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', text)
    if hint:
      text = f"no field {hint.group(2)!r}; did you mean {hint.group(1)!r}?"
    message = (f"A --config override does not fit the experiment's config: "
               f"{text} Fields are spelt as in the experiment file (its "
               "get_config) and genjax/config.py.")
  print(f"genjax: error: {message}", file=sys.stderr)
  sys.exit(2)


def main(argv):
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # orbax and tfds are chatty at INFO
  if len(argv) > 1:
    print(f"genjax: error: unexpected arguments {argv[1:]}; flags look like "
          "--config.train.num_steps=100.", file=sys.stderr)
    sys.exit(2)
  from genjax.main import main_with_errors
  main_with_errors(flags.FLAGS.config, flags.FLAGS.workdir, flags.FLAGS.mode,
                   force_unlock=flags.FLAGS.force_unlock)


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
