"""The diffusion family's top-level functions, each called on its own, on tiny
shapes, against closed forms and hand computations.

A freshly initialised U-Net outputs exactly 0 (its last conv is zero-initialised),
so an x0-predicting one predicts x0 = 0: its losses and its bound are closed
forms of the data. The samplers' wiring is checked with analytic denoisers
(Gaussian data, whose E[eps | x_t] is known) put in place of the U-Net.
"""
import dataclasses
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from genjax.errors import ConfigError
from genjax.families.base import example_batch
from genjax.families.diffusion import classifier, ddpm, family, guidance, samplers
from genjax.families.diffusion import settings as settings_lib
from genjax.families.diffusion.config import default_config
from genjax.families.diffusion.schedules import draw_t_and_noise, split_output
from genjax.families.diffusion.unet import UNet, count_params

TINY = dict(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), dropout=0.0,
            image_shape=(4, 4, 1), timesteps=10)


def tiny_config(sample=None, **model):
  config = default_config()
  config.model.update(dict(TINY, **model))
  config.sample.update(dict(dict(steps=5), **(sample or {})))
  return config


def tiny(sample=None, guide=None, **model):
  """(settings, nets, state) of a tiny denoiser (or classifier)."""
  settings = settings_lib.read_settings(tiny_config(sample, **model))
  if settings.name == "classifier":
    nets = classifier.build_networks(settings)
    state = jax.jit(lambda rng: classifier.init(settings, nets, rng, example_batch(
        settings.image_shape)))(jax.random.PRNGKey(0))
  else:
    nets = ddpm.build_networks(settings, guide)
    state = jax.jit(lambda rng: ddpm.init(settings, nets, rng, example_batch(
        settings.image_shape)))(jax.random.PRNGKey(0))
  return settings, nets, state


def perturbed(state, scale=0.05):
  """The state with every parameter (and its EMA copy) moved off its init."""
  params = jax.jit(lambda ps: jax.tree.map(
      lambda p: p + scale * jax.random.normal(jax.random.PRNGKey(2), p.shape), ps))(
          state.params)
  return state.replace(params=params, ema_params=params)


def batch_of_constants(values, shape=(4, 4, 1)):
  values = np.asarray(values, np.float32)
  images = np.broadcast_to(values[:, None, None, None], (len(values),) + shape)
  return {"image": jnp.asarray(images), "label": jnp.arange(len(values)) % 3}


# settings.py

def test_read_settings_turns_the_config_into_plain_values():
  settings = settings_lib.read_settings(tiny_config(
      dict(guidance_weight=1.5, classifier_scale=3.0, inversion_fixed_point_iters=2,
           sampler="ddpm"), num_classes=3, label_dropout=0.2, clip_x0=False))
  assert (settings.num_classes, settings.label_dropout, settings.clip_x0) == (3, 0.2, False)
  assert (settings.guidance_weight, settings.classifier_scale) == (1.5, 3.0)
  assert (settings.fixed_point_iters, settings.sampler, settings.steps) == (2, "ddpm", 5)
  assert settings.unet == dict(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(),
                               dropout=0.0, num_heads=1)
  assert settings.num_dims == 16 and settings.optim["ema_decay"] == 0.9999


def test_a_missing_field_is_a_config_error_naming_the_defaults_file():
  config = tiny_config()
  del config.sample["classifier_scale"]
  with pytest.raises(ConfigError, match=r"config.sample.classifier_scale is missing.*"
                     r"genjax/families/diffusion/config.py"):
    settings_lib.read_settings(config)


def test_check_loss_and_variance_pairs_the_hybrid_loss_with_a_learned_variance():
  settings_lib.check_loss_and_variance("hybrid", "learned")
  settings_lib.check_loss_and_variance("simple", "fixed_small")
  for loss, variance in (("hybrid", "fixed_large"), ("simple", "learned")):
    with pytest.raises(ConfigError, match="needs model.variance='learned'"):
      settings_lib.check_loss_and_variance(loss, variance)
  with pytest.raises(ConfigError, match="fixed_small"):
    settings_lib.check_loss_and_variance("simple", "fixed")


