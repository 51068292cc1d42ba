"""SR3 (``model.name='sr3'``, sr3.py) on tiny shapes.

The network's input is [x_t, upsample(A x0)]: a stub network whose output is
a known function of its input channels makes the loss a closed form of the
data, the noise and the condition (computed here from jax.image.resize).
A fresh U-Net outputs exactly 0 (zero-initialised output conv), so the
eps-prediction loss at init is the mean square of the noise, ~1. An oracle
denoiser (the exact eps of the image whose condition it is given) makes
every sampler return that image: super-resolution then recovers each image
from its own low-resolution copy, so PSNR is a closed form of a known offset.
"""
import dataclasses
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.config import identity_diff
from genjax.errors import ConfigError
from genjax.families.base import example_batch
from genjax.families.diffusion import degradations, sr3
from genjax.families.diffusion.config import default_config
from genjax.families.diffusion.family import make_family
from genjax.families.diffusion.schedules import draw_t_and_noise
from genjax.eval import image_quality

SHAPE = (12, 12, 1)    # SSIM's 11x11 window fits
TINY = dict(name="sr3", ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(),
            dropout=0.0, image_shape=SHAPE, timesteps=10)


def tiny_config(task="sr2", sample=None, **model):
  c = default_config()
  c.model.update(dict(TINY, **model))
  c.model.sr3.task = task
  c.sample.update(dict(dict(steps=5, sampler="ddim", eta=0.0), **(sample or {})))
  return c


def tiny(task="sr2", sample=None, **model):
  ss, op = sr3.read_sr3_settings(tiny_config(task, sample, **model))
  return ss, sr3.build_networks(ss, op)


def digits(n, seed=0):
  """n images in [-1, 1] that differ from each other."""
  return jnp.asarray(np.random.default_rng(seed).uniform(-0.9, 0.9, (n,) + SHAPE),
                     jnp.float32)


def condition_of(task, images):
  """upsample(A x0), written out: the degradation, then bicubic resize, clipped."""
  op = degradations.make_operator(task, images.shape)
  low = degradations.apply(op, images)
  return jnp.clip(jax.image.resize(low, images.shape, method="cubic"), -1.0, 1.0)


class LinearStub:
  """In place of the U-Net: x_t + 2 cond from its 2C input channels."""

  def __init__(self):
    self.channels = []

  def apply(self, variables, inp, t, labels=None, train=False, rngs=None):
    self.channels.append(inp.shape[-1])
    c = SHAPE[-1]
    return inp[..., :c] + 2.0 * inp[..., c:]


def test_the_network_sees_the_noisy_image_and_the_upsampled_low_res_copy():
  ss, nets = tiny()
  stub = LinearStub()
  nets = dataclasses.replace(nets, denoiser=dataclasses.replace(nets.denoiser, model=stub))
  x0, rng = digits(4), jax.random.PRNGKey(1)
  loss, (metrics, _) = sr3.loss_fn(ss, nets, {}, {}, {"image": x0,
                                                       "label": jnp.zeros(4, jnp.int32)}, rng)
  assert stub.channels == [2 * SHAPE[-1]]
  t, noise = draw_t_and_noise(jax.random.split(rng, 3)[0], x0, 10)   # ddpm.loss_fn's draw
  abar = np.asarray(nets.denoiser.schedule.alphas_cumprod)[np.asarray(t)][:, None, None, None]
  x_t = np.sqrt(abar) * x0 + np.sqrt(1 - abar) * noise
  want = np.mean(np.square(noise - (x_t + 2.0 * condition_of("sr2", x0))))
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  np.testing.assert_allclose(metrics["mse"], want, rtol=1e-5)


def test_sr2_is_the_antialiased_bicubic_resize_and_the_condition_keeps_its_size():
  x0 = digits(3)
  ss, nets = tiny()
  low = degradations.apply(nets.operator, x0)
  np.testing.assert_allclose(
      low, jax.image.resize(x0, (3, 6, 6, 1), method="cubic", antialias=True), atol=1e-5)
  cond = sr3.condition(ss, nets, x0)
  np.testing.assert_allclose(cond, condition_of("sr2", x0), atol=1e-6)
  assert ss.low_res_shape == (6, 6, 1) and cond.shape == x0.shape
  const = jnp.full((2,) + SHAPE, 0.3)             # a constant image upsamples to itself
  np.testing.assert_allclose(sr3.condition(ss, nets, const), const, atol=1e-5)


