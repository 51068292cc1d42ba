"""Train steps per second with a checkpoint every 10 steps vs none (issue 25).

  python benchmarks/save_throughput.py --steps 200,60 --repeats 3 \
      --out benchmarks/results/save_throughput_cpu.json

For each experiment (its full config), two runs alternate ``--repeats``
times in fresh workdirs: ``ckpt_every=10`` (orbax's asynchronous save: the
loop hands the state over and goes on) and ``ckpt_every`` > the run (only the
final save, which both runs make). Wall-clock seconds of ``main.run`` minus
the step's compile time (the first metrics row's ``compile_s``) give steps/s;
the median over repeats is reported with the ratio, after one untimed
warm-up run; the order alternates. Evaluation, pictures and periodic logging
are off in both. Take it on a quiet machine.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EXPERIMENTS = ("experiments/autoencoder/vae_mnist.py", "experiments/diffusion/ddpm_mnist.py")


def _config(path, steps, ckpt_every):
  from benchmarks.memory import load_config
  c = load_config(path)
  c.train.update(num_steps=steps, ckpt_every=ckpt_every, log_every=steps,
                 eval_every=0, sample_every=0, eval_metrics=())
  c.lock()
  return c


def _timed_run(path, steps, ckpt_every):
  """Steps per second of one fresh run (compile excluded) and its saves."""
  from genjax import main
  with tempfile.TemporaryDirectory() as root:
    wd = os.path.join(root, "run")
    t0 = time.perf_counter()
    main.run(_config(path, steps, ckpt_every), wd, "train")
    wall = time.perf_counter() - t0
    rows = [json.loads(l) for l in open(os.path.join(wd, "metrics.jsonl"))]
    compile_s = next(r["compile_s"] for r in rows if "compile_s" in r)
  return steps / (wall - compile_s)


def measure(path, steps, repeats, log=print):
  _timed_run(path, 20, 10)   # warm-up: first-use costs (data, imports) not timed
  every10, final = [], []
  for i in range(repeats):   # alternating which goes first
    order = (10, 10 * steps) if i % 2 == 0 else (10 * steps, 10)
    got = {every: _timed_run(path, steps, every) for every in order}
    every10.append(got[10])
    final.append(got[10 * steps])
    log(f"{path}: every 10 steps {every10[-1]:.2f} steps/s, final only {final[-1]:.2f}")
  a, b = statistics.median(every10), statistics.median(final)
  return dict(experiment=path, steps=steps, repeats=repeats,
              steps_per_s_save_every_10=round(a, 3), steps_per_s_final_save_only=round(b, 3),
              ratio=round(a / b, 3), runs_save_every_10=every10, runs_final_save_only=final)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--experiments", default=",".join(EXPERIMENTS))
  p.add_argument("--steps", default="200,60",
                 help="steps per run, one per experiment (or one for all)")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default="")
  args = p.parse_args(argv)
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  import jax
  paths = [e for e in args.experiments.split(",") if e]
  steps = [int(n) for n in args.steps.split(",")]
  steps = steps * len(paths) if len(steps) == 1 else steps
  if len(steps) != len(paths):
    p.error(f"--steps gives {len(steps)} counts for {len(paths)} experiments")
  rows = [measure(e, n, args.repeats) for e, n in zip(paths, steps)]
  for r in rows:
    print(f"{r['experiment']}: {r['steps_per_s_save_every_10']} steps/s saving every 10 "
          f"vs {r['steps_per_s_final_save_only']} (ratio {r['ratio']})")
  if args.out:
    with open(args.out, "w") as f:
      json.dump(dict(machine="2-core CPU", backend=jax.default_backend(),
                     command="python benchmarks/save_throughput.py " + " ".join(argv or sys.argv[1:]),
                     rows=rows), f, indent=2)


if __name__ == "__main__":
  main()