def test_check_sampling_bounds_the_steps_and_needs_classes_for_cfg():
  settings_lib.check_sampling(10, 10, 2.0, 3)
  with pytest.raises(ConfigError, match="between 1 and model.timesteps=10"):
    settings_lib.check_sampling(11, 10, 0.0, 0)
  with pytest.raises(ConfigError, match="guidance_weight must be >= 0"):
    settings_lib.check_sampling(5, 10, -1.0, 3)
  with pytest.raises(ConfigError, match="needs a class-conditional model"):
    settings_lib.check_sampling(5, 10, 1.0, 0)


# schedules.py (the training draw and the model-output split)

def test_draw_t_and_noise_is_uniform_over_the_chain_and_standard_normal():
  x0 = jnp.zeros((20_000, 2), jnp.float32)
  t, noise = draw_t_and_noise(jax.random.PRNGKey(0), x0, 10)
  counts = np.bincount(np.asarray(t), minlength=10)
  assert len(counts) == 10 and t.dtype == jnp.int32
  assert stats.chisquare(counts).pvalue > 1e-3          # uniform over 0..9
  assert noise.shape == x0.shape and noise.dtype == x0.dtype
  assert abs(float(noise.mean())) < 4 / math.sqrt(noise.size)
  assert abs(float(noise.var()) - 1) < 4 * math.sqrt(2 / noise.size)


def test_split_output_gives_no_variance_for_a_fixed_variance_model():
  pred, v = jnp.ones(2), jnp.zeros(2)
  assert split_output(pred) == (pred, None)
  assert split_output((pred, v)) == (pred, v)


# ddpm.py

def test_build_networks_doubles_the_output_channels_for_a_learned_variance():
  for variance, loss, channels in (("fixed_large", "simple", 1), ("learned", "hybrid", 2)):
    settings = settings_lib.read_settings(tiny_config(variance=variance, loss=loss))
    nets = ddpm.build_networks(settings)
    x, t = jnp.zeros((1, 4, 4, 1)), jnp.zeros((1,), jnp.int32)
    out = jax.eval_shape(lambda: nets.model.init_with_output(jax.random.PRNGKey(0), x, t))
    assert out[0].shape == (1, 4, 4, channels)
    assert nets.schedule.num_timesteps == 10 and nets.sample_schedule.num_timesteps == 5
    # respaced: the network times of 5 steps spread over 0..9 (first 0, last 9)
    assert list(np.asarray(nets.sample_schedule.timesteps)) == [0, 2, 4, 7, 9]
    assert nets.ema_decay == 0.9999 and nets.guide is None


def test_sampled_classes_are_the_models_else_the_guiding_classifiers():
  settings = settings_lib.read_settings(tiny_config(num_classes=3))
  assert ddpm.sampled_classes(settings, ddpm.build_networks(settings)) == 3
  settings = settings_lib.read_settings(tiny_config())
  assert ddpm.sampled_classes(settings, ddpm.build_networks(settings)) == 0
  guide = guidance.Guide(7, lambda bundle, x, t, y: jnp.zeros(x.shape[0]))
  assert ddpm.sampled_classes(settings, ddpm.build_networks(settings, guide)) == 7


def test_network_output_splits_prediction_and_variance_channels():
  settings, nets, state = tiny(variance="learned", loss="hybrid")
  params = perturbed(state).params
  x, t = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 4, 1)), jnp.array([3, 7])
  raw = nets.model.apply({"params": params}, x, t)           # [2, 4, 4, 2]
  # labels reach only a conditional net (this one would refuse them)
  pred, v = ddpm.network_output(settings, nets, params, x, t, jnp.array([1, 2]))
  np.testing.assert_array_equal(pred, raw[..., :1])
  np.testing.assert_array_equal(v, raw[..., 1:])


