"""Calibration of the sample metrics on real data (docs/results.md, "Calibration").

The floor any model is judged against (the train split against the test
split), and the test split against simple corruptions — Gaussian noise,
blur, one image repeated (mode collapse), half of the classes removed (mode
dropping) — to show each metric moves the way it should.

    python benchmarks/calibration.py --dataset mnist [--net mnist] [--num 10000]
    # the floor of a latent model: the test split through a first stage
    python benchmarks/calibration.py --dataset mnist --first_stage runs/klae_mnist \
        --sets first_stage --num 1000

Prints a Markdown table and writes it with the raw numbers to
``benchmarks/results/calibration_<dataset>_<net>.{md,json}``.
"""
import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from genjax import data as data_lib  # noqa: E402
from genjax.eval import metrics, reference  # noqa: E402
from genjax.eval.extract import Accumulator, Extractor  # noqa: E402
from genjax.eval.features import load_feature_net  # noqa: E402
from genjax.core import sharding  # noqa: E402


def gaussian_blur(images, sigma):
  """Separable Gaussian blur of [B,H,W,C] images (edge-padded)."""
  r = max(1, int(3 * sigma + 0.5))
  x = jnp.arange(-r, r + 1, dtype=jnp.float32)
  k = jnp.exp(-0.5 * (x / sigma) ** 2)
  k = k / k.sum()
  p = jnp.pad(images, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")
  h = sum(k[i] * p[:, i:i + images.shape[1], :, :] for i in range(2 * r + 1))
  return sum(k[i] * h[:, :, i:i + images.shape[2], :] for i in range(2 * r + 1))


def corruptions(seed=0):
  rng = np.random.default_rng(seed)
  noise = lambda s: (lambda x, y: np.clip(x + s * rng.normal(size=x.shape), 0, 1).astype(np.float32))
  blur = lambda s: (lambda x, y: np.asarray(gaussian_blur(jnp.asarray(x), s)))
  return {
      "noise0.05": ("noise σ=0.05", noise(0.05)),
      "noise0.1": ("noise σ=0.1", noise(0.1)),
      "noise0.2": ("noise σ=0.2", noise(0.2)),
      "blur0.5": ("blur σ=0.5", blur(0.5)),
      "blur1": ("blur σ=1", blur(1.0)),
      "blur2": ("blur σ=2", blur(2.0)),
  }


SETS = ("train", "noise0.05", "noise0.1", "noise0.2", "blur0.5", "blur1",
        "blur2", "collapse", "drop", "self", "first_stage")


def first_stage_reconstruction(workdir, seed=0):
  """x -> decode(z), z ~ q(z|x), of the autoencoder run ``workdir`` (its
  ``sample_latent`` / ``decode`` exports): what a latent diffusion model
  over it decodes at best, so the metrics of these reconstructions are a
  floor for its samples."""
  import genjax
  run = genjax.load(workdir)
  key = [jax.random.PRNGKey(seed)]

  def reconstruct(x, y):
    del y
    key[0], sub = jax.random.split(key[0])
    z = run.exports["sample_latent"](jnp.asarray(x), sub)
    return np.asarray(run.exports["decode"](z))
  return reconstruct


def features_of(extractor, mesh, batches, transform=None):
  acc = Accumulator()
  for images, labels, mask in batches:
    keep = mask > 0
    x = images[keep]
    if transform is not None:
      x = transform(x, labels[keep])
    n = len(x)
    if n == 0:
      continue
    pad = (-n) % mesh.devices.size
    x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
    out = extractor(jax.device_put(jnp.asarray(x), sharding.batch_sharding(mesh)))
    acc.add({k: v[:n] for k, v in out.items()})
  return acc.result()


def row(name, ref, fake, cfg_k=3):
  kid, kid_se = metrics.kid(ref.features, fake.features)
  p, r = metrics.precision_recall(ref.features, fake.features, cfg_k,
                                  real_radii=ref.radii(cfg_k))
  out = dict(set=name, n=int(len(fake.features)),
             fid=metrics.fid(ref.features, fake.features),
             kid=kid, kid_stderr=kid_se, precision=p, recall=r)
  if fake.logits is not None:
    hist = metrics.class_histogram(fake.logits, fake.logits.shape[1])
    out.update(is_mean=metrics.inception_score(fake.logits)[0],
               class_min=float(hist.min()), class_max=float(hist.max()))
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--dataset", default="mnist")
  ap.add_argument("--net", default="")
  ap.add_argument("--num", type=int, default=10_000)
  ap.add_argument("--batch_size", type=int, default=500)
  ap.add_argument("--first_stage", default="",
                  help="an autoencoder workdir: the 'first_stage' set reconstructs the test split")
  ap.add_argument("--sets", default=",".join(SETS[:-1]),
                  help="comma-separated subset of " + ",".join(SETS))
  args = ap.parse_args()
  sets = args.sets.split(",")
  bad = sorted(set(sets) - set(SETS))
  if bad:
    ap.error(f"unknown sets {bad}; valid: {', '.join(SETS)}")
  net_name = args.net or args.dataset
  net = load_feature_net(net_name)
  mesh = sharding.make_mesh()
  ext = Extractor(net, mesh)
  t0 = time.perf_counter()
  data = dict(name=args.dataset, preprocess=("scale_01",))
  test = reference.get(net, data, "test", args.num, args.batch_size, mesh,
                       extractor=ext)
  rows = []
  if "train" in sets:
    train = reference.get(net, data, "train", args.num, args.batch_size, mesh,
                          extractor=ext)
    rows.append(row("train split (first %d) vs test" % len(train.features), test, train))

  def test_batches():
    for b in data_lib.eval_iterator(data, "test", args.batch_size,
                                    num_examples=args.num):
      yield b["image"], b["label"], b[data_lib.pipeline.PADDING_KEY]

  for key, (name, fn) in corruptions().items():
    if key in sets:
      rows.append(row(f"test, {name}", test, features_of(ext, mesh, test_batches(), fn)))
  if "collapse" in sets:
    # The features of one image, repeated: exactly what a generator that
    # always outputs that image would get (the net is deterministic).
    first = next(test_batches())[0][:1]
    one = features_of(ext, mesh, [(first, np.zeros(1, np.int32), np.ones(1))])
    n = len(test.features)
    rows.append(row("one test image repeated (mode collapse)", test, dataclasses.replace(
        one, features=np.repeat(one.features, n, 0),
        logits=None if one.logits is None else np.repeat(one.logits, n, 0))))
  if "drop" in sets:
    half = features_of(ext, mesh, ((x, y, m * (y < 5)) for x, y, m in test_batches()))
    rows.append(row("test, classes 0-4 only (mode dropping)", test, half))
  if "self" in sets:
    rows.append(row("test vs itself", test, dataclasses.replace(test)))
  if "first_stage" in sets:
    if not args.first_stage:
      ap.error("the first_stage set needs --first_stage WORKDIR")
    fn = first_stage_reconstruction(args.first_stage)
    rows.append(row(f"test through the first stage {args.first_stage}", test,
                    features_of(ext, mesh, test_batches(), fn)))
  elapsed = time.perf_counter() - t0

  cols = ["set", "n", "fid", "kid", "precision", "recall"] + (
      ["is_mean", "class_min", "class_max"] if net.num_classes else [])
  lines = [f"Calibration on {args.dataset} with the `{net_name}` feature net "
           f"({net.identity}); reference: test split ({len(test.features)} images).",
           "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  for r in rows:
    cells = []
    for c in cols:
      v = r[c]
      if c == "kid":
        cells.append(f"{v:.4g} ± {r['kid_stderr']:.1g}")
      elif isinstance(v, float):
        cells.append(f"{v:.4g}")
      else:
        cells.append(str(v))
    lines.append("| " + " | ".join(cells) + " |")
  lines.append("")
  lines.append(f"Command: `python benchmarks/calibration.py --dataset {args.dataset} "
               f"--net {net_name} --num {args.num} --sets {args.sets}"
               + (f" --first_stage {args.first_stage}" if args.first_stage else "")
               + f"`; {elapsed / 60:.1f} min on "
               f"{jax.device_count()}x {jax.devices()[0].device_kind}.")
  md = "\n".join(lines)
  print(md)
  out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
  os.makedirs(out, exist_ok=True)
  stem = os.path.join(out, f"calibration_{args.dataset}_{net_name}" + (
      "_" + os.path.basename(args.first_stage.rstrip("/")) if "first_stage" in sets else ""))
  with open(stem + ".md", "w") as f:
    f.write(md + "\n")
  with open(stem + ".json", "w") as f:
    json.dump(dict(rows=rows, identity=net.identity, seconds=elapsed), f, indent=1)


if __name__ == "__main__":
  main()
