"""The NaN guard stops with a clear message and keeps the last good checkpoint."""
import dataclasses
import os

import jax
import jax.numpy as jnp
import pytest

from genjax import main, registry
from genjax.errors import ConfigError, TrainingDiverged
from genjax.train import checkpoint as ckpt_lib
from tests.helpers import load_config

VAE = "experiments/autoencoder/vae_mnist.py"


def _nan_loss(state, metrics, bad):
  return state, dict(metrics, loss=metrics["loss"] + bad)


def _nan_params(state, metrics, bad):
  return state.replace(params=jax.tree.map(lambda p: p + bad, state.params)), metrics


def _train_poisoned(tmp_path, monkeypatch, poison):
  """12 VAE steps whose ``poison`` turns NaN from step 5 on (as after a blow-up)."""
  real = registry.make_family

  def poisoned(config, **kwargs):
    family = real(config, **kwargs)

    def train_step(state, batch):
      state, metrics = family.train_step(state, batch)
      return poison(state, metrics, jnp.where(state.step >= 5, jnp.nan, 0.0))

    return dataclasses.replace(family, train_step=train_step)

  monkeypatch.setattr(registry, "make_family", poisoned)
  c = load_config(VAE)
  c.unlock()
  c.train.update(num_steps=12, ckpt_every=2, log_every=1)
  c.lock()
  wd = str(tmp_path / "run")
  main.run(c, wd, "train")
  return wd


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  with pytest.raises(TrainingDiverged, match=r"loss became NaN/inf at step 5.*step 4"):
    _train_poisoned(tmp_path, monkeypatch, _nan_loss)
  wd = str(tmp_path / "run")
  assert ckpt_lib.Checkpointer(wd).all_steps()[-1] == 4
  assert os.path.exists(os.path.join(wd, "config.json"))


def test_nan_parameters_with_finite_metrics_stop_and_keep_last_good_checkpoint(
    tmp_path, monkeypatch):
  """The guard's other branch: every metric finite, the new state is not."""
  with pytest.raises(TrainingDiverged,
                     match=r"the parameters became NaN/inf at step 5.*step 4"):
    _train_poisoned(tmp_path, monkeypatch, _nan_params)
  assert ckpt_lib.Checkpointer(str(tmp_path / "run")).all_steps()[-1] == 4


def test_unknown_training_metric_is_caught_at_start(tmp_path):
  c = load_config(VAE)
  c.unlock()
  c.train.eval_metrics = ("fidd",)  # a typo of a real metric
  c.lock()
  with pytest.raises(ConfigError, match="nelbo"):
    main.run(c, str(tmp_path / "run"), "train")
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


@pytest.mark.parametrize("field,value", [("lr", float("nan")), ("lr", 0.0),
                                         ("lr", -1e-3), ("lr", float("inf"))])
def test_a_nan_or_non_positive_learning_rate_is_refused_before_the_workdir(
    tmp_path, field, value):
  c = load_config(VAE)
  c.unlock()
  c.optim[field] = value
  c.lock()
  with pytest.raises(ConfigError, match=f"config.optim.{field} must be a finite number > 0"):
    main.run(c, str(tmp_path / "run"), "train")
  assert not os.path.exists(tmp_path / "run")


def test_a_gan_discriminator_learning_rate_of_nan_is_refused():
  from genjax import config as config_lib
  c = load_config("experiments/gan/dcgan_mnist.py")
  c.unlock()
  c.optim.d_lr = float("nan")
  with pytest.raises(ConfigError, match="config.optim.d_lr"):
    config_lib.validate(c)


def test_divergence_before_the_first_checkpoint_names_no_step(tmp_path, monkeypatch):
  """No checkpoint yet: the message says a re-run starts afresh (never "step None")."""
  c = load_config(VAE)
  c.unlock()
  c.train.update(num_steps=12, ckpt_every=100, log_every=1)
  c.lock()
  real = registry.make_family

  def poisoned(config, **kwargs):
    family = real(config, **kwargs)
    return dataclasses.replace(
        family, train_step=lambda s, b: _nan_loss(*family.train_step(s, b), jnp.nan))

  monkeypatch.setattr(registry, "make_family", poisoned)
  with pytest.raises(TrainingDiverged) as info:
    main.run(c, str(tmp_path / "run"), "train")
  assert "None" not in str(info.value)
  assert "no checkpoint had been saved yet" in str(info.value)
