"""The prior over a VQ-VAE's codes: its start-up checks against the
dependency, the K-way code likelihood, and the causality of the Gated
PixelCNN over embedded codes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families import autoencoder, autoregressive  # noqa: F401
from genjax.families.autoencoder.config import default_config as ae_config
from genjax.families.autoencoder.family import make_family as make_ae
from genjax.families.autoregressive.factory import make_family
from genjax.families.autoregressive.likelihoods import codes_likelihood
from genjax.families.autoregressive.pixelcnn import GatedPixelCNN
from genjax.train.deps import Dependency
from tests.families.autoencoder.test_vq import vq_config


def dependency(config, name="vqvae"):
  config.lock()
  return Dependency(name=name, workdir="/runs/vq", step=1, use_ema=True,
                    fingerprint="", config=config, family=make_ae(config), deps={})


def prior_config(**model):
  from experiments.autoregressive.vq_prior_mnist import get_config
  c = get_config("smoke")
  c.unlock()
  c.model.update(model)
  return c


def test_a_prior_takes_k_and_the_code_map_from_its_vqvae():
  fam = make_family(prior_config(), deps={"vqvae": dependency(vq_config())})
  assert fam.deps == ("vqvae",) and fam.num_classes == 10
  assert {"nll", "code_nll", "bpd"} <= set(fam.eval_metrics)


@pytest.mark.parametrize("field, value, says", [
    ("num_codes", 32, "K=16 and maps of \\(7, 7\\)"),
    ("code_shape", (4, 4), "model.code_shape=\\(7, 7\\)"),
])
def test_a_prior_whose_k_or_code_map_differs_from_its_vqvae_is_refused(field, value, says):
  with pytest.raises(ConfigError, match=says):
    make_family(prior_config(**{field: value}), deps={"vqvae": dependency(vq_config())})


def test_a_prior_over_a_model_that_is_not_a_vqvae_is_refused():
  vae = ae_config()
  vae.model.update(name="vae", channels=(4, 8))
  with pytest.raises(ConfigError, match="needs a autoencoder/vqvae run"):
    make_family(prior_config(), deps={"vqvae": dependency(vae)})


def test_a_prior_without_its_vqvae_says_how_to_name_it():
  with pytest.raises(ConfigError, match="config.deps.vqvae"):
    make_family(prior_config(), deps={})


def test_a_prior_with_other_preprocessing_than_its_vqvae_is_refused():
  c = prior_config()
  c.data.preprocess = ["scale_01"]
  with pytest.raises(ConfigError, match="binarize_dynamic"):
    make_family(c, deps={"vqvae": dependency(vq_config())})


def test_code_likelihood_is_the_log_softmax_at_each_code():
  rng = np.random.default_rng(0)
  out = rng.normal(size=(2, 3, 3, 1, 5)).astype(np.float32)
  codes = rng.integers(0, 5, size=(2, 3, 3, 1))
  logp = out - np.log(np.exp(out).sum(-1, keepdims=True))
  want = [sum(logp[b, i, j, 0, codes[b, i, j, 0]] for i in range(3) for j in range(3))
          for b in range(2)]
  got = codes_likelihood(5).log_prob(jnp.asarray(out), jnp.asarray(codes, jnp.float32))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_gated_pixelcnn_over_codes_sees_only_earlier_codes():
  net = GatedPixelCNN(features=8, num_layers=3, num_outputs=6, first_kernel_size=3,
                      num_input_codes=6)
  codes = jnp.asarray(np.random.default_rng(1).integers(0, 6, (1, 4, 4, 1)), jnp.float32)
  params = net.init(jax.random.PRNGKey(0), codes)["params"]
  base = net.apply({"params": params}, codes)
  for p in range(16):      # change the code at raster position p
    changed = codes.at[0, p // 4, p % 4, 0].set((codes[0, p // 4, p % 4, 0] + 1) % 6)
    diff = jnp.abs(net.apply({"params": params}, changed) - base).sum(axis=(-1, -2))[0]
    moved = np.flatnonzero(np.asarray(diff).reshape(-1) > 1e-6)
    assert moved.size == 0 or moved.min() > p    # only later positions change
    assert moved.size or p == 15                 # (the next one always does)
