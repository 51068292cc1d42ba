"""The PyTorch side of benchmarks/peers.py: one JSON command per stdin line, one JSON reply per stdout line.

  .venv-bench/bin/python benchmarks/peers/torch_worker.py --threads 2

peers.py starts it (never run by hand but to debug); it runs in the benchmark
venv (``bash benchmarks/peers/setup.sh``). Commands:
  {"cmd": "info"}                          -> {"torch": ..., "diffusers": ..., "threads": ...}
  {"cmd": "build", "case": C, "batch": B}  -> {"params": {...}, "check": {...}}
  {"cmd": "run", "case": C, "steps": N}    -> {"seconds": wall time of N steps}
  {"cmd": "quit"}
A failure replies {"error": traceback}. Anything libraries print goes to stderr,
so stdout carries only replies.
"""
import argparse
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def handle(msg, cases, twins):
  """The reply to one command (``cases``: the twins built so far, by case)."""
  import torch
  cmd = msg["cmd"]
  if cmd == "info":
    import diffusers
    return {"torch": torch.__version__, "diffusers": diffusers.__version__,
            "threads": torch.get_num_threads()}
  if cmd == "build":
    torch.manual_seed(0)
    case = cases[msg["case"]] = twins.build(msg["case"], msg.get("batch"))
    return {"params": case.param_counts(), "check": case.check()}
  if cmd == "run":
    case = cases[msg["case"]]
    t0 = time.perf_counter()
    for _ in range(int(msg["steps"])):
      case.step()
    return {"seconds": time.perf_counter() - t0}
  raise ValueError(f"unknown command {cmd!r}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
  args = parser.parse_args()
  replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
  sys.stdout = sys.stderr
  import torch
  torch.set_num_threads(args.threads)
  import twins
  cases = {}
  for line in sys.stdin:
    if not line.strip():
      continue
    msg = json.loads(line)
    if msg.get("cmd") == "quit":
      break
    try:
      reply = handle(msg, cases, twins)
    except Exception:  # noqa: BLE001 -- reported to peers.py, which raises
      reply = {"error": traceback.format_exc()}
    replies.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
  main()