def test_init_keeps_an_ema_copy_of_the_unets_parameters():
  settings, nets, state = tiny(num_classes=3)
  leaves = jax.tree.leaves(state.params)
  reference = UNet(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), dropout=0.0,
                   num_classes=3, out_channels=1)
  assert sum(p.size for p in leaves) == count_params(reference, (4, 4, 1))
  assert "label_embed" in state.params and int(state.step) == 0
  for p, e in zip(leaves, jax.tree.leaves(state.ema_params)):
    np.testing.assert_array_equal(p, e)


def test_training_labels_drop_to_the_null_class_at_the_dropout_rate():
  settings = settings_lib.read_settings(tiny_config(num_classes=10, label_dropout=0.25))
  labels = jnp.arange(4_000) % 10
  out = np.asarray(ddpm.training_labels(settings, jax.random.PRNGKey(0), labels))
  dropped = out == 10
  assert abs(dropped.mean() - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 4_000)
  np.testing.assert_array_equal(out[~dropped], np.asarray(labels)[~dropped])
  unconditional = settings_lib.read_settings(tiny_config())
  assert ddpm.training_labels(unconditional, jax.random.PRNGKey(0), labels) is None


@pytest.mark.parametrize("variance,loss", [("fixed_large", "simple"), ("learned", "hybrid")])
def test_loss_fn_of_a_zero_x0_predictor_is_the_mean_square_of_the_data(variance, loss):
  settings, nets, state = tiny(prediction="x0", variance=variance, loss=loss)
  batch = batch_of_constants([0.5, -0.25, 1.0, 0.0])
  value, (metrics, _) = jax.jit(lambda p, b, r: ddpm.loss_fn(settings, nets, p, {}, b, r))(
      state.params, batch, jax.random.PRNGKey(3))
  want = np.mean(np.square([0.5, -0.25, 1.0, 0.0]))         # || x0 - 0 ||^2
  np.testing.assert_allclose(metrics["mse"], want, rtol=1e-6)
  if variance == "learned":       # + 1e-3 T L_vlb (bits/dim), a sum of KLs and an NLL
    assert float(value) > want
  else:
    np.testing.assert_allclose(value, want, rtol=1e-6)


def test_eval_loss_of_a_zero_x0_predictor_is_each_images_mean_square():
  settings, nets, state = tiny(prediction="x0")
  batch = batch_of_constants([0.5, -0.25, 1.0])
  got = jax.jit(lambda s, b, r: ddpm.eval_loss(settings, nets, s, b, r))(
      state, batch, jax.random.PRNGKey(4))
  np.testing.assert_allclose(got, [0.25, 0.0625, 1.0], rtol=1e-6)


def test_eval_bpd_of_an_exact_x0_predictor_is_the_decoder_and_prior_terms():
  """Data x0 = 0 and a net that predicts x0 = 0: every KL term of the bound
  vanishes, leaving the decoder's -log P(bin of 0) under N(0, beta~_1) and
  the prior's KL(N(0, 1 - abar_T) || N(0, 1)), per dimension."""
  settings, nets, state = tiny(prediction="x0", variance="fixed_small")
  batch = batch_of_constants([0.0, 0.0])
  got = jax.jit(lambda s, b, r: ddpm.eval_bpd(settings, nets, s, b, r))(
      state, batch, jax.random.PRNGKey(5))
  T = 10      # the linear schedule with endpoints scaled by 1000 / T
  betas = np.minimum(np.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T), 0.999)
  abar = np.cumprod(1 - betas)
  sigma = math.sqrt(betas[1] * (1 - abar[0]) / (1 - abar[1]))
  decoder = -math.log(stats.norm.cdf(1 / 255 / sigma) - stats.norm.cdf(-1 / 255 / sigma))
  prior = 0.5 * (-1 - math.log(1 - abar[-1]) + (1 - abar[-1]))
  np.testing.assert_allclose(got, [(decoder + prior) / math.log(2)] * 2, rtol=1e-4)


