"""Codebook health of trained VQ-VAE runs: codes in use on the test split,
and the norms of the codes in use against those never chosen (unused EMA codes
shrink towards 0 once their counts decay: zalandoresearch/pytorch-vq-vae#10).

    python benchmarks/vq_codebook.py runs/vqvae_mnist_loss runs/vqvae_mnist_ema runs/vqvae_mnist_restarts \
        [--out benchmarks/results/vq_codebook_mnist.json]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def codebook_health(workdir, num_examples=2_000):
  """Counts of each code over test images, and the codebook's norms."""
  import jax
  from genjax import data as data_lib
  from genjax.families.base import bundle_of
  from genjax.train.restore import load_run
  run = load_run(workdir)
  bundle = bundle_of(run.family, run.state, run.config.sample.use_ema)
  code = jax.jit(run.family.exports["code"])
  counts = np.zeros(run.family.exports["num_codes"](), np.int64)
  for batch in data_lib.eval_iterator(run.config.data, "test", 500,
                                      num_examples=num_examples):
    valid = np.asarray(batch["valid"]) > 0
    codes = np.asarray(code(bundle, batch["image"]))[valid]
    counts += np.bincount(codes.reshape(-1), minlength=counts.size)
  codebook = np.asarray(jax.jit(run.family.exports["embed"])(
      bundle, np.arange(counts.size)))
  norms, used = np.linalg.norm(codebook, axis=1), counts > 0
  p = counts / counts.sum()
  return {"workdir": workdir, "step": run.step, "codebook": run.config.model.vq.codebook,
          "restart_after": run.config.model.vq.restart_after,
          "codes_in_use": float(used.mean()),
          "perplexity": float(np.exp(-np.sum(p[p > 0] * np.log(p[p > 0])))),
          "norm_used_median": float(np.median(norms[used])),
          "norm_unused_median": float(np.median(norms[~used])) if (~used).any() else None,
          "num_examples": num_examples}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("workdirs", nargs="+")
  parser.add_argument("--num_examples", type=int, default=2_000)
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  rows = [codebook_health(w, args.num_examples) for w in args.workdirs]
  for row in rows:
    print(json.dumps(row))
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"command": "python " + " ".join(sys.argv), "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
