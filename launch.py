"""Launches a genjax experiment.

  python launch.py --config experiments/autoencoder/vae_mnist.py \
      --workdir runs/vae_mnist [--mode train|eval|sample] [--config.a.b=value]

Append ``:smoke`` to the config path for a run of seconds. Re-running the same
command resumes from the workdir's latest checkpoint.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

config_flags.DEFINE_config_file(
    "config", None, "Experiment file experiments/<family>/<name>.py[:ARG].",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (created; resumed if it exists).")
flags.DEFINE_enum("mode", "train", ["train", "eval", "sample"], "What to do.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    print(f"genjax: error: unexpected arguments {argv[1:]}; flags look like "
          "--config.train.num_steps=100.", file=sys.stderr)
    sys.exit(2)
  from genjax.main import main_with_errors
  main_with_errors(flags.FLAGS.config, flags.FLAGS.workdir, flags.FLAGS.mode)


if __name__ == "__main__":
  app.run(main)