def test_guided_model_fn_follows_the_classifier_free_guidance_formula():
  """w > 0: eps~ = eps(x, null) + (1 + w) (eps(x, c) - eps(x, null)), Ho &
  Salimans (2022) eq. 6; then classifier guidance adds -s sqrt(1 - abar_t) grad
  log p(y | x_t), here of log p = -|x - c_y|^2 / 2 (grad = c_y - x)."""
  settings, nets, state = tiny(dict(guidance_weight=2.0), num_classes=3)
  state = perturbed(state)
  labels, t = jnp.array([0, 2]), jnp.array([1, 8])
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 4, 1))
  model_fn, kind = ddpm.guided_model_fn(settings, nets, state, labels)
  apply = lambda y: nets.model.apply({"params": state.ema_params}, x, t, y)
  conditional, unconditional = apply(labels), apply(jnp.full((2,), 3))
  want = unconditional + 3.0 * (conditional - unconditional)
  np.testing.assert_allclose(model_fn(x, t), want, atol=1e-5)
  assert kind == "eps" and float(jnp.abs(conditional - unconditional).max()) > 1e-3

  centres = jnp.stack([jnp.full((4, 4, 1), c) for c in (-0.5, 0.0, 0.5)])
  log_prob = lambda bundle, x_, t_, y: -0.5 * jnp.sum(jnp.square(x_ - centres[y]),
                                                     axis=(1, 2, 3))
  guided = dataclasses.replace(nets, guide=guidance.Guide(3, log_prob))
  settings = dataclasses.replace(settings, classifier_scale=1.5)
  model_fn, kind = ddpm.guided_model_fn(settings, guided, state, labels)
  sqrt_1m_abar = np.sqrt(1 - np.cumprod(1 - np.minimum(np.linspace(0.01, 2.0, 10), 0.999)))
  shift = 1.5 * sqrt_1m_abar[np.asarray(t)][:, None, None, None] * (x - centres[labels])
  np.testing.assert_allclose(model_fn(x, t), want + shift, atol=1e-5)
  assert kind == "eps"


def test_cfg_weight_zero_samples_exactly_the_conditional_model():
  settings, nets, state = tiny(dict(guidance_weight=0.0, eta=1.0), num_classes=3)
  state = perturbed(state)
  labels, rng = jnp.array([0, 1, 2, 1]), jax.random.PRNGKey(6)
  got = jax.jit(lambda s, r: ddpm.sample(settings, nets, s, r, 4, labels))(state, rng)

  def conditional_samples(params, rng):
    conditional = lambda x, t: nets.model.apply({"params": params}, x, t, labels)
    x = samplers.ddim_sample(nets.sample_schedule, conditional, rng, (4, 4, 4, 1), "eps",
                             1.0, True)
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)
  want = jax.jit(conditional_samples)(state.ema_params, rng)
  np.testing.assert_array_equal(got, want)
  guided = dataclasses.replace(settings, guidance_weight=2.0)
  other = jax.jit(lambda s, r: ddpm.sample(guided, nets, s, r, 4, labels))(state, rng)
  assert float(jnp.abs(other - got).max()) > 1e-4


class GaussianDenoiser:
  """E[eps | x_t] for x0 ~ N(centre_y, sigma^2 I) given y, or for the equal
  mixture over y (no labels): in place of the U-Net (same ``apply``)."""

  def __init__(self, schedule, centres, sigma):
    self.schedule, self.centres, self.sigma = schedule, jnp.asarray(centres), sigma

  def parts(self, x, t):
    a = self.schedule.alphas_cumprod[t][:, None, None, None]
    var = a * self.sigma ** 2 + 1 - a
    diff = x[:, None] - jnp.sqrt(a[:, None]) * self.centres[None, :, None, None, None]
    eps = jnp.sqrt(1 - a[:, None]) * diff / var[:, None]              # [B, Y, ...]
    log_lik = -0.5 * jnp.sum(jnp.square(diff), axis=(2, 3, 4)) / var[:, 0, 0, 0, None]
    return eps, jax.nn.log_softmax(log_lik, axis=1)                   # p(y | x_t)

  def apply(self, variables, x, t, labels=None, train=False, rngs=None):
    eps, log_post = self.parts(x, t)
    return jnp.einsum("by,by...->b...", jnp.exp(log_post), eps)

  def log_prob(self, x, t, labels):
    return jnp.take_along_axis(self.parts(x, t)[1], labels[:, None], axis=1)[:, 0]


