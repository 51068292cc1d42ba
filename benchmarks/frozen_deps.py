"""Compile time and program size of a train step over a frozen dependency,
0.1M vs 10M frozen parameters (issue: frozen parameters are a jit argument).

    python benchmarks/frozen_deps.py [--repeats 7] [--out benchmarks/results/frozen_deps.json]

The consumer is the test-only linear probe of tests/train/probe.py over an
MLP autoencoder run (hidden 64: 0.1M parameters; 6400: 10M), each trained
for one step in a temporary directory. For each size it compiles the probe's
jitted step (XLA's persistent cache off) and reports the median compile time, the
serialized executable's size and the HLO text size; then the same step
with the teacher's parameters closed over as constants, which genjax does
not do, for contrast.
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                     "frozen_deps.json"))
  parser.add_argument("--repeats", type=int, default=7)
  args = parser.parse_args()
  import jax
  jax.config.update("jax_enable_compilation_cache", False)
  from genjax import main as genjax_main
  from tests.train import probe
  probe.register()
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    for hidden in (64, 6400):
      teacher = os.path.join(tmp, f"teacher{hidden}")
      config = probe.teacher_config(hidden)
      config.lock()
      genjax_main.run(config, teacher, "train")
      for closed in (False, True):
        row = probe.step_costs(teacher, os.path.join(tmp, f"probe{hidden}{closed}"),
                               closed_over=closed, repeats=args.repeats)
        row.update(hidden=hidden, frozen_as="constants" if closed else "argument")
        rows.append(row)
        print(json.dumps(row), flush=True)
  arg = {r["hidden"]: r for r in rows if r["frozen_as"] == "argument"}
  small, big = arg[64], arg[6400]
  summary = dict(
      machine="2-core CPU", command="python benchmarks/frozen_deps.py",
      compile_ratio=big["compile_s"] / small["compile_s"],
      executable_ratio=big["executable_bytes"] / small["executable_bytes"],
      hlo_ratio=big["hlo_bytes"] / small["hlo_bytes"], rows=rows)
  print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))
  with open(args.out, "w") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")


if __name__ == "__main__":
  main()
