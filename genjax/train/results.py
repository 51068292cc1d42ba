"""The results table: scan workdirs, print one Markdown table, plot each run.

    python -m genjax.train.results runs/ [more workdirs or folders]
        [--metrics fid_mnist,kid_mnist] [--out results.md] [--plots DIR]
        [--compare r_t,ada_p,fid_mnist --compare-out runs/compare.png]
        [--keep benchmarks/results/runs]

A workdir is a folder with ``config.json`` and ``metrics.jsonl``; a folder of
them is scanned recursively. Each run is one row: experiment (the ``--config``
of its last training launch, else the folder name), step, images seen,
training wall time, and the latest evaluated value of each metric (``± stderr``
where recorded). For every run a PNG of each metric against the training
step (and the training loss) is written to ``<workdir>/metrics.png``, or to
``--plots/<run>.png``. ``--compare`` draws the named metrics of all runs
on shared axes in one PNG (one panel per metric, one line per run); a name is
looked up among the training rows (e.g. ``r_t``, ``ada_p``, ``loss``) and
among the evaluations (``fid_mnist``; ``eval/r_t`` for the evaluated one
when training logs a metric of the same name). ``--keep DIR`` copies each
run's ``metrics.jsonl``, ``config.json`` and ``commands.log`` to
``DIR/<run>/``: the rows every figure of the table came from, kept beside
the figures when the workdirs (checkpoints and all) are not.
"""
import argparse
import json
import math
import os
import shutil
import sys

from genjax.train.workdir import launched_experiment
from genjax.train.writer import read_jsonl

SKIP = ("num_examples", "num_samples", "eval_time_s")


def find_workdirs(paths):
  found = []
  for p in paths:
    if not os.path.isdir(p):
      raise SystemExit(f"genjax.train.results: error: {p} is not a directory")
    for root, dirs, files in os.walk(p):
      dirs[:] = sorted(d for d in dirs if d not in ("checkpoints", "tb", "samples"))
      if "metrics.jsonl" in files and "config.json" in files:
        found.append(root)
  return sorted(found)


def summarize(workdir):
  """One run's row: identity, progress and its latest eval metrics."""
  rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  train = [r for r in rows if "train_time_s" in r]
  evals = {}
  for r in rows:
    for k, v in r.items():
      if k.startswith("eval/") and isinstance(v, (int, float)):
        evals[k[len("eval/"):]] = (r["step"], v)
  with open(os.path.join(workdir, "config.json")) as f:
    cfg = json.load(f)
  exp = launched_experiment(workdir)
  return dict(
      workdir=workdir,
      experiment=os.path.relpath(exp) if exp else os.path.basename(workdir.rstrip("/")),
      family=cfg.get("family", ""),
      step=train[-1]["step"] if train else 0,
      images_seen=train[-1].get("images_seen") if train else None,
      train_min=train[-1]["train_time_s"] / 60 if train else None,
      metrics={k: v for k, (_, v) in evals.items()},
      eval_step=max((s for s, _ in evals.values()), default=None),
      rows=rows)


def metric_columns(runs, wanted=None):
  if wanted:
    return list(wanted)
  names = set()
  for r in runs:
    names |= {k for k in r["metrics"] if not k.endswith(("_stderr", "_std"))
              and "/" not in k and k not in SKIP}
  return sorted(names)


def _fmt(v, digits=4):
  if v is None or (isinstance(v, float) and math.isnan(v)):
    return "–"
  if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
    return f"{int(v):,}"
  return f"{v:.{digits}g}"


def markdown(runs, columns):
  head = ["experiment", "step", "images seen", "train min"] + columns
  lines = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
  for r in runs:
    cells = [f"`{r['experiment']}`", _fmt(r["step"]), _fmt(r["images_seen"]),
             _fmt(r["train_min"], 3)]
    for c in columns:
      v = r["metrics"].get(c)
      err = r["metrics"].get(c + "_stderr")
      cells.append(_fmt(v) + (f" ± {err:.2g}" if v is not None and err else ""))
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def _series(run, name):
  """(step, value) pairs of a training metric or, failing that, of eval/<name>;
  a name written ``eval/<metric>`` picks the evaluations only."""
  for key in ((name,) if name.startswith("eval/") else (name, "eval/" + name)):
    train_only = not key.startswith("eval/")
    pts = [(r["step"], r[key]) for r in run["rows"]
           if isinstance(r.get(key), (int, float)) and ("train_time_s" in r or not train_only)]
    if pts:
      return pts
  return []


