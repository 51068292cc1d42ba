"""The diffusion family behind the contract: bad configs, guidance wiring,
and the jitted sampler against a per-step Python loop."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import main
from genjax.errors import ConfigError
from genjax.families.diffusion import family as fam
from genjax.families.diffusion import samplers
from genjax.families.diffusion import schedules as sch
from genjax.families.diffusion.unet import UNet
from genjax.families.base import example_batch
from tests.helpers import load_config


def smoke(path="experiments/diffusion/ddpm_mnist.py", **sample):
  c = load_config(path)
  c.unlock()
  c.sample.update(sample)
  c.lock()
  return c


@pytest.mark.parametrize("sample,match", [
    (dict(guidance_weight=2.0), "classifier-free guidance needs a class-conditional model"),
    (dict(steps=21), "between 1 and model.timesteps=20"),
    (dict(eta=1.5), "eta must lie in"),
    (dict(sampler="pndm"), "diffusion sampler"),
])
def test_bad_sampling_settings_fail_at_start_up(sample, match):
  with pytest.raises(ConfigError, match=match):
    fam.make_family(smoke(**sample))


def test_hybrid_loss_needs_a_learned_variance():
  c = smoke()
  c.unlock()
  c.model.loss = "hybrid"
  c.lock()
  with pytest.raises(ConfigError, match="needs model.variance='learned'"):
    fam.make_family(c)


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("clf") / "run")
  c = load_config("experiments/diffusion/classifier_mnist.py")
  main.run(c, wd, "train")
  return wd


def test_classifier_guidance_samples_class_balanced_images(classifier_run):
  c = smoke(classifier_workdir=classifier_run, classifier_scale=3.0)
  family = fam.make_family(c)
  assert family.num_classes == 10   # the classifier's classes
  state = jax.jit(family.init)(jax.random.PRNGKey(0), example_batch((28, 28, 1)))
  x = family.sample(state, jax.random.PRNGKey(1), 4, jnp.array([0, 1, 2, 3]))
  assert x.shape == (4, 28, 28, 1) and float(x.min()) >= 0 and float(x.max()) <= 1
  assert np.isfinite(np.asarray(x)).all()


def test_a_classifier_with_other_classes_is_refused(classifier_run):
  c = smoke("experiments/diffusion/cfg_mnist.py", classifier_workdir=classifier_run)
  c.unlock()
  c.model.num_classes = 5
  c.lock()
  with pytest.raises(ConfigError, match="10 classes vs the model's 5"):
    fam.make_family(c)


def test_classifier_workdir_must_hold_a_classifier(tmp_path):
  with pytest.raises(Exception, match="not a genjax workdir"):
    fam.make_family(smoke(classifier_workdir=str(tmp_path)))


def test_cfg_guidance_changes_samples_and_w0_is_the_conditional_model():
  c = smoke("experiments/diffusion/cfg_mnist.py", guidance_weight=0.0)
  family0 = fam.make_family(c)
  family3 = fam.make_family(smoke("experiments/diffusion/cfg_mnist.py", guidance_weight=3.0))
  state = jax.jit(family0.init)(jax.random.PRNGKey(0), example_batch((28, 28, 1)))
  # Random (non-zero) output weights so the label matters.
  state = state.replace(ema_params=jax.jit(lambda ps: jax.tree.map(
      lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(2), p.shape), ps))(
          state.ema_params))
  labels = jnp.arange(4) % 10
  a = family0.sample(state, jax.random.PRNGKey(1), 4, labels)
  b = family3.sample(state, jax.random.PRNGKey(1), 4, labels)
  assert float(jnp.max(jnp.abs(a - b))) > 1e-4


def test_jitted_ddim_equals_a_python_loop_over_a_jitted_model():
  s = sch.make_schedule("linear", 100, 10)
  model = UNet(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), dropout=0.0)
  x = jnp.zeros((2, 8, 8, 1))
  # (jitted: eager init and random draws compile op by op, seconds on CPU)
  params = jax.jit(lambda k: jax.tree.map(
      lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(3), p.shape),
      model.init(k, x, jnp.zeros((2,), jnp.int32))["params"]))(jax.random.PRNGKey(0))
  model_fn = jax.jit(lambda x, t: model.apply({"params": params}, x, t))
  rng = jax.random.PRNGKey(4)
  whole = jax.jit(lambda r: samplers.ddim_sample(s, model_fn, r, x.shape, "eps", 0.0, True))(rng)
  y = jax.random.normal(jax.random.fold_in(rng, s.num_timesteps), x.shape)
  step = jax.jit(lambda y, i, out: samplers.ddim_step(s, y, i, out, "eps", 0.0, True,
                                                      jnp.zeros_like(y)))
  for i in reversed(range(s.num_timesteps)):   # one Python iteration per step
    y = step(y, i, model_fn(y, s.timesteps[jnp.full((2,), i)]))
  np.testing.assert_allclose(np.asarray(whole), np.asarray(y), atol=1e-4)
