"""StarGAN's one generator against one CycleGAN per pair of domains (issue 23's
StarGAN bar): parameter counts of the experiments as configured.

  python -m benchmarks.translation_params --out benchmarks/results/translation_params.json

Each experiment's family is built from its full config and its ``init`` is
traced on abstract inputs (``jax.eval_shape``), so no data is read and nothing
is trained. With K domains, translating between every pair takes K (K - 1) / 2
CycleGANs (two generators and two discriminators each) against StarGAN's one
G and one D; both are counted at the sizes the two MNIST experiments use
(``stargan_mnist_attributes``: 4 domains; ``cyclegan_mnist_fonts``: one pair).
"""
import argparse
import datetime
import json
import platform

import jax
import numpy as np

from benchmarks.memory import load_config
from benchmarks.peers import write_json
from genjax.families.translation.family import make_family

STARGAN = "experiments/gan/stargan_mnist_attributes.py"
CYCLEGAN = "experiments/gan/cyclegan_mnist_fonts.py"


def player_counts(path):
  """{player: parameter count} of the experiment's freshly initialised state."""
  config = load_config(path)
  family = make_family(config)
  shape = tuple(config.model.image_shape)
  batch = {"image": np.zeros((1,) + shape, np.float32),
           "target": np.zeros((1,) + shape, np.float32)}
  state = jax.eval_shape(lambda: family.init(jax.random.PRNGKey(0), batch))
  return {name: int(sum(np.prod(v.shape) for v in jax.tree_util.tree_leaves(p)))
          for name, p in state.params.items()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  star, cycle = player_counts(STARGAN), player_counts(CYCLEGAN)
  domains = 2 ** len(load_config(STARGAN).model.attributes)
  pairs = domains * (domains - 1) // 2
  result = {
      "command": "python -m benchmarks.translation_params --out " + (args.out or "-"),
      "date": datetime.date.today().isoformat(), "machine": platform.machine(),
      "domains": domains, "stargan_players": star, "stargan_total": sum(star.values()),
      "cyclegan_players_per_pair": cycle, "cyclegan_per_pair": sum(cycle.values()),
      "cyclegan_pairs": pairs, "cyclegan_all_pairs": pairs * sum(cycle.values()),
  }
  result["ratio_all_pairs_to_stargan"] = round(
      result["cyclegan_all_pairs"] / result["stargan_total"], 2)
  print(json.dumps(result, indent=1))
  if args.out:
    write_json(args.out, result)


if __name__ == "__main__":
  main()
