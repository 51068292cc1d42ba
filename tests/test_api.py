"""genjax.load: the README's example runs, and what a loaded run offers."""
import os
import re

import numpy as np
import pytest

import genjax
from genjax.errors import WorkdirError
from tests.helpers import ROOT, smoke_run

VAE = "experiments/autoencoder/vae_mnist.py"


def readme_example():
  text = open(os.path.join(ROOT, "README.md")).read()
  blocks = re.findall(r"```python\n(.*?)```", text, re.S)
  [block] = [b for b in blocks if "genjax.load" in b]
  return "\n".join(line.strip() for line in block.splitlines())


def test_the_readme_example_runs_on_a_trained_run(smoke_root, capsys):
  workdir = smoke_run(VAE, smoke_root)
  scope = {}
  exec(readme_example().replace('"runs/vae_mnist"', repr(workdir)), scope)
  run, images, codes = scope["run"], scope["images"], scope["codes"]
  assert images.shape == (16, 28, 28, 1) and images.dtype == np.float32
  assert 0.0 <= images.min() <= images.max() <= 1.0
  assert codes.shape == (16, run.config.model.latent_dim)
  assert capsys.readouterr().out.strip() == f"vae {run.step}"
  assert "autoencoder/vae, step 6" in repr(run)


def test_a_seed_gives_the_same_images_and_another_seed_others(smoke_root):
  run = genjax.load(smoke_run(VAE, smoke_root))
  a, b, c = run.sample(4, seed=1), run.sample(4, seed=1), run.sample(4, seed=2)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_an_earlier_step_and_a_model_without_samples(smoke_root):
  run = genjax.load(smoke_run(VAE, smoke_root), step=3)
  assert run.step == 3
  classifier = genjax.load(smoke_run("experiments/diffusion/classifier_mnist.py",
                                     smoke_root))
  with pytest.raises(ValueError, match="draws no samples; see run.exports"):
    classifier.sample(2)
  assert {"logits", "log_prob"} <= set(classifier.exports)
  with pytest.raises(WorkdirError, match="no checkpoint at step 4"):
    genjax.load(smoke_run(VAE, smoke_root), step=4)