def test_the_loss_at_init_is_the_mean_square_of_the_noise_about_one():
  """Zero output -> L_simple = mean(eps^2), E = 1 with sd sqrt(2 / N)."""
  ss, nets = tiny()
  state = jax.jit(lambda r: sr3.init(ss, nets, r, example_batch(SHAPE)))(jax.random.PRNGKey(0))
  assert state.params["conv_in"]["kernel"].shape[2] == 2 * SHAPE[-1]   # [x_t, cond]
  assert state.params["conv_out"]["kernel"].shape[3] == SHAPE[-1]      # eps
  x0, rng = digits(32), jax.random.PRNGKey(5)
  loss, _ = jax.jit(lambda p: sr3.loss_fn(ss, nets, p, {}, {
      "image": x0, "label": jnp.zeros(32, jnp.int32)}, rng))(state.params)
  _, noise = draw_t_and_noise(jax.random.split(rng, 3)[0], x0, 10)
  np.testing.assert_allclose(loss, np.mean(np.square(noise)), rtol=1e-5)
  assert abs(float(loss) - 1.0) < 4 * math.sqrt(2 / x0.size)


class Oracle:
  """The exact eps of x0 = targets[i] for the i of ``images`` whose condition
  the network is given (per example): (x_t - sqrt(abar) x0) / sqrt(1 - abar)."""

  def __init__(self, schedule, images, task="sr2", targets=None):
    self.schedule = schedule
    self.images = images if targets is None else targets
    self.conds = condition_of(task, images)

  def apply(self, variables, inp, t, labels=None, train=False, rngs=None):
    c = SHAPE[-1]
    x_t, cond = inp[..., :c], inp[..., c:]
    dist = jnp.sum(jnp.square(cond[:, None] - self.conds[None]), axis=(2, 3, 4))
    x0 = self.images[jnp.argmin(dist, axis=1)]
    abar = self.schedule.alphas_cumprod[t][:, None, None, None]
    return (x_t - jnp.sqrt(abar) * x0) / jnp.sqrt(1 - abar)


def with_oracle(nets, images, task="sr2", targets=None):
  oracle = Oracle(nets.denoiser.schedule, images, task, targets)
  return dataclasses.replace(nets, denoiser=dataclasses.replace(nets.denoiser, model=oracle))


@pytest.mark.parametrize("sample,steps,eta", [
    (dict(sampler="ddim", eta=0.0), None, None), (dict(sampler="ddim", eta=0.0), 3, 1.0),
    (dict(sampler="ddpm"), None, None)])
def test_super_resolve_with_an_oracle_denoiser_recovers_each_image(sample, steps, eta):
  ss, nets = tiny(sample=sample)
  images = digits(5)
  nets = with_oracle(nets, images)
  low = degradations.apply(nets.operator, images[::-1])   # each row its own image
  bundle = {"trained": {"params": {}, "model_state": {}}, "deps": {}}
  out = sr3.super_resolve(ss, nets, bundle, low, jax.random.PRNGKey(2), steps, eta)
  np.testing.assert_allclose(out, images[::-1], atol=1e-4)


def test_the_super_resolve_export_returns_images_in_range_and_refuses_other_shapes():
  c = tiny_config("sr4")
  family = make_family(c)
  assert set(family.exports) == {"super_resolve", "task"}
  assert family.exports["task"]() == "sr4"
  params = jax.jit(lambda r: jax.tree.map(
      lambda p: p + 0.3 * jax.random.normal(r, p.shape),
      family.init(r, example_batch(SHAPE)).params))(jax.random.PRNGKey(1))
  bundle = {"trained": {"params": params, "model_state": {}}, "deps": {}}
  low = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (3, 3, 3, 1)), jnp.float32)
  out = jax.jit(lambda b, y, r: family.exports["super_resolve"](b, y, r, steps=3, eta=1.0))(
      bundle, low, jax.random.PRNGKey(3))
  assert out.shape == (3,) + SHAPE and out.dtype == jnp.float32
  assert float(jnp.min(out)) >= -1.0 and float(jnp.max(out)) <= 1.0
  assert float(jnp.std(out)) > 0.05
  with pytest.raises(ConfigError, match="measurement y has shape"):
    family.exports["super_resolve"](bundle, jnp.zeros((3, 4, 4, 1)), jax.random.PRNGKey(3))


