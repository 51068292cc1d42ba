"""The metrics of each experiment's first ``:smoke`` training step.

``python -m tests.experiments.first_step`` records them (run it once before
a refactor that must not change behaviour) into ``first_step_metrics.json``;
``test_smoke.py`` checks that the code still gives them (its smoke runs log every step). The step is the
trainer's own (``main.run`` with one step and ``log_every=1``), so its row in
``metrics.jsonl`` is exactly the first step's metrics.
"""
import json
import os
import sys
import tempfile

RECORD = os.path.join(os.path.dirname(__file__), "first_step_metrics.json")
# Timing and bookkeeping columns of a metrics row: not the model's behaviour.
NOT_MODEL = ("time", "images_per_sec", "images_seen", "train_time_s", "compile_s", "step")


def first_step_metrics(path, workdir, smoke_root):
  """The first step's metrics; None for a model that trains nothing."""
  from genjax import main
  from tests.helpers import load_config, mock_catalog_data, trains, with_smoke_deps
  config = with_smoke_deps(load_config(path), smoke_root)
  if not trains(config):
    return None
  config.unlock()
  config.train.update(num_steps=1, log_every=1, eval_metrics=())
  config.sample.num = 4
  config.lock()
  if config.data.offline:
    main.run(config, workdir, "train")
  else:   # a tfds catalog set: its mock data, as in the smoke test
    with mock_catalog_data():
      main.run(config, workdir, "train")
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  row = [r for r in rows if "images_per_sec" in r][0]   # the training row
  assert row["step"] == 1, row
  return {k: v for k, v in row.items() if k not in NOT_MODEL}


def record(paths):
  out = {}
  if os.path.exists(RECORD):   # adds to (or re-records) an existing record
    with open(RECORD) as f:
      out = json.load(f)
  with tempfile.TemporaryDirectory() as smoke_root:
    for path in paths:
      with tempfile.TemporaryDirectory() as tmp:
        out[path] = first_step_metrics(path, os.path.join(tmp, "run"), smoke_root)
        print(path, out[path], flush=True)
        with open(RECORD, "w") as f:
          json.dump(out, f, indent=1, sort_keys=True)
          f.write("\n")


if __name__ == "__main__":
  import tests.conftest  # noqa: F401  (the suite's XLA flags and cache)
  from tests.helpers import experiment_files
  record(sys.argv[1:] or experiment_files())
