"""The latent diffusion speed claim, side by side in one process: train and
sample images/s of latent diffusion vs its pixel-space twin, alternating.

  python benchmarks/ldm_speed.py --first_stage runs/klae_mnist \
      [--rounds 5] [--window_steps 20] [--num_samples 250] \
      [--out benchmarks/results/ldm_speed.json]

Models (each at its experiment's settings: batch 64, DDIM-20 with w = 1):
``experiments/diffusion/cfg_mnist.py`` (pixel U-Net, 28x28x1) and
``experiments/diffusion/ldm_mnist.py`` (the U-Net with spatial transformers
over the frozen KL-f4 autoencoder ``--first_stage``, 7x7x3 latents), plus
``dit_mnist.py`` when it exists. Train windows of ``--window_steps`` steps
(batches already on the device; the latent model's step includes encoding
its batch with the frozen encoder) are timed in turn, ``--rounds`` times,
and the median is reported; then ``--num_samples`` class-balanced samples
(the whole jitted sampling loop, decoding included) twice per model, the
second timed. Parameters are freshly initialised: speed does not depend on
training.

ControlNet and LoRA training against their base's step (issue 20), with the
bases at runs/ldm_mnist:
  python benchmarks/ldm_speed.py --paths experiments/diffusion/ldm_mnist.py,\
experiments/diffusion/controlnet_canny_mnist.py,experiments/diffusion/lora_fashion_mnist.py \
      --override "controlnet_canny_mnist:deps.base.workdir='runs/ldm_mnist'" \
      --override "lora_fashion_mnist:deps.base.workdir='runs/ldm_mnist'" \
      --override "lora_fashion_mnist:data.name='mnist'" \
      --override "lora_fashion_mnist:data.preprocess=('scale_01',)" \
      --out benchmarks/results/adapter_speed.json
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402

MODELS = ("experiments/diffusion/cfg_mnist.py", "experiments/diffusion/ldm_mnist.py",
          "experiments/diffusion/dit_mnist.py")


def overrides_of(specs, rel_path):
  """{field: value} of the ``name:field=value`` specs naming ``rel_path``'s model."""
  import ast
  name, out = os.path.basename(rel_path)[:-3], {}
  for spec in specs:
    model, assignment = spec.split(":", 1)
    if model == name:
      field, value = assignment.split("=", 1)
      out[field] = ast.literal_eval(value)
  return out


def load_config(rel_path, first_stage, overrides=None):
  import importlib.util
  spec = importlib.util.spec_from_file_location("exp", os.path.join(ROOT, rel_path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(None)
  if "first_stage" in config.deps:
    config.deps.first_stage.workdir = first_stage
  for field, value in (overrides or {}).items():
    node, *path = field.split(".")
    target = config[node]
    for key in path[:-1]:
      target = target[key]
    target[path[-1]] = value
  return config


class Model:
  """A family, its frozen bundles, a fresh state and its compiled step."""

  def __init__(self, rel_path, first_stage, mesh, overrides=None):
    from genjax import data as data_lib
    from genjax import registry
    from genjax.core import sharding
    from genjax.families.base import example_batch
    from genjax.train import deps as deps_lib
    from genjax.train import loop
    self.name = os.path.basename(rel_path)[:-3]
    config = load_config(rel_path, first_stage, overrides)
    self.overrides = dict(overrides or {})
    deps, frozen = deps_lib.resolve(config, mesh)
    family = registry.make_family(config, deps=deps)
    self.frozen = deps_lib.with_pretrained(frozen, family, mesh)
    self.fam = deps_lib.frozen_last(family)
    self.batch_size = config.train.batch_size
    shape = tuple(config.model.image_shape)
    self.state = jax.jit(self.fam.init, out_shardings=sharding.replicated(mesh))(
        jax.random.PRNGKey(0), example_batch(shape), self.frozen)
    it = data_lib.train_iterator(config.data, self.batch_size, seed=0)
    self.batches = [sharding.to_global(next(it), mesh) for _ in range(4)]
    t0 = time.perf_counter()
    self.step = loop.jit_train_step(self.fam, mesh).lower(
        self.state, self.batches[0], self.frozen).compile()
    self.compile_s = time.perf_counter() - t0
    self.params = sum(x.size for x in jax.tree.leaves(self.state.params))

  def train_window(self, steps):
    t0 = time.perf_counter()
    for i in range(steps):
      self.state, metrics = self.step(self.state, self.batches[i % 4], self.frozen)
    jax.block_until_ready(metrics)
    return (time.perf_counter() - t0) / steps

  def sample_time(self, num):
    from genjax.families.base import cycle_to
    cond = ({k: cycle_to(self.batches[0][k], num) for k in self.fam.cond_keys}
            if self.fam.cond_keys else None)   # e.g. a ControlNet's condition maps
    fn = jax.jit(lambda state, rng, frozen: self.fam.sample(state, rng, num, cond, frozen))
    jax.block_until_ready(fn(self.state, jax.random.PRNGKey(1), self.frozen))
    t0 = time.perf_counter()
    jax.block_until_ready(fn(self.state, jax.random.PRNGKey(2), self.frozen))
    return time.perf_counter() - t0


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--first_stage", default="runs/klae_mnist")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--window_steps", type=int, default=20)
  parser.add_argument("--num_samples", type=int, default=250)
  parser.add_argument("--models", default="", help="comma-separated names (default: all)")
  parser.add_argument("--paths", default=",".join(MODELS),
                      help="comma-separated experiment files (default: the three above)")
  parser.add_argument("--override", action="append", default=[],
                      help="name:field=value on a model's config, e.g. ldm_mnist:model.ch=64")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  from genjax.core import sharding
  mesh = sharding.make_mesh()
  wanted = set(filter(None, args.models.split(",")))
  models = [Model(p, os.path.abspath(args.first_stage), mesh, overrides_of(args.override, p))
            for p in args.paths.split(",") if os.path.exists(os.path.join(ROOT, p))
            and (not wanted or os.path.basename(p)[:-3] in wanted)]
  times = {m.name: [] for m in models}
  for m in models:
    m.train_window(2)     # warm-up
  for _ in range(args.rounds):
    for m in models:
      times[m.name].append(m.train_window(args.window_steps))
  rows = {}
  for m in models:
    step_s = statistics.median(times[m.name])
    sample_s = m.sample_time(args.num_samples)
    rows[m.name] = {"overrides": m.overrides, "params": int(m.params),
                    "compile_s": round(m.compile_s, 2),
                    "train_step_ms": round(1e3 * step_s, 2),
                    "train_images_per_sec": round(m.batch_size / step_s, 1),
                    "sample_images_per_sec": round(args.num_samples / sample_s, 1)}
  out = {"machine": f"{os.cpu_count()}-core CPU, {jax.default_backend()}, "
                    f"{jax.device_count()} device(s)",
         "first_stage": args.first_stage, "rounds": args.rounds,
         "window_steps": args.window_steps, "num_samples": args.num_samples,
         "date": time.strftime("%Y-%m-%d"), "models": rows}
  print(json.dumps(out, indent=2))
  if args.out:
    with open(args.out, "w") as f:
      json.dump(out, f, indent=2)


if __name__ == "__main__":
  main()
