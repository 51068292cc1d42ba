"""The autoencoder family behind the family contract, on tiny models and images."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from genjax.errors import ConfigError
from genjax.families.autoencoder import make_family
from genjax.families.autoencoder.code_prior import code_gaussian, update_code_stats
from genjax.families.autoencoder.config import default_config
from genjax.families.base import Family

IMAGE_SHAPE = (8, 8, 1)


def tiny_config(**model):
  """The family's default config with a tiny model."""
  config = default_config()
  config.model.update(dict(name="vae", architecture="mlp", image_shape=IMAGE_SHAPE,
                           latent_dim=2, hidden=(16,), channels=(8, 16),
                           noise="masking", noise_level=0.25))
  config.model.update(model)
  config.optim.update(lr=1e-2, ema_decay=0.5)
  config.eval.update(iwae_k=6, iwae_chunk=3)
  return config


def binary_batch(n=8):
  """Learnable binary images: horizontal or vertical bars at random offsets."""
  rows = (jnp.arange(8) % 2 == jnp.arange(n)[:, None] % 4 // 2)       # [n, 8]
  horizontal = jnp.broadcast_to(rows[:, :, None], (n, 8, 8))
  vertical = jnp.swapaxes(horizontal, 1, 2)
  image = jnp.where((jnp.arange(n) % 2 == 0)[:, None, None], horizontal, vertical)
  return {"image": image[..., None].astype(jnp.float32), "label": jnp.zeros((n,), jnp.int32)}


def train(family, batch, steps):
  """Eager init (cheaper to run than to compile), then ``steps`` jitted train steps."""
  state = family.init(jax.random.PRNGKey(1), batch)
  step = jax.jit(family.train_step)
  history = []
  for _ in range(steps):
    state, metrics = step(state, batch)
    history.append(metrics)
  return state, jax.tree.map(lambda *v: jnp.stack(v), *history)


EXPECTED_METRICS = {"vae": {"nelbo", "iwae_nll", "iwae_bpd", "recon", "kl"},
                    "ae": {"recon", "anomaly_score"},
                    "dae": {"recon", "anomaly_score", "denoise_mse"}}


@functools.lru_cache(maxsize=None)
def trained(name, architecture):
  """(family, state after 40 steps, metrics history), shared by the tests below."""
  family = make_family(tiny_config(name=name, architecture=architecture))
  return (family, *train(family, binary_batch(), 40))


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
@pytest.mark.parametrize("name", ["ae", "dae", "vae"])
def test_jitted_train_steps_reduce_the_loss(name, architecture):
  family, state, history = trained(name, architecture)
  assert isinstance(family, Family) and family.model == name and family.family == "autoencoder"
  loss = np.asarray(history["loss"])
  assert loss[-3:].mean() < 0.8 * loss[0], loss
  assert int(state.step) == 40 and state.ema_params is not None
  if name == "vae":
    np.testing.assert_allclose(history["nelbo"], history["recon"] + history["kl"], rtol=1e-5)
  else:  # the AE's prior for sampling: moments of the codes, tracked in the state
    second = state.model_state["code_stats"]["second_moment"]
    assert not np.allclose(second, np.eye(2)) and np.allclose(second, second.T)


def continuous_batch(n=8):
  """8-bit images k/255 for the Gaussian and discretised logistic likelihoods."""
  u = jax.random.uniform(jax.random.PRNGKey(5), (n, *IMAGE_SHAPE))
  return {"image": jnp.round(u * 255) / 255, "label": jnp.zeros((n,), jnp.int32)}


# Each metric set, architecture and likelihood once (compiling dominates the
# time of these tests): the trained Bernoulli models, the others at init.
@pytest.mark.parametrize("name,architecture,likelihood", [
    ("vae", "conv", "bernoulli"), ("vae", "mlp", "gaussian"),
    ("vae", "conv", "discretized_logistic"), ("ae", "mlp", "bernoulli"),
    ("dae", "conv", "bernoulli")])
def test_eval_metrics_samples_and_grids(name, architecture, likelihood):
  if likelihood == "bernoulli":
    family, state, _ = trained(name, architecture)
    batch = binary_batch()
  else:
    family = make_family(tiny_config(name=name, architecture=architecture,
                                     likelihood=likelihood))
    batch = continuous_batch()
    state = family.init(jax.random.PRNGKey(1), batch)
  # One compilation for the evaluation, the samples and the grids (each is jit-able).
  values, images, grids = jax.jit(lambda st, b, r: (
      {k: f(st, b, r) for k, f in family.eval_metrics.items()},
      family.sample(st, r, 5), family.image_grids(st, b, r)))(state, batch,
                                                               jax.random.PRNGKey(2))
  assert set(values) == EXPECTED_METRICS[name]
  for k, v in values.items():
    assert v.shape == (8,) and bool(jnp.all(jnp.isfinite(v))), k
  if name == "vae":   # IWAE_k >= ELBO in expectation (1 nat slack: one-sample ELBO noise)
    assert float(values["iwae_nll"].mean()) <= float(values["nelbo"].mean()) + 1.0
    np.testing.assert_allclose(values["iwae_bpd"],
                               values["iwae_nll"] / (64 * np.log(2.0)), rtol=1e-5)
  if likelihood == "discretized_logistic":   # a probability: NLL >= 0
    assert float(values["iwae_nll"].min()) > 0

  assert images.shape == (5, *IMAGE_SHAPE)
  assert 0.0 <= float(images.min()) <= float(images.max()) <= 1.0
  shapes = {"reconstructions": (2, 8, *IMAGE_SHAPE), "interpolation": (8, 10, *IMAGE_SHAPE)}
  if name == "dae":
    shapes["restoration"] = (3, 8, *IMAGE_SHAPE)
  assert {k: g.shape for k, g in grids.items()} == shapes
  for g in grids.values():
    assert 0.0 <= float(g.min()) <= float(g.max()) <= 1.0
  np.testing.assert_array_equal(grids["reconstructions"][0], batch["image"][:8])
  assert family.data_to_unit(batch["image"]) is batch["image"]


def test_use_ema_selects_the_parameters_used_to_sample():
  batch = binary_batch()
  samples = []
  for use_ema in (True, False):
    config = tiny_config(name="ae")
    config.sample.use_ema = use_ema
    family = make_family(config)
    state = family.init(jax.random.PRNGKey(0), batch)
    state = state.replace(ema_params=jax.tree.map(jnp.zeros_like, state.params))
    samples.append(family.sample(state, jax.random.PRNGKey(1), 2))
  np.testing.assert_allclose(samples[0], 0.5)      # zero weights: sigmoid(0)
  assert not np.allclose(samples[1], 0.5)


def test_code_statistics_fit_a_gaussian_to_the_codes():
  rng = np.random.default_rng(0)
  cov = np.array([[2.0, 0.6], [0.6, 0.5]])
  z = jnp.asarray(rng.multivariate_normal([1.0, -1.0], cov, size=20_000), jnp.float32)
  stats = {"mean": jnp.zeros(2), "second_moment": jnp.eye(2)}
  stats = update_code_stats(stats, z, decay=0.0)
  mean, chol = code_gaussian(stats)
  np.testing.assert_allclose(mean, [1.0, -1.0], atol=0.03)
  np.testing.assert_allclose(chol @ chol.T, cov, atol=0.05)
  once = update_code_stats({"mean": jnp.zeros(2), "second_moment": jnp.eye(2)}, z, 0.9)
  np.testing.assert_allclose(once["mean"], 0.1 * z.mean(0), rtol=1e-5)


@pytest.mark.parametrize("field,value,valid", [
    ("name", "gan", "ae, dae, klae, vae, vqvae"),
    ("architecture", "resnet", "conv, mlp"),
    ("likelihood", "poisson", "bernoulli, discretized_logistic, gaussian"),
    ("recon_loss", "l1", "bce, mse"),
    ("noise", "salt", "gaussian, masking"),
    ("activation", "swish", "elu"),
])
def test_unknown_names_are_config_errors_listing_the_valid_ones(field, value, valid):
  with pytest.raises(ConfigError, match=valid):
    make_family(tiny_config(**{field: value}))


def test_conv_image_shape_must_be_divisible_by_the_number_of_stages():
  with pytest.raises(ConfigError, match="divisible by 4.*channels"):
    make_family(tiny_config(architecture="conv", image_shape=(10, 8, 1)))
  make_family(tiny_config(architecture="mlp", image_shape=(10, 8, 1)))   # mlp: any shape


def test_iwae_chunk_must_divide_iwae_k():
  config = tiny_config()
  config.eval.iwae_chunk = 4
  with pytest.raises(ConfigError, match="iwae_chunk=4 must divide eval.iwae_k=6"):
    make_family(config)
