"""Diffusion samplers, each one loop in lax.fori_loop, so a jit of the call is end to end.

``model_fn(x, t)`` is the network closed over its parameters: x [B, ...] and
int32 network timesteps t [B] (the schedule's ``timesteps``) -> the prediction
of ``kind`` ('eps', 'x0' or 'v'), or a tuple (prediction, v) for a learned
variance. Each sampler walks the steps of the schedule it is given; to sample
with fewer steps give it ``make_schedule(kind, T, num_steps)`` (respaced betas,
improved-diffusion's respace). Call them under ``jax.jit`` with the model
closed over (e.g. ``jax.jit(lambda p, rng: ddim_sample(schedule, partial(f, p), ...))``).
"""
import numbers

import jax
import jax.numpy as jnp

from genjax.errors import ConfigError, unknown_name
from genjax.families.diffusion.schedules import (check_prediction, extract, p_mean_variance,
                                                 predict_x0_eps, split_output)

SAMPLERS = ("ddpm", "ddim")


def _check_eta(eta):
  if isinstance(eta, numbers.Number) and not 0.0 <= eta <= 1.0:
    raise ConfigError(f"DDIM eta must lie in [0, 1] (0: deterministic DDIM, 1: DDPM-like); "
                      f"got {eta}.")


def _noise(rng, i, x):
  return jax.random.normal(jax.random.fold_in(rng, i), x.shape, x.dtype)


def _start(schedule, rng, shape, x_T, dtype):
  if x_T is not None:
    return x_T
  return jax.random.normal(jax.random.fold_in(rng, schedule.num_timesteps), shape, dtype)


def ddpm_sample(schedule, model_fn, rng, shape, kind="eps", variance="fixed_small", clip=False,
                x_T=None, dtype=jnp.float32):
  """Ancestral sampling: Ho et al. (2020), Algorithm 2.

  x_{t-1} = mu_theta(x_t, t) + sigma_t z with sigma_t^2 = beta~_t ('fixed_small'),
  beta_t ('fixed_large') or learned; no noise at the last step. x_T ~ N(0, I)
  unless given.
  """
  check_prediction(kind)
  T = schedule.num_timesteps

  def body(j, x):
    i = T - 1 - j
    t = jnp.full((x.shape[0],), i, jnp.int32)
    out, v = split_output(model_fn(x, schedule.timesteps[t]))
    mean, log_var, _ = p_mean_variance(schedule, kind, out, x, t, variance, v, clip)
    return mean + (i > 0) * jnp.exp(0.5 * log_var) * _noise(rng, i, x)

  return jax.lax.fori_loop(0, T, body, _start(schedule, rng, shape, x_T, dtype))


def ddim_step(schedule, x, i, out, kind, eta, clip, z):
  """One step i -> i-1 of Song et al. (2021), eq. 12, with sigma_t of eq. 16 times eta."""
  t = jnp.full((x.shape[0],), i, jnp.int32)
  x0, eps = predict_x0_eps(schedule, kind, out, x, t, clip)
  return ddim_update(schedule, x0, eps, i, eta, z)


def ddim_update(schedule, x0, eps, i, eta, z):
  """x_{i-1} of DDIM's eq. 12 from the predictions (x0, eps) at step i:
  sqrt(abar_{i-1}) x0 + sqrt(1 - abar_{i-1} - sigma^2) eps + sigma z, sigma
  eq. 16's times eta (eta = 1: DDPM's posterior q(x_{i-1} | x_i, x0), beta~)."""
  abar, abar_prev = schedule.alphas_cumprod[i], schedule.alphas_cumprod_prev[i]
  sigma = eta * jnp.sqrt((1.0 - abar_prev) / (1.0 - abar) * (1.0 - abar / abar_prev))
  direction = jnp.sqrt(jnp.maximum(1.0 - abar_prev - sigma ** 2, 0.0)) * eps
  return jnp.sqrt(abar_prev) * x0 + direction + sigma * z


def ddim_sample(schedule, model_fn, rng, shape, kind="eps", eta=0.0, clip=False, x_T=None,
                dtype=jnp.float32):
  """DDIM: Song et al. (2021), eq. 12, on the schedule's (possibly respaced) steps.

  eta = 0 is the deterministic DDIM (the probability-flow-like ODE), eta = 1
  the DDPM posterior variance of eq. 16. A learned variance output is ignored.
  """
  check_prediction(kind)
  _check_eta(eta)
  T = schedule.num_timesteps
  deterministic = isinstance(eta, numbers.Number) and eta == 0   # rng may be None then

  def body(j, x):
    i = T - 1 - j
    t = jnp.full((x.shape[0],), i, jnp.int32)
    out, _ = split_output(model_fn(x, schedule.timesteps[t]))
    z = jnp.zeros_like(x) if deterministic else _noise(rng, i, x)
    return ddim_step(schedule, x, i, out, kind, eta, clip, z)

  return jax.lax.fori_loop(0, T, body, _start(schedule, rng, shape, x_T, dtype))


