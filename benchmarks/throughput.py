"""Compile time, steady-state train images/s and FLOP utilisation of any experiment.

  python benchmarks/throughput.py --config experiments/autoencoder/vae_mnist.py
  python benchmarks/throughput.py --config experiments/autoencoder/vae_mnist.py \
      --config.train.batch_size=256 --windows=7 --window_steps=50

Measures, on whatever devices jax sees:
- compile time of the jitted train step (lower + compile);
- steady-state train images/s: the median over ``--windows`` timed windows of
  ``--window_steps`` steps each, blocking on the results at the end of each
  window, with batches already on the device (``step``), and again with the
  input pipeline in the loop (``with_data``);
- achieved FLOP/s: XLA's cost analysis of the compiled step (FLOPs per step;
  convs counted as XLA's own, since custom calls count nothing: see
  ``xla_conv_flops``) divided by the measured step time, as a fraction of
  this machine's peak matmul FLOP/s (a jitted float32 matmul, timed the
  same way).
Prints a table and one JSON line (``--json`` to print only that).
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

config_flags.DEFINE_config_file("config", None, "Experiment file.",
                                lock_config=True)
flags.DEFINE_integer("windows", 5, "Timed windows (the median is reported).")
flags.DEFINE_integer("window_steps", 30, "Train steps per timed window.")
flags.DEFINE_integer("matmul_size", 2048, "Square matmul size for the peak FLOP/s.")
flags.DEFINE_bool("json", False, "Print only the JSON line.")
flags.mark_flags_as_required(["config"])
FLAGS = flags.FLAGS


def median_time(fn, windows, sync):
  times = []
  for _ in range(windows):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(sync(out))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def peak_matmul_flops(n, windows=5, reps=10):
  """float32 matmul FLOP/s of this machine: 2 n^3 per product."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  jax.block_until_ready(f(a))

  def run():
    y = a
    for _ in range(reps):
      y = f(a)
    return y

  return 2.0 * n ** 3 * reps / median_time(run, windows, lambda y: y)


def step_flops(compiled):
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return float((cost or {}).get("flops", float("nan")))


def xla_conv_flops(make_step, *args):
  """XLA's FLOP count of the step with every conv as XLA's own (the same maths).

  XLA's cost analysis counts nothing inside custom calls, so a step whose
  convs are genjax's CPU kernels ('blas') is counted as if they were
  ``lax.conv_general_dilated``: a fresh jit of the step (``make_step()``, so
  no cached trace is reused) is traced with that table.
  """
  from genjax.nn import conv
  saved = dict(conv.DEFAULT_IMPL)
  conv.DEFAULT_IMPL.clear()
  try:
    return step_flops(make_step().trace(*args).lower().compile())
  finally:
    conv.DEFAULT_IMPL.update(saved)


def benchmark(config, windows, window_steps, matmul_size):
  from genjax import data as data_lib
  from genjax.families.base import example_batch
  from genjax.train import loop
  from genjax.core import sharding
  family, shape = loop.resolve(config)
  mesh = sharding.make_mesh()
  b = config.train.batch_size
  sharding.check_batch_size(b, mesh)
  rep = sharding.replicated(mesh)
  state = jax.jit(family.init, out_shardings=rep)(
      jax.random.PRNGKey(0), example_batch(shape))
  it = data_lib.train_iterator(config.data, b, seed=0,
                               process_index=jax.process_index(),
                               process_count=jax.process_count())
  batches = [sharding.to_global(next(it), mesh) for _ in range(4)]
  from genjax.train.deps import frozen_last
  step_fn = loop.jit_train_step(frozen_last(family), mesh)
  t0 = time.perf_counter()
  compiled = step_fn.lower(state, batches[0], {}).compile()
  compile_s = time.perf_counter() - t0
  flops = xla_conv_flops(lambda: loop.jit_train_step(frozen_last(family), mesh),
                         state, batches[0], {})
  holder = {"state": state}
  sync_each = jax.default_backend() == "cpu" and jax.device_count() > 1

  def steps(get_batch):
    def run():
      m = None
      for i in range(window_steps):
        holder["state"], m = compiled(holder["state"], get_batch(i), {})
        if sync_each:
          jax.block_until_ready(m)
      return m
    return run

  on_device = steps(lambda i: batches[i % len(batches)])
  with_data = steps(lambda i: sharding.to_global(next(it), mesh))
  on_device()  # warm-up window
  jax.block_until_ready(holder["state"])
  t_step = median_time(on_device, windows, lambda m: m) / window_steps
  t_data = median_time(with_data, windows, lambda m: m) / window_steps
  peak = peak_matmul_flops(matmul_size)
  return {
      "backend": jax.default_backend(), "devices": jax.device_count(),
      "batch_size": b, "compile_s": round(compile_s, 3),
      "step_ms": round(1e3 * t_step, 3),
      "images_per_sec": round(b / t_step, 1),
      "images_per_sec_with_data": round(b / t_data, 1),
      "gflops_per_step": round(flops / 1e9, 4),
      "achieved_gflops": round(flops / t_step / 1e9, 2),
      "peak_matmul_gflops": round(peak / 1e9, 2),
      "fraction_of_peak": round(flops / t_step / peak, 4),
  }


def main(argv):
  del argv
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  from genjax.errors import GenjaxError
  try:
    res = benchmark(FLAGS.config, FLAGS.windows, FLAGS.window_steps,
                    FLAGS.matmul_size)
  except GenjaxError as e:
    print(f"genjax: error: {e}", file=sys.stderr)
    sys.exit(2)
  res = dict(config=config_flags.get_config_filename(FLAGS["config"]), **res)
  if not FLAGS.json:
    for k, v in res.items():
      print(f"{k:>26}: {v}")
  print(json.dumps(res))


if __name__ == "__main__":
  app.run(main)
