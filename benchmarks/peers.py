"""genjax vs PyTorch twins of the same models, timed alternately in one run: images/s and their ratio.

  bash benchmarks/peers/setup.sh        # once: .venv-bench (torch 2.13.0 CPU, diffusers 0.39)
  python benchmarks/peers.py --out benchmarks/results/peers_cpu.json
  python benchmarks/peers.py --cases unet,ddim --windows 7 --window_steps 3

Cases (genjax side: benchmarks/peers/genjax_side.py, the experiments' own
families and jitted steps; torch side: benchmarks/peers/twins.py, which says
what differs between the twins, none of it in FLOPs):
  unet   DDPM U-Net train step, 1,112,801 parameters (genjax's UNet vs
         diffusers' UNet2DModel), batch 64, 28x28x1: eps-MSE at random t,
         Adam, grad clip 1.0, EMA
  dcgan  experiments/gan/dcgan_mnist.py: one D step + one G step, batch 32
  vae    experiments/autoencoder/vae_mnist.py: the conv VAE step, batch 128
  ddim   DDIM-50 sampling (eta 0) of 64 images with the U-Net of ``unet``
         (genjax's jitted family.sample vs diffusers' DDIMScheduler loop)

How: genjax never imports torch, so the twin runs in a worker process of the
benchmark venv (benchmarks/peers/torch_worker.py, ``--torch_python``) that
answers one JSON line per command on stdin/stdout. Per case both sides are
built (parameter counts printed; one forward pass at init on the same numpy
input is checked to agree in output shape and in output std within 10x:
MISMATCH in the table otherwise), warmed up
with one window each, then timed in alternating windows of ``window_steps``
steps (genjax, torch, genjax, torch, ...) so that load on the machine hits
both alike; each side reports the median window. torch runs on
``--torch_threads`` (2) threads; XLA uses every core it sees. A step is one
train step of ``batch`` images, or for ddim one batch of samples. The ratio
is genjax images/s over torch images/s (> 1: genjax is faster).

Run it on a quiet machine. On a loaded one torch's OpenMP threads spin-wait
for each other and its 2-thread figures collapse (a DCGAN step 5-8x slower
on the 2-core machine while another job ran; 1 thread did not suffer):
``OMP_WAIT_POLICY=PASSIVE`` in the environment (the worker inherits it)
avoids that.

Prints a table; ``--out`` writes it as JSON with the machine (nproc, CPU
model, jax / torch / diffusers versions, jax's devices, threading variables,
date) and every window's seconds.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers")
sys.path.insert(0, ROOT)
sys.path.insert(0, PEERS)

CASES = ("unet", "dcgan", "vae", "ddim")
WINDOW_STEPS = {"unet": 5, "dcgan": 20, "vae": 20, "ddim": 1}
DEFAULT_TORCH_PYTHON = os.path.join(ROOT, ".venv-bench", "bin", "python")
WORKER = os.path.join(PEERS, "torch_worker.py")
STD_FACTOR = 10.0
# Environment variables that change either side's threading; the JSON records them.
THREAD_ENV = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")


class BenchVenvMissing(RuntimeError):
  """The torch interpreter of the benchmark venv is not there."""


def check_torch_python(path):
  """``path`` if it is an executable file, else BenchVenvMissing saying how to make it."""
  if os.path.isfile(path) and os.access(path, os.X_OK):
    return path
  raise BenchVenvMissing(
      f"No PyTorch interpreter at {path}: the benchmark venv is missing. Create it "
      "with `bash benchmarks/peers/setup.sh` (torch 2.13.0 CPU + diffusers 0.39 in "
      ".venv-bench/), or point --torch_python at an interpreter that has them.")


def parse_cases(text):
  """'unet,ddim' -> ('unet', 'ddim'); an unknown name is a ValueError."""
  cases = tuple(c.strip() for c in text.split(",") if c.strip())
  unknown = [c for c in cases if c not in CASES]
  if unknown or not cases:
    raise ValueError(f"--cases {text!r}: choose from {', '.join(CASES)}.")
  return cases


class TorchWorker:
  """The torch twin's process: ``request(cmd=..., ...)`` sends one JSON line, returns the reply."""

  def __init__(self, python, threads, worker=WORKER):
    self.proc = subprocess.Popen(
        [check_torch_python(python), worker, "--threads", str(threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

  def request(self, **msg):
    self.proc.stdin.write(json.dumps(msg) + "\n")
    self.proc.stdin.flush()
    line = self.proc.stdout.readline()
    if not line:
      raise RuntimeError(f"the torch worker exited (code {self.proc.wait()}) on {msg}")
    reply = json.loads(line)
    if "error" in reply:
      raise RuntimeError(f"the torch worker failed on {msg}:\n{reply['error']}")
    return reply

  def close(self):
    if self.proc.poll() is None:
      self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
      self.proc.stdin.close()
      self.proc.wait(timeout=60)


def images_per_sec(seconds, steps, batch):
  return batch * steps / seconds


def ratio(a, b):
  return a / b if b else float("nan")


def summarise(genjax_s, torch_s, steps, batch):
  """Per-window seconds of both sides -> medians, images/s and their ratio."""
  g, t = statistics.median(genjax_s), statistics.median(torch_s)
  g_ips, t_ips = images_per_sec(g, steps, batch), images_per_sec(t, steps, batch)
  return {"genjax_window_s": [round(s, 4) for s in genjax_s],
          "torch_window_s": [round(s, 4) for s in torch_s],
          "genjax_images_per_sec": round(g_ips, 2), "torch_images_per_sec": round(t_ips, 2),
          "ratio_genjax_over_torch": round(ratio(g_ips, t_ips), 3)}


def agreement(genjax_check, torch_check, factor=STD_FACTOR):
  """Whether the two forward checks agree: the same output shape, and every
  std within ``factor`` of the other's (a 0 on both sides agrees)."""
  stds = {}
  ok = list(genjax_check["shape"]) == list(torch_check["shape"])
  for name, g in genjax_check["std"].items():
    t = torch_check["std"][name]
    within = (g == t == 0) or (g > 0 and t > 0 and 1 / factor <= g / t <= factor)
    ok = ok and within
    stds[name] = {"genjax": round(g, 5), "torch": round(t, 5), "within": within}
  return {"ok": ok, "shape": list(genjax_check["shape"]), "std": stds}


def alternate(genjax_run, torch_run, windows, steps):
  """Warm-up window of each, then ``windows`` alternating windows: (genjax_s, torch_s)."""
  genjax_run(steps)
  torch_run(steps)
  genjax_s, torch_s = [], []
  for _ in range(windows):
    genjax_s.append(genjax_run(steps))
    torch_s.append(torch_run(steps))
  return genjax_s, torch_s


def run_case(case, worker, windows, steps):
  """Build both sides of ``case``, check them against each other and time them."""
  import genjax_side
  side = genjax_side.build(case)
  twin = worker.request(cmd="build", case=case, batch=side.batch_size)
  check = agreement(side.check, twin["check"])
  print(f"[{case}] params genjax {side.params} | torch {twin['params']}; "
        f"compile {side.compile_s:.1f}s; forward check "
        f"{'ok' if check['ok'] else 'MISMATCH'}: {check['std']}", flush=True)
  torch_run = lambda n: worker.request(cmd="run", case=case, steps=n)["seconds"]
  genjax_s, torch_s = alternate(side.run, torch_run, windows, steps)
  return dict(case=case, batch=side.batch_size, window_steps=steps, windows=windows,
              params_genjax=side.params, params_torch=twin["params"],
              genjax_compile_s=round(side.compile_s, 2), forward_check=check,
              **summarise(genjax_s, torch_s, steps, side.batch_size))


def cpu_model(cpuinfo="/proc/cpuinfo"):
  """The 'model name' of /proc/cpuinfo (the platform's processor elsewhere)."""
  try:
    with open(cpuinfo) as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def machine_info(torch_info):
  import jax
  return {"nproc": os.cpu_count(), "cpu_model": cpu_model(), "platform": platform.platform(),
          "jax": jax.__version__, "jax_backend": jax.default_backend(),
          "jax_device_count": jax.device_count(), "torch": torch_info["torch"],
          "diffusers": torch_info["diffusers"], "torch_threads": torch_info["threads"],
          "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
          "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def table(rows):
  """The results as a fixed-width text table."""
  head = ("case", "batch", "params genjax", "params torch", "genjax img/s", "torch img/s",
          "genjax/torch", "check")
  lines = [head] + [(
      r["case"], str(r["batch"]), fmt_params(r["params_genjax"]), fmt_params(r["params_torch"]),
      f"{r['genjax_images_per_sec']:.1f}", f"{r['torch_images_per_sec']:.1f}",
      f"{r['ratio_genjax_over_torch']:.2f}", "ok" if r["forward_check"]["ok"] else "MISMATCH")
      for r in rows]
  widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
  return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines)


def fmt_params(counts):
  return "+".join(f"{n:,}" for n in counts.values())


def write_json(path, result):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--cases", default=",".join(CASES), type=parse_cases,
                 help="comma-separated, of " + ", ".join(CASES))
  p.add_argument("--windows", type=int, default=5, help="timed windows per side (median)")
  p.add_argument("--window_steps", type=int, default=None,
                 help=f"steps per window (default per case: {WINDOW_STEPS})")
  p.add_argument("--out", default=None, help="write the results as JSON here")
  p.add_argument("--torch_python", default=DEFAULT_TORCH_PYTHON,
                 help="the benchmark venv's python (benchmarks/peers/setup.sh)")
  p.add_argument("--torch_threads", type=int, default=2, help="torch.set_num_threads")
  return p.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  try:
    worker = TorchWorker(args.torch_python, args.torch_threads)
  except BenchVenvMissing as e:
    print(f"peers: error: {e}", file=sys.stderr)
    return 2
  try:
    machine = machine_info(worker.request(cmd="info"))
    print(json.dumps(machine), flush=True)
    rows = [run_case(case, worker, args.windows, args.window_steps or WINDOW_STEPS[case])
            for case in args.cases]
  finally:
    worker.close()
  print(table(rows))
  if args.out:
    write_json(args.out, {"machine": machine, "results": rows})
    print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
