"""Noise schedules, the forward process q and the model's reverse Gaussian p.

Notation of Ho et al. (2020): beta_t, alpha_t = 1 - beta_t, abar_t = prod_{s<=t}
alpha_s, with t = 0..T-1 indexing the T steps (the paper's t = 1..T). The
schedule's arrays are computed in float64 numpy and cast once (as
improved-diffusion does), then indexed per example by int32 timesteps t [B] and
broadcast over the image axes.

A schedule may be a respaced one (Nichol & Dhariwal 2021, sec. 4): its step i
has the abar of the base schedule's timestep ``timesteps[i]``, and the network
is always called with that base timestep, never with i.
"""
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np

from genjax.errors import ConfigError, unknown_name

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("eps", "x0", "v")
VARIANCES = ("fixed_small", "fixed_large", "learned")


@flax.struct.dataclass
class Schedule:
  """Per-step constants of a diffusion, arrays of shape [T]."""
  betas: jax.Array
  alphas_cumprod: jax.Array                    # abar_t
  alphas_cumprod_prev: jax.Array               # abar_{t-1}, with abar_{-1} = 1
  sqrt_alphas_cumprod: jax.Array
  sqrt_one_minus_alphas_cumprod: jax.Array
  sqrt_recip_alphas_cumprod: jax.Array         # 1 / sqrt(abar_t)
  sqrt_recipm1_alphas_cumprod: jax.Array       # sqrt(1 / abar_t - 1)
  posterior_variance: jax.Array                # beta~_t, Ho et al. eq. 7
  posterior_log_variance_clipped: jax.Array    # log beta~_t with beta~_0 := beta~_1
  posterior_mean_coef1: jax.Array              # of x0 in mu~_t, eq. 7
  posterior_mean_coef2: jax.Array              # of x_t in mu~_t, eq. 7
  timesteps: jax.Array                         # int32: the network's t for each step

  @property
  def num_timesteps(self):
    return self.betas.shape[0]


def linear_betas(T, beta_start=1e-4, beta_end=0.02):
  """Ho et al. (2020), sec. 4: beta linear from 1e-4 to 0.02 (for T = 1000)."""
  return np.linspace(beta_start, beta_end, T, dtype=np.float64)


def cosine_betas(T, offset=0.008, max_beta=0.999):
  """Nichol & Dhariwal (2021), eq. 17: abar(t) = f(t)/f(0), f(t) = cos^2((t/T + s)/(1 + s) pi/2).

  s = ``offset``; beta_t = 1 - abar(t+1)/abar(t), clipped to ``max_beta`` to
  avoid the singularity at t = T.
  """
  s = offset
  f = lambda u: np.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2
  t = np.arange(T, dtype=np.float64)
  return np.minimum(1.0 - f(t + 1) / f(t), max_beta)


def named_betas(kind, T):
  """The betas of a named schedule for T steps.

  'linear' scales Ho et al.'s endpoints by 1000/T (improved-diffusion's
  convention) so that abar_T stays near zero for any T (clipped at 0.999 for T < 21).
  """
  if kind == "linear":
    scale = 1000.0 / T
    return np.minimum(linear_betas(T, scale * 1e-4, scale * 0.02), 0.999)
  if kind == "cosine":
    return cosine_betas(T)
  raise unknown_name("noise schedule", kind, SCHEDULES)


def respace(T, num_steps):
  """``num_steps`` increasing timesteps evenly spread over 0..T-1 (first 0, last T-1)."""
  if not 1 <= int(num_steps) <= T:
    raise ConfigError(
        f"Cannot sample with {num_steps} steps from a diffusion of {T} timesteps: "
        f"choose between 1 and {T} sampling steps.")
  if num_steps == 1:
    return np.array([T - 1], dtype=np.int32)
  return np.round(np.linspace(0, T - 1, int(num_steps))).astype(np.int32)


def respaced_betas(betas, timesteps):
  """Betas of the chain that visits only ``timesteps`` of the base chain.

  beta'_i = 1 - abar[t_i] / abar[t_{i-1}] (abar[t_{-1}] = 1), so that every
  kept step has the base schedule's abar and q(x_{t_i} | x_0) is unchanged
  (improved-diffusion's respace.py).
  """
  abar = np.cumprod(1.0 - np.asarray(betas, np.float64))[np.asarray(timesteps)]
  return 1.0 - abar / np.append(1.0, abar[:-1])


