"""Attribute control of a text-conditional latent diffusion run: do samples
prompted "thick" have thicker strokes than samples prompted "thin"?

  python benchmarks/text_control.py --workdir runs/ldm_text_mnist \
      [--weights 0,3] [--pairs 50] [--out benchmarks/results/text_control_mnist.json]

For each digit d and each phrasing (the training adjectives "a thick / thin
handwritten <name>", and held-out ones "an image of a chunky / slender
<name>", never seen in training), ``--pairs`` pairs of samples are drawn
from the *same* noise (same seed and batch position) for the two prompts,
at each classifier-free guidance weight w of ``--weights``. A pair counts as
controlled when the "thick" sample's measured stroke thickness
(``genjax.data.captions.stroke_thickness``: ink mass / skeleton length,
the attribute the training captions were written from) exceeds the "thin"
one's. Also reported: the MNIST classifier's accuracy for the prompted
digit over all these samples, and the mean thickness of each side.

The digit accuracy on held-out phrasings over random attributes, and
FID-MNIST, over w come from the sweep instead:
  python benchmarks/diffusion_sweep.py --config experiments/diffusion/ldm_text_mnist.py \
      --workdir runs/ldm_text_mnist --variants "guidance_weight=0;guidance_weight=1;guidance_weight=3;guidance_weight=7" \
      --steps 20 --num_samples 1000 --metrics fid_mnist,cond_acc_mnist
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

# (name, thick template, thin template): {name} is the digit's name.
PHRASINGS = (("train", "a thick handwritten {name}", "a thin handwritten {name}"),
             ("heldout", "an image of a chunky {name}", "an image of a slender {name}"))


def paired_prompts(thick, thin, pairs):
  """(thick prompts, thin prompts, digits): ``pairs`` of each digit, in order."""
  from genjax.data.captions import DIGIT_NAMES
  digits = np.repeat(np.arange(10), pairs)
  return ([thick.format(name=DIGIT_NAMES[d]) for d in digits],
          [thin.format(name=DIGIT_NAMES[d]) for d in digits], digits)


def sampler(loaded, weight):
  """A jitted ``sample(rng, tokens)`` of the run at guidance weight ``weight``."""
  from genjax import registry
  from genjax.train import deps as deps_lib
  c = loaded.config.copy_and_resolve_references()
  c.unlock()
  c.sample.guidance_weight = float(weight)
  fam = deps_lib.frozen_last(registry.make_family(c, deps=loaded.deps))
  fn = jax.jit(lambda rng, tokens: fam.sample(loaded.state, rng, tokens.shape[0],
                                              {"tokens": tokens}, loaded.frozen))
  return fn


def draw(fn, prompts, max_tokens, seed, batch):
  """Samples [N,H,W,C] in [0,1] for ``prompts``, batch i from fold_in(seed, i)."""
  from genjax.data import tokenizer
  tokens = np.asarray(tokenizer.tokenize(list(prompts), max_tokens), np.int32)
  out = []
  for i, start in enumerate(range(0, len(prompts), batch)):
    rng = jax.random.fold_in(jax.random.PRNGKey(seed), i)
    out.append(np.asarray(fn(rng, tokens[start:start + batch])))
  return np.concatenate(out)


def measure(images, digits, extractor):
  from genjax.data import captions
  thickness = np.asarray(captions.stroke_thickness(images * 255.0))
  logits = extractor(images.astype(np.float32))["logits"]
  return thickness, np.argmax(logits, -1) == digits


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", default="runs/ldm_text_mnist")
  parser.add_argument("--weights", default="0,3")
  parser.add_argument("--pairs", type=int, default=50, help="pairs per digit")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  from genjax.eval.extract import Extractor
  from genjax.eval.features import load_feature_net
  from genjax.train.restore import load_run
  loaded = load_run(args.workdir)
  max_tokens = int(loaded.config.model.ldm.max_tokens)
  extractor = Extractor(load_feature_net("mnist"), loaded.mesh)
  batch = min(10 * args.pairs, 250)
  rows = []
  for weight in [float(w) for w in args.weights.split(",")]:
    fn = sampler(loaded, weight)
    for name, thick, thin in PHRASINGS:
      t0 = time.perf_counter()
      thick_p, thin_p, digits = paired_prompts(thick, thin, args.pairs)
      a, a_ok = measure(draw(fn, thick_p, max_tokens, args.seed, batch), digits, extractor)
      b, b_ok = measure(draw(fn, thin_p, max_tokens, args.seed, batch), digits, extractor)
      per_digit = (a > b).reshape(10, args.pairs).mean(1)
      row = {"guidance_weight": weight, "phrasing": name, "thick": thick, "thin": thin,
             "pairs": int(a.size), "thick_wins": float(np.mean(a > b)),
             "thick_wins_per_digit": [round(float(x), 3) for x in per_digit],
             "thickness_thick_mean": float(a.mean()), "thickness_thin_mean": float(b.mean()),
             "digit_accuracy": float(np.mean(np.concatenate([a_ok, b_ok]))),
             "seconds": round(time.perf_counter() - t0, 1)}
      rows.append(row)
      print(json.dumps(row), flush=True)
  out = {"workdir": args.workdir, "step": loaded.step, "pairs_per_digit": args.pairs,
         "machine": f"{os.cpu_count()}-core CPU, {jax.default_backend()}",
         "date": time.strftime("%Y-%m-%d"), "rows": rows}
  if args.out:
    with open(args.out, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
