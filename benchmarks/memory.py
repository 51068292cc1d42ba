"""Memory of the compiled train step of every experiment in ``TABLE``.

  python benchmarks/memory.py --out benchmarks/results/memory_cpu.json
  python benchmarks/memory.py --experiments experiments/diffusion/ddpm_cifar10.py \
      --variants float32,float32+remat
  python benchmarks/memory.py --out benchmarks/results/memory_cpu.json --update
      # measures only the rows the file lacks (it is rewritten after each row)

For each experiment (its full, paper-shaped config, not ``:smoke``) and each
variant — ``float32``, ``float32+remat``, ``bfloat16``, ``bfloat16+remat``
(``config.train.compute_dtype``; ``config.model.remat`` set to every block
kind the model can rematerialise, genjax/core/precision.py) — the loop's
jitted train step (``genjax.train.loop.jit_train_step``: state replicated and
donated, batch sharded) is lowered on abstract inputs (``jax.eval_shape`` of
``family.init``, ``ShapeDtypeStruct`` batches of the config's batch size) and
compiled, never run; XLA's ``memory_analysis()`` of the compiled program gives
the argument, output, alias (donated state), temporary and generated-code
sizes. Compiles on whatever backend jax sees; no data is read.

Variants a model has no use for are reported with a reason: remat for models
without rematerialisable blocks, bfloat16 for the GAN family (float32 only).
Experiments built on other trained runs (``config.deps``) need those runs and
are left out of the table.

The table holds the default experiments. The paper-scale configs later issues
add (the Stable Diffusion U-Net, StyleGAN2 config F) do not exist yet; an
experiment file added to ``TABLE`` is picked up as it is.

Sharded state (issue 25): per-device figures of the replicated state
against its large leaves split over 8 devices (``+shard``), on 8 simulated
CPU devices:

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python benchmarks/memory.py \
      --experiments experiments/diffusion/ddpm_cifar10.py,experiments/autoregressive/pixelcnnpp_cifar10.py,experiments/gan/stylegan2_ffhq_configf.py \
      --variants float32,float32+shard --out benchmarks/results/memory_sharded_cpu8.json

Notes on reading the figures: XLA:CPU drops jax.checkpoint's optimisation
barriers and merges the recomputation back into the forward pass, so remat
shows no saving on CPU (tests/core/test_remat.py); GPU/TPU keep it
(``benchmarks/device_check.sh`` measures there).
"""
import argparse
import dataclasses
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

TABLE = (
    # paper-shaped
    "experiments/diffusion/ddpm_cifar10.py",            # 35.7M (Ho et al. 2020)
    "experiments/autoregressive/pixelcnnpp_cifar10.py",  # 53.7M (Salimans et al. 2017)
    "experiments/autoencoder/vae_cifar10.py",
    "experiments/gan/dcgan_cifar10.py",
    # the other default experiments
    "experiments/autoencoder/ae_mnist.py",
    "experiments/autoencoder/dae_mnist.py",
    "experiments/autoencoder/vae_mlp_mnist.py",
    "experiments/autoencoder/vae_mnist.py",
    "experiments/autoregressive/gated_pixelcnn_mnist.py",
    "experiments/autoregressive/pixelcnn_binary_mnist.py",
    "experiments/autoregressive/pixelcnnpp_mnist.py",
    "experiments/autoregressive/pixelrnn_diagonal_bilstm_mnist.py",
    "experiments/autoregressive/pixelrnn_rowlstm_mnist.py",
    "experiments/diffusion/cfg_mnist.py",
    "experiments/diffusion/classifier_mnist.py",
    "experiments/diffusion/ddpm_fashion_mnist.py",
    "experiments/diffusion/ddpm_finetune_decoder_fashion_mnist.py",
    "experiments/diffusion/ddpm_finetune_fashion_mnist.py",
    "experiments/diffusion/ddpm_mnist.py",
    "experiments/gan/cgan_mnist.py",
    "experiments/gan/dcgan_fashion_mnist.py",
    "experiments/gan/dcgan_lfw.py",
    "experiments/gan/dcgan_mnist.py",
    "experiments/gan/dcgan_mnist600.py",
    "experiments/gan/gan_mlp_mnist.py",
    "experiments/gan/wgan_gp_mnist.py",
)
VARIANTS = ("float32", "float32+remat", "bfloat16", "bfloat16+remat")
SHARDED_VARIANTS = ("float32+shard", "float32+remat+shard", "bfloat16+shard")
MEMORY_FIELDS = ("argument_size_in_bytes", "output_size_in_bytes",
                 "alias_size_in_bytes", "temp_size_in_bytes",
                 "generated_code_size_in_bytes")


