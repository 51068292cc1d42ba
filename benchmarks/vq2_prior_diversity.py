"""Does a trained two-level prior collapse? (rosinality/vq-vae-2-pytorch#58:
samples of the top prior that all look alike.) Draws class-balanced samples
from a ``vq2_prior_*`` run and compares them with test images of the same
classes: the share of distinct top code maps, the perplexity of the top
codes used, and the mean pairwise L2 distance between images of one class.

    python benchmarks/vq2_prior_diversity.py runs/vq2_prior_fashion_mnist \
        [--num 1000] [--out benchmarks/results/vq2_prior_diversity.json]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def perplexity(codes, num_codes):
  p = np.bincount(codes.reshape(-1), minlength=num_codes) / codes.size
  return float(np.exp(-np.sum(p[p > 0] * np.log(p[p > 0]))))


def distinct_share(codes):
  return len({c.tobytes() for c in codes}) / len(codes)


def mean_pairwise_distance(images, labels, num_classes):
  """Mean over classes of the mean L2 distance between two images of the class."""
  flat, out = images.reshape(len(images), -1).astype(np.float64), []
  for k in range(num_classes):
    x = flat[labels == k]
    sq = (x * x).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0.0))
    out.append(d[np.triu_indices(len(x), 1)].mean())
  return float(np.mean(out))


def test_images(config, num):
  from genjax import data as data_lib
  images, labels = [], []
  for batch in data_lib.eval_iterator(config.data, "test", 500, num_examples=num):
    valid = np.asarray(batch["valid"]) > 0
    images.append(np.asarray(batch["image"])[valid])
    labels.append(np.asarray(batch["label"])[valid])
  return np.concatenate(images), np.concatenate(labels)


def diversity(workdir, num):
  import genjax
  run = genjax.load(workdir)
  vq2 = run.deps["vqvae2"]
  code = genjax.load(vq2.workdir).exports["code"]
  k = run.config.model.num_classes
  labels = np.arange(num) % k
  samples = run.sample(num, seed=0, cond=labels)
  data, data_labels = test_images(run.config, num)
  num_codes = int(vq2.family.exports["num_codes"]())
  # The samples' top maps, re-encoded (the VQ-VAE-2's own reconstructions
  # are at ~30 dB: their codes are the drawn ones up to rare ties).
  top = {"samples": np.asarray(code(samples)["top"]), "test": np.asarray(code(data)["top"])}
  return {"workdir": workdir, "step": run.step, "num": num,
          "distinct_top_maps": {w: distinct_share(c) for w, c in top.items()},
          "top_code_perplexity": {w: perplexity(c, num_codes) for w, c in top.items()},
          "within_class_l2": {"samples": mean_pairwise_distance(samples, labels, k),
                              "test": mean_pairwise_distance(data, data_labels, k)}}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("workdir")
  parser.add_argument("--num", type=int, default=1_000)
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  row = diversity(args.workdir, args.num)
  print(json.dumps(row, indent=2))
  if args.out:
    with open(args.out, "w") as f:
      json.dump({"command": "python " + " ".join(sys.argv),
                 "machine": "2-core CPU", "row": row}, f, indent=2)


if __name__ == "__main__":
  main()