def ddim_invert(schedule, model_fn, x0, kind="eps", fixed_point_iters=0):
  """x0 -> x_T by running deterministic DDIM (eta = 0) forward (Song et al. 2021, sec. 4.3).

  Step i inverts the generation step i -> i-1 of ``ddim_sample(eta=0)``:
  x_i = sqrt(abar_i / abar_{i-1}) (x_{i-1} - sqrt(1 - abar_{i-1}) eps) + sqrt(1 - abar_i) eps
  (abar_{-1} = 1: the data), with eps = eps_theta(x_i, t_i) as generation uses
  it. The usual explicit inversion evaluates it at x_{i-1} instead (an error
  O(1/steps)); ``fixed_point_iters`` > 0 refines eps by that many fixed-point
  iterations x_i <- step(eps_theta(x_i, t_i)), which makes the round trip
  exact where they converge (the fixed-point inversion of Pan et al. 2023).
  """
  check_prediction(kind)

  def body(i, x_prev):
    t = jnp.full((x_prev.shape[0],), i, jnp.int32)
    abar = extract(schedule.alphas_cumprod, t, x_prev)
    abar_prev = extract(schedule.alphas_cumprod_prev, t, x_prev)

    def step(x_guess):
      out, _ = split_output(model_fn(x_guess, schedule.timesteps[t]))
      _, eps = predict_x0_eps(schedule, kind, out, x_guess, t)
      return jnp.sqrt(abar / abar_prev) * (x_prev - jnp.sqrt(1.0 - abar_prev) * eps) + \
          jnp.sqrt(1.0 - abar) * eps

    x = step(x_prev)
    return jax.lax.fori_loop(0, fixed_point_iters, lambda _, x_: step(x_), x)

  return jax.lax.fori_loop(0, schedule.num_timesteps, body, x0)


def sample(sampler, schedule, model_fn, rng, shape, kind="eps", variance="fixed_small", eta=0.0,
           clip=False, x_T=None, dtype=jnp.float32):
  """Sampler by name: 'ddpm' (``variance``) or 'ddim' (``eta``)."""
  if sampler == "ddpm":
    return ddpm_sample(schedule, model_fn, rng, shape, kind, variance, clip, x_T, dtype)
  if sampler == "ddim":
    return ddim_sample(schedule, model_fn, rng, shape, kind, eta, clip, x_T, dtype)
  raise unknown_name("diffusion sampler", sampler, SAMPLERS)


def check_sampler(sampler, eta=0.0):
  """Validates a sampler name and eta before anything is traced."""
  if sampler not in SAMPLERS:
    raise unknown_name("diffusion sampler", sampler, SAMPLERS)
  _check_eta(eta)


def slerp(z0, z1, alpha):
  """Spherical interpolation of two latents (Shoemake 1985; DDIM sec. 5.3).

  The angle is taken over all axes of z0 / z1 (one latent each); ``alpha``
  scalar, or [K] for a path -> [K, *z0.shape].
  """
  alpha = jnp.asarray(alpha, z0.dtype)
  a = alpha.reshape(alpha.shape + (1,) * z0.ndim)
  cos = jnp.sum(z0 * z1) / (jnp.linalg.norm(z0) * jnp.linalg.norm(z1))
  theta = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
  sin = jnp.sin(theta)
  safe = sin > 1e-6
  sin_safe = jnp.where(safe, sin, 1.0)
  w0 = jnp.where(safe, jnp.sin((1.0 - a) * theta) / sin_safe, 1.0 - a)
  w1 = jnp.where(safe, jnp.sin(a * theta) / sin_safe, a)
  return w0 * z0 + w1 * z1


def classifier_free_guidance(model_fn, labels, w, null_label):
  """Guided model_fn(x, t) from a conditional ``model_fn(x, t, labels)``.

  eps~ = (1 + w) eps(x, c) - w eps(x, null): Ho & Salimans (2021), eq. 6, from
  one call on the doubled batch [x; x] with labels [c; null]. The combination
  has weights summing to one, so it is the same for x0- and v-predictions
  (both affine in eps at fixed x_t). A learned variance is the conditional one.
  ``labels`` may be any pytree of [B, ...] arrays (a text prompt's token
  states and mask) with ``null_label`` the same tree of arrays broadcastable
  to them (the empty prompt's) or of scalars (the null class K).
  """
  null = jax.tree.map(lambda c, n: jnp.broadcast_to(jnp.asarray(n, c.dtype), c.shape),
                      labels, null_label)
  def guided(x, t):
    B = x.shape[0]
    y = jax.tree.map(lambda c, n: jnp.concatenate([c, n]), labels, null)
    outs = model_fn(jnp.concatenate([x, x]), jnp.concatenate([t, t]), y)
    out, v = split_output(outs)
    combined = (1.0 + w) * out[:B] - w * out[B:]
    return combined if v is None else (combined, v[:B])
  return guided


def classifier_guidance(schedule, model_fn, classifier_log_prob, labels, scale, kind="eps"):
  """Guided eps-predictor eps^ - scale sqrt(1 - abar_t) grad_x log p(y | x_t, t).

  Dhariwal & Nichol (2021), Algorithm 2 (eq. 14). ``schedule`` is the base (not
  respaced) schedule, indexed by network timesteps t. The guided function
  returns an eps-prediction whatever ``kind`` the model predicts, so sample
  it with kind='eps'. ``classifier_log_prob(x, t, y) -> [B]``.
  """
  check_prediction(kind)

  def guided(x, t):
    out, v = split_output(model_fn(x, t))
    _, eps = predict_x0_eps(schedule, kind, out, x, t)
    grad = jax.grad(lambda x_: jnp.sum(classifier_log_prob(x_, t, labels)))(x)
    eps = eps - scale * extract(schedule.sqrt_one_minus_alphas_cumprod, t, x) * grad
    return eps if v is None else (eps, v)
  return guided
