"""Restoration samplers on Gaussian data, where the exact posterior is known.

x0 ~ N(mu, v I) on 4x4 images: E[eps | x_t] = sqrt(1-abar) (x_t - sqrt(abar)
mu) / (abar v + 1 - abar) is the optimal predictor (test_samplers.py's, for an
isotropic covariance), and for y = A x0 + sigma_y n the posterior is Gaussian:
in A's SVD basis each coordinate is independent with precision 1/v +
s_i^2/sigma_y^2 (for sigma_y = 0: observed coordinates fixed at y_i / s_i,
the rest N(mu_i, v)). An isotropic prior is isotropic in every orthonormal
basis, so this holds for masks, pooling and identity alike.
"""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.diffusion import degradations as D
from genjax.families.diffusion import restoration as R
from genjax.families.diffusion import schedules as S

SHAPE = (4, 4, 1)
V = 0.25
MU = np.linspace(-0.5, 0.5, 16).reshape(SHAPE)
N = 2000
T = 1000


def optimal_eps(base):
  mu = jnp.asarray(MU, jnp.float32)

  def f(x, t):
    a = base.alphas_cumprod[t][:, None, None, None]
    return jnp.sqrt(1 - a) * (x - jnp.sqrt(a) * mu) / (a * V + 1 - a)
  return f


def denoiser(steps):
  base = S.make_schedule("linear", T)
  return R.Denoiser(S.make_schedule("linear", T, steps), optimal_eps(base), "eps", False)


def measurement(task, sigma_y=0.0, seed=0):
  """(op over N images, y of one draw x* from the prior, repeated N times)."""
  op = D.make_operator(task, (N,) + SHAPE, rng=jax.random.PRNGKey(seed))
  if D.is_mask(op):   # one mask (a random one is drawn per example) for all N
    op = dataclasses.replace(op, keep=jnp.broadcast_to(op.keep[:1], op.keep.shape))
  x_star = MU + math.sqrt(V) * np.random.default_rng(seed).normal(size=SHAPE)
  x = jnp.broadcast_to(jnp.asarray(x_star, jnp.float32), (N,) + SHAPE)
  y = D.measure(op, x, sigma_y, jax.random.PRNGKey(seed + 1))
  y = jnp.broadcast_to(y[:1], y.shape)   # one measurement, N posterior samples
  return op, y


def exact_posterior(op, y, sigma_y):
  """Per spectral coordinate: (mean, variance) of x0 | y [H, W, C] each."""
  s = np.asarray(D.singular_values(op))[0]
  y_bar = np.asarray(D.Ut(op, y[:1]))[0]
  mu_bar = np.asarray(D.Vt(op, jnp.asarray(MU[None], jnp.float32)))[0]
  if sigma_y == 0:
    seen = s > 0
    mean = np.where(seen, y_bar / np.where(seen, s, 1), mu_bar)
    return mean, np.where(seen, 0.0, V)
  precision = 1 / V + s ** 2 / sigma_y ** 2
  return (mu_bar / V + s * y_bar / sigma_y ** 2) / precision, 1 / precision


def assert_posterior(op, x, mean, var, bias=0.05):
  """Spectral coordinates of the samples: mean within 5 standard errors (+
  ``bias`` sd), variance within 5 standard errors (+ ``bias`` relative)."""
  xs = np.asarray(D.Vt(op, x), np.float64).reshape(len(x), -1)
  mean, var = mean.reshape(-1), var.reshape(-1)
  sd = np.sqrt(var)
  np.testing.assert_array_less(np.abs(xs.mean(0) - mean), 5 * sd / math.sqrt(len(x)) +
                               bias * math.sqrt(V) * (var > 0) + 1e-4)
  np.testing.assert_array_less(np.abs(xs.var(0) - var),
                               5 * var * math.sqrt(2 / len(x)) + bias * var + 1e-6)


def run(method, op, y, steps, **kw):
  fn = jax.jit(lambda y_, rng: getattr(R, method)(denoiser(steps), op, y_, rng,
                                                  (N,) + SHAPE, **kw))
  return fn(y, jax.random.PRNGKey(7))


def test_replacement_keeps_known_pixels_and_samples_the_exact_posterior():
  op, y = measurement("inpaint_random")
  x = run("replacement", op, y, T)
  keep = np.asarray(op.keep)
  np.testing.assert_array_equal(np.asarray(x) * keep, np.asarray(y) * keep)
  assert_posterior(op, x, *exact_posterior(op, y, 0.0))