STATELESS = types.SimpleNamespace(params={}, ema_params={})


def test_generate_with_classifier_guidance_draws_the_requested_classes():
  """Scale 1 with the exact noisy classifier of a two-Gaussian mixture turns
  the unconditional eps into the class-conditional one (Dhariwal & Nichol 2021,
  sec. 4.1), so samples of label y lie around centre y; unguided, the labels
  do nothing and half of them land in the other class."""
  settings = settings_lib.read_settings(tiny_config(
      dict(steps=50, sampler="ddim", eta=0.0), timesteps=1000, clip_x0=False))
  base = ddpm.build_networks(settings).schedule
  denoiser = GaussianDenoiser(base, [-0.5, 0.5], 0.1)
  guide = guidance.Guide(2, lambda bundle, x, t, y: denoiser.log_prob(x, t, y))
  nets = dataclasses.replace(ddpm.build_networks(settings, guide), model=denoiser)
  run = jax.jit(lambda r: ddpm.generate(settings, nets, STATELESS, r, 200))
  x = np.asarray(run(jax.random.PRNGKey(7))).reshape(200, -1)
  labels = np.arange(200) % 2                    # class-balanced by default
  nearest = (x.mean(axis=1) > 0).astype(int)
  assert (nearest == labels).mean() == 1.0
  for y, centre in ((0, -0.5), (1, 0.5)):
    np.testing.assert_allclose(x[labels == y].mean(), centre, atol=0.02)
  unguided = dataclasses.replace(settings, classifier_scale=0.0)
  run = jax.jit(lambda r: ddpm.generate(unguided, nets, STATELESS, r, 200))
  x = np.asarray(run(jax.random.PRNGKey(7))).reshape(200, -1)
  assert 0.3 < ((x.mean(axis=1) > 0).astype(int) == labels).mean() < 0.7


def test_image_grids_regenerate_the_data_from_their_ddim_inversion():
  """An exact denoiser inverts and regenerates the data (fixed-point DDIM
  inversion); the slerp paths start and end at the pair's regenerations."""
  settings = settings_lib.read_settings(tiny_config(
      dict(steps=50, inversion_fixed_point_iters=10), timesteps=1000, clip_x0=False))
  nets = dataclasses.replace(ddpm.build_networks(settings),
                             model=GaussianDenoiser(ddpm.build_networks(settings).schedule,
                                                    [0.0], 0.3))
  images = np.clip(np.random.default_rng(0).normal(0, 0.3, (12, 4, 4, 1)), -0.9, 0.9)
  batch = {"image": jnp.asarray(images, jnp.float32), "label": jnp.zeros(12, jnp.int32)}
  grids = jax.jit(lambda b: ddpm.image_grids(settings, nets, STATELESS, b, None))(batch)
  pictures = (images[np.arange(16) % 12] + 1) / 2               # 16 = 2 x 8 rows, cycled
  rows, paths = np.asarray(grids["inversion"]), np.asarray(grids["interpolation"])
  assert rows.shape == (8, 3, 4, 4, 1) and paths.shape == (8, 8, 4, 4, 1)
  np.testing.assert_allclose(rows[:, 0], pictures[:8], atol=1e-6)
  np.testing.assert_allclose(rows[:, 2], pictures[:8], atol=1e-3)
  np.testing.assert_allclose(paths[:, 0], pictures[:8], atol=1e-3)
  np.testing.assert_allclose(paths[:, -1], pictures[8:], atol=1e-3)


# classifier.py

def zero_head(state, bias):
  params = dict(state.params, head={"kernel": jnp.zeros_like(state.params["head"]["kernel"]),
                                    "bias": jnp.asarray(bias, jnp.float32)})
  return state.replace(params=params, ema_params=params)


