"""Samplers on Gaussian data, where the optimal predictor and the answer are closed forms.

For x0 ~ N(mu, Sigma), x_t = sqrt(abar) x0 + sqrt(1-abar) eps is Gaussian and
E[eps | x_t] = sqrt(1-abar) (abar Sigma + (1-abar) I)^{-1} (x_t - sqrt(abar) mu),
the minimiser of L_simple. Every sampler driven by it is then an affine map of
Gaussian noise, so its output is exactly Gaussian with moments given by a
scalar recursion along each eigenvector of Sigma (computed here in float64,
independently of the samplers). With 1000 steps those moments are within a
few per cent of (mu, Sigma); with 50 fixed-variance steps they are not (the
reason improved DDPM learns the variance), so 50-step samples are checked
against the recursion and 1000-step samples against (mu, Sigma) too.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.diffusion import samplers as SM
from genjax.families.diffusion import schedules as S

MU = np.array([0.3, -0.2, 0.1])
_Q = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
SIGMA = _Q @ np.diag([0.2, 0.1, 0.05]) @ _Q.T
LAM, U = np.linalg.eigh(SIGMA)
N = 4000
T = 1000


def optimal_eps(base, dtype=jnp.float32):
  """E[eps | x_t] in the eigenbasis of Sigma; ``base`` is indexed by network timesteps."""
  mu, lam, u = (jnp.asarray(a, dtype) for a in (MU, LAM, U))

  def f(x, t):
    a = base.alphas_cumprod[t][:, None]
    return jnp.sqrt(1 - a) * (((x - jnp.sqrt(a) * mu) @ u) / (a * lam + 1 - a)) @ u.T
  return f


def sampler_moments(num_steps, sampler, variance="fixed_small", eta=0.0):
  """Exact mean and covariance of the sampler's output (float64 recursion per eigenvector)."""
  betas = S.named_betas("linear", T)
  if num_steps < T:
    betas = S.respaced_betas(betas, S.respace(T, num_steps))
  ab = np.cumprod(1 - betas)
  abp = np.append(1.0, ab[:-1])
  m = U.T @ MU
  mean, var = np.zeros(3), np.ones(3)
  for i in range(len(betas) - 1, -1, -1):
    a, ap, b = ab[i], abp[i], betas[i]
    k = np.sqrt(1 - a) / (a * LAM + 1 - a)              # eps = k (x - sqrt(a) m)
    p, q = (1 - np.sqrt(1 - a) * k) / np.sqrt(a), np.sqrt(1 - a) * k * m   # x0 = p x + q
    if sampler == "ddpm":
      c1, c2 = b * np.sqrt(ap) / (1 - a), (1 - ap) * np.sqrt(1 - b) / (1 - a)
      A, B = c1 * p + c2, c1 * q
      noise = 0.0 if i == 0 else (b * (1 - ap) / (1 - a) if variance == "fixed_small" else b)
    else:
      noise = eta ** 2 * (1 - ap) / (1 - a) * (1 - a / ap)
      d = np.sqrt(1 - ap - noise)
      A, B = np.sqrt(ap) * p + d * k, np.sqrt(ap) * q - d * k * np.sqrt(a) * m
    mean, var = A * mean + B, A * A * var + noise
  return U @ mean, U @ np.diag(var) @ U.T


def assert_moments(x, mean, cov, bias=0.0):
  """Sample mean / covariance within 5 standard errors (+ an allowed bias) of (mean, cov)."""
  d = np.sqrt(np.diag(cov))
  se_mean = d / math.sqrt(len(x))
  se_cov = np.sqrt((np.outer(d, d) ** 2 + cov ** 2) / len(x))
  np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * se_mean + bias * d)
  np.testing.assert_array_less(np.abs(np.cov(x.T) - cov), 5 * se_cov + bias * np.outer(d, d))


CASES = [("ddpm", dict(variance="fixed_small")), ("ddpm", dict(variance="fixed_large")),
         ("ddim", dict(eta=0.0)), ("ddim", dict(eta=1.0))]


@pytest.mark.parametrize("num_steps", [1000, 50])
@pytest.mark.parametrize("sampler,kw", CASES, ids=["ddpm_small", "ddpm_large", "ddim0", "ddim1"])
def test_sampler_matches_gaussian_closed_form(sampler, kw, num_steps):
  base = S.make_schedule("linear", T)
  schedule = S.make_schedule("linear", T, num_steps)
  run = jax.jit(lambda rng: SM.sample(sampler, schedule, optimal_eps(base), rng, (N, 3), **kw))
  x = np.asarray(run(jax.random.PRNGKey(num_steps)), np.float64)
  mean, cov = sampler_moments(num_steps, sampler, kw.get("variance"), kw.get("eta", 0.0))
  assert_moments(x, mean, cov)
  if num_steps == T:
    rel = np.abs(np.linalg.eigvalsh(np.linalg.solve(SIGMA, cov)) - 1).max()
    assert rel < 0.04 and np.abs(mean - MU).max() < 1e-3    # the discretisation's own bias
    assert_moments(x, MU, SIGMA, bias=0.04)


