"""Control fidelity of a ControlNet run: do its samples follow the condition?

  python benchmarks/control_fidelity.py --workdir runs/controlnet_canny_mnist \
      [--num 500] [--scales 0,1] [--out benchmarks/results/control_fidelity_canny_mnist.json]
  python benchmarks/control_fidelity.py --workdir runs/multi_controlnet_mnist  # every map

For ``--num`` held-out examples (the eval split, in order) the run's own
condition op (the preprocessing op that writes ``model.control.key``, e.g.
``canny(sigma=1.0)``) gives the condition map; one sample is drawn for each
map (and its example's label, for a class-conditional base) at every
conditioning scale of ``--scales`` from the same noise: scale 0 is the base
model exactly (every residual times 0), the uncontrolled baseline. The same
op is applied to each sample and compared with the map it was given:
  binary maps (edges, skeletons, masks): F1 of the sample's map against the
    given one, exact and with a 1-pixel tolerance (a pixel counts as matched
    when the other map has one within its 3x3 neighbourhood), pooled over
    all pixels of all examples, and the mean per-example F1;
  continuous maps (distance transforms): the mean absolute error and the
    Pearson correlation per example, averaged.
Also reported: the MNIST / Fashion-MNIST classifier's accuracy on the
samples for the examples' labels (FID is ``--mode eval``'s). A
Multi-ControlNet run is scored on each of its maps at once, at its own
weights.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def control_keys(config):
  """The batch fields of the condition maps: a ControlNet's key, or each of a
  Multi-ControlNet's keys."""
  if config.model.name == "multi_controlnet":
    return tuple(config.model.control["keys"])   # (.keys is the dict method)
  return (config.model.control.key,)


def condition_op(config, key):
  """The parsed preprocessing op writing the condition field ``key``."""
  from genjax.data import preprocess
  ops = [op for op in preprocess.parse_ops(config.data.preprocess) if key in op.outkeys]
  if not ops:
    raise SystemExit(f"no preprocessing op writes {key!r} in {config.data.preprocess}")
  return ops[0]


def apply_op(op, images01):
  """The condition op on images in [0, 1] [N, H, W, C] (it reads [0, 255])."""
  import tensorflow as tf
  pixels = tf.constant(np.asarray(images01, np.float32) * 255.0)
  return op.definition.fn(pixels, 0, *op.args).numpy()


def dilate(mask):
  """True where the 3x3 neighbourhood of a pixel holds a True pixel."""
  padded = np.pad(mask, ((0, 0), (1, 1), (1, 1), (0, 0)))
  h, w = mask.shape[1:3]
  return np.any([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=0)


def binary_scores(got, given):
  """F1 (exact, 1-px tolerance pooled, 1-px per-example mean) of binary maps."""
  got, given = got > 0.5, given > 0.5
  def f1(tp_p, n_p, tp_r, n_r):
    p, r = tp_p / max(n_p, 1), tp_r / max(n_r, 1)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)
  exact = f1((got & given).sum(), got.sum(), (got & given).sum(), given.sum())
  near_p, near_r = got & dilate(given), given & dilate(got)
  tolerant = f1(near_p.sum(), got.sum(), near_r.sum(), given.sum())
  per = [f1(near_p[i].sum(), got[i].sum(), near_r[i].sum(), given[i].sum())
         for i in range(len(got))]
  return {"f1_exact": float(exact), "f1_1px": float(tolerant),
          "f1_1px_mean_per_example": float(np.mean(per))}


def continuous_scores(got, given):
  """Mean absolute error and Pearson correlation per example, averaged."""
  g, c = got.reshape(len(got), -1), given.reshape(len(given), -1)
  corr = [np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0
          for a, b in zip(g, c)]
  return {"mae": float(np.mean(np.abs(g - c))), "pearson": float(np.mean(corr))}


def fidelity(op, images01, given):
  """The scores of ``op`` applied to ``images01`` against the given maps."""
  binary = set(np.unique(given).tolist()) <= {0.0, 1.0}
  return (binary_scores if binary else continuous_scores)(apply_op(op, images01), given)


def eval_examples(config, num):
  from genjax import data as data_lib
  batches = data_lib.eval_iterator(config.data, config.data.eval_split, min(num, 250),
                                   num_examples=num)
  out = {}
  for batch in batches:
    valid = np.asarray(batch["valid"]).astype(bool)
    for k in ("image", "label") + control_keys(config):
      out.setdefault(k, []).append(np.asarray(batch[k])[valid])
  return {k: np.concatenate(v)[:num] for k, v in out.items()}


def classifier_accuracy(dataset, images, labels):
  from genjax.eval import classifier
  net = classifier.load_classifier(dataset)
  logits = np.asarray(net.apply(net.params, np.round(images * 255.0))["logits"])
  return float(np.mean(logits.argmax(-1) == labels))


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--workdir", required=True)
  p.add_argument("--num", type=int, default=500)
  p.add_argument("--scales", default="0,1")
  p.add_argument("--batch", type=int, default=100)
  p.add_argument("--out", default="")
  args = p.parse_args()
  import genjax
  run = genjax.load(args.workdir)
  config = run.config
  keys = control_keys(config)
  ops = {k: condition_op(config, k) for k in keys}
  ex = eval_examples(config, args.num)
  image_range = "pm1" if "scale_pm1" in list(config.data.preprocess) else "01"
  sources = (ex["image"] + 1) / 2 if image_range == "pm1" else ex["image"]
  num = len(ex["label"])
  result = {"workdir": os.path.abspath(args.workdir), "step": run.step,
            "ops": {k: op.spec for k, op in ops.items()}, "num": int(num), "scales": {},
            "source_images": {k: fidelity(ops[k], sources, ex[k]) for k in keys}}
  multi = len(keys) > 1   # a Multi-ControlNet: its own weights, one pass
  for scale in [None] if multi else [float(s) for s in args.scales.split(",")]:
    t0, drawn = time.time(), []
    for start in range(0, num, args.batch):
      sl = slice(start, start + args.batch)
      n = len(ex["label"][sl])
      cond = {k: ex[k][sl] for k in keys}
      cond["label"] = ex["label"][sl].astype(np.int32)
      if scale is not None:
        cond["control_scale"] = np.full((n,), scale, np.float32)
      drawn.append(run.sample(n, seed=start, cond=cond))
    samples = np.concatenate(drawn)
    scores = {k: fidelity(ops[k], samples, ex[k]) for k in keys}
    scores["class_accuracy"] = classifier_accuracy(config.data.name, samples, ex["label"])
    scores["seconds"] = round(time.time() - t0, 1)
    result["scales"]["weights" if scale is None else str(scale)] = scores
    print(f"scale {scale}: {scores}", flush=True)
  if args.out:
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
      json.dump(result, f, indent=1)
      f.write("\n")
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