def test_repaint_keeps_known_pixels_and_samples_the_exact_posterior():
  op, y = measurement("inpaint_half")
  x = run("repaint", op, y, 250, jump_length=10, resamplings=3)
  keep = np.asarray(op.keep)
  np.testing.assert_array_equal(np.asarray(x) * keep, np.asarray(y) * keep)
  assert_posterior(op, x, *exact_posterior(op, y, 0.0))


@pytest.mark.parametrize("task", ["sr2_pool", "inpaint_box"])
def test_ddrm_noiseless_satisfies_the_measurement_exactly(task):
  op, y = measurement(task)
  x = run("ddrm", op, y, 20)             # the paper's defaults: 20 steps, eta 0.85
  np.testing.assert_allclose(np.asarray(D.apply(op, x)), np.asarray(y), atol=2e-5)


def test_ddrm_deterministic_limit_samples_the_exact_posterior():
  op, y = measurement("sr2_pool")
  x = run("ddrm", op, y, T, eta=0.0)
  assert_posterior(op, x, *exact_posterior(op, y, 0.0))


def test_ddrm_noisy_measurement_fits_to_sigma_y():
  sigma_y = 0.3
  op, y = measurement("denoise", sigma_y)
  x = run("ddrm", op, y, 20, sigma_y=sigma_y)     # the paper's 20 steps, eta 0.85
  residual = np.sqrt(np.mean(np.square(np.asarray(D.apply(op, x) - y))))
  assert residual < sigma_y


def test_diffpir_noiseless_nearly_satisfies_the_measurement():
  op, y = measurement("sr2_pool")
  x = run("diffpir", op, y, 100, zeta=0.1)
  assert np.abs(np.asarray(D.apply(op, x) - y)).max() < 1e-2
  assert_posterior(op, x, *exact_posterior(op, y, 0.0), bias=0.15)


def test_dps_pulls_samples_towards_the_measurement():
  op, y = measurement("sr2_pool")
  free = run("dps", op, y, 100, scale=0.0)
  guided = run("dps", op, y, 100, scale=1.0)
  err = lambda x: float(jnp.mean(R.measurement_error(op, y, x)))
  assert err(guided) < 0.25 * err(free)


def test_ilvr_low_frequencies_equal_the_reference():
  # phi_N is a projection and the last reference is the clean one, so
  # phi_N(x) = phi_N(reference) exactly (Choi et al. 2021, eq. 7 at t = 0).
  reference = jnp.asarray(np.random.default_rng(3).normal(size=(8, 8, 8, 1)), jnp.float32)
  den = R.Denoiser(S.make_schedule("linear", T, 20), lambda x, t: jnp.zeros_like(x),
                   "eps", False)
  x = R.ilvr(den, reference, jax.random.PRNGKey(0), factor=2)
  phi = R.low_pass(2, (8, 8, 1))
  np.testing.assert_allclose(np.asarray(phi(x)), np.asarray(phi(reference)), atol=1e-4)
  assert np.abs(np.asarray(x - reference)).max() > 0.1   # high frequencies are the model's


def test_sdedit_interpolates_between_the_guide_and_the_prior():
  guide = jnp.full((N,) + SHAPE, 2.0, jnp.float32)     # far from the prior
  den = denoiser(T)
  near = R.sdedit(den, guide, jax.random.PRNGKey(0), t0=0.001)
  np.testing.assert_allclose(np.asarray(near), np.asarray(guide), atol=0.05)
  far = jax.jit(lambda g, r: R.sdedit(den, g, r, t0=1.0))(guide, jax.random.PRNGKey(1))
  op = D.make_operator("denoise", (N,) + SHAPE)
  assert_posterior(op, far, np.asarray(MU), np.full(SHAPE, V), bias=0.05)


def test_jump_schedule_walks_repaints_path():
  steps, j, r = 30, 5, 3
  path = R.jump_schedule(steps, j, r)
  assert path[0, 0] == steps - 1 and path[-1, 1] == -1
  assert set(np.abs(path[:, 1] - path[:, 0])) == {1}
  # Brute force: every step is gone down once, plus (r - 1) extra times for
  # each j-step segment below the top (jump points 0, 5, ..., 20).
  jumps = len(range(0, steps - j, j))
  assert np.sum(path[:, 1] < path[:, 0]) == steps + (r - 1) * j * jumps
  assert np.sum(path[:, 1] > path[:, 0]) == (r - 1) * j * jumps
