"""The diffusion family behind the contract: bad configs and the jitted DDIM
sampler against an independently written DDIM loop (classifier guidance over
trained runs: test_functions.py and the guided_mnist smoke test)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import main, registry
from genjax.errors import ConfigError
from genjax.families.base import example_batch
from genjax.families.diffusion import family as fam
from genjax.families.diffusion import samplers
from genjax.families.diffusion import schedules
from genjax.families.diffusion.unet import UNet
from tests.helpers import load_config


def smoke(path="experiments/diffusion/ddpm_mnist.py", **sample):
  config = load_config(path)
  config.unlock()
  config.sample.update(sample)
  config.lock()
  return config


@pytest.mark.parametrize("sample,match", [
    (dict(guidance_weight=2.0), "classifier-free guidance needs a class-conditional model"),
    (dict(steps=11), "between 1 and model.timesteps=10"),
    (dict(eta=1.5), "eta must lie in"),
    (dict(sampler="pndm"), "diffusion sampler"),
])
def test_bad_sampling_settings_fail_at_start_up(sample, match):
  with pytest.raises(ConfigError, match=match):
    fam.make_family(smoke(**sample))


def test_hybrid_loss_needs_a_learned_variance():
  config = smoke()
  config.unlock()
  config.model.loss = "hybrid"
  config.lock()
  with pytest.raises(ConfigError, match="needs model.variance='learned'"):
    fam.make_family(config)


def ddim_reference(model_fn, x_T, T, num_steps, clip):
  """Deterministic DDIM, Song et al. (2021) eq. 12 with sigma = 0, in float64
  on the linear schedule respaced to ``num_steps`` (written out here)."""
  betas = np.minimum(np.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T), 0.999)
  steps = np.round(np.linspace(0, T - 1, num_steps)).astype(int)
  abar = np.cumprod(1.0 - betas)[steps]
  x = np.asarray(x_T, np.float64)
  for i in reversed(range(num_steps)):
    eps = np.asarray(model_fn(jnp.asarray(x, jnp.float32),
                              jnp.full((x.shape[0],), steps[i], jnp.int32)), np.float64)
    a, a_prev = abar[i], (abar[i - 1] if i > 0 else 1.0)
    x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)       # "predicted x0"
    if clip:
      x0 = np.clip(x0, -1.0, 1.0)
      eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
    x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps   # "direction pointing to x_t"
  return x


def test_jitted_ddim_equals_an_independent_ddim_loop():
  schedule = schedules.make_schedule("linear", 100, 10)
  model = UNet(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), dropout=0.0)
  x = jnp.zeros((2, 8, 8, 1))
  # (jitted: eager init and random draws compile op by op, seconds on CPU)
  params = jax.jit(lambda k: jax.tree.map(
      lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(3), p.shape),
      model.init(k, x, jnp.zeros((2,), jnp.int32))["params"]))(jax.random.PRNGKey(0))
  model_fn = jax.jit(lambda x, t: model.apply({"params": params}, x, t))
  x_T = np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
  whole = jax.jit(lambda x_T: samplers.ddim_sample(
      schedule, model_fn, None, x.shape, "eps", 0.0, True, x_T=x_T))(x_T)
  want = ddim_reference(model_fn, x_T, 100, 10, clip=True)
  assert float(np.abs(want - x_T).max()) > 0.1     # the loop moved the noise
  np.testing.assert_allclose(np.asarray(whole), want, atol=1e-4)