def test_psnr_ssim_and_samples_score_the_super_resolved_images():
  """An oracle for images shifted by 0.1 gives them back: PSNR = 10 log10(1 /
  0.05^2) in [0, 1] units; samples are the shifted images in [0, 1]."""
  ss, nets = tiny()
  images = digits(4)
  shifted = with_oracle(nets, images, targets=images + 0.1)
  state = types.SimpleNamespace(params={}, ema_params=None)
  batch = {"image": images, "label": jnp.zeros(4, jnp.int32)}
  rng = jax.random.PRNGKey(0)
  scores = sr3.eval_quality(ss, shifted, state, batch, rng)
  assert sorted(scores) == sorted(sr3.QUALITY)
  np.testing.assert_allclose(scores["psnr"], 10 * np.log10(1 / 0.05 ** 2), rtol=1e-4)
  want_ssim = image_quality.ssim((images + 1.1) / 2, (images + 1) / 2, 1.0)
  np.testing.assert_allclose(scores["ssim"], want_ssim, rtol=1e-4)
  cond = (condition_of("sr2", images) + 1) / 2
  mse = np.mean(np.square(cond - (images + 1) / 2), axis=(1, 2, 3))
  np.testing.assert_allclose(scores["psnr_bicubic"], 10 * np.log10(1 / mse), rtol=1e-4)
  drawn = sr3.sample(ss, shifted, state, rng, 4, {"image": images})
  np.testing.assert_allclose(drawn, (images + 1.1) / 2, atol=1e-4)
  with pytest.raises(ConfigError, match="super-resolves given images"):
    sr3.sample(ss, nets, state, rng, 4, None)


def test_the_image_grid_is_low_res_then_samples_then_the_original():
  ss, nets = tiny(task="sr4")
  images = digits(3)
  nets = with_oracle(nets, images, "sr4")
  state = types.SimpleNamespace(params={}, ema_params=None)
  grid = sr3.image_grids(ss, nets, state, {"image": images}, jax.random.PRNGKey(0))
  grid = grid["super_resolution"]
  rows = ss.diffusion.grid_rows
  assert grid.shape == (rows, 1 + sr3.COLUMNS + 1) + SHAPE
  shown = cycle(images, rows)
  low = degradations.apply(nets.operator, shown)            # 3x3, each pixel a 4x4 block
  np.testing.assert_allclose(grid[:, 0], (np.repeat(np.repeat(low, 4, 1), 4, 2) + 1) / 2,
                             atol=1e-6)
  for col in range(1, 1 + sr3.COLUMNS):
    np.testing.assert_allclose(grid[:, col], (shown + 1) / 2, atol=1e-4)
  np.testing.assert_allclose(grid[:, -1], (shown + 1) / 2, atol=1e-6)


def cycle(x, n):
  return jnp.asarray(np.asarray(x)[np.arange(n) % len(x)])


def test_the_family_samples_for_eval_images_and_trains_without_classes():
  family = make_family(tiny_config())
  assert (family.model, family.cond_keys, family.num_classes) == ("sr3", ("image",), None)
  assert set(family.eval_metrics) == {"loss", "psnr", "ssim", "psnr_bicubic", "ssim_bicubic"}


@pytest.mark.parametrize("task,model,says", [
    ("sr3", {}, "Unknown restoration task"),
    ("sr4", dict(image_shape=(14, 14, 1)), "multiples of 4"),
    ("deblur", {}, "super-resolution task"),
    ("sr2", dict(num_classes=10), "num_classes=0")])
def test_bad_tasks_shapes_and_classes_are_refused_at_start_up(task, model, says):
  with pytest.raises(ConfigError, match=says):
    make_family(tiny_config(task, **model))


def test_the_sr3_group_counts_for_sr3_runs_only():
  ddpm_now, ddpm_before = default_config().to_dict(), default_config().to_dict()
  del ddpm_before["model"]["sr3"]                     # a config.json from before the group
  assert identity_diff(ddpm_before, ddpm_now) == []
  a, b = tiny_config("sr2").to_dict(), tiny_config("sr4").to_dict()
  assert identity_diff(a, b) == ["model.sr3: {'task': 'sr2'} -> {'task': 'sr4'}"]
