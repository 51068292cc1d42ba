"""The two-level prior over VQ-VAE-2's codes: the spatially conditioned Gated
PixelCNN (causal in its own codes, conditioned everywhere, the row-cached
sampler equal to the naive one), the loss split between the levels, and the
start-up checks against the dependency."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.autoregressive import sampling
from genjax.families.autoregressive.factory import make_family
from genjax.families.autoregressive.likelihoods import codes_likelihood
from genjax.families.autoregressive.pixelcnn import GatedPixelCNN
from genjax.families.autoregressive.vq2_prior import (build_two_level_networks,
                                                      level_nlls,
                                                      read_two_level_settings)
from tests.families.autoregressive import test_vq_prior as vq_prior_test
from tests.families.autoencoder.test_vq import vq_config
from tests.families.autoencoder.test_vqvae2 import vq2_config

K = 6


def dependency(config, name="vqvae2"):
  return vq_prior_test.dependency(config, name)


def prior_config(**model):
  from experiments.autoregressive.vq2_prior_fashion_mnist import get_config
  c = get_config("smoke")
  c.unlock()
  c.model.update(model)
  return c


@pytest.fixture(scope="module")
def conditioned():
  """A spatially conditioned net over 4x4 codes with a 2x2 condition map."""
  net = GatedPixelCNN(features=8, num_layers=3, num_outputs=K, first_kernel_size=3,
                      num_input_codes=K, num_cond_codes=K)
  rng = np.random.default_rng(1)
  codes = jnp.asarray(rng.integers(0, K, (2, 4, 4, 1)), jnp.float32)
  cond = jnp.asarray(rng.integers(0, K, (2, 2, 2)), jnp.int32)
  params = net.init(jax.random.PRNGKey(0), codes, cond=cond)["params"]
  return net, params, codes, cond


def test_a_conditioned_prior_still_sees_only_earlier_codes(conditioned):
  net, params, codes, cond = conditioned
  out = lambda x: net.apply({"params": params}, x, cond=cond)
  base = out(codes)
  for p in range(16):
    changed = codes.at[0, p // 4, p % 4, 0].set((codes[0, p // 4, p % 4, 0] + 1) % K)
    diff = jnp.abs(out(changed) - base).sum(axis=(-1, -2))[0]
    moved = np.flatnonzero(np.asarray(diff).reshape(-1) > 1e-6)
    assert moved.size == 0 or moved.min() > p


def test_every_position_sees_the_whole_condition_map(conditioned):
  net, params, codes, cond = conditioned
  out = lambda c: net.apply({"params": params}, codes, cond=c)
  base = out(cond)
  for cell in range(4):      # one top code changed: every output moves, the first too
    i, j = divmod(cell, 2)
    changed = cond.at[0, i, j].set((cond[0, i, j] + 1) % K)
    diff = np.asarray(jnp.abs(out(changed) - base).sum(axis=(-1, -2))[0])
    assert diff[0, 0] > 1e-6 and diff[i * 2, j * 2] > 1e-6, cell


def test_the_row_cached_sampler_with_a_condition_equals_the_naive_one(conditioned):
  net, params, codes, cond = conditioned
  likelihood = codes_likelihood(K)
  apply = lambda *a, **k: net.apply({"params": params}, *a, cond=cond, **k)
  blank, rng = jnp.zeros_like(codes), jax.random.PRNGKey(5)
  naive = sampling.complete(lambda x: apply(x), likelihood, blank, rng)
  cached = sampling.complete_rows_cached(
      lambda x: apply(x, method=GatedPixelCNN.vertical_features),
      lambda xr, vr: net.apply({"params": params}, xr, vr,
                               method=GatedPixelCNN.horizontal_row),
      likelihood, blank, rng)
  np.testing.assert_array_equal(naive, cached)


def test_a_condition_given_to_a_model_without_one_is_refused(conditioned):
  _, _, codes, cond = conditioned
  plain = GatedPixelCNN(features=8, num_layers=2, num_outputs=K, num_input_codes=K)
  with pytest.raises(ValueError, match="condition map"):
    plain.init(jax.random.PRNGKey(0), codes, cond=cond)


@pytest.fixture(scope="module")
def prior():
  config, dep = prior_config(), dependency(vq2_config())
  fam = make_family(config, deps={"vqvae2": dep})
  images = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1))
  batch = {"image": images, "label": jnp.arange(4, dtype=jnp.int32)}
  ae_state = dep.family.init(jax.random.PRNGKey(1), batch)
  frozen = {"vqvae2": {"trained": {"params": ae_state.params,
                                   "model_state": ae_state.model_state}}}
  return fam, dep, batch, frozen


def test_each_level_gets_the_gradient_it_would_get_alone(prior):
  fam, dep, batch, frozen = prior
  settings, _ = read_two_level_settings(prior_config(), {"vqvae2": dep})
  nets = build_two_level_networks(settings)
  state = fam.init(jax.random.PRNGKey(2), batch, frozen)
  codes = dep.family.exports["code"](frozen["vqvae2"], batch["image"])
  def mean_per_code(params, level):
    nll = level_nlls(settings, nets, params, codes, batch["label"])[level]
    return jnp.mean(nll) / settings.level(level).num_dims
  train_loss = lambda p: (mean_per_code(p, "top") + mean_per_code(p, "bottom"))
  grads = jax.jit(lambda p: {"both": jax.grad(train_loss)(p),
                             "top": jax.grad(lambda p: mean_per_code(p, "top"))(p)}
                  )(state.params)
  # the top's loss does not reach the bottom prior's parameters, and the sum
  # gives the top its own gradient; by linearity the bottom gets its own too
  assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads["top"]["bottom"]))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               grads["both"]["top"], grads["top"]["top"])
  assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads["both"]["bottom"]))


@pytest.mark.parametrize("field, value, says", [
    ("num_codes", 99, "model.num_codes=16"),
    ("code_shape", ((7, 7), (7, 7)), r"model.code_shape=\(\(7, 7\), \(14, 14\)\)"),
])
def test_a_prior_whose_k_or_maps_differ_from_its_vqvae2_is_refused(field, value, says):
  with pytest.raises(ConfigError, match=says):
    make_family(prior_config(**{field: value}), deps={"vqvae2": dependency(vq2_config())})


def test_a_two_level_prior_over_a_single_level_vqvae_is_refused():
  with pytest.raises(ConfigError, match="needs a autoencoder/vqvae2 run"):
    make_family(prior_config(), deps={"vqvae2": dependency(vq_config(), "vqvae2")})
