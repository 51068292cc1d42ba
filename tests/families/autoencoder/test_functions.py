"""The autoencoder family's top-level functions, each called directly.

The model is a linear one (``architecture='mlp'``, ``hidden=()``): the encoder
is x -> flat(x) W_e + b_e and the decoder z -> z W_d + b_d, so every value has
a hand computation in numpy to check it against.
"""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from genjax.errors import ConfigError
from genjax.families.autoencoder import evaluation, family as ae, networks, sampling, steps
from genjax.families.autoencoder.code_prior import code_gaussian, initial_code_stats
from genjax.families.autoencoder.config import default_config


def config_of(name="vae", image_shape=(2, 2, 1), latent_dim=2, **model):
  config = default_config()
  config.model.update(name=name, architecture="mlp", hidden=(), image_shape=image_shape,
                      latent_dim=latent_dim)
  config.model.update(model)
  config.eval.update(iwae_k=4, iwae_chunk=2)
  return config


def settings_and_nets(**kwargs):
  settings = ae.read_settings(config_of(**kwargs))
  return settings, ae.build_networks(settings)


def linear_params(enc_kernel, enc_bias, dec_kernel, dec_bias):
  dense = lambda kernel, bias: {"MLP_0": {"Dense_0": {
      "kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)}}}
  return {"encoder": dense(enc_kernel, enc_bias), "decoder": dense(dec_kernel, dec_bias)}


def random_linear(settings, seed=0):
  """Random weights of the linear model of ``settings``, as numpy arrays."""
  rng = np.random.default_rng(seed)
  dims = settings.num_dims
  codes = 2 * settings.latent_dim if settings.variational else settings.latent_dim
  outputs = dims * (2 if settings.likelihood != "bernoulli" and settings.variational
                    else 1)
  return (rng.normal(size=(dims, codes)) * 0.5, rng.normal(size=codes) * 0.5,
          rng.normal(size=(settings.latent_dim, outputs)) * 0.5,
          rng.normal(size=outputs) * 0.5)


def state_of(settings, nets, params, ema_params=None, model_state=None):
  blank = {"image": jnp.zeros((1,) + settings.image_shape)}
  state = steps.init(settings, nets, jax.random.PRNGKey(0), blank)
  state = state.replace(params=params,
                        ema_params=params if ema_params is None else ema_params)
  return state if model_state is None else state.replace(model_state=model_state)


def batch_of(num=3, shape=(2, 2, 1), seed=1):
  images = np.random.default_rng(seed).uniform(size=(num,) + shape).round()
  return {"image": jnp.asarray(images, jnp.float32),
          "label": jnp.zeros((num,), jnp.int32)}


def np_log_sigmoid(x):
  return -np.logaddexp(0.0, -x)


def np_bernoulli_sum(logits, x):
  """sum_d log Bern(x_d; sigmoid(logits_d)), per example."""
  logp = x * np_log_sigmoid(logits) + (1 - x) * np_log_sigmoid(-logits)
  return logp.reshape(len(x), -1).sum(1)


def np_flat(batch):
  return np.asarray(batch["image"], np.float64).reshape(len(batch["image"]), -1)


# --- read_settings and the config ---------------------------------------------


def test_read_settings_takes_every_value_from_the_config():
  config = config_of(name="dae", beta=0.25, noise="masking")
  settings = ae.read_settings(config)
  assert (settings.name, settings.architecture, settings.hidden) == ("dae", "mlp", ())
  assert settings.beta == 0.25 and settings.noise == "masking"
  assert settings.image_shape == (2, 2, 1) and settings.num_dims == 4
  assert settings.optim["lr"] == config.optim.lr and settings.use_ema is True
  assert not settings.variational and ae.read_settings(config_of()).variational
  # The DAE's noise level is the config's 0.5 (the old code's fallback was 0.3).
  assert ae.read_settings(default_config()).noise_level == 0.5


def test_a_missing_field_is_a_config_error_naming_the_family_config():
  config = config_of()
  del config.model["noise_level"]
  with pytest.raises(ConfigError, match="config.model.noise_level is missing.*"
                                        "autoencoder/config.py"):
    ae.read_settings(config)


def test_largest_divisor_at_most_by_hand():
  assert ae.largest_divisor_at_most(12, 5) == 4
  assert ae.largest_divisor_at_most(1000, 50) == 50
  assert ae.largest_divisor_at_most(101, 50) == 1
  assert ae.largest_divisor_at_most(6, 50) == 6


def test_read_iwae_chunk_zero_is_the_largest_divisor_up_to_50():
  config = config_of()
  config.eval.update(iwae_k=1000, iwae_chunk=0)
  assert ae.read_iwae(config) == (1000, 50)
  config.eval.update(iwae_k=6, iwae_chunk=4)
  with pytest.raises(ConfigError, match="iwae_chunk=4 must divide eval.iwae_k=6; "
                                        "e.g. iwae_chunk=6"):
    ae.read_iwae(config)


def test_read_image_shape_checks_three_axes_and_the_conv_stages():
  config = config_of(image_shape=(10, 8, 1))
  assert ae.read_image_shape(config, "mlp") == (10, 8, 1)
  with pytest.raises(ConfigError, match="divisible by 4"):
    ae.read_image_shape(config, "conv")        # two stride-2 stages need H, W % 4 == 0
  config.model.image_shape = (12, 8, 1)
  assert ae.read_image_shape(config, "conv") == (12, 8, 1)
  config.model.image_shape = (4, 4)
  with pytest.raises(ConfigError, match=r"\(H, W, C\)"):
    ae.read_image_shape(config, "mlp")


# --- networks -------------------------------------------------------------------


@pytest.mark.parametrize("name,likelihood,outputs", [
    ("vae", "discretized_logistic", 2 * 2 * 3 * 2), ("vae", "bernoulli", 2 * 2 * 3),
    ("ae", "gaussian", 2 * 2 * 3)])
def test_build_networks_sizes_the_decoder_for_the_likelihood(name, likelihood, outputs):
  settings, nets = settings_and_nets(name=name, likelihood=likelihood,
                                     image_shape=(2, 2, 3))
  state = steps.init(settings, nets, jax.random.PRNGKey(0),
                     {"image": jnp.zeros((1, 2, 2, 3))})
  assert state.params["decoder"]["MLP_0"]["Dense_0"]["bias"].shape == (outputs,)
  codes = 4 if name == "vae" else 2
  assert state.params["encoder"]["MLP_0"]["Dense_0"]["bias"].shape == (codes,)
  assert nets.ema_decay == default_config().optim.ema_decay


def test_encode_and_decode_are_the_linear_maps_of_their_parameters():
  settings, nets = settings_and_nets(name="ae")
  weights = random_linear(settings)
  params, batch = linear_params(*weights), batch_of()
  codes = networks.encode(nets, params, batch["image"])
  np.testing.assert_allclose(codes, np_flat(batch) @ weights[0] + weights[1], rtol=1e-5)
  outputs = networks.decode(nets, params, codes)
  want = (np.asarray(codes) @ weights[2] + weights[3]).reshape(3, 2, 2, 1)
  np.testing.assert_allclose(outputs, want, rtol=1e-5, atol=1e-6)


def test_code_of_is_the_posterior_mean_for_the_vae_and_the_code_for_an_ae():
  batch = batch_of()
  for name, width in (("vae", 2), ("ae", 2)):
    settings, nets = settings_and_nets(name=name)
    weights = random_linear(settings)
    codes = networks.code_of(settings, nets, linear_params(*weights), batch["image"])
    full = np_flat(batch) @ weights[0] + weights[1]
    np.testing.assert_allclose(codes, full[:, :width], rtol=1e-5, atol=1e-6)


def test_decoded_image_is_sigmoid_for_an_ae_and_the_likelihood_mean_for_the_vae():
  codes = jnp.asarray([[0.3, -1.2], [2.0, 0.5]])
  settings, nets = settings_and_nets(name="ae")
  weights = random_linear(settings)
  logits = np.asarray(codes) @ weights[2] + weights[3]
  np.testing.assert_allclose(
      networks.decoded_image(settings, nets, linear_params(*weights), codes),
      special.expit(logits).reshape(2, 2, 2, 1), rtol=1e-5)
  settings, nets = settings_and_nets(name="vae", likelihood="gaussian")
  weights = random_linear(settings)
  outputs = (np.asarray(codes) @ weights[2] + weights[3]).reshape(2, 2, 2, 2)
  np.testing.assert_allclose(                 # the location channel, clipped to [0, 1]
      networks.decoded_image(settings, nets, linear_params(*weights), codes),
      np.clip(outputs[..., :1], 0, 1), rtol=1e-5, atol=1e-6)


def test_log_likelihood_sums_the_bernoulli_log_probabilities():
  settings, nets = settings_and_nets(name="vae")
  weights = random_linear(settings)
  codes, batch = jnp.asarray([[0.1, 0.2], [-1.0, 0.4], [0.0, 3.0]]), batch_of()
  logits = np.asarray(codes) @ weights[2] + weights[3]
  got = networks.log_likelihood(settings, nets, linear_params(*weights), codes,
                                batch["image"])
  np.testing.assert_allclose(got, np_bernoulli_sum(logits, np_flat(batch)), rtol=1e-5)


# --- the state and the losses -------------------------------------------------------


def test_init_starts_the_code_statistics_at_a_standard_normal():
  settings, nets = settings_and_nets(name="ae", latent_dim=3)
  state = steps.init(settings, nets, jax.random.PRNGKey(0), batch_of())
  np.testing.assert_array_equal(state.model_state["code_stats"]["mean"], np.zeros(3))
  np.testing.assert_array_equal(state.model_state["code_stats"]["second_moment"],
                                np.eye(3))
  assert int(state.step) == 0
  for raw, ema in zip(jax.tree.leaves(state.params), jax.tree.leaves(state.ema_params)):
    np.testing.assert_array_equal(raw, ema)
  vae_settings, vae_nets = settings_and_nets(name="vae")
  assert steps.init(vae_settings, vae_nets, jax.random.PRNGKey(0),
                    batch_of()).model_state == {}


def test_initial_model_state_is_the_code_statistics_of_n01_for_an_ae_only():
  settings, _ = settings_and_nets(name="dae", latent_dim=2)
  stats = steps.initial_model_state(settings, jax.random.PRNGKey(0))["code_stats"]
  np.testing.assert_array_equal(stats["second_moment"], np.eye(2))
  assert steps.initial_model_state(settings_and_nets(name="vae")[0],
                                   jax.random.PRNGKey(0)) == {}


def test_initial_code_stats_are_those_of_a_standard_normal():
  mean, chol = code_gaussian(initial_code_stats(3))
  np.testing.assert_array_equal(mean, np.zeros(3))
  np.testing.assert_allclose(chol, np.eye(3), atol=1e-5)


def np_vae_terms(weights, batch, eps, beta):
  """(-ELBO_beta, -log p(x|z), KL) by hand, with z = mean + std * eps."""
  encoded = np_flat(batch) @ weights[0] + weights[1]
  mean, logvar = encoded[:, :2], encoded[:, 2:]
  z = mean + np.exp(0.5 * logvar) * eps
  log_px_z = np_bernoulli_sum(z @ weights[2] + weights[3], np_flat(batch))
  kl = 0.5 * np.sum(mean ** 2 + np.exp(logvar) - 1 - logvar, axis=1)
  return -(log_px_z - beta * kl), -log_px_z, kl


def test_vae_terms_are_the_one_sample_elbo_of_the_reparameterised_draw():
  settings, nets = settings_and_nets(name="vae")
  weights, batch, rng = random_linear(settings), batch_of(), jax.random.PRNGKey(3)
  got = steps.vae_terms(settings, nets, linear_params(*weights), batch["image"], rng, 0.3)
  eps = np.asarray(jax.random.normal(rng, (3, 2)))       # the draw of eq. 4
  for value, want in zip(got, np_vae_terms(weights, batch, eps, 0.3)):
    np.testing.assert_allclose(value, want, rtol=1e-5)


def test_vae_loss_weights_the_kl_by_beta_and_reports_the_unweighted_bound():
  settings, nets = settings_and_nets(name="vae", beta=0.5)
  weights, batch, rng = random_linear(settings), batch_of(), jax.random.PRNGKey(4)
  loss, (metrics, model_state) = steps.vae_loss(settings, nets, linear_params(*weights),
                                                {"kept": 1}, batch, rng)
  eps = np.asarray(jax.random.normal(rng, (3, 2)))
  weighted, recon, kl = np_vae_terms(weights, batch, eps, 0.5)
  np.testing.assert_allclose(loss, weighted.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["nelbo"], (recon + kl).mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["recon"], recon.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["kl"], kl.mean(), rtol=1e-5)
  assert model_state == {"kept": 1}


def ae_setup(name="ae", **model):
  settings, nets = settings_and_nets(name=name, **model)
  weights = random_linear(settings)
  model_state = {"code_stats": initial_code_stats(2)}
  return settings, nets, weights, linear_params(*weights), model_state


@pytest.mark.parametrize("recon_loss", ["bce", "mse"])
def test_ae_loss_is_the_mean_reconstruction_loss_and_updates_the_code_statistics(
    recon_loss):
  settings, nets, weights, params, model_state = ae_setup(recon_loss=recon_loss)
  batch = batch_of()
  codes = np_flat(batch) @ weights[0] + weights[1]
  logits = codes @ weights[2] + weights[3]
  if recon_loss == "bce":
    want = -np_bernoulli_sum(logits, np_flat(batch)).mean()
  else:
    want = np.sum((special.expit(logits) - np_flat(batch)) ** 2, axis=1).mean()
  for seed in (0, 1):   # the AE draws nothing
    loss, (metrics, new_state) = steps.ae_loss(settings, nets, params, model_state,
                                               batch, jax.random.PRNGKey(seed))
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    np.testing.assert_allclose(metrics["recon"], want, rtol=1e-5)
  stats = new_state["code_stats"]
  np.testing.assert_allclose(stats["mean"], 0.01 * codes.mean(0), rtol=1e-5)
  np.testing.assert_allclose(stats["second_moment"],
                             0.99 * np.eye(2) + 0.01 * codes.T @ codes / 3, rtol=1e-5)


def test_reconstruction_objective_scores_targets_and_keeps_the_codes_of_inputs():
  settings, nets, weights, params, model_state = ae_setup()
  targets = batch_of()["image"]
  inputs = jnp.zeros_like(targets)                # every code is the encoder's bias
  loss, (_, new_state) = steps.reconstruction_objective(settings, nets, params,
                                                        model_state, inputs, targets)
  logits = np.tile(weights[1] @ weights[2] + weights[3], (3, 1))
  np.testing.assert_allclose(loss, -np_bernoulli_sum(logits, np_flat({"image": targets}))
                             .mean(), rtol=1e-5)
  np.testing.assert_allclose(new_state["code_stats"]["mean"], 0.01 * weights[1],
                             rtol=1e-5)


def test_dae_loss_reconstructs_the_clean_batch_from_fully_masked_inputs():
  settings, nets, weights, params, model_state = ae_setup(
      name="dae", noise="masking", noise_level=1.0)
  batch = batch_of()
  loss, (metrics, new_state) = steps.dae_loss(settings, nets, params, model_state,
                                              batch, jax.random.PRNGKey(5))
  logits = np.tile(weights[1] @ weights[2] + weights[3], (3, 1))   # decode(b_e)
  np.testing.assert_allclose(loss, -np_bernoulli_sum(logits, np_flat(batch)).mean(),
                             rtol=1e-5)
  np.testing.assert_allclose(new_state["code_stats"]["mean"], 0.01 * weights[1],
                             rtol=1e-5)
  noiseless = dataclasses.replace(settings, noise="gaussian", noise_level=0.0)
  clean, _ = steps.dae_loss(noiseless, nets, params, model_state, batch,
                            jax.random.PRNGKey(5))
  np.testing.assert_allclose(clean, steps.ae_loss(settings, nets, params, model_state,
                                                  batch, None)[0], rtol=1e-6)


# --- evaluation -------------------------------------------------------------------


@pytest.mark.parametrize("use_ema", [True, False])
def test_vae_metrics_use_beta_one_and_the_parameters_sample_use_ema_names(use_ema):
  config = config_of(name="vae", beta=0.5)
  config.sample.use_ema = use_ema
  settings = ae.read_settings(config)
  nets = ae.build_networks(settings)
  weights = random_linear(settings)
  other = jax.tree.map(jnp.zeros_like, linear_params(*weights))
  raw, ema = (other, linear_params(*weights)) if use_ema else (linear_params(*weights),
                                                                other)
  state, batch, rng = state_of(settings, nets, raw, ema), batch_of(), jax.random.PRNGKey(6)
  eps = np.asarray(jax.random.normal(rng, (3, 2)))
  nelbo, recon, kl = np_vae_terms(weights, batch, eps, 1.0)
  np.testing.assert_allclose(evaluation.eval_nelbo(settings, nets, state, batch, rng),
                             nelbo, rtol=1e-5)
  np.testing.assert_allclose(evaluation.eval_vae_recon(settings, nets, state, batch, rng),
                             recon, rtol=1e-5)
  np.testing.assert_allclose(evaluation.eval_kl(settings, nets, state, batch, rng),
                             kl, rtol=1e-5)
  terms = evaluation.unweighted_vae_terms(settings, nets, state, batch, rng)
  np.testing.assert_allclose(terms[0], recon + kl, rtol=1e-5)


def test_iwae_nll_is_exact_when_q_is_the_prior_and_the_decoder_ignores_the_code():
  # q(z|x) = N(0, I) = p(z) and p(x|z) = p(x|b_d): every weight is p(x) exactly.
  settings, nets = settings_and_nets(name="vae")
  dec_bias = np.array([0.5, -1.0, 2.0, 0.0])
  params = linear_params(np.zeros((4, 4)), np.zeros(4), np.zeros((2, 4)), dec_bias)
  state, batch = state_of(settings, nets, params), batch_of()
  want = -np_bernoulli_sum(np.tile(dec_bias, (3, 1)), np_flat(batch))
  rng = jax.random.PRNGKey(7)
  np.testing.assert_allclose(evaluation.eval_iwae_nll(settings, nets, state, batch, rng),
                             want, rtol=1e-5)
  np.testing.assert_allclose(evaluation.eval_iwae_bpd(settings, nets, state, batch, rng),
                             want / (4 * math.log(2.0)), rtol=1e-5)


def test_ae_metrics_are_per_example_reconstruction_errors():
  settings, nets, weights, params, _ = ae_setup()
  state, batch = state_of(settings, nets, params), batch_of()
  logits = (np_flat(batch) @ weights[0] + weights[1]) @ weights[2] + weights[3]
  np.testing.assert_allclose(evaluation.restored_logits(nets, params, batch["image"]),
                             logits.reshape(3, 2, 2, 1), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(evaluation.eval_recon(settings, nets, state, batch, None),
                             -np_bernoulli_sum(logits, np_flat(batch)), rtol=1e-5)
  np.testing.assert_allclose(
      evaluation.eval_anomaly_score(settings, nets, state, batch, None),
      np.sum((special.expit(logits) - np_flat(batch)) ** 2, axis=1), rtol=1e-5)


def test_denoise_mse_of_fully_masked_inputs_is_the_error_of_decoding_the_code_bias():
  settings, nets, weights, params, _ = ae_setup(name="dae", noise="masking",
                                                noise_level=1.0)
  state, batch = state_of(settings, nets, params), batch_of()
  restored = special.expit(weights[1] @ weights[2] + weights[3])
  want = np.mean((restored - np_flat(batch)) ** 2, axis=1)
  np.testing.assert_allclose(
      evaluation.eval_denoise_mse(settings, nets, state, batch, jax.random.PRNGKey(8)),
      want, rtol=1e-5)


# --- samples and grids --------------------------------------------------------------


def sampled_codes(settings, nets, state, sampler, num=4000):
  """The codes behind samples of a decoder that is the identity (D = latent_dim = 2)."""
  images = sampler(settings, nets, state, jax.random.PRNGKey(9), num)
  assert images.shape == (num, 2, 1, 1)
  return special.logit(np.asarray(images, np.float64).reshape(num, 2))


def identity_decoder(settings):
  codes = 4 if settings.variational else 2
  return linear_params(np.zeros((2, codes)), np.zeros(codes), np.eye(2), np.zeros(2))


def test_prior_sample_decodes_standard_normal_codes():
  settings, nets = settings_and_nets(name="vae", image_shape=(2, 1, 1))
  state = state_of(settings, nets, identity_decoder(settings))
  z = sampled_codes(settings, nets, state, sampling.prior_sample)
  np.testing.assert_allclose(z.mean(0), 0.0, atol=0.06)
  np.testing.assert_allclose(np.cov(z.T), np.eye(2), atol=0.07)


def test_fitted_prior_sample_draws_from_the_gaussian_of_the_code_statistics():
  settings, nets = settings_and_nets(name="ae", image_shape=(2, 1, 1))
  mean, cov = np.array([0.5, -1.0]), np.array([[0.8, 0.3], [0.3, 0.4]])
  stats = {"mean": jnp.asarray(mean, jnp.float32),
           "second_moment": jnp.asarray(cov + np.outer(mean, mean), jnp.float32)}
  state = state_of(settings, nets, identity_decoder(settings),
                   model_state={"code_stats": stats})
  z = sampled_codes(settings, nets, state, sampling.fitted_prior_sample)
  np.testing.assert_allclose(z.mean(0), mean, atol=0.05)
  np.testing.assert_allclose(np.cov(z.T), cov, atol=0.05)


def test_grid_groups_is_the_batch_in_eights_between_one_and_four():
  assert [sampling.grid_groups(b) for b in (1, 8, 16, 31, 32, 500)] == [1, 1, 2, 3, 4, 4]


def test_interleave_rows_alternates_rows_of_each_input():
  first = jnp.arange(16.0).reshape(16, 1, 1, 1)
  second = -first
  grid = sampling.interleave_rows(first, second)
  assert grid.shape == (4, 8, 1, 1, 1)
  np.testing.assert_array_equal(grid[:, :, 0, 0, 0], [list(range(8)), [-v for v in range(8)],
                                                       list(range(8, 16)),
                                                       [-v for v in range(8, 16)]])


def test_grid_examples_cycles_a_small_batch_to_eight():
  images = jnp.arange(3.0).reshape(3, 1, 1, 1)
  np.testing.assert_array_equal(sampling.grid_examples(images)[:, 0, 0, 0],
                                [0, 1, 2, 0, 1, 2, 0, 1])
  assert sampling.grid_examples(jnp.zeros((20, 1, 1, 1))).shape[0] == 16


def np_ae_reconstruction(weights, images):
  flat = np.asarray(images, np.float64).reshape(len(images), -1)
  logits = (flat @ weights[0] + weights[1]) @ weights[2] + weights[3]
  return special.expit(logits).reshape(images.shape)


def test_reconstruction_grid_pairs_each_image_with_its_reconstruction():
  settings, nets, weights, params, _ = ae_setup()
  images = batch_of(8)["image"]
  np.testing.assert_allclose(sampling.reconstruction(settings, nets, params, images),
                             np_ae_reconstruction(weights, images), rtol=1e-5)
  grid = sampling.reconstruction_grid(settings, nets, params, images)
  assert grid.shape == (2, 8, 2, 2, 1)
  np.testing.assert_array_equal(grid[0], images)
  np.testing.assert_allclose(grid[1], np_ae_reconstruction(weights, images), rtol=1e-5)


def test_interpolation_grid_moves_linearly_between_two_codes():
  settings, nets, weights, params, _ = ae_setup()
  images = batch_of(16)["image"]
  grid = np.asarray(sampling.interpolation_grid(settings, nets, params, images), np.float64)
  assert grid.shape == (8, 10, 2, 2, 1)
  codes = np_flat({"image": images}) @ weights[0] + weights[1]
  for step in (0, 4, 9):
    t = step / 9
    path = (1 - t) * codes[:8] + t * codes[8:]
    want = special.expit(path @ weights[2] + weights[3]).reshape(8, 2, 2, 1)
    np.testing.assert_allclose(grid[:, step], want, rtol=1e-5)


def test_restoration_grid_rows_are_noisy_restored_clean():
  settings, nets, weights, params, _ = ae_setup(name="dae", noise="masking",
                                                noise_level=1.0)
  images = batch_of(8)["image"]
  grid = sampling.restoration_grid(settings, nets, params, images, jax.random.PRNGKey(1))
  assert grid.shape == (3, 8, 2, 2, 1)
  np.testing.assert_array_equal(grid[0], np.zeros((8, 2, 2, 1)))     # all masked
  restored = special.expit(weights[1] @ weights[2] + weights[3]).reshape(2, 2, 1)
  np.testing.assert_allclose(grid[1], np.broadcast_to(restored, (8, 2, 2, 1)), rtol=1e-5)
  np.testing.assert_array_equal(grid[2], images)


@pytest.mark.parametrize("name,grids", [
    ("ae", {"reconstructions", "interpolation"}),
    ("dae", {"reconstructions", "interpolation", "restoration"})])
def test_image_grids_hold_the_models_grids_of_the_first_images(name, grids):
  settings, nets, weights, params, _ = ae_setup(name=name, noise="masking",
                                                noise_level=1.0)
  state, batch = state_of(settings, nets, params), batch_of(19)
  make = sampling.dae_image_grids if name == "dae" else sampling.image_grids
  got = make(settings, nets, state, batch, jax.random.PRNGKey(2))
  assert set(got) == grids
  assert got["reconstructions"].shape == (4, 8, 2, 2, 1)    # 19 images: 2 rows of 8
  np.testing.assert_array_equal(got["reconstructions"][2], batch["image"][8:16])
  np.testing.assert_allclose(got["reconstructions"][1],
                             np_ae_reconstruction(weights, batch["image"][:8]), rtol=1e-5)
  if name == "dae":
    np.testing.assert_array_equal(got["restoration"][0], np.zeros((8, 2, 2, 1)))


# --- make_family ------------------------------------------------------------------


def test_make_family_binds_each_models_functions_from_the_table():
  for name in ae.MODELS:
    conv = dict(architecture="conv", channels=(2,), image_shape=(4, 4, 1))
    maps = conv if name.startswith("vqvae") else {}
    family = ae.make_family(config_of(name=name, **maps))
    assert (family.family, family.model) == ("autoencoder", name)
    assert set(family.eval_metrics) == set(ae.MODELS[name].eval_metrics)
  assert set(ae.MODELS["dae"].eval_metrics) == {"recon", "anomaly_score", "denoise_mse"}
  assert set(ae.MODELS["vae"].eval_metrics) == {"nelbo", "recon", "kl", "iwae_nll",
                                                "iwae_bpd"}