@pytest.mark.parametrize("kind", ["eps", "x0", "v"])
def test_prediction_kinds_give_the_same_samples(kind):
  base = S.make_schedule("linear", T)
  schedule = S.make_schedule("linear", T, 20)
  eps_fn = optimal_eps(base)

  def model(x, t):
    eps = eps_fn(x, t)
    x0 = S.x0_from_eps(base, x, t, eps)
    return {"eps": eps, "x0": x0, "v": S.v_from(base, x0, eps, t)}[kind]

  x_T = jax.random.normal(jax.random.PRNGKey(0), (64, 3))
  got = jax.jit(lambda: SM.ddim_sample(schedule, model, None, (64, 3), kind=kind, x_T=x_T))()
  want = jax.jit(lambda: SM.ddim_sample(schedule, eps_fn, None, (64, 3), x_T=x_T))()
  np.testing.assert_allclose(got, want, atol=2e-4)
  got = jax.jit(lambda k: SM.ddpm_sample(schedule, model, k, (64, 3), kind=kind))(
      jax.random.PRNGKey(1))
  want = jax.jit(lambda k: SM.ddpm_sample(schedule, eps_fn, k, (64, 3)))(jax.random.PRNGKey(1))
  np.testing.assert_allclose(got, want, atol=2e-4)


@pytest.mark.parametrize("num_steps", [1000, 50])
def test_ddim_inversion_round_trip(num_steps):
  base = S.make_schedule("linear", T)
  schedule = S.make_schedule("linear", T, num_steps)
  f = optimal_eps(base)
  x0 = jnp.asarray(np.random.default_rng(1).multivariate_normal(MU, SIGMA, 256), jnp.float32)
  regenerate = jax.jit(lambda xT: SM.ddim_sample(schedule, f, None, xT.shape, x_T=xT))
  invert = jax.jit(lambda x, iters: SM.ddim_invert(schedule, f, x, fixed_point_iters=iters),
                   static_argnums=1)
  x_T = invert(x0, 10)
  assert float(jnp.abs(regenerate(x_T) - x0).max()) <= 1e-3
  # The latent of Gaussian data is (close to) standard normal: whitened data.
  np.testing.assert_allclose(np.cov(np.asarray(x_T).T), np.eye(3), atol=0.3)
  if num_steps == T:   # the plain explicit inversion is O(1/steps) off
    assert float(jnp.abs(regenerate(invert(x0, 0)) - x0).max()) <= 1e-2


def test_slerp():
  z0, z1 = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])
  path = SM.slerp(z0, z1, jnp.linspace(0, 1, 5))
  assert path.shape == (5, 3)
  np.testing.assert_allclose(path[0], z0, atol=1e-6)
  np.testing.assert_allclose(path[-1], z1, atol=1e-6)
  np.testing.assert_allclose(jnp.linalg.norm(path, axis=1), 1.0, atol=1e-6)
  np.testing.assert_allclose(path[2], jnp.array([1.0, 1.0, 0.0]) / math.sqrt(2), atol=1e-6)
  np.testing.assert_allclose(SM.slerp(z0, z0, 0.3), z0, atol=1e-6)    # parallel: no NaN


def test_classifier_free_guidance_uses_one_doubled_call():
  calls = []

  def cond_model(x, t, y):
    calls.append(x.shape[0])
    return x * 0 + y[:, None].astype(x.dtype) + t[:, None].astype(x.dtype)

  labels = jnp.array([1, 2, 3])
  guided = SM.classifier_free_guidance(cond_model, labels, w=2.0, null_label=10)
  x, t = jnp.zeros((3, 2)), jnp.array([5, 6, 7])
  out = guided(x, t)
  assert calls == [6]
  want = 3.0 * (labels + t)[:, None] - 2.0 * (10 + t)[:, None]
  np.testing.assert_allclose(out, jnp.broadcast_to(want, (3, 2)))
  schedule = S.make_schedule("linear", 10)
  jax.jit(lambda k: SM.ddpm_sample(schedule, guided, k, (3, 2)))(jax.random.PRNGKey(0))


def test_classifier_guidance_shifts_eps_by_the_scaled_gradient():
  schedule = S.make_schedule("linear", T)
  centres = jnp.array([[0.5, 0.5], [-0.5, 0.0]])
  log_prob = lambda x, t, y: -0.5 * jnp.sum(jnp.square(x - centres[y]), axis=-1)
  model = lambda x, t: 0.1 * x
  labels = jnp.array([0, 1, 1])
  x, t = jnp.array([[0.0, 1.0], [1.0, 1.0], [0.2, -0.3]]), jnp.array([0, 500, 999])
  got = SM.classifier_guidance(schedule, model, log_prob, labels, scale=3.0)(x, t)
  want = 0.1 * x + 3.0 * schedule.sqrt_one_minus_alphas_cumprod[t][:, None] * (x - centres[labels])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # an x0-predicting model gives the same guided eps as its eps form
  x0_model = lambda x_, t_: S.x0_from_eps(schedule, x_, t_, model(x_, t_))
  got_x0 = SM.classifier_guidance(schedule, x0_model, log_prob, labels, 3.0, kind="x0")(x, t)
  np.testing.assert_allclose(got_x0, want, rtol=1e-3, atol=1e-3)


def test_bad_sampler_inputs_are_config_errors():
  schedule = S.make_schedule("linear", 100)
  f = lambda x, t: x
  with pytest.raises(ConfigError, match="sampling steps"):
    S.make_schedule("linear", 100, 101)
  with pytest.raises(ConfigError, match="sampling steps"):
    S.respace(100, 500)
  for eta in (-0.1, 1.5):
    with pytest.raises(ConfigError, match="eta"):
      SM.ddim_sample(schedule, f, jax.random.PRNGKey(0), (2, 2), eta=eta)
    with pytest.raises(ConfigError, match="eta"):
      SM.check_sampler("ddim", eta)
  with pytest.raises(ConfigError, match="ddim"):
    SM.sample("ddmi", schedule, f, jax.random.PRNGKey(0), (2, 2))
  with pytest.raises(ConfigError, match="ddpm"):
    SM.check_sampler("euler")
  with pytest.raises(ConfigError, match="prediction"):
    SM.ddpm_sample(schedule, f, jax.random.PRNGKey(0), (2, 2), kind="score")
