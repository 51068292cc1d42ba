"""The restoration model (model.name='restore'): its checks, metrics and grids.

The methods' maths is tested on Gaussian data in test_restoration.py; the
whole model over a trained (smoke) denoiser in the restore_* smoke tests.
Here: what needs no network (the naive method), and the start-up errors.
"""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.diffusion import degradations as D
from genjax.families.diffusion import restore
from genjax.families.diffusion.config import default_config


def settings(task="inpaint_half", method="naive", sigma_y=0.0, diversity=3):
  return restore.RestoreSettings(
      base=None, latent=False, task=task, method=method, sigma_y=sigma_y, options={},
      diversity=diversity, image_shape=(12, 12, 1), grid_rows=2)


def images(n=4):
  return jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (n, 12, 12, 1)), jnp.float32)


def dep(model, task="sr4"):
  return types.SimpleNamespace(family=types.SimpleNamespace(model=model), workdir="/runs/x",
                               config=None)


def test_consistency_is_the_rms_residual_over_observed_coordinates():
  op = D.make_operator("inpaint_half", (2, 12, 12, 1))
  x = images(2)
  y = D.apply(op, x)
  assert np.allclose(restore.consistency(op, y, x), 0.0)
  off = x + 0.3 * op.keep          # every observed pixel off by 0.3
  np.testing.assert_allclose(restore.consistency(op, y, off), 0.3, rtol=1e-5)


def test_naive_restoration_scores_and_is_deterministic():
  rs = settings()
  batch = {"image": images(), "label": jnp.zeros(4, jnp.int32)}
  out, scores = restore.restore_and_score(rs, None, {}, batch, jax.random.PRNGKey(0))
  assert out.shape == (4, 12, 12, 1) and float(out.min()) >= 0 and float(out.max()) <= 1
  assert np.allclose(scores["consistency"], 0.0, atol=1e-6)   # known half kept
  clean = (batch["image"] + 1) / 2
  mse = np.mean(np.square(np.asarray(out) - np.asarray(clean)), axis=(1, 2, 3))
  np.testing.assert_allclose(scores["psnr"], -10 * np.log10(mse), rtol=1e-4)
  spread = restore.diversity(rs, None, None, batch, jax.random.PRNGKey(1), {})
  assert np.allclose(spread, 0.0)   # one answer per image


def test_grid_rows_are_measurement_restorations_original():
  rs = settings(task="sr2_pool")
  batch = {"image": images(), "label": jnp.zeros(4, jnp.int32)}
  grid = restore.image_grids(rs, None, None, batch, jax.random.PRNGKey(0), {})["restore"]
  assert grid.shape == (2, restore.COLUMNS + 2, 12, 12, 1)
  np.testing.assert_allclose(grid[:, -1], (batch["image"][:2] + 1) / 2, atol=1e-6)
  low = D.apply(D.make_operator("sr2_pool", (2, 12, 12, 1)), batch["image"][:2])
  np.testing.assert_allclose(grid[:, 0, ::2, ::2], (low + 1) / 2, atol=1e-6)


def test_sample_needs_images():
  with pytest.raises(ConfigError, match="restores images"):
    restore.sample(settings(), None, None, jax.random.PRNGKey(0), 2, None, {})


def test_latent_base_refuses_pixel_space_methods():
  with pytest.raises(ConfigError, match="latent diffusion.*'naive', 'sdedit'"):
    restore.check_fits("ddrm", dep("ldm"), object(), "sr4", None)
  restore.check_fits("sdedit", dep("ldm"), object(), "sr4", None)


def test_sr3_method_and_base_go_together():
  with pytest.raises(ConfigError, match="needs one"):
    restore.check_fits("sr3", dep("ddpm"), None, "sr4", None)
  with pytest.raises(ConfigError, match="need a denoiser run"):
    restore.check_fits("ddrm", dep("sr3"), None, "sr4", "sr4")
  with pytest.raises(ConfigError, match="trained for task 'sr4'"):
    restore.check_fits("sr3", dep("sr3"), None, "sr2", "sr4")


def config_with(**restore_fields):
  c = default_config()
  c.model.restore.update(restore_fields)
  return c


def test_unknown_method_and_task_list_the_valid_ones():
  with pytest.raises(ConfigError, match="repaint"):
    restore.read_method(config_with(method="repaint2"))
  with pytest.raises(ConfigError, match="inpaint_box"):
    restore.read_task(config_with(task="inpaint_circle"), (28, 28, 1))
  with pytest.raises(ConfigError, match="colour"):
    restore.read_task(config_with(task="colourise"), (28, 28, 1))


def test_noise_defaults_to_the_tasks():
  assert restore.read_task(config_with(task="denoise"), (28, 28, 1)) == (
      "denoise", D.TASKS["denoise"].sigma_y)
  assert restore.read_task(config_with(task="sr4", noise=0.05), (28, 28, 1)) == ("sr4", 0.05)


def test_inpaint_field_takes_the_data_pipelines_mask():
  """The mask a data op wrote (1 = missing, genjax.data.masks) decides what is kept."""
  rs = settings(task="inpaint_field")
  mask = np.zeros((4, 12, 12, 1), np.float32)
  mask[:, 3:9, 2:7] = 1.0
  batch = {"image": images(), "mask": jnp.asarray(mask), "label": jnp.zeros(4, jnp.int32)}
  out, scores = restore.restore_and_score(rs, None, {}, batch, jax.random.PRNGKey(0))
  clean = (np.asarray(batch["image"]) + 1) / 2
  known = mask == 0
  np.testing.assert_allclose(np.asarray(out)[known], clean[known], atol=1e-6)
  hole = np.asarray(out)[:, 3:9, 2:7]
  assert np.ptp(hole[0]) < 1e-6   # filled with one value (the observed mean)
  assert np.allclose(scores["consistency"], 0.0, atol=1e-6)