def schedule_from_betas(betas, timesteps=None, dtype=jnp.float32):
  """All the per-step constants from the betas (float64 maths, cast to ``dtype``)."""
  betas = np.asarray(betas, np.float64)
  if betas.ndim != 1 or not np.all((betas > 0) & (betas <= 1)):
    raise ConfigError("Diffusion betas must be a 1-d array of values in (0, 1].")
  T = betas.shape[0]
  timesteps = np.arange(T) if timesteps is None else np.asarray(timesteps)
  abar = np.cumprod(1.0 - betas)
  abar_prev = np.append(1.0, abar[:-1])
  post_var = betas * (1.0 - abar_prev) / (1.0 - abar)                       # eq. 7
  post_log_var = np.log(np.append(post_var[1], post_var[1:])) if T > 1 else np.log(betas)
  cast = lambda a: jnp.asarray(a, dtype)
  return Schedule(
      betas=cast(betas), alphas_cumprod=cast(abar), alphas_cumprod_prev=cast(abar_prev),
      sqrt_alphas_cumprod=cast(np.sqrt(abar)),
      sqrt_one_minus_alphas_cumprod=cast(np.sqrt(1.0 - abar)),
      sqrt_recip_alphas_cumprod=cast(np.sqrt(1.0 / abar)),
      sqrt_recipm1_alphas_cumprod=cast(np.sqrt(1.0 / abar - 1.0)),
      posterior_variance=cast(post_var), posterior_log_variance_clipped=cast(post_log_var),
      posterior_mean_coef1=cast(betas * np.sqrt(abar_prev) / (1.0 - abar)),
      posterior_mean_coef2=cast((1.0 - abar_prev) * np.sqrt(1.0 - betas) / (1.0 - abar)),
      timesteps=jnp.asarray(timesteps, jnp.int32))


def make_schedule(kind, T, num_steps=None, dtype=jnp.float32):
  """The named schedule of T steps; respaced to ``num_steps`` steps if given."""
  betas = named_betas(kind, T)
  if num_steps is None or num_steps == T:
    return schedule_from_betas(betas, dtype=dtype)
  steps = respace(T, num_steps)
  return schedule_from_betas(respaced_betas(betas, steps), steps, dtype=dtype)


def extract(a, t, x):
  """a[t] for int timesteps t [B], shaped [B, 1, ..., 1] to broadcast against x."""
  return a[t].reshape((t.shape[0],) + (1,) * (x.ndim - 1)).astype(x.dtype)


def q_sample(schedule, x0, t, noise):
  """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps: Ho et al. eq. 4 (reparameterised)."""
  return extract(schedule.sqrt_alphas_cumprod, t, x0) * x0 + \
      extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise


def q_posterior(schedule, x0, xt, t):
  """q(x_{t-1} | x_t, x0) = N(mu~_t, beta~_t I): Ho et al. eq. 6-7 -> (mean, var, log_var)."""
  mean = (extract(schedule.posterior_mean_coef1, t, xt) * x0
          + extract(schedule.posterior_mean_coef2, t, xt) * xt)
  var = jnp.broadcast_to(extract(schedule.posterior_variance, t, xt), xt.shape)
  log_var = jnp.broadcast_to(extract(schedule.posterior_log_variance_clipped, t, xt), xt.shape)
  return mean, var, log_var


# Conversions between the three prediction targets (x_t = sqrt(abar) x0 + sqrt(1-abar) eps;
# v = sqrt(abar) eps - sqrt(1-abar) x0, Salimans & Ho 2022, sec. 4 and appendix D).

def x0_from_eps(schedule, xt, t, eps):
  """x0 = (x_t - sqrt(1-abar_t) eps) / sqrt(abar_t): Ho et al. eq. 4 solved for x0 (eq. 15)."""
  return extract(schedule.sqrt_recip_alphas_cumprod, t, xt) * xt - \
      extract(schedule.sqrt_recipm1_alphas_cumprod, t, xt) * eps


def eps_from_x0(schedule, xt, t, x0):
  """eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)."""
  return (extract(schedule.sqrt_recip_alphas_cumprod, t, xt) * xt - x0) / \
      extract(schedule.sqrt_recipm1_alphas_cumprod, t, xt)


