"""The autoregressive family's top-level functions, each called directly on
tiny networks and checked against closed forms or hand computations."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.autoregressive import family as ar
from genjax.families.autoregressive.config import default_config
from genjax.families.autoregressive.mixture import mixture_num_params

TINY_NET = dict(features=4, num_layers=1, kernel_size=3, first_kernel_size=3)


def config_of(name="pixelcnn", shape=(3, 3, 1), likelihood="bernoulli",
              net=None, num_classes=0, **sample):
  config = default_config()
  config.model.update(name=name, likelihood=likelihood, image_shape=shape,
                      num_classes=num_classes)
  config.model.net = ml_collections.ConfigDict(TINY_NET if net is None else net)
  if likelihood != "bernoulli":
    config.data.preprocess = ("scale_pm1",)
  config.sample.update(sample)
  return config


def settings_and_nets(**kwargs):
  settings = ar.read_settings(config_of(**kwargs))
  return settings, ar.build_networks(settings)


def batch_of(images, labels=None):
  images = jnp.asarray(images, jnp.float32)
  if labels is None:
    labels = jnp.zeros((images.shape[0],), jnp.int32)
  return {"image": images, "label": jnp.asarray(labels, jnp.int32)}


def fresh_state(settings, nets):
  blank = batch_of(jnp.zeros((1,) + settings.image_shape))
  return ar.init(settings, nets, jax.random.PRNGKey(0), blank)


def zeroed(params):
  return jax.tree.map(jnp.zeros_like, params)


def randomised(params, seed=2):
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree.unflatten(tree, [leaf + 0.3 * jax.random.normal(key, leaf.shape)
                                   for leaf, key in zip(leaves, keys)])


# --- read_settings, build_networks -----------------------------------------

def test_read_settings_gives_half_the_rows_for_completion_rows_minus_one():
  settings = ar.read_settings(config_of(shape=(6, 4, 1), completion_rows=-1))
  assert settings.completion_rows == 3
  assert settings.num_dims == 6 * 4 * 1


def test_read_settings_uses_the_row_cache_only_where_the_network_has_one():
  assert not ar.read_settings(config_of("pixelcnn", cached=True)).cached
  gated = config_of("gated_pixelcnn", net=dict(features=4, num_layers=1))
  assert ar.read_settings(gated).cached
  gated.sample.cached = False
  assert not ar.read_settings(gated).cached


def test_read_settings_names_the_defaults_file_when_a_field_is_missing():
  config = config_of()
  del config.sample["temperature"]
  with pytest.raises(ConfigError, match="autoregressive/config.py"):
    ar.read_settings(config)


@pytest.mark.parametrize("field, value, message", [
    ("temperature", 0.0, "temperature must be > 0"),
    ("completion_rows", 3, "completion_rows=3"),
])
def test_read_settings_refuses_out_of_range_sample_fields(field, value, message):
  with pytest.raises(ConfigError, match=message):
    ar.read_settings(config_of(**{field: value}))


def test_check_likelihood_refuses_pairs_the_model_cannot_use():
  assert ar.check_likelihood("pixelcnnpp", "logistic_mixture") == "logistic_mixture"
  assert ar.check_likelihood("row_lstm", "categorical") == "categorical"
  with pytest.raises(ConfigError, match="logistic_mixture"):
    ar.check_likelihood("pixelcnnpp", "bernoulli")
  with pytest.raises(ConfigError, match="PixelCNN\\+\\+"):
    ar.check_likelihood("pixelcnn", "logistic_mixture")


def test_check_net_fields_names_the_unknown_field_and_the_valid_ones():
  with pytest.raises(ConfigError, match=r"\['feautres'\].*'features'"):
    ar.check_net_fields("pixelcnn", {"feautres": 8})
  with pytest.raises(ConfigError, match="num_classes"):   # set by the family
    ar.check_net_fields("pixelcnn", {"num_classes": 3})


def test_build_networks_sizes_the_output_for_the_likelihood():
  _, nets = settings_and_nets(likelihood="bernoulli")
  assert nets.model.num_outputs == 1
  _, nets = settings_and_nets(likelihood="categorical")
  assert nets.model.num_outputs == 256


def test_build_networks_gives_pixelcnnpp_the_modules_default_mixture_size():
  """No nr_logistic_mix in the config: the module's default, 10 components,
  3 * 10 outputs per grey pixel; all-zero outputs are a mixture of identical
  logistics (mean 0, scale 1), so p(x) is one logistic bin's mass."""
  _, nets = settings_and_nets(name="pixelcnnpp", likelihood="logistic_mixture",
                              shape=(4, 4, 1),
                              net=dict(nr_resnet=1, nr_filters=4, num_resolutions=2))
  assert nets.model.nr_logistic_mix == 10
  x = jnp.full((1, 1, 1, 1), 1.0 / 255.0)                # level 128 of [-1, 1]
  log_p = nets.likelihood.log_prob(jnp.zeros((1, 1, 1, mixture_num_params(1, 10))), x)
  sigmoid = lambda a: 1.0 / (1.0 + math.exp(-a))
  np.testing.assert_allclose(float(log_p[0]), math.log(sigmoid(2 / 255) - 0.5),
                             rtol=1e-5)
  with pytest.raises(ValueError):                        # 2 components' worth
    nets.likelihood.log_prob(jnp.zeros((1, 1, 1, 6)), x)


