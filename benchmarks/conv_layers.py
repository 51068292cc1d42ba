"""Times genjax's conv formulations and UpConv against XLA's conv and nn.ConvTranspose.

    python benchmarks/conv_layers.py [--batch 128] [--repeats 20] [--only conv|up|step|scan]
    python benchmarks/conv_layers.py --only conv --batch 64 --out benchmarks/results/conv_layers_cpu.json

Each layer case is jitted forward, and forward + backward (gradients w.r.t.
input and parameters), compiled once, then timed ``--repeats`` times; the
median is printed in milliseconds, with the forward + backward GFLOP/s
(3 x the forward's 2*B*HO*WO*KH*KW*CIN*COUT). Sizes are those of an MNIST
conv VAE (28x28 / 14x14 / 7x7, 32-64 channels) and of the DDPM U-Net of
issue 24 (channels 32/64/64, the up path's concatenated skips). The result
chose ``DEFAULT_IMPL`` in ``genjax/nn/conv.py``; ``--out`` writes the table
as JSON. ``step`` times the whole jitted
train step (forward + backward + Adam + EMA) of the autoencoder family's conv
VAE (channels (32, 64), latent 32, Bernoulli) in images/s. ``scan`` times
one 32-feature PixelRNN layer (Row LSTM, Diagonal BiLSTM; 28x28, batch 64)
with each formulation of the state-to-state conv that runs inside its
``lax.scan``: the result chose ``pixelrnn.SCAN_CONV_IMPL``.
"""
import argparse
import json
import os
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.conv import IMPLS, Conv, UpConv

# (name, input HxW, cin, cout, kernel, stride)
CONV_CASES = (
    ("enc1 28->14 s2 1->32", 28, 1, 32, 3, 2),
    ("enc2 14->7 s2 32->64", 14, 32, 64, 3, 2),
    ("s1 28x28 32->32", 28, 32, 32, 3, 1),
    ("s1 14x14 64->64", 14, 64, 64, 3, 1),
    ("s1 7x7 64->256", 7, 64, 256, 3, 1),
    ("s1 14x14 32->4", 14, 32, 4, 3, 1),
    ("unet in 28x28 1->32", 28, 1, 32, 3, 1),
    ("unet 28x28 64->32", 28, 64, 32, 3, 1),
    ("unet 14x14 128->64", 14, 128, 64, 3, 1),
    ("unet 7x7 128->64", 7, 128, 64, 3, 1),
    ("unet down 28->14 s2 32", 28, 32, 32, 3, 2),
)
# (name, input HxW, cin, features)
UP_CASES = (
    ("up 7->14 64->32", 7, 64, 32),
    ("up 14->28 32->1", 14, 32, 1),
    ("up 14->28 64->32", 14, 64, 32),
)


