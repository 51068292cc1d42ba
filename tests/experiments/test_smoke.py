"""Every experiment config: a `:smoke` run end to end, then a resume, eval and sample."""
import json
import os

import numpy as np
import pytest

from genjax import main
from genjax.eval import evaluators
from tests.experiments.first_step import NOT_MODEL, RECORD
from tests.helpers import (dependencies_first, experiment_files, family_of, load_config,
                           mock_catalog_data, program_group, share_as_smoke_run,
                           with_smoke_deps)

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




def checks_load(path, config, family):
  """Whether the smoke test also checks ``genjax.load(workdir).sample``
  against ``--mode sample``'s picture: for each family's resumed experiments
  and for every model that samples for condition fields or builds on other
  runs (where loading differs); the others load through the same code."""
  return (path in RESUMED or bool(config.deps) or bool(config.init_from.workdir)
          or bool(family.cond_keys))


# Dependencies first: under ``--dist loadgroup`` a group's tests run in this
# order on one worker, so an experiment's own smoke run (shared after its
# train leg) is there before the consumers that build on it ask for it.
SMOKE_PARAMS = [pytest.param(p, marks=pytest.mark.xdist_group(program_group(p)))
                for p in dependencies_first(EXPERIMENTS)]


def test_there_are_experiments():
  assert "experiments/autoencoder/vae_mnist.py" in EXPERIMENTS


def test_every_experiment_has_recorded_first_step_metrics():
  # (null for a model that trains nothing: test_smoke_eval_sample_untrained)
  assert sorted(RECORDED) == sorted(EXPERIMENTS)


def _run_smoke(path, workdir, smoke_root):
  config = with_smoke_deps(load_config(path), smoke_root)
  config.unlock()
  config.train.log_every = 1   # the first step's own row, checked below
  config.lock()
  if config.data.offline:
    return main.run(config, workdir, "train"), config
  with mock_catalog_data():
    return main.run(config, workdir, "train"), config


@pytest.mark.parametrize("path", EXPERIMENTS)
def test_docstring_holds_command(path):
  text = open(path).read()
  assert f"python launch.py --config {path}" in text


TRAINED = [p for p in SMOKE_PARAMS if RECORDED.get(p.values[0]) is not None]
UNTRAINED = [p for p in SMOKE_PARAMS if RECORDED.get(p.values[0], 0) is None]


def picture_cond(family, config, num):
  """The ``cond`` --mode sample draws for a family with ``cond_keys``: those
  fields of the first eval batch of the loop's grid size, cycled to ``num``."""
  if not family.cond_keys:
    return None
  from genjax import data as data_lib
  from genjax.families.base import cycle_to
  from genjax.train.loop import GRID_BATCH
  batch = next(iter(data_lib.eval_iterator(config.data, config.data.eval_split,
                                           GRID_BATCH, num_examples=GRID_BATCH)))
  return {k: np.asarray(cycle_to(np.asarray(batch[k]), num)) for k in family.cond_keys}


def assert_load_samples_like_sample_mode(workdir, config, step):
  """``genjax.load(workdir).sample`` draws the images ``--mode sample`` wrote."""
  import genjax
  from PIL import Image
  from genjax.train import images
  run = genjax.load(workdir)
  assert run.step == step
  num = config.sample.num
  got = images.to_uint8(images.tile(images.as_grid(run.sample(
      num, cond=picture_cond(run.family, config, num)))))
  png = np.asarray(Image.open(os.path.join(workdir, "samples", f"sample_{step}.png")))
  got = got[..., 0] if png.ndim == 2 else got
  assert got.shape == png.shape
  assert np.abs(got.astype(int) - png.astype(int)).max() <= 1


@pytest.mark.parametrize("path", TRAINED)
def test_smoke_train_resume_eval_sample(path, tmp_path, smoke_root):
  wd = str(tmp_path / "run")
  state, config = _run_smoke(path, wd, smoke_root)
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
  family = family_of(config)
  generates = family.sample is not None  # not a classifier
  assert os.path.exists(os.path.join(wd, "samples", f"step_{steps}.png")) == generates
  assert os.listdir(os.path.join(wd, "tb"))
  assert json.load(open(os.path.join(wd, "config.json")))["family"] == config.family
  share_as_smoke_run(path, wd, smoke_root)

  # Resume: a longer run continues from the last checkpoint.
  longer = with_smoke_deps(load_config(path), smoke_root)
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
    if generates and checks_load(path, longer, family):
      assert_load_samples_like_sample_mode(wd, longer, steps + extra)
  else:   # a tfds catalog set: sample (its grids and cond fields read data) under mock data
    with mock_catalog_data():
      main.run(longer, wd, "sample")
      if generates and checks_load(path, longer, family):
        assert_load_samples_like_sample_mode(wd, longer, steps)


@pytest.mark.parametrize("path", UNTRAINED)
def test_smoke_eval_sample_untrained(path, tmp_path, smoke_root):
  """A model made of frozen runs (nothing to train): train is refused with a
  clear error; eval and sample start the run in a fresh workdir and record
  the dependencies' pins."""
  from genjax.errors import ConfigError
  config = with_smoke_deps(load_config(path), smoke_root)
  wd = str(tmp_path / "run")
  with pytest.raises(ConfigError, match="nothing to train"):
    main.run(config, wd, "train")
  res = main.run(config, wd, "eval")
  assert res["step"] == 0
  for name in config.eval.metrics:
    for k in evaluators.result_keys(name, config.data.name):
      assert np.isfinite(res[k]), (name, k)
  paths = main.run(config, wd, "sample")
  assert os.path.exists(os.path.join(wd, "samples", "sample_0.png"))
  assert all(os.path.exists(p) for p in paths)
  assert_load_samples_like_sample_mode(wd, config, 0)
  pins = json.load(open(os.path.join(wd, "config.json")))["deps"]
  assert sorted(pins) == sorted(config.deps)
  assert all(pin["fingerprint"].startswith("sha256:") and pin["step"] > 0
             for pin in pins.values())
