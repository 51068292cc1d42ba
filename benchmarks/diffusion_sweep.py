"""Sample metrics of one trained diffusion model over sampler settings: the
DDIM table (Song et al. 2021, Table 1) and the classifier-free guidance sweep.

    # DDIM eta=0, eta=1 and DDPM at 10/20/50/100 steps:
    python benchmarks/diffusion_sweep.py --config experiments/diffusion/ddpm_mnist.py \
        --workdir runs/ddpm_mnist --variants "sampler=ddim,eta=0;sampler=ddim,eta=1;sampler=ddpm" \
        --steps 10,20,50,100 --num_samples 1000 --metrics fid_mnist,kid_mnist
    # Guidance weights:
    python benchmarks/diffusion_sweep.py --config experiments/diffusion/cfg_mnist.py \
        --workdir runs/cfg_mnist --variants "guidance_weight=0;guidance_weight=1;guidance_weight=2;guidance_weight=4" \
        --steps 20 --num_samples 1000 --metrics fid_mnist,pr_mnist,cond_acc_mnist

Each row restores the workdir's latest checkpoint (EMA parameters), draws
``--num_samples`` samples with the config's ``sample`` block updated by the
variant, and computes the metrics against the cached test-split reference.
Writes ``benchmarks/results/sweep_<run>.{md,json}``.
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from genjax import registry  # noqa: E402
from genjax.config import split_names  # noqa: E402
from genjax.eval import evaluators  # noqa: E402
from genjax.core import sharding  # noqa: E402
from genjax.train import deps as deps_lib  # noqa: E402
from genjax.train.restore import load_run  # noqa: E402

config_flags.DEFINE_config_file("config", None, "Diffusion experiment file.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "The trained run.")
flags.DEFINE_string("variants", "sampler=ddim,eta=0", "';'-separated sample-block updates.")
flags.DEFINE_string("steps", "50", "Comma-separated sampling step counts.")
flags.DEFINE_integer("num_samples", 1000, "Samples per row.")
flags.DEFINE_string("metrics", "fid_mnist,kid_mnist", "Sample metrics.")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def parse_variant(text):
  out = {}
  for item in filter(None, text.split(",")):
    key, value = item.split("=")
    try:
      out[key] = float(value) if key in ("eta", "guidance_weight", "classifier_scale") else value
    except ValueError:
      out[key] = value
  return out


def main(_):
  config = FLAGS.config
  loaded = load_run(FLAGS.workdir)
  state, step = loaded.state, loaded.step
  mesh = sharding.make_mesh()
  names = split_names(FLAGS.metrics)
  rows = []
  for variant in FLAGS.variants.split(";"):
    for steps in [int(s) for s in FLAGS.steps.split(",")]:
      c = config.copy_and_resolve_references()
      c.unlock()
      c.sample.update(dict(parse_variant(variant), steps=steps))
      # A run over frozen dependencies (latent diffusion) samples with their
      # bundles, restored at the steps its config.json pins.
      family = deps_lib.frozen_last(registry.make_family(c, deps=loaded.deps))
      _, specs = evaluators.split_names(names, family, c.data.name)
      ev = evaluators.SampleEvaluator(family, c, mesh, tuple(c.model.image_shape), specs,
                                      frozen=loaded.frozen)
      t0 = time.perf_counter()
      res = ev(state, FLAGS.num_samples)
      res.update(variant=variant, steps=steps, seconds=time.perf_counter() - t0)
      rows.append(res)
      print(json.dumps(res), flush=True)
  keys = [k for k in rows[0] if k not in ("variant", "steps", "seconds", "num_samples")
          and "/" not in k and not k.endswith(("_stderr", "_std"))]
  lines = [f"`{FLAGS.workdir}` at step {step}, {FLAGS.num_samples} samples per row, "
           f"{jax.device_count()}x {jax.devices()[0].device_kind}", "",
           "| variant | steps | " + " | ".join(keys) + " | seconds |",
           "|---|---|" + "---|" * len(keys) + "---|"]
  for r in rows:
    lines.append(f"| {r['variant']} | {r['steps']} | " +
                 " | ".join(f"{r[k]:.4g}" for k in keys) + f" | {r['seconds']:.0f} |")
  md = "\n".join(lines)
  print(md)
  out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
  os.makedirs(out, exist_ok=True)
  stem = os.path.join(out, "sweep_" + os.path.basename(FLAGS.workdir.rstrip("/")))
  with open(stem + ".md", "w") as f:
    f.write(md + "\n")
  with open(stem + ".json", "w") as f:
    json.dump(rows, f, indent=1)


if __name__ == "__main__":
  app.run(main)