def test_classifier_init_has_one_logit_per_class():
  settings, nets, state = tiny(name="classifier", num_classes=4)
  assert state.params["head"]["kernel"].shape == (8, 4)
  assert nets.model.num_outputs == 4 and nets.schedule.num_timesteps == 10
  for p, e in zip(jax.tree.leaves(state.params), jax.tree.leaves(state.ema_params)):
    np.testing.assert_array_equal(p, e)


def test_classifier_loss_of_a_constant_head_is_log_num_classes():
  settings, nets, state = tiny(name="classifier", num_classes=4)
  state = zero_head(state, np.zeros(4))
  batch = {"image": jnp.zeros((6, 4, 4, 1)), "label": jnp.array([0, 1, 2, 3, 0, 0])}
  value, (metrics, _) = classifier.loss_fn(settings, nets, state.params, {}, batch,
                                           jax.random.PRNGKey(0))
  np.testing.assert_allclose(value, math.log(4), rtol=1e-6)
  np.testing.assert_allclose(metrics["accuracy"], 0.5)        # ties: argmax is class 0


def test_classifier_eval_metrics_follow_a_constant_heads_bias():
  settings, nets, state = tiny(name="classifier", num_classes=4)
  bias = np.array([0.0, 1.0, -1.0, 2.0])
  state = zero_head(state, bias)
  batch = {"image": jax.random.normal(jax.random.PRNGKey(1), (4, 4, 4, 1)),
           "label": jnp.array([3, 1, 3, 2])}
  rng = jax.random.PRNGKey(2)
  logits = classifier.noisy_logits(settings, nets, state.params, batch, rng, False)
  np.testing.assert_allclose(logits, np.broadcast_to(bias, (4, 4)), atol=1e-6)
  np.testing.assert_array_equal(classifier.eval_accuracy(settings, nets, state, batch, rng),
                                [1, 0, 1, 0])
  want = special.logsumexp(bias) - bias[[3, 1, 3, 2]]
  np.testing.assert_allclose(
      classifier.eval_cross_entropy(settings, nets, state, batch, rng), want, rtol=1e-5)


# guidance.py and family.py

def classifier_run(num_classes=4, image_shape=(4, 4, 1), bias=None, **model):
  """A trained run stand-in: (Dependency, bundle) of a tiny classifier (or
  denoiser, with ``name='ddpm'``) in memory, as the trainer resolves them."""
  from genjax.families.base import bundle_of
  from genjax.train.deps import Dependency
  model = dict(dict(name="classifier"), **model)
  config = tiny_config(num_classes=num_classes, image_shape=image_shape, **model)
  _, _, state = tiny(num_classes=num_classes, image_shape=image_shape, **model)
  if bias is not None:
    state = zero_head(state, bias)
  built = family.make_family(config)
  dep = Dependency(model["name"], f"/runs/{model['name']}", 6, True, "sha256:x",
                   config, built, {})
  return dep, bundle_of(built, state)


def guided(sample=None, denoiser=None, **classifier_model):
  """(family, frozen) of the guided model over a tiny denoiser and classifier."""
  den, den_bundle = classifier_run(**dict(dict(name="ddpm", num_classes=0), **(denoiser or {})))
  clf, clf_bundle = classifier_run(**classifier_model)
  config = tiny_config(sample, name="guided")
  built = family.make_family(config, deps={"denoiser": den, "classifier": clf})
  return built, {"denoiser": den_bundle, "classifier": clf_bundle}


def test_the_classifier_export_is_the_log_softmax_of_the_label():
  bias = np.array([0.5, -1.0, 0.0, 1.5])
  dep, bundle = classifier_run(bias=bias)
  labels = jnp.array([0, 3, 1])
  got = dep.family.exports["log_prob"](bundle, jnp.ones((3, 4, 4, 1)),
                                       jnp.array([0, 5, 9]), labels)
  np.testing.assert_allclose(got, bias[[0, 3, 1]] - special.logsumexp(bias), rtol=1e-5)


