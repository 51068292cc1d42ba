"""Diffusion sampling speed: the jitted whole-loop samplers, and the same DDIM
run as a per-step Python loop calling a jitted model (the way the diffusers
pipelines sample), with the largest difference between their samples.

    python benchmarks/sampling.py --config experiments/diffusion/ddpm_mnist.py \
        [--workdir runs/ddpm_mnist] [--batch 64] [--ddpm_batch 8]

Without --workdir the model has random parameters (speed does not depend on
them). Each timing is the median of --repeats runs after one compile run,
blocking on the result.
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
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from genjax.core.state import eval_params  # noqa: E402
from genjax.families.diffusion.settings import read_settings  # noqa: E402
from genjax.families.diffusion import samplers  # noqa: E402
from genjax.families.diffusion import schedules as sch  # noqa: E402
from genjax.families.diffusion.unet import UNet  # noqa: E402

config_flags.DEFINE_config_file("config", None, "Diffusion experiment file.",
                                lock_config=True)
flags.DEFINE_string("workdir", "", "Trained run (default: random parameters).")
flags.DEFINE_integer("batch", 64, "Images per DDIM-50 call.")
flags.DEFINE_integer("ddpm_batch", 8, "Images per DDPM-1000 call.")
flags.DEFINE_integer("repeats", 3, "Timed runs per figure (median).")
flags.mark_flags_as_required(["config"])
FLAGS = flags.FLAGS


def timed(fn, repeats):
  out = jax.block_until_ready(fn())   # compile + first run
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    times.append(time.perf_counter() - t0)
  return out, statistics.median(times)


def main(_):
  config = FLAGS.config
  settings = read_settings(config)
  model = UNet(**settings.unet, num_classes=settings.num_classes or None)
  if FLAGS.workdir:
    from genjax.train.restore import load_run
    state = load_run(FLAGS.workdir).state
    params = eval_params(state, settings.use_ema)
  else:
    x = jnp.zeros((1,) + settings.image_shape)
    params = model.init(jax.random.PRNGKey(0), x, jnp.zeros((1,), jnp.int32))["params"]
  model_fn = jax.jit(lambda x, t: model.apply({"params": params}, x, t))
  rng = jax.random.PRNGKey(0)
  rows = {}

  ddim = sch.make_schedule(settings.schedule, settings.timesteps, 50)
  shape = (FLAGS.batch,) + settings.image_shape
  whole = jax.jit(lambda r: samplers.ddim_sample(ddim, model_fn, r, shape, settings.prediction,
                                                 0.0, settings.clip_x0))
  x_jit, t_jit = timed(lambda: whole(rng), FLAGS.repeats)
  rows["ddim50_jitted_images_per_sec"] = FLAGS.batch / t_jit

  def python_loop():
    x = jax.random.normal(jax.random.fold_in(rng, ddim.num_timesteps), shape)
    for i in reversed(range(ddim.num_timesteps)):
      t = jnp.full((FLAGS.batch,), i, jnp.int32)
      out = model_fn(x, ddim.timesteps[t])
      x = samplers.ddim_step(ddim, x, i, out, settings.prediction, 0.0, settings.clip_x0,
                             jnp.zeros_like(x))
    return x

  x_py, t_py = timed(python_loop, FLAGS.repeats)
  rows["ddim50_python_loop_images_per_sec"] = FLAGS.batch / t_py
  rows["ddim50_speedup_of_jitted_loop"] = t_py / t_jit
  rows["ddim50_max_abs_diff"] = float(jnp.max(jnp.abs(x_jit - x_py)))

  base = sch.make_schedule(settings.schedule, settings.timesteps)
  dshape = (FLAGS.ddpm_batch,) + settings.image_shape
  ddpm = jax.jit(lambda r: samplers.ddpm_sample(base, model_fn, r, dshape, settings.prediction,
                                                settings.variance, settings.clip_x0))
  _, t_ddpm = timed(lambda: ddpm(rng), max(1, FLAGS.repeats - 2))
  rows[f"ddpm{settings.timesteps}_jitted_images_per_sec"] = FLAGS.ddpm_batch / t_ddpm
  rows.update(batch=FLAGS.batch, ddpm_batch=FLAGS.ddpm_batch,
              device=f"{jax.device_count()}x {jax.devices()[0].device_kind}",
              params="trained" if FLAGS.workdir else "random")
  for k, v in rows.items():
    print(f"{k:>36}: {v:.4g}" if isinstance(v, float) else f"{k:>36}: {v}")
  print(json.dumps(rows))


if __name__ == "__main__":
  app.run(main)
