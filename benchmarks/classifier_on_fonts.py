"""The MNIST classifier's accuracy on font_digits: the ceiling of CycleGAN's
class preservation MNIST -> fonts (cyclegan_mnist_fonts), whose
translations that classifier reads.

  python -m benchmarks.classifier_on_fonts --out benchmarks/results/classifier_on_fonts.json
"""
import argparse
import datetime
import json

import jax.numpy as jnp
import numpy as np

from benchmarks.peers import write_json
from genjax.data.font_digits import load_font_digits_arrays
from genjax.eval.features import load_feature_net, quantize


def accuracy(net, images, labels, batch=500):
  """Share of images [N,28,28,1] (uint8) the net labels as ``labels``."""
  predicted = [np.asarray(net.apply(net.params, quantize(
      jnp.asarray(images[i:i + batch], jnp.float32) / 255.0))["logits"]).argmax(-1)
               for i in range(0, len(images), batch)]
  return float(np.mean(np.concatenate(predicted) == labels))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  net = load_feature_net("mnist")
  splits = load_font_digits_arrays()
  result = {"command": "python -m benchmarks.classifier_on_fonts --out " + (args.out or "-"),
            "date": datetime.date.today().isoformat(), "net": "mnist"}
  for split, (images, labels) in splits.items():
    result[split] = {"images": int(len(images)), "accuracy": accuracy(net, images, labels)}
  print(json.dumps(result, indent=1))
  if args.out:
    write_json(args.out, result)


if __name__ == "__main__":
  main()