def v_from(schedule, x0, eps, t):
  """v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0 (Salimans & Ho 2022, sec. 4)."""
  return extract(schedule.sqrt_alphas_cumprod, t, x0) * eps - \
      extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * x0


def x0_from_v(schedule, xt, t, v):
  """x0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v."""
  return extract(schedule.sqrt_alphas_cumprod, t, xt) * xt - \
      extract(schedule.sqrt_one_minus_alphas_cumprod, t, xt) * v


def eps_from_v(schedule, xt, t, v):
  """eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v."""
  return extract(schedule.sqrt_one_minus_alphas_cumprod, t, xt) * xt + \
      extract(schedule.sqrt_alphas_cumprod, t, xt) * v


def draw_t_and_noise(rng, x0, num_timesteps):
  """t ~ U{0, ..., T-1} per example and eps ~ N(0, I) shaped like x0: the draw
  of the training loss (Ho et al. 2020, Algorithm 1) -> (t [B], eps)."""
  t_rng, noise_rng = jax.random.split(rng)
  t = jax.random.randint(t_rng, (x0.shape[0],), 0, num_timesteps)
  return t, jax.random.normal(noise_rng, x0.shape, x0.dtype)


def split_output(model_out):
  """(prediction, v) of a model's output: v (the learned variance's
  interpolation, Nichol & Dhariwal eq. 15) is None for a fixed variance."""
  return model_out if isinstance(model_out, tuple) else (model_out, None)


def check_prediction(kind):
  if kind not in PREDICTIONS:
    raise unknown_name("diffusion prediction target", kind, PREDICTIONS)


def predict_x0_eps(schedule, kind, out, xt, t, clip=False):
  """(x0, eps) from the network's output ``out`` predicting ``kind`` in {'eps','x0','v'}.

  With ``clip`` the x0 prediction is clipped to the data range [-1, 1] and eps
  recomputed from the clipped x0, so the two stay consistent with x_t.
  """
  check_prediction(kind)
  if kind == "eps":
    x0, eps = x0_from_eps(schedule, xt, t, out), out
  elif kind == "x0":
    x0, eps = out, eps_from_x0(schedule, xt, t, out)
  else:
    x0, eps = x0_from_v(schedule, xt, t, out), eps_from_v(schedule, xt, t, out)
  if clip:
    x0 = jnp.clip(x0, -1.0, 1.0)
    eps = eps_from_x0(schedule, xt, t, x0)
  return x0, eps


def p_log_variance(schedule, t, x, variance, v=None):
  """log sigma_t^2 of p(x_{t-1} | x_t), broadcast to x's shape.

  'fixed_small': beta~_t (clipped at t=0); 'fixed_large': beta_t, with beta~_1
  at t=0 (Ho et al. sec. 3.2; improved-diffusion's choice for the first step);
  'learned': Nichol & Dhariwal eq. 15, log sigma^2 = v log beta_t + (1 - v) log beta~_t
  with v the network's raw interpolation output (same shape as x).
  """
  if variance == "fixed_small":
    log_var = extract(schedule.posterior_log_variance_clipped, t, x)
  elif variance == "fixed_large":
    log_large = jnp.log(jnp.concatenate([schedule.posterior_variance[1:2], schedule.betas[1:]]))
    log_var = extract(log_large, t, x)
  elif variance == "learned":
    if v is None:
      raise ConfigError("variance='learned' needs the network's interpolation output v.")
    log_var = v * extract(jnp.log(schedule.betas), t, x) + \
        (1.0 - v) * extract(schedule.posterior_log_variance_clipped, t, x)
  else:
    raise unknown_name("diffusion variance", variance, VARIANCES)
  return jnp.broadcast_to(log_var, x.shape)


def p_mean_variance(schedule, kind, out, xt, t, variance="fixed_small", v=None, clip=False):
  """p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2 I) -> (mean, log_var, x0_pred).

  mu_theta = mu~_t(x0_pred, x_t) (Ho et al. eq. 7 with x0 from eq. 15; for
  eps-prediction this is eq. 11).
  """
  x0, _ = predict_x0_eps(schedule, kind, out, xt, t, clip=clip)
  mean, _, _ = q_posterior(schedule, x0, xt, t)
  return mean, p_log_variance(schedule, t, xt, variance, v), x0