def test_build_networks_reads_the_ema_decay_of_the_optim_block():
  config = config_of()
  config.optim.ema_decay = 0.25
  assert ar.build_networks(ar.read_settings(config)).ema_decay == 0.25


# --- init, network_outputs, likelihood, loss --------------------------------

def test_init_keeps_an_ema_only_when_ema_decay_is_positive():
  settings, nets = settings_and_nets()
  assert fresh_state(settings, nets).ema_params is None
  with_ema = dataclasses.replace(nets, ema_decay=0.5)
  state = fresh_state(settings, with_ema)
  for ema, raw in zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(ema, raw)
  assert int(state.step) == 0


def test_init_parameters_do_not_depend_on_the_example_batch_size():
  settings, nets = settings_and_nets()
  one = fresh_state(settings, nets)
  three = ar.init(settings, nets, jax.random.PRNGKey(0),
                  batch_of(jnp.ones((3,) + settings.image_shape)))
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(three.params)):
    np.testing.assert_array_equal(a, b)


def test_network_outputs_have_one_logit_per_sub_pixel_and_ignore_labels_unconditionally():
  settings, nets = settings_and_nets(shape=(3, 4, 1))
  params = randomised(fresh_state(settings, nets).params)
  images = jnp.ones((2, 3, 4, 1))
  out = ar.network_outputs(settings, nets, params, images, jnp.array([0, 5]))
  assert out.shape == (2, 3, 4, 1, 1)
  # The first pixel sees nothing: its logit is the same for every image.
  other = ar.network_outputs(settings, nets, params, jnp.zeros_like(images), None)
  np.testing.assert_allclose(out[:, 0, 0], other[:, 0, 0], rtol=1e-6)


@pytest.mark.parametrize("likelihood, levels", [("bernoulli", 2), ("categorical", 256)])
def test_negative_log_likelihood_of_a_zero_network_is_uniform(likelihood, levels):
  """All-zero weights give zero logits: every sub-pixel uniform over its levels."""
  settings, nets = settings_and_nets(likelihood=likelihood, shape=(2, 3, 1))
  params = zeroed(fresh_state(settings, nets).params)
  images = jnp.full((2, 2, 3, 1), 1.0)
  nll = ar.negative_log_likelihood(settings, nets, params, batch_of(images))
  np.testing.assert_allclose(nll, [6 * math.log(levels)] * 2, rtol=1e-6)