def time_fn(fn, args, repeats):
  """Median wall time (ms) of ``fn(*args)`` after one compile-and-run."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(1e3 * (time.perf_counter() - t))
  return statistics.median(times)


def fwd_bwd(module, x):
  """A jitted f(params, x) -> (y, grads w.r.t. params and x), and the params."""
  params = module.init(jax.random.PRNGKey(0), x)

  @jax.jit
  def f(p, x):
    y, vjp = jax.vjp(lambda p, x: module.apply(p, x), p, x)
    return y, vjp(jnp.ones_like(y))

  return f, params


def fwd_only(module, x):
  params = module.init(jax.random.PRNGKey(0), x)
  return jax.jit(module.apply), params


def bench(name, modules, x, repeats, flops=None):
  """Prints one row (forward / forward+backward ms per module); returns it as a dict."""
  cells, row = [], {"case": name, "ms": {}}
  for label, m in modules:
    f, p = fwd_only(m, x)
    g, _ = fwd_bwd(m, x)
    fwd, both = time_fn(f, (p, x), repeats), time_fn(g, (p, x), repeats)
    row["ms"][label] = [round(fwd, 3), round(both, 3)]
    rate = f" {3 * flops / both / 1e6:4.0f}GF/s" if flops else ""
    cells.append(f"{label} {fwd:6.2f}/{both:6.2f}{rate}")
  print(f"{name:24s} " + "  ".join(cells), flush=True)
  return row


def conv_flops(batch, hw, cin, cout, k, s):
  ho = -(-hw // s)
  return 2 * batch * ho * ho * k * k * cin * cout


def bench_vae_step(batch, repeats, steps=10):
  from genjax.families.autoencoder import make_family
  from genjax.families.autoencoder.config import default_config
  config = default_config()
  config.model.update(name="vae", architecture="conv", image_shape=(28, 28, 1),
                      latent_dim=32, hidden=(), channels=(32, 64), likelihood="bernoulli")
  config.optim.update(lr=1e-3, ema_decay=0.999)
  family = make_family(config)
  images = jax.random.bernoulli(jax.random.PRNGKey(0), 0.3, (batch, 28, 28, 1))
  data = {"image": images.astype(jnp.float32)}
  state = family.init(jax.random.PRNGKey(1), data)
  step = jax.jit(family.train_step, donate_argnums=0)

  def run(state):
    for _ in range(steps):
      state, _ = step(state, data)
    return state

  state = jax.block_until_ready(run(state))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    state = jax.block_until_ready(run(state))
    times.append((time.perf_counter() - t) / steps)
  ms = statistics.median(times)
  print(f"conv VAE train step, batch {batch}: {1e3 * ms:.1f} ms, {batch / ms:.0f} images/s")


def bench_scan(repeats):
  from genjax.families.autoregressive import pixelrnn
  chosen = pixelrnn.SCAN_CONV_IMPL
  x = jax.random.normal(jax.random.PRNGKey(1), (64, 28, 28, 32))
  try:
    for name, layer in (("Row LSTM 28x28 32", pixelrnn.RowLSTMLayer(32)),
                        ("Diagonal BiLSTM 28x28 32", pixelrnn.DiagonalBiLSTMLayer(32))):
      cells = []
      for impl in IMPLS:
        pixelrnn.SCAN_CONV_IMPL = impl   # read when the layer is traced
        g, p = fwd_bwd(layer, x)
        cells.append(f"{impl} {time_fn(g, (p, x), repeats):7.1f}")
      print(f"{name:24s} " + "  ".join(cells) + "  (fwd+bwd ms, batch 64)", flush=True)
  finally:
    pixelrnn.SCAN_CONV_IMPL = chosen


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=128)
  ap.add_argument("--repeats", type=int, default=20)
  ap.add_argument("--only", choices=("conv", "up", "step", "scan"), default=None)
  ap.add_argument("--out", default=None, help="write the conv table as JSON here")
  args = ap.parse_args()
  print(f"backend {jax.default_backend()}, devices {jax.devices()}, batch {args.batch}")
  print("ms, forward / forward+backward, median of", args.repeats)
  key = jax.random.PRNGKey(1)
  rows = []
  if args.only in (None, "conv"):
    for name, hw, cin, cout, k, s in CONV_CASES:
      x = jax.random.normal(key, (args.batch, hw, hw, cin))
      rows.append(bench(name, [(impl, Conv(cout, k, s, impl=impl)) for impl in IMPLS], x,
                        args.repeats, conv_flops(args.batch, hw, cin, cout, k, s)))
  if args.out and rows:
    with open(args.out, "w") as f:
      json.dump({"machine": f"{os.cpu_count()}-core {jax.default_backend()}",
                 "batch": args.batch, "repeats": args.repeats,
                 "units": "ms [forward, forward+backward], median", "rows": rows}, f, indent=1)
  if args.only in (None, "up"):
    for name, hw, cin, f in UP_CASES:
      x = jax.random.normal(key, (args.batch, hw, hw, cin))
      modules = [
          ("ConvT3", nn.ConvTranspose(f, (3, 3), (2, 2), padding="SAME")),
          ("ConvT4", nn.ConvTranspose(f, (4, 4), (2, 2), padding="SAME")),
          ("Up3-xla", UpConv(f, 3, impl="xla")),
          ("Up3-im2col", UpConv(f, 3, impl="im2col")),
          ("Up3-blas", UpConv(f, 3, impl="blas")),
      ]
      bench(name, modules, x, args.repeats)
  if args.only in (None, "step"):
    bench_vae_step(args.batch, args.repeats)
  if args.only in (None, "scan"):
    bench_scan(args.repeats)


if __name__ == "__main__":
  main()
