"""The autoencoder family's exports (encode, code, decode, latent_shape)
against the family's own evaluation metrics, on tiny MLP and conv models."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.autoencoder import make_family
from genjax.families.autoencoder.config import default_config
from genjax.families.base import bundle_of, trained_params
from tests.families.export_checks import assert_reads_the_bundle, perturbed

SHAPE = (4, 4, 1)
LATENT = 3


def tiny_family(name, architecture="mlp"):
  config = default_config()
  config.model.update(name=name, architecture=architecture, image_shape=SHAPE,
                      latent_dim=LATENT, hidden=(), channels=(4,))
  config.eval.update(iwae_k=2, iwae_chunk=2)
  return make_family(config)


def state_of(family, seed=0):
  """A state whose raw and EMA parameters are the same random ones."""
  blank = {"image": jnp.zeros((1,) + SHAPE), "label": jnp.zeros((1,), jnp.int32)}
  state = family.init(jax.random.PRNGKey(0), blank)
  params = perturbed(state.params, seed, 0.5)
  return state.replace(params=params, ema_params=params)


def batch_of(num=5, seed=1):
  images = np.random.default_rng(seed).uniform(size=(num,) + SHAPE).round()
  return {"image": jnp.asarray(images, jnp.float32),
          "label": jnp.zeros((num,), jnp.int32), "mask": jnp.ones((num,), jnp.float32)}


@pytest.mark.parametrize("name", ["ae", "dae"])
def test_decode_of_encode_has_the_anomaly_score_the_family_evaluates(name):
  family = tiny_family(name)
  state, batch = state_of(family), batch_of()
  bundle = bundle_of(family, state)
  codes = family.exports["encode"](bundle, batch["image"])
  images = family.exports["decode"](bundle, codes)
  assert images.shape == batch["image"].shape
  assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
  error = np.square(np.asarray(images, np.float64) - np.asarray(batch["image"]))
  want = family.eval_metrics["anomaly_score"](state, batch, jax.random.PRNGKey(3))
  np.testing.assert_allclose(error.reshape(len(error), -1).sum(1), want, rtol=1e-5)
  np.testing.assert_array_equal(family.exports["code"](bundle, batch["image"]), codes)


def np_gaussian_kl(mean, logvar):
  """KL(N(mean, e^logvar) || N(0, I)) summed over the code, float64."""
  mean, logvar = np.asarray(mean, np.float64), np.asarray(logvar, np.float64)
  return 0.5 * (np.exp(logvar) + mean ** 2 - 1.0 - logvar).sum(-1)


def test_vae_posterior_and_decoder_give_the_evaluated_kl_and_reconstruction():
  """eval's kl is the closed form of encode's (mean, logvar); eval's recon is
  -log Bernoulli(x; decode(z)) at the z = mean + sigma eps its rng draws."""
  family = tiny_family("vae")
  state, batch, rng = state_of(family), batch_of(), jax.random.PRNGKey(4)
  bundle = bundle_of(family, state)
  posterior = family.exports["encode"](bundle, batch["image"])
  assert set(posterior) == {"mean", "logvar"}
  assert posterior["mean"].shape == (5,) + family.exports["latent_shape"](bundle)
  np.testing.assert_allclose(np_gaussian_kl(posterior["mean"], posterior["logvar"]),
                             family.eval_metrics["kl"](state, batch, rng), rtol=1e-5)
  eps = jax.random.normal(rng, posterior["mean"].shape)
  z = posterior["mean"] + jnp.exp(0.5 * posterior["logvar"]) * eps
  p = np.asarray(family.exports["decode"](bundle, z), np.float64)
  x = np.asarray(batch["image"], np.float64)
  nll = -(x * np.log(p) + (1 - x) * np.log1p(-p)).reshape(len(x), -1).sum(1)
  np.testing.assert_allclose(nll, family.eval_metrics["recon"](state, batch, rng),
                             rtol=1e-4)
  np.testing.assert_array_equal(family.exports["code"](bundle, batch["image"]),
                                posterior["mean"])


@pytest.mark.parametrize("name,architecture", [("vae", "mlp"), ("ae", "conv")])
def test_every_export_reads_its_parameters_from_the_bundle_under_jit(name, architecture):
  family = tiny_family(name, architecture)
  bundle_a = bundle_of(family, state_of(family, seed=0))
  bundle_b = bundle_of(family, state_of(family, seed=5))
  images = batch_of()["image"]
  latents = jax.random.normal(jax.random.PRNGKey(6), (4,) + (LATENT,))
  for export, argument in (("encode", images), ("code", images), ("decode", latents)):
    assert_reads_the_bundle(family.exports[export], bundle_a, bundle_b, argument)
  assert family.exports["latent_shape"]() == (LATENT,)
  assert family.exports["decode"](bundle_a, latents).shape == (4,) + SHAPE


def test_the_bundle_holds_the_ema_or_the_raw_parameters_as_asked():
  family = tiny_family("ae")
  state = state_of(family)
  state = state.replace(ema_params=perturbed(state.params, 9, 0.5))
  assert family.trained is trained_params
  images = batch_of()["image"]
  codes = {use_ema: family.exports["code"](bundle_of(family, state, use_ema), images)
           for use_ema in (True, False)}
  expected = {True: state.ema_params, False: state.params}
  for use_ema, params in expected.items():
    bundle = {"trained": {"params": params, "model_state": state.model_state}, "deps": {}}
    np.testing.assert_array_equal(codes[use_ema], family.exports["code"](bundle, images))
  assert not np.allclose(codes[True], codes[False])