def test_loss_fn_is_nats_per_dim_with_nll_and_bpd_metrics():
  settings, nets = settings_and_nets(shape=(2, 3, 1))
  params = zeroed(fresh_state(settings, nets).params)
  images = (jnp.arange(12).reshape(2, 2, 3, 1) % 2).astype(jnp.float32)
  loss, (metrics, model_state) = ar.loss_fn(settings, nets, params, {"kept": 1},
                                            batch_of(images), jax.random.PRNGKey(0))
  np.testing.assert_allclose(loss, math.log(2), rtol=1e-6)
  np.testing.assert_allclose(metrics["nll"], 6 * math.log(2), rtol=1e-6)
  np.testing.assert_allclose(metrics["bpd"], 1.0, rtol=1e-6)
  assert model_state == {"kept": 1}


# --- evaluation metrics ------------------------------------------------------

def test_eval_nll_uses_the_ema_parameters_when_asked_to():
  settings, nets = settings_and_nets()
  state = fresh_state(settings, nets)
  state = state.replace(params=randomised(state.params), ema_params=zeroed(state.params))
  batch = batch_of(jnp.ones((2, 3, 3, 1)))
  with_ema = ar.eval_nll(settings, nets, state, batch, None)
  np.testing.assert_allclose(with_ema, [9 * math.log(2)] * 2, rtol=1e-6)
  raw = ar.eval_nll(dataclasses.replace(settings, use_ema=False), nets, state, batch, None)
  assert not np.allclose(raw, with_ema)


def test_eval_bpd_is_the_nll_in_bits_per_sub_pixel():
  settings, nets = settings_and_nets()
  state = fresh_state(settings, nets)
  state = state.replace(params=randomised(state.params))
  batch = batch_of(jnp.ones((2, 3, 3, 1)))
  nats = np.asarray(ar.eval_nll(settings, nets, state, batch, None), np.float64)
  bits = ar.eval_bpd(settings, nets, state, batch, None)
  np.testing.assert_allclose(bits, nats / (9 * math.log(2)), rtol=1e-6)


# --- pictures and samplers ---------------------------------------------------

def test_images_to_unit_maps_minus_one_to_one_onto_the_unit_interval_clipped():
  settings, nets = settings_and_nets(likelihood="categorical")
  out = ar.images_to_unit(settings, nets, jnp.array([-1.0, 0.0, 1.0, 1.5]))
  np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 1.0])


def test_completion_start_counts_sub_pixels_or_pixels_of_the_given_rows():
  settings, nets = settings_and_nets(likelihood="categorical", shape=(4, 5, 3),
                                     completion_rows=3)
  assert ar.completion_start(settings, nets) == 3 * 5 * 3   # R, G, B drawn one by one
  settings, nets = settings_and_nets(name="pixelcnnpp", likelihood="logistic_mixture",
                                     shape=(4, 5, 3), completion_rows=3,
                                     net=dict(nr_resnet=1, nr_filters=4))
  assert ar.completion_start(settings, nets) == 3 * 5      # whole pixels


def constant_logit_state(settings, nets, logit):
  """Zero weights and a head bias of ``logit``: p(x_i = 1) = sigmoid(logit / T)
  at every position, whatever the image."""
  state = fresh_state(settings, nets)
  params = zeroed(state.params)
  params["head"]["conv_1"]["bias"] = jnp.full_like(params["head"]["conv_1"]["bias"], logit)
  return state.replace(params=params)


def test_draw_keeps_the_positions_before_start_and_draws_the_rest():
  settings, nets = settings_and_nets()
  state = constant_logit_state(settings, nets, 0.0)
  given = jnp.full((1000, 3, 3, 1), 0.5)
  drawn = np.asarray(ar.draw(settings, nets, state, jax.random.PRNGKey(4), given,
                             None, 5)).reshape(1000, 9)
  np.testing.assert_array_equal(drawn[:, :5], 0.5)
  assert set(np.unique(drawn[:, 5:])) == {0.0, 1.0}
  assert abs(drawn[:, 5:].mean() - 0.5) < 0.03              # Bernoulli(1/2)


