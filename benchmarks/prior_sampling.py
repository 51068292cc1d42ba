"""Sampling speed of a prior over VQ-VAE codes (prior + decoder) against a
pixel-level autoregressive model, images per second on this machine.

    python benchmarks/prior_sampling.py --prior runs/vq_prior_mnist \
        --pixel experiments/autoregressive/gated_pixelcnn_mnist.py \
        [--num 100] [--repeats 2] [--out benchmarks/results/prior_sampling_cpu.json]

``--prior`` is a trained prior's workdir (its VQ-VAE is restored from the
pins in its config.json); ``--pixel`` an experiment file whose model is
timed with its initial parameters (speed does not depend on them). Both
draw ``--num`` class-balanced samples per call with the family's own
``sample`` (the row-cached generator for Gated PixelCNNs), jitted; each
figure is the median of ``--repeats`` calls after a compile call, blocking
on the result.
"""
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_string("prior", None, "Workdir of a trained prior over codes.")
flags.DEFINE_string("pixel", None, "Experiment file of a pixel-level model.")
flags.DEFINE_integer("num", 100, "Samples per call.")
flags.DEFINE_integer("repeats", 2, "Timed calls per figure (median).")
flags.DEFINE_string("out", "", "JSON file for the figures (default: print only).")
flags.mark_flags_as_required(["prior", "pixel"])
FLAGS = flags.FLAGS


def images_per_second(sample, num, repeats):
  """(images/s, compile-and-first-call seconds) of ``sample(rng)``."""
  t0 = time.perf_counter()
  jax.block_until_ready(sample(jax.random.PRNGKey(0)))
  first = time.perf_counter() - t0
  times = []
  for i in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(sample(jax.random.PRNGKey(i + 1)))
    times.append(time.perf_counter() - t0)
  return num / statistics.median(times), first


def prior_sampler(workdir, num):
  from genjax.train.restore import load_run
  run = load_run(workdir)
  fn = jax.jit(run.fam.sample, static_argnums=2)
  return (lambda rng: fn(run.state, rng, num, None, run.frozen)), run.config


def pixel_sampler(path, num):
  from genjax import registry
  from genjax.families.base import example_batch
  from benchmarks.memory import load_config
  config = load_config(path)
  fam = registry.make_family(config)
  state = fam.init(jax.random.PRNGKey(0), example_batch(tuple(config.model.image_shape)))
  fn = jax.jit(fam.sample, static_argnums=2)
  return (lambda rng: fn(state, rng, num, None)), config


def main(_):
  rows = []
  for kind, (sample, config) in (("prior+decoder", prior_sampler(FLAGS.prior, FLAGS.num)),
                                 ("pixel", pixel_sampler(FLAGS.pixel, FLAGS.num))):
    speed, first = images_per_second(sample, FLAGS.num, FLAGS.repeats)
    rows.append({"kind": kind, "model": config.model.name,
                 "image_shape": list(config.model.image_shape),
                 "net": dict(config.model.net), "images_per_s": round(speed, 2),
                 "first_call_s": round(first, 2)})
    print(json.dumps(rows[-1]))
  result = {"machine": f"{os.cpu_count()}-core {platform.machine()} CPU",
            "command": "python " + " ".join(sys.argv), "num": FLAGS.num,
            "rows": rows, "speedup": round(rows[0]["images_per_s"]
                                           / rows[1]["images_per_s"], 1)}
  print("speed-up of the prior + decoder:", result["speedup"])
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  app.run(main)
