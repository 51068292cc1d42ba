"""Diffusion schedules, forward-process identities and losses against closed forms."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from genjax.errors import ConfigError
from genjax.families.diffusion import losses as L
from genjax.families.diffusion import schedules as S

GRID = np.arange(256) / 127.5 - 1.0          # the 8-bit data grid on [-1, 1]


def test_linear_schedule_endpoints():
  b = S.linear_betas(1000)
  assert b[0] == pytest.approx(1e-4) and b[-1] == pytest.approx(0.02)
  schedule = S.make_schedule("linear", 1000)
  assert float(schedule.betas[0]) == pytest.approx(1e-4)
  assert float(schedule.betas[-1]) == pytest.approx(0.02)
  assert schedule.betas.dtype == jnp.float32 and schedule.timesteps.dtype == jnp.int32
  small = S.make_schedule("linear", 100)         # endpoints scaled by 1000 / T
  assert float(small.betas[-1]) == pytest.approx(0.2)
  assert float(small.alphas_cumprod[-1]) < 1e-3


def test_cosine_schedule():
  T, s_ = 1000, 0.008
  schedule = S.make_schedule("cosine", T)
  f = lambda t: math.cos((t / T + s_) / (1 + s_) * math.pi / 2) ** 2
  abar = np.asarray(schedule.alphas_cumprod, np.float64)
  for t in (0, 10, 500, 900):                     # eq. 17 where beta is not clipped
    assert abar[t] == pytest.approx(f(t + 1) / f(0), rel=1e-4)
  assert abar[-1] < 1e-6
  assert float(schedule.betas.max()) <= 0.999 + 1e-7


def test_unknown_schedule_is_a_config_error():
  with pytest.raises(ConfigError, match="cosine"):
    S.make_schedule("cosin", 10)


def test_posterior_against_product_of_gaussians():
  """q(x_{t-1}|x_t,x0) ∝ N(x_t; sqrt(a_t) x_{t-1}, b_t) N(x_{t-1}; sqrt(abar_{t-1}) x0, 1-abar_{t-1}).

  (Bayes' rule on the two Gaussians of the forward process, solved independently.)
  """
  schedule = S.make_schedule("linear", 1000)
  betas = S.named_betas("linear", 1000)
  abar = np.cumprod(1 - betas)
  rng = np.random.default_rng(0)
  t = np.array([1, 5, 300, 999])
  x0, xt = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
  mean, var, log_var = S.q_posterior(schedule, jnp.asarray(x0, jnp.float32),
                                     jnp.asarray(xt, jnp.float32), jnp.asarray(t, jnp.int32))
  prec = (1 - betas[t]) / betas[t] + 1 / (1 - abar[t - 1])
  want_mean = (np.sqrt(1 - betas[t])[:, None] * xt / betas[t][:, None]
               + np.sqrt(abar[t - 1])[:, None] * x0 / (1 - abar[t - 1])[:, None]) / prec[:, None]
  np.testing.assert_allclose(mean, want_mean, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(var[:, 0], 1 / prec, rtol=1e-4)
  np.testing.assert_allclose(log_var[:, 0], np.log(1 / prec), rtol=1e-4)
  # t = 0: the posterior is the point x0; the clipped log variance is beta~_1's.
  assert float(schedule.posterior_variance[0]) == 0.0
  want_log0 = float(jnp.log(schedule.posterior_variance[1]))
  assert float(schedule.posterior_log_variance_clipped[0]) == pytest.approx(want_log0)


def test_respace_keeps_the_marginals():
  steps = S.respace(1000, 50)
  assert steps[0] == 0 and steps[-1] == 999 and np.all(np.diff(steps) > 0) and len(steps) == 50
  base, sub = S.make_schedule("cosine", 1000), S.make_schedule("cosine", 1000, 50)
  np.testing.assert_allclose(sub.alphas_cumprod, base.alphas_cumprod[steps], rtol=1e-5)
  np.testing.assert_array_equal(sub.timesteps, steps)
  for bad in (0, 1001):
    with pytest.raises(ConfigError, match="sampling steps"):
      S.make_schedule("linear", 1000, bad)


@pytest.mark.parametrize("kind", S.PREDICTIONS)
def test_prediction_conversions_round_trip(kind):
  schedule = S.make_schedule("cosine", 100)
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  x0 = jax.random.uniform(k1, (5, 4, 4, 2), minval=-1, maxval=1)
  eps = jax.random.normal(k2, x0.shape)
  t = jnp.array([0, 1, 50, 98, 99], jnp.int32)
  xt = S.q_sample(schedule, x0, t, eps)
  target = L.prediction_target(schedule, kind, x0, eps, t)
  got_x0, got_eps = S.predict_x0_eps(schedule, kind, target, xt, t)
  # eps is ill-determined by x0 where sqrt(1 - abar) is tiny (t = 0), and vice versa at t = T-1.
  np.testing.assert_allclose(got_x0[1:4], x0[1:4], atol=2e-4)
  np.testing.assert_allclose(got_eps[1:4], eps[1:4], atol=2e-4)
  v = S.v_from(schedule, x0, eps, t)
  np.testing.assert_allclose(S.x0_from_v(schedule, xt, t, v), x0, atol=1e-5)
  np.testing.assert_allclose(S.eps_from_v(schedule, xt, t, v), eps, atol=1e-5)


def test_clipped_prediction_stays_consistent_with_xt():
  schedule = S.make_schedule("linear", 1000)
  xt = 3.0 * jax.random.normal(jax.random.PRNGKey(1), (4, 6))
  t = jnp.array([10, 200, 600, 999], jnp.int32)
  out = jax.random.normal(jax.random.PRNGKey(2), xt.shape)
  x0, eps = S.predict_x0_eps(schedule, "eps", out, xt, t, clip=True)
  assert float(jnp.abs(x0).max()) <= 1.0
  np.testing.assert_allclose(S.q_sample(schedule, x0, t, eps), xt, rtol=1e-4, atol=1e-4)
  with pytest.raises(ConfigError, match="prediction"):
    S.predict_x0_eps(schedule, "score", out, xt, t)


def test_variances():
  schedule = S.make_schedule("linear", 1000)
  x = jnp.zeros((3, 2))
  t = jnp.array([0, 1, 500], jnp.int32)
  np.testing.assert_allclose(S.p_log_variance(schedule, t, x, "learned", jnp.ones_like(x))[1:, 0],
                             jnp.log(schedule.betas[t[1:]]), rtol=1e-6)
  np.testing.assert_allclose(S.p_log_variance(schedule, t, x, "learned", jnp.zeros_like(x))[:, 0],
                             schedule.posterior_log_variance_clipped[t], rtol=1e-6)
  np.testing.assert_allclose(S.p_log_variance(schedule, t, x, "fixed_large")[:, 0],
                             jnp.log(jnp.array([schedule.posterior_variance[1], schedule.betas[1],
                                                schedule.betas[500]])),
                             rtol=1e-6)
  with pytest.raises(ConfigError, match="variance"):
    S.p_log_variance(schedule, t, x, "big")
  with pytest.raises(ConfigError, match="interpolation"):
    S.p_log_variance(schedule, t, x, "learned")


def test_normal_kl_closed_form():
  m1, lv1, m2, lv2 = 0.3, math.log(0.5), -0.2, math.log(2.0)
  want = math.log(math.sqrt(2.0 / 0.5)) + (0.5 + 0.25) / (2 * 2.0) - 0.5
  assert float(L.normal_kl(m1, lv1, m2, lv2)) == pytest.approx(want, rel=1e-6)
  assert float(L.normal_kl(m1, lv1, m1, lv1)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("mean,scale", [(0.0, 0.5), (0.97, 0.003), (-1.3, 0.2), (0.2, 1e-4),
                                        (0.0, 30.0)])
def test_discretized_gaussian_sums_to_one(mean, scale):
  x = jnp.asarray(GRID, jnp.float32)
  logp = L.discretized_gaussian_log_likelihood(x, mean, jnp.log(scale))
  assert bool(jnp.all(jnp.isfinite(logp)))
  assert float(jnp.exp(logp).sum()) == pytest.approx(1.0, abs=1e-5)
  # An interior bin against scipy.
  k = 100
  cdf = lambda x_: stats.norm.cdf(x_, mean, scale)
  want = cdf(GRID[k] + 1 / 255) - cdf(GRID[k] - 1 / 255)
  if want > 1e-30:
    assert float(jnp.exp(logp[k])) == pytest.approx(want, rel=1e-3, abs=1e-7)


def test_vlb_terms_vanish_for_the_true_noise():
  schedule = S.make_schedule("linear", 1000)
  k1, k2 = jax.random.split(jax.random.PRNGKey(3))
  x0 = jnp.asarray(GRID[jax.random.randint(k1, (4, 3, 3), 0, 256)], jnp.float32)
  eps = jax.random.normal(k2, x0.shape)
  t = jnp.array([0, 1, 400, 999], jnp.int32)
  xt = S.q_sample(schedule, x0, t, eps)
  terms = L.vlb_terms(schedule, "eps", eps, x0, xt, t)
  np.testing.assert_allclose(terms[1:], 0.0, atol=2e-3)                       # KL(q || q) = 0
  mean, log_var, _ = S.p_mean_variance(schedule, "eps", eps, xt, t)
  nll0 = -L.discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_var)[0].sum()
  assert float(terms[0]) == pytest.approx(float(nll0), rel=1e-6)
  assert float(terms[0]) > 0


def test_prior_kl_closed_form():
  schedule = S.make_schedule("linear", 1000)
  x0 = jnp.array([[0.5, -1.0]])
  a = float(schedule.alphas_cumprod[-1])
  want = sum(0.5 * (-1 - math.log(1 - a) + (1 - a) + a * v * v) for v in (0.5, -1.0))
  assert float(L.prior_kl(schedule, x0)[0]) == pytest.approx(want, rel=1e-3, abs=1e-8)
  assert float(L.prior_kl(schedule, x0)[0]) < 1e-4


def test_losses_and_hybrid_gradients():
  schedule = S.make_schedule("cosine", 100)
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(4), 3)
  x0 = jnp.asarray(GRID[jax.random.randint(k1, (3, 4, 4, 1), 0, 256)], jnp.float32)
  eps = jax.random.normal(k2, x0.shape)
  t = jnp.array([0, 30, 99], jnp.int32)
  for kind in S.PREDICTIONS:
    target = L.prediction_target(schedule, kind, x0, eps, t)
    np.testing.assert_allclose(L.l_simple(schedule, kind, target, x0, t, eps), 0.0, atol=1e-12)
    assert L.l_simple(schedule, kind, target + 1.0, x0, t, eps).shape == (3,)
  out = eps + 0.3 * jax.random.normal(k3, x0.shape)
  v = jnp.full(x0.shape, 0.5)
  hybrid = lambda o, v_: L.hybrid_loss(schedule, "eps", o, v_, x0, t, eps).sum()
  g_out, g_v = jax.jit(jax.grad(hybrid, argnums=(0, 1)))(out, v)
  g_simple = jax.jit(jax.grad(lambda o: L.l_simple(schedule, "eps", o, x0, t, eps).sum()))(out)
  np.testing.assert_allclose(g_out, g_simple, rtol=1e-6)       # the bound's mean is frozen
  assert float(jnp.abs(g_v).sum()) > 0
  assert bool(jnp.all(hybrid(out, v) >= L.l_simple(schedule, "eps", out, x0, t, eps).sum()))


# Gaussian data and its optimal eps-predictor (see test_samplers.py) for the full bound.
MU = np.array([0.2, -0.3])
SIGMA = np.array([[0.04, 0.012], [0.012, 0.025]])


def optimal_eps(schedule):
  def f(x, t):
    a = schedule.alphas_cumprod[t][:, None, None]
    cov = a * jnp.asarray(SIGMA, jnp.float32) + (1 - a) * jnp.eye(2)
    centred = (x - jnp.sqrt(a[:, :, 0]) * MU)[..., None]
    return jnp.sqrt(1 - a[:, :, 0]) * jnp.linalg.solve(cov, centred)[..., 0]
  return f


@pytest.mark.parametrize("variance", ["fixed_small", "fixed_large"])
def test_full_bound_of_gaussian_data(variance):
  """-ELBO >= -log P(x) on average >= H(data): the bound never beats the data's entropy.

  The data are N(MU, SIGMA) quantised to 8 bits (no sample reaches the edges),
  whose discrete entropy is h(N) - D log(2/255) up to O(bin^2 / var).
  """
  n, D = 1000, 2
  x = np.random.default_rng(0).multivariate_normal(MU, SIGMA, n)
  assert np.abs(x).max() < 0.99
  x = jnp.asarray(np.round((x + 1) * 127.5) / 127.5 - 1, jnp.float32)
  schedule = S.make_schedule("linear", 1000)
  r = jax.jit(lambda x_, k: L.nll_bits_per_dim(schedule, optimal_eps(schedule), x_, k,
                                               variance=variance))(
      x, jax.random.PRNGKey(0))
  bpd = np.asarray(r["bpd"], np.float64)
  assert r["terms"].shape == (n, 1000) and np.all(np.isfinite(bpd))
  np.testing.assert_allclose(bpd, (np.asarray(r["terms"], np.float64).sum(1) + r["prior"])
                             / (D * math.log(2)), rtol=1e-5)
  entropy = 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * SIGMA)) - D * math.log(2 / 255)
  entropy_bpd = entropy / (D * math.log(2))
  assert bpd.mean() >= entropy_bpd - 5 * bpd.std() / math.sqrt(n)
  assert bpd.mean() <= entropy_bpd + 1.0      # a good model: within a bit per dim
