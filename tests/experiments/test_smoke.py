"""Every experiment config: a `:smoke` run end to end, then a resume, eval and sample."""
import hashlib
import json
import os

import numpy as np
import pytest

from genjax import main, registry
from genjax.eval import evaluators
from tests.experiments.first_step import NOT_MODEL, RECORD
from tests.helpers import experiment_files, load_config

with open(RECORD) as _f:
  RECORDED = json.load(_f)   # path -> metrics of the first smoke step

EXPERIMENTS = experiment_files()
# The resume leg runs for one experiment of each family (resuming is
# the trainer's, tested in depth in tests/train and per family); the others
# go train -> eval -> sample, which keeps the suite within its time budget.
FLAGSHIPS = ("experiments/autoencoder/vae_mnist.py",
             "experiments/autoregressive/pixelcnn_binary_mnist.py",
             "experiments/diffusion/ddpm_mnist.py", "experiments/gan/dcgan_mnist.py")
RESUMED = set(FLAGSHIPS) | {  # and the first experiment of any other family
    p for p in {os.path.dirname(p): p for p in reversed(EXPERIMENTS)}.values()
    if not any(f.startswith(os.path.dirname(p) + "/") for f in FLAGSHIPS)}


def _same_program_group(path):
  """Experiments whose smoke runs compile the same programs (the same family,
  model and batch) share an xdist group: under ``--dist loadgroup`` they run
  one after the other on one worker, so the second loads the first's compiled
  steps from the session's persistent XLA cache instead of compiling them
  concurrently on the other worker."""
  c = load_config(path)
  key = json.dumps({"family": c.family, "model": c.model.to_dict(),
                    "batch": c.train.batch_size}, sort_keys=True, default=str)
  return hashlib.sha1(key.encode()).hexdigest()[:10]


SMOKE_PARAMS = [pytest.param(p, marks=pytest.mark.xdist_group(_same_program_group(p)))
                for p in EXPERIMENTS]


def test_there_are_experiments():
  assert "experiments/autoencoder/vae_mnist.py" in EXPERIMENTS


def test_every_experiment_has_recorded_first_step_metrics():
  assert sorted(RECORDED) == sorted(EXPERIMENTS)


def _run_smoke(path, workdir):
  config = load_config(path)
  config.unlock()
  config.train.log_every = 1   # the first step's own row, checked below
  config.lock()
  if config.data.offline:
    return main.run(config, workdir, "train"), config
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=64):
    return main.run(config, workdir, "train"), config


@pytest.mark.parametrize("path", EXPERIMENTS)
def test_docstring_holds_command(path):
  text = open(path).read()
  assert f"python launch.py --config {path}" in text


@pytest.mark.parametrize("path", SMOKE_PARAMS)
def test_smoke_train_resume_eval_sample(path, tmp_path):
  wd = str(tmp_path / "run")
  state, config = _run_smoke(path, wd)
  steps = config.train.num_steps
  assert int(state.step) == steps
  rows = [json.loads(l) for l in open(os.path.join(wd, "metrics.jsonl"))]
  train_rows = [r for r in rows if "loss" in r]
  assert [r["step"] for r in train_rows][-1] == steps
  assert all(r["images_per_sec"] > 0 for r in train_rows)
  # Behaviour kept across refactors: the first step's metrics equal those
  # recorded before the family code was restructured (first_step.py).
  first = {k: v for k, v in train_rows[0].items() if k not in NOT_MODEL}
  assert train_rows[0]["step"] == 1
  assert sorted(first) == sorted(RECORDED[path])
  for key, want in RECORDED[path].items():
    # float32 round-off of a reordered sum is allowed; a changed loss is not
    np.testing.assert_allclose(first[key], want, rtol=2e-5, atol=1e-6, err_msg=key)
  generates = registry.make_family(config).sample is not None  # not a classifier
  assert os.path.exists(os.path.join(wd, "samples", f"step_{steps}.png")) == generates
  assert os.listdir(os.path.join(wd, "tb"))
  assert json.load(open(os.path.join(wd, "config.json")))["family"] == config.family

  # Resume: a longer run continues from the last checkpoint.
  longer = load_config(path)
  extra = 3 if path in RESUMED else 0
  longer.unlock()
  longer.train.num_steps = steps + extra
  longer.lock()
  if config.data.offline:
    if extra:
      state = main.run(longer, wd, "train")
      assert int(state.step) == steps + extra
    res = main.run(longer, wd, "eval")
    assert res["step"] == steps + extra
    for name in longer.eval.metrics:
      for k in evaluators.result_keys(name, longer.data.name):
        assert np.isfinite(res[k]), (name, k)
    paths = main.run(longer, wd, "sample")
    assert os.path.exists(os.path.join(wd, "samples", f"sample_{steps + extra}.png")) == generates
    assert all(os.path.exists(p) for p in paths)
