"""Autoregressive sampling speed of any autoregressive experiment: the naive
sampler (the whole network re-run for every pixel, one jitted ``fori_loop``)
and, for the Gated PixelCNN, its row-cached generator on the same network
and random draws, with the speed-up.

    python benchmarks/ar_sampling.py --config experiments/autoregressive/gated_pixelcnn_mnist.py \
        [--workdir runs/gated_pixelcnn_mnist] [--batch 64] [--repeats 2]

Without --workdir the network has its initial parameters (speed does not
depend on them). Each timing is the median of --repeats runs after one
compile run, blocking on the result; the samples of the two samplers are
compared (they must be identical). Networks without a cached generator time
the naive sampler only.
"""
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from genjax import registry  # noqa: E402
from genjax.families.autoregressive.family import has_row_cache, network_class  # noqa: E402
from genjax.families.base import example_batch  # noqa: E402

config_flags.DEFINE_config_file("config", None, "Autoregressive experiment file.",
                                lock_config=False)
flags.DEFINE_string("workdir", "", "Trained run (default: initial parameters).")
flags.DEFINE_integer("batch", 64, "Images per sampler call.")
flags.DEFINE_integer("repeats", 2, "Timed runs per figure (median).")
flags.mark_flags_as_required(["config"])
FLAGS = flags.FLAGS


def timed(fn, repeats):
  t0 = time.perf_counter()
  out = jax.block_until_ready(fn())   # compile + first run
  first = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    times.append(time.perf_counter() - t0)
  return out, statistics.median(times), first


def main(_):
  config = FLAGS.config
  if FLAGS.workdir:
    from genjax.train.restore import load_run
    state = load_run(FLAGS.workdir).state
  else:
    family = registry.make_family(config)
    state = jax.jit(family.init)(jax.random.PRNGKey(0),
                                 example_batch(config.model.image_shape))
  rng = jax.random.PRNGKey(1)
  result = {"args": " ".join(sys.argv[1:]), "batch": FLAGS.batch,
            "device": jax.devices()[0].device_kind}
  samples = {}
  has_cache = has_row_cache(network_class(config.model.name))
  for cached in ((True, False) if has_cache else (False,)):
    config.sample.cached = cached
    family = registry.make_family(config)
    fn = jax.jit(family.sample, static_argnums=2)
    out, sec, first = timed(lambda: fn(state, rng, FLAGS.batch), FLAGS.repeats)
    key = "cached" if cached else "naive"
    samples[key] = np.asarray(out)
    result[f"{key}_s"] = round(sec, 3)
    result[f"{key}_img_per_s"] = round(FLAGS.batch / sec, 3)
    result[f"{key}_compile_and_first_s"] = round(first, 2)
    print(json.dumps({key: result[f"{key}_s"]}), flush=True)
  if has_cache:
    result["speedup"] = round(result["naive_s"] / result["cached_s"], 2)
    result["max_abs_diff"] = float(np.max(np.abs(samples["cached"] - samples["naive"])))
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