def test_sample_divides_the_logits_by_the_temperature():
  settings, nets = settings_and_nets(shape=(2, 2, 1), temperature=2.0)
  state = constant_logit_state(settings, nets, 2.0)
  images = ar.sample(settings, nets, state, jax.random.PRNGKey(5), 2000)
  assert images.shape == (2000, 2, 2, 1)
  expected = 1.0 / (1.0 + math.exp(-1.0))                   # sigmoid(2 / 2)
  assert abs(float(jnp.mean(images)) - expected) < 0.02


def test_sample_without_cond_draws_the_classes_in_turn():
  settings, nets = settings_and_nets(shape=(2, 2, 1), num_classes=3)
  state = fresh_state(settings, nets)
  state = state.replace(params=randomised(state.params))
  with_labels = jax.jit(lambda rng, cond: ar.sample(settings, nets, state, rng, 6, cond))
  without_labels = jax.jit(lambda rng: ar.sample(settings, nets, state, rng, 6))
  rng = jax.random.PRNGKey(6)
  balanced = with_labels(rng, jnp.array([0, 1, 2, 0, 1, 2]))
  np.testing.assert_array_equal(without_labels(rng), balanced)
  assert not np.array_equal(with_labels(rng, jnp.full((6,), 2)), balanced)


def test_image_grids_cycle_through_a_batch_smaller_than_the_grid():
  settings, nets = settings_and_nets(shape=(4, 4, 1), completion_rows=2)
  state = fresh_state(settings, nets)
  images = (jax.random.uniform(jax.random.PRNGKey(0), (3, 4, 4, 1)) > 0.5
            ).astype(jnp.float32)
  grid = np.asarray(ar.image_grids(settings, nets, state, batch_of(images),
                                   jax.random.PRNGKey(1))["completion"])
  assert settings.grid_rows == 8   # base_config's sample.grid_rows, > the batch of 3
  assert grid.shape == (8, 1 + ar.COMPLETIONS_PER_ROW + 1, 4, 4, 1)
  for row in range(8):
    original = np.asarray(images)[row % 3]
    np.testing.assert_array_equal(grid[row, -1], original)
    np.testing.assert_array_equal(grid[row, 0, :2], original[:2])
    np.testing.assert_array_equal(grid[row, 0, 2:], 0.5)
    np.testing.assert_array_equal(grid[row, 1:-1, :2],
                                  np.broadcast_to(original[:2], (3, 2, 4, 1)))


# --- make_family -------------------------------------------------------------

def test_make_family_names_the_family_and_binds_the_functions():
  family = ar.make_family(config_of(num_classes=3), deps={})
  assert (family.family, family.model, family.num_classes) == ("autoregressive",
                                                               "pixelcnn", 3)
  assert sorted(family.eval_metrics) == ["bpd", "nll"]
  assert not family.init_on_data
  state = family.init(jax.random.PRNGKey(0), batch_of(jnp.zeros((1, 3, 3, 1))))
  state = state.replace(params=zeroed(state.params))
  nll = family.eval_metrics["nll"](state, batch_of(jnp.ones((2, 3, 3, 1))), None)
  np.testing.assert_allclose(nll, [9 * math.log(2)] * 2, rtol=1e-6)
  assert ar.make_family(config_of(num_classes=0)).num_classes is None


def test_make_family_initialises_pixelcnnpp_on_data():
  family = ar.make_family(config_of(name="pixelcnnpp", likelihood="logistic_mixture",
                                    shape=(4, 4, 1),
                                    net=dict(nr_resnet=1, nr_filters=4)))
  assert family.init_on_data and family.model == "pixelcnnpp"
