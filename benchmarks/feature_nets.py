"""Images/s of the feature networks behind the sample metrics.

    python benchmarks/feature_nets.py [--nets inception,mnist] [--batch 32] [--repeats 5]

For each net: compile time of the jitted feature pass (quantise, resize for
Inception, forward) and the median images/s over ``--repeats`` timed batches
of random 28x28x1 images in [0,1], blocking on each result. The end-to-end
time of a 10k-sample FID-MNIST evaluation is measured with ``launch.py
--mode eval`` on a trained workdir (see docs/evaluation.md).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from genjax.eval.extract import Extractor  # noqa: E402
from genjax.eval.features import load_feature_net  # noqa: E402
from genjax.core import sharding  # noqa: E402


def bench(name, batch, repeats):
  t0 = time.perf_counter()
  net = load_feature_net(name)
  load_s = time.perf_counter() - t0
  mesh = sharding.make_mesh()
  ext = Extractor(net, mesh)
  shape = net.input_shape or (28, 28, 1)
  x = jax.random.uniform(jax.random.PRNGKey(0), (batch,) + tuple(shape))
  x = jax.device_put(x, sharding.batch_sharding(mesh))
  t0 = time.perf_counter()
  ext(x)
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    ext(x)
    times.append(time.perf_counter() - t0)
  return dict(net=name, batch=batch, input=list(shape), load_s=load_s,
              compile_s=compile_s, images_per_sec=batch / statistics.median(times),
              device=f"{jax.device_count()}x {jax.devices()[0].device_kind}")


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--nets", default="inception,mnist")
  ap.add_argument("--batch", type=int, default=32)
  ap.add_argument("--repeats", type=int, default=5)
  args = ap.parse_args()
  for name in args.nets.split(","):
    r = bench(name, args.batch, args.repeats)
    print(f"{name:>14}: {r['images_per_sec']:8.1f} img/s  (batch {r['batch']}, "
          f"compile {r['compile_s']:.1f}s, load {r['load_s']:.1f}s, {r['device']})")
    print(json.dumps(r))


if __name__ == "__main__":
  main()