def load_config(path):
  """``get_config()`` of an experiment file (the full config)."""
  import importlib.util
  spec = importlib.util.spec_from_file_location("exp_" + os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(None)


def remat_kinds(config):
  """Every block kind the experiment's model can rematerialise (() if none)."""
  if "remat" not in config.model:
    return ()
  if config.family == "diffusion":
    from genjax.families.diffusion.unet import REMAT_KINDS
    return REMAT_KINDS
  from genjax.families.autoregressive.family import remat_kinds as kinds_of
  return kinds_of(config.model.name)


def with_variant(config, variant):
  """The config in ``variant`` (``dtype[+remat][+shard]``; ``shard``: the
  state's leaves of >= 2**18 elements split over the ``data`` axis,
  config.train.shard_params); a reason string where the model has no such
  variant."""
  dtype, *extras = variant.split("+")
  remat = "remat" in extras
  kinds = remat_kinds(config)
  if remat and not kinds:
    return "no rematerialisable blocks in this model"
  config = config.copy_and_resolve_references()
  config.train.compute_dtype = dtype
  config.train.shard_params = "data" if "shard" in extras else "none"
  if kinds:
    config.model.remat = kinds if remat else ()
  return config


def abstract_batch(config, shape):
  b = config.train.batch_size
  return {"image": jax.ShapeDtypeStruct((b,) + shape, jnp.float32),
          "label": jax.ShapeDtypeStruct((b,), jnp.int32)}


def num_params(state):
  """Trained parameters of a state (``params``, or a GAN's G and D; no EMA)."""
  names = [f.name for f in dataclasses.fields(state)
           if f.name.endswith("params") and "ema" not in f.name]
  return sum(math.prod(x.shape) for n in names
             for x in jax.tree.leaves(getattr(state, n)))


def measure(config):
  """Compiles the loop's train step of ``config`` on abstract inputs; its memory figures."""
  from genjax import config as config_lib
  from genjax import registry
  from genjax.core import sharding
  from genjax.families.base import example_batch
  from genjax.train import loop
  from genjax.train.deps import frozen_last
  config_lib.validate(config)
  family = registry.make_family(config)
  shape = tuple(config.model.image_shape)
  state = jax.eval_shape(family.init, jax.random.PRNGKey(0), example_batch(shape))
  mesh = sharding.make_mesh(config.train.model_parallel)
  state_sh = sharding.state_shardings(state, mesh, config.train.shard_params,
                                      config.train.shard_min_size)
  step = loop.jit_train_step(frozen_last(family), mesh, state_sh)
  t0 = time.perf_counter()
  compiled = step.lower(state, abstract_batch(config, shape), {}).compile()
  stats = compiled.memory_analysis()
  out = {"params": num_params(state), "batch_size": config.train.batch_size,
         "devices": jax.device_count(),
         "compile_s": round(time.perf_counter() - t0, 2)}
  out.update({k: int(getattr(stats, k)) for k in MEMORY_FIELDS if hasattr(stats, k)})
  return out


def run(paths, variants, log=print, done=(), save=lambda rows: None):
  """The rows of every (experiment, variant); ``done``: rows measured
  before (kept, not measured again); ``save(rows)`` after each new row."""
  from genjax.errors import GenjaxError
  rows = list(done)
  measured = {(r["experiment"], r["variant"]) for r in rows}
  for path in paths:
    base = load_config(path)
    if len(base.deps):
      log(f"{path}: built on other runs ({', '.join(base.deps)}); skipped")
      continue
    for variant in variants:
      if (path, variant) in measured:
        continue
      row = {"experiment": path, "family": base.family,
             "model": base.model.get("name", ""), "variant": variant}
      config = with_variant(base, variant)
      try:
        if isinstance(config, str):
          raise ValueError(config)
        row.update(measure(config))
      except (GenjaxError, ValueError) as e:
        row["skipped"] = str(e)
      rows.append(row)
      log(format_row(row))
      save(rows)
  return rows


def format_row(row):
  if "skipped" in row:
    return f"{row['experiment']:<58} {row['variant']:<15} skipped: {row['skipped'][:70]}"
  mib = lambda k: row.get(k, 0) / 2 ** 20
  return (f"{row['experiment']:<58} {row['variant']:<15} params {row['params'] / 1e6:7.2f}M "
          f"arg {mib('argument_size_in_bytes'):8.1f} out {mib('output_size_in_bytes'):8.1f} "
          f"temp {mib('temp_size_in_bytes'):9.1f} code {mib('generated_code_size_in_bytes'):6.1f}"
          f" MiB  compile {row['compile_s']:6.1f}s")


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--experiments", default=",".join(TABLE),
                 help="comma-separated experiment files (default: TABLE)")
  p.add_argument("--variants", default=",".join(VARIANTS),
                 help=f"comma-separated, of {', '.join(VARIANTS + SHARDED_VARIANTS)}")
  p.add_argument("--out", default="", help="write the rows to this JSON file "
                 "(rewritten after every row)")
  p.add_argument("--update", action="store_true",
                 help="keep the rows --out already holds; measure only the others")
  args = p.parse_args(argv)
  variants = [v for v in args.variants.split(",") if v]
  unknown = sorted(set(variants) - set(VARIANTS + SHARDED_VARIANTS))
  if unknown:
    p.error(f"unknown variant(s) {unknown}; valid: "
            f"{', '.join(VARIANTS + SHARDED_VARIANTS)}")
  paths = [e for e in args.experiments.split(",") if e]
  missing = [e for e in paths if not os.path.isfile(e)]
  if missing:
    p.error(f"no experiment file(s) {missing}")
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  done = []
  if args.update and args.out and os.path.exists(args.out):
    with open(args.out) as f:
      done = json.load(f)["rows"]
  result = {"backend": jax.default_backend(), "devices": jax.device_count(),
            "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__}

  def save(rows):
    if args.out:
      os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
      with open(args.out, "w") as f:
        json.dump(dict(result, rows=rows), f, indent=1)

  rows = run(paths, variants, lambda line: print(line, flush=True), done, save)
  save(rows)
  if args.out:
    print(f"wrote {args.out}")
  return dict(result, rows=rows)


if __name__ == "__main__":
  main()
