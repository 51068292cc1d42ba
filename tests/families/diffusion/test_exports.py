"""The diffusion family's exports on tiny U-Nets with random weights: the
denoiser's (denoise, eps, x0, log_variance, schedule) against closed forms in
float64 numpy and the ``loss`` metric, the noisy classifier's (logits,
log_prob) against its ``accuracy`` and ``loss`` metrics; each one a pure
function of the bundle under jit."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.base import bundle_of, example_batch
from genjax.families.diffusion import ddpm, family as fam
from genjax.families.diffusion.settings import read_settings
from genjax.families.diffusion.config import default_config
from tests.families.export_checks import assert_reads_the_bundle, perturbed

SHAPE, T, CLASSES = (4, 4, 1), 10, 3
TINY = dict(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), dropout=0.0,
            image_shape=SHAPE, timesteps=T)


def tiny_config(**model):
  config = default_config()
  config.model.update(dict(TINY, **model))
  config.sample.steps = 5
  return config


def tiny_family(**model):
  return fam.make_family(tiny_config(**model))


def random_state(family, seed=0):
  """A fresh state whose raw and EMA parameters are moved off their init (the
  U-Net's zero-initialised last conv would otherwise output 0)."""
  state = jax.jit(family.init)(jax.random.PRNGKey(0), example_batch(SHAPE))
  params = perturbed(state.params, seed, 0.1)
  return state.replace(params=params, ema_params=params)


def np_betas():
  """The linear schedule's betas (1e-4..0.02 scaled by 1000/T), float64 [T]."""
  return np.minimum(np.linspace(1e-4, 0.02, T) * 1000.0 / T, 0.999)


def np_abar(t):
  """abar_t, float64 [B,1,1,1]."""
  return np.cumprod(1.0 - np_betas())[np.asarray(t)][:, None, None, None]


def np_log_beta_tilde(t):
  """log beta~_t = log(beta_t (1 - abar_{t-1}) / (1 - abar_t)) (Ho et al. eq. 7),
  with beta~_0 := beta~_1 (its sec. 3.2 clipping), float64 [B,1,1,1]."""
  abar = np.cumprod(1.0 - np_betas())
  tilde = np_betas()[1:] * (1.0 - abar[:-1]) / (1.0 - abar[1:])
  return np.log(np.append(tilde[0], tilde))[np.asarray(t)][:, None, None, None]


def noisy_inputs(seed=1, num=4):
  """(x_t, t, labels): Gaussian x_t, t spread over the chain, labels 0..K-1."""
  x_t = jax.random.normal(jax.random.PRNGKey(seed), (num,) + SHAPE)
  t = jnp.asarray([0, 3, 6, 9][:num], jnp.int32)
  return x_t, t, jnp.arange(num, dtype=jnp.int32) % CLASSES


def f64(x):
  return np.asarray(x, np.float64)


X0_MODEL = dict(prediction="x0", variance="learned", loss="hybrid", num_classes=CLASSES)


@pytest.fixture(scope="module")
def x0_model():
  """A class-conditional x0-predicting denoiser with a learned variance."""
  family = tiny_family(**X0_MODEL)
  return family, random_state(family)


def test_eps_and_x0_of_an_x0_predictor_are_the_closed_forms(x0_model):
  family, state = x0_model
  bundle = bundle_of(family, state)
  x_t, t, labels = noisy_inputs()
  x0_hat = f64(family.exports["denoise"](bundle, x_t, t, labels))
  abar = np_abar(t)
  want = (f64(x_t) - np.sqrt(abar) * x0_hat) / np.sqrt(1.0 - abar)
  np.testing.assert_allclose(family.exports["eps"](bundle, x_t, t, labels), want,
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(family.exports["x0"](bundle, x_t, t, labels), x0_hat,
                             rtol=1e-6)
  np.testing.assert_allclose(family.exports["schedule"](bundle).alphas_cumprod,
                             np_abar(np.arange(T))[:, 0, 0, 0], rtol=1e-6)


def test_eps_and_x0_of_a_v_predictor_are_the_closed_forms():
  """v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022), so
  eps = sqrt(1 - abar) x_t + sqrt(abar) v and x0 = sqrt(abar) x_t - sqrt(1 - abar) v."""
  family = tiny_family(prediction="v", variance="fixed_small")
  bundle = bundle_of(family, random_state(family))
  x_t, t, _ = noisy_inputs()
  v, abar = f64(family.exports["denoise"](bundle, x_t, t)), np_abar(t)
  np.testing.assert_allclose(family.exports["eps"](bundle, x_t, t),
                             np.sqrt(1 - abar) * f64(x_t) + np.sqrt(abar) * v,
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(family.exports["x0"](bundle, x_t, t),
                             np.sqrt(abar) * f64(x_t) - np.sqrt(1 - abar) * v,
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(family.exports["log_variance"](bundle, x_t, t),
                             np.broadcast_to(np_log_beta_tilde(t), x_t.shape), rtol=1e-5)


def test_the_loss_metric_is_the_mean_square_error_of_denoise_on_its_draw(x0_model):
  """eval's ``loss`` draws t ~ U{0..T-1} and eps ~ N(0, I) with its rng
  (split into a t key and a noise key) and scores the x0 target."""
  family, state = x0_model
  x0 = jax.random.uniform(jax.random.PRNGKey(7), (4,) + SHAPE, minval=-1.0, maxval=1.0)
  batch = {"image": x0, "label": jnp.asarray([0, 2, 1, 2], jnp.int32),
           "valid": jnp.ones((4,))}
  rng = jax.random.PRNGKey(8)
  t_rng, noise_rng = jax.random.split(rng)
  t = jax.random.randint(t_rng, (4,), 0, T)
  noise = jax.random.normal(noise_rng, x0.shape)
  abar = np_abar(t)
  x_t = np.sqrt(abar) * f64(x0) + np.sqrt(1 - abar) * f64(noise)
  prediction = family.exports["denoise"](bundle_of(family, state),
                                         jnp.asarray(x_t, jnp.float32), t, batch["label"])
  want = np.square(f64(prediction) - f64(x0)).reshape(4, -1).mean(1)
  np.testing.assert_allclose(family.eval_metrics["loss"](state, batch, rng), want,
                             rtol=1e-4)


def test_a_learned_log_variance_interpolates_beta_and_beta_tilde(x0_model):
  """Nichol & Dhariwal eq. 15, with v the network's extra output channels."""
  family, state = x0_model
  bundle = bundle_of(family, state)
  x_t, t, labels = noisy_inputs()
  settings = read_settings(tiny_config(**X0_MODEL))
  nets = ddpm.build_networks(settings)
  v = f64(ddpm.network_output(settings, nets, state.params, x_t, t, labels)[1])
  log_beta = np.log(np_betas())[np.asarray(t)][:, None, None, None]
  np.testing.assert_allclose(family.exports["log_variance"](bundle, x_t, t, labels),
                             v * log_beta + (1 - v) * np_log_beta_tilde(t),
                             rtol=1e-5, atol=1e-5)


def test_no_labels_are_the_null_class_of_a_conditional_denoiser(x0_model):
  family, state = x0_model
  bundle = bundle_of(family, state)
  x_t, t, labels = noisy_inputs()
  null = jnp.full_like(labels, CLASSES)
  np.testing.assert_array_equal(family.exports["denoise"](bundle, x_t, t),
                                family.exports["denoise"](bundle, x_t, t, null))
  assert not np.allclose(family.exports["denoise"](bundle, x_t, t),
                         family.exports["denoise"](bundle, x_t, t, labels))


def test_the_denoisers_exports_read_their_parameters_from_the_bundle_under_jit(x0_model):
  family, state = x0_model
  bundle_a = bundle_of(family, state)
  bundle_b = bundle_of(family, random_state(family, seed=3))
  x_t, t, labels = noisy_inputs()
  for name in ("denoise", "eps", "x0", "log_variance"):
    assert_reads_the_bundle(family.exports[name], bundle_a, bundle_b, x_t, t, labels,
                            rtol=1e-4, atol=1e-5)


def test_classifier_logits_and_log_prob_give_its_accuracy_and_loss_per_example():
  """eval draws x_t with rng's first half (t ~ U{0..T-1}, then eps), as the
  denoiser's loss does, and scores the classifier's logits there."""
  family = tiny_family(name="classifier", num_classes=CLASSES)
  state = random_state(family)
  bundle = bundle_of(family, state)
  x0 = jax.random.uniform(jax.random.PRNGKey(9), (6,) + SHAPE, minval=-1.0, maxval=1.0)
  batch = {"image": x0, "label": jnp.arange(6, dtype=jnp.int32) % CLASSES,
           "valid": jnp.ones((6,))}
  rng = jax.random.PRNGKey(10)
  t_rng, noise_rng = jax.random.split(jax.random.split(rng)[0])
  t = jax.random.randint(t_rng, (6,), 0, T)
  abar = np_abar(t)
  x_t = jnp.asarray(np.sqrt(abar) * f64(x0) + np.sqrt(1 - abar) * f64(
      jax.random.normal(noise_rng, x0.shape)), jnp.float32)
  logits = f64(family.exports["logits"](bundle, x_t, t))
  assert logits.shape == (6, CLASSES)
  np.testing.assert_array_equal(
      (logits.argmax(-1) == np.asarray(batch["label"])).astype(np.float32),
      family.eval_metrics["accuracy"](state, batch, rng))
  log_prob = family.exports["log_prob"](bundle, x_t, t, batch["label"])
  log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(log_prob, log_softmax[np.arange(6), batch["label"]],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(-f64(log_prob),
                             family.eval_metrics["loss"](state, batch, rng),
                             rtol=1e-4, atol=1e-5)
  bundle_b = bundle_of(family, random_state(family, seed=4))
  assert_reads_the_bundle(family.exports["logits"], bundle, bundle_b, x_t, t)
  assert_reads_the_bundle(family.exports["log_prob"], bundle, bundle_b, x_t, t,
                          batch["label"])