def test_misfits_name_each_disagreement_with_the_denoiser():
  denoiser = settings_lib.read_settings(tiny_config(num_classes=5))
  same = settings_lib.read_settings(tiny_config(name="classifier", num_classes=5))
  assert guidance.misfits(same, denoiser) == []
  other = settings_lib.read_settings(tiny_config(
      name="classifier", num_classes=4, image_shape=(8, 8, 1), schedule="cosine"))
  assert guidance.misfits(other, denoiser) == [
      "image shape (8, 8, 1) vs the model's (4, 4, 1)",
      "noise schedule cosine/10 vs the model's linear/10",
      "4 classes vs the model's 5"]


def test_the_guided_model_samples_with_the_classifiers_classes_and_trains_nothing():
  built, frozen = guided()
  assert (built.family, built.model, built.num_classes) == ("diffusion", "guided", 4)
  assert (built.trains, built.deps, built.eval_metrics) == (False, ("classifier", "denoiser"), {})
  state = built.init(jax.random.PRNGKey(0), example_batch((4, 4, 1)), frozen)
  assert jax.tree.leaves(state.params) == []
  x = built.sample(state, jax.random.PRNGKey(1), 4, jnp.array([0, 1, 2, 3]), frozen)
  assert x.shape == (4, 4, 4, 1) and 0 <= float(x.min()) <= float(x.max()) <= 1


def test_a_classifier_constant_in_x_leaves_the_denoisers_samples_unchanged():
  """grad_x log p(y | x_t) = 0 for a classifier whose logits ignore x (zero
  head): guidance at any scale must give the unguided denoiser's samples."""
  built, frozen = guided(dict(classifier_scale=5.0, eta=1.0), bias=[0.0, 1.0, 2.0, 3.0])
  den_settings = settings_lib.read_settings(tiny_config(dict(eta=1.0), num_classes=0))
  plain = family.make_family(tiny_config(dict(eta=1.0), num_classes=0))
  state = built.init(jax.random.PRNGKey(0), example_batch((4, 4, 1)), frozen)
  rng = jax.random.PRNGKey(3)
  got = built.sample(state, rng, 4, jnp.array([0, 1, 2, 3]), frozen)
  want = plain.sample(guidance.denoiser_state(frozen["denoiser"]), rng, 4)
  assert den_settings.num_classes == 0
  # Two different programs: the eta = 1 chain carries their float32
  # round-off to ~3e-4 (a gradient reaching x at scale 5 moves pixels by ~0.1)
  np.testing.assert_allclose(got, want, atol=1e-3)


@pytest.mark.parametrize("deps,match", [
    (("denoiser",), "builds on a trained diffusion/classifier run named 'classifier'"),
    (("classifier",), "builds on a trained diffusion/ddpm run named 'denoiser'"),
    (("denoiser", "swapped"), "holds a diffusion/ddpm run; classifier guidance "
                              "\\(model.name='guided'\\) needs a diffusion/classifier"),
])
def test_the_guided_model_names_a_missing_or_wrong_run(deps, match):
  den, _ = classifier_run(name="ddpm", num_classes=0)
  clf, _ = classifier_run()
  given = {"denoiser": den, "classifier": clf}
  given = {k: (den if "swapped" in deps else given[k]) for k in
           ("denoiser", "classifier") if k in deps or "swapped" in deps}
  with pytest.raises(ConfigError, match=match):
    family.make_family(tiny_config(name="guided"), deps=given)


def test_a_classifier_with_other_classes_is_refused():
  with pytest.raises(ConfigError, match="10 classes vs the model's 5"):
    guided(denoiser=dict(num_classes=5), num_classes=10)


def test_classifier_family_draws_no_samples_and_reports_its_accuracy():
  settings = settings_lib.read_settings(tiny_config(name="classifier", num_classes=4))
  built = family.classifier_family(settings)
  assert (built.model, built.sample, built.image_grids, built.num_classes) == (
      "classifier", None, None, None)
  assert sorted(built.eval_metrics) == ["accuracy", "loss"]
  np.testing.assert_allclose(built.data_to_unit(jnp.array([-1.0, 0.0, 3.0])), [0, 0.5, 1])