def compare_plot(runs, names, path):
  """One PNG: a panel per metric in ``names``, a line per run."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, len(names), squeeze=False, figsize=(4.5 * len(names), 3.2))
  drawn = 0
  for ax, name in zip(axes.flat, names):
    for run in runs:
      pts = _series(run, name)
      if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3,
                label=os.path.basename(run["workdir"].rstrip("/")))
        drawn += 1
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    if ax.get_lines():
      ax.legend(fontsize=7)
  if not drawn:
    plt.close(fig)
    raise SystemExit(f"genjax.train.results: error: none of the runs has "
                     f"{', '.join(names)} (training or eval metrics)")
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot(run, columns, path):
  """PNG: training loss and each metric against the training step."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  series = {}
  for row in run["rows"]:
    if "loss" in row:
      series.setdefault("train loss", []).append((row["step"], row["loss"]))
    for c in columns:
      if "eval/" + c in row:
        series.setdefault(c, []).append((row["step"], row["eval/" + c]))
  if not series:
    return None
  n = len(series)
  cols = min(n, 3)
  fig, axes = plt.subplots(math.ceil(n / cols), cols, squeeze=False,
                           figsize=(4 * cols, 3 * math.ceil(n / cols)))
  for ax, (name, pts) in zip(axes.flat, series.items()):
    xs, ys = zip(*pts)
    ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3)
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
  for ax in list(axes.flat)[n:]:
    ax.axis("off")
  fig.suptitle(run["experiment"], fontsize=10)
  fig.tight_layout()
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


KEPT_FILES = ("metrics.jsonl", "config.json", "commands.log")


def keep_sources(workdir, folder):
  """Copies the files a run's figures come from to ``folder/<run>/``."""
  dest = os.path.join(folder, os.path.basename(workdir.rstrip("/")))
  os.makedirs(dest, exist_ok=True)
  for name in KEPT_FILES:
    if os.path.exists(os.path.join(workdir, name)):
      shutil.copyfile(os.path.join(workdir, name), os.path.join(dest, name))
  return dest


def main(argv=None):
  ap = argparse.ArgumentParser(prog="python -m genjax.train.results",
                               description=__doc__.split("\n")[0])
  ap.add_argument("paths", nargs="+", help="workdirs or folders of workdirs")
  ap.add_argument("--metrics", default="", help="comma-separated columns (default: all)")
  ap.add_argument("--out", default="", help="also write the table to this file")
  ap.add_argument("--plots", default="", help="folder for the PNGs (default: each workdir)")
  ap.add_argument("--compare", default="",
                  help="comma-separated metrics to overlay for all runs in one PNG")
  ap.add_argument("--compare-out", default="compare.png", help="the --compare PNG")
  ap.add_argument("--keep", default="",
                  help="copy each run's metrics.jsonl, config.json and commands.log here")
  args = ap.parse_args(argv)
  runs = [summarize(w) for w in find_workdirs(args.paths)]
  if not runs:
    raise SystemExit("genjax.train.results: error: no workdirs (folders with "
                     f"config.json and metrics.jsonl) under {', '.join(args.paths)}")
  cols = metric_columns(runs, [m for m in args.metrics.split(",") if m])
  table = markdown(runs, cols)
  print(table)
  if args.out:
    with open(args.out, "w") as f:
      f.write(table + "\n")
  for r in runs:
    name = os.path.basename(r["workdir"].rstrip("/")) + ".png"
    path = (os.path.join(args.plots, name) if args.plots else
            os.path.join(r["workdir"], "metrics.png"))
    if plot(r, metric_columns([r]), path):
      print(f"wrote {path}", file=sys.stderr)
  if args.keep:
    for r in runs:
      print(f"kept {keep_sources(r['workdir'], args.keep)}", file=sys.stderr)
  if args.compare:
    names = [m for m in args.compare.split(",") if m]
    print(f"wrote {compare_plot(runs, names, args.compare_out)}", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
