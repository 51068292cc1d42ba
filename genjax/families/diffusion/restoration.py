"""Training-free restoration with a trained denoiser: inverse-problem samplers.

Each method solves y = A x0 + sigma_y n for x0 with the prior of a trained
diffusion model, as one ``lax.fori_loop`` (a jit of the call is end to end).
``A`` is a ``degradations`` operator; ``den`` a ``Denoiser``: the (respaced)
sampling schedule, ``model_fn(x, t)`` (the network closed over its
parameters, t the schedule's network timesteps), the prediction kind and
whether x0 is clipped to [-1, 1]. Index i runs over the schedule's steps;
x at step i has noise level abar_i, and step i -> i-1 ends at the data
(abar_{-1} = 1).

  replacement  score_sde's imputation (Song et al. 2021, app. I.2),
               generalised through A's SVD (their colourisation): the
               observed spectral coordinates are replaced by the noised
               measurement after every step.
  repaint      Lugmayr et al. 2022, Alg. 1 with the jump schedule (sec. 4.2).
  ddrm         Kawar et al. 2022, eqs. 7-8 (the reference's three cases).
  dps          Chung et al. 2023, Alg. 1 (Gaussian measurement noise).
  diffpir      Zhu et al. 2023, Alg. 1 (half-quadratic splitting).
  sdedit       Meng et al. 2022 (noise a guide to t0, then denoise).
  ilvr         Choi et al. 2021, Alg. 1 (low-pass refinement).
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from genjax.families.diffusion import degradations as D
from genjax.families.diffusion.samplers import ddim_update
from genjax.families.diffusion.schedules import predict_x0_eps, split_output


class Denoiser(NamedTuple):
  schedule: Any                  # the sampling schedule (respaced)
  model_fn: Callable[..., Any]   # (x, network t [B]) -> the prediction of ``kind``
  kind: str                      # eps | x0 | v
  clip: bool                     # clip predicted x0 to [-1, 1]


def predict(den, x, i):
  """(x0, eps) the denoiser predicts from x at step i."""
  t = jnp.full((x.shape[0],), i, jnp.int32)
  out, _ = split_output(den.model_fn(x, den.schedule.timesteps[t]))
  return predict_x0_eps(den.schedule, den.kind, out, x, t, den.clip)


def noise(rng, i, x, salt=0):
  """Standard normal noise for step i (``salt`` separates draws of one step)."""
  return jax.random.normal(jax.random.fold_in(jax.random.fold_in(rng, i), salt), x.shape,
                           x.dtype)


def start(den, rng, shape):
  """x at the last step: N(0, I)."""
  return jax.random.normal(jax.random.fold_in(rng, den.schedule.num_timesteps), shape)


def noised(abar, x0, z):
  """q(x_t | x0): sqrt(abar) x0 + sqrt(1 - abar) z."""
  return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * z


def observed(op):
  """1 on the spectral coordinates A observes (singular value > 0)."""
  return (D.singular_values(op) > 0).astype(jnp.float32)


def spectral_measurement(op, y):
  """S^+ U^T y: the measurement in x's spectral coordinates (0 where s = 0)."""
  s = D.singular_values(op)
  return D.Ut(op, y) / jnp.where(s > 0, s, 1.0) * (s > 0)


def replace_observed(op, x, target):
  """x with its observed spectral coordinates taken from ``target``'s
  (for a mask: the known pixels of ``target``, the rest of x)."""
  keep = observed(op)
  return D.V(op, keep * D.Vt(op, target) + (1.0 - keep) * D.Vt(op, x))


def replacement(den, op, y, rng, shape, eta=1.0):
  """score_sde's conditional sampling by replacement (Song et al. 2021,
  app. I.2): a DDIM(eta) step, then the observed coordinates set to the
  measurement noised to the new level, sqrt(abar_{i-1}) A^+ y + sqrt(1 -
  abar_{i-1}) z; at the data (abar = 1) they equal A^+ y exactly. For a
  mask A^+ y is y on the known pixels."""
  target = D.pinv(op, y)
  sched = den.schedule
  T = sched.num_timesteps

  def body(j, x):
    i = T - 1 - j
    x0, eps = predict(den, x, i)
    x = ddim_update(sched, x0, eps, i, eta, noise(rng, i, x))
    known = noised(sched.alphas_cumprod_prev[i], target, noise(rng, i, x, 1))
    return replace_observed(op, x, known)

  return jax.lax.fori_loop(0, T, body, start(den, rng, shape))


def jump_schedule(num_steps, jump_length=10, resamplings=10):
  """RePaint's time path (sec. 4.2): down one step at a time from the last
  step; after reaching each multiple of ``jump_length`` below the top, go
  back up ``jump_length`` steps, ``resamplings - 1`` times. Returns int32
  [L, 2] pairs (from, to) of step indices, to = -1 being the data."""
  pending = {k: resamplings - 1 for k in range(0, num_steps - jump_length, jump_length)}
  t, path = num_steps, [num_steps]
  while t >= 1:
    t -= 1
    path.append(t)
    if pending.get(t, 0) > 0:
      pending[t] -= 1
      for _ in range(jump_length):
        t += 1
        path.append(t)
  path.append(-1)
  steps = np.stack([path[1:-1], path[2:]], axis=1)
  return steps.astype(np.int32)


def repaint(den, op, y, rng, shape, jump_length=10, resamplings=10):
  """RePaint (Lugmayr et al. 2022, Alg. 1): down steps are DDPM steps of the
  unknown part joined to the known part noised to the new level (as
  ``replacement``); up steps re-noise one step, x_{i+1} = sqrt(1 - beta_{i+1})
  x_i + sqrt(beta_{i+1}) z, so the unknown part is resampled in harmony with
  the known part. ``jump_schedule`` gives the path."""
  target = D.pinv(op, y)
  sched = den.schedule
  path = jnp.asarray(jump_schedule(sched.num_timesteps, jump_length, resamplings))

  def down(i, x, k):
    x0, eps = predict(den, x, i)
    x = ddim_update(sched, x0, eps, i, 1.0, noise(rng, k, x))
    return replace_observed(op, x, noised(sched.alphas_cumprod_prev[i], target,
                                          noise(rng, k, x, 1)))

  def up(i, x, k):
    beta = sched.betas[i + 1]
    return jnp.sqrt(1.0 - beta) * x + jnp.sqrt(beta) * noise(rng, k, x)

  def body(k, x):
    i, to = path[k, 0], path[k, 1]
    return jax.lax.cond(to < i, down, up, i, x, k)

  return jax.lax.fori_loop(0, path.shape[0], body, start(den, rng, shape))


def ve_sigma(abar):
  """The noise level of x_t / sqrt(abar_t) = x0 + sigma_t eps: sqrt((1 - abar) / abar)."""
  return jnp.sqrt((1.0 - abar) / abar)


def ddrm_update(s, y_bar, x0_bar, eps_bar, sigma_next, sigma_y, eta, eta_b, z):
  """DDRM's x_bar_{t-1} in spectral coordinates (Kawar et al. 2022, eq. 8,
  with the reference's eps form of the null-space case), per coordinate:
  s = 0:                     x0 + sqrt(1 - eta^2) sigma' eps + eta sigma' z
  s sigma' <  sigma_y:       x0 + sqrt(1 - eta^2) sigma' (y - s x0) / sigma_y
                             + eta sigma' z
  s sigma' >= sigma_y:       (1 - eta_b) x0 + eta_b y / s
                             + sqrt(sigma'^2 - sigma_y^2 eta_b^2 / s^2) z
  with y_bar = S^+ U^T y (y / s above) and sigma' the next step's level. At
  the data (sigma' = 0) with sigma_y = 0 the third case keeps y / s exactly
  (eq. 8's >=), so A x = y."""
  safe_s = jnp.where(s > 0, s, 1.0)
  null = x0_bar + jnp.sqrt(1.0 - eta ** 2) * sigma_next * eps_bar + eta * sigma_next * z
  less = x0_bar + jnp.sqrt(1.0 - eta ** 2) * sigma_next * s * (y_bar - x0_bar) / jnp.maximum(
      sigma_y, 1e-12) + eta * sigma_next * z
  spread = jnp.sqrt(jnp.maximum(sigma_next ** 2 - (sigma_y * eta_b / safe_s) ** 2, 0.0))
  more = (1.0 - eta_b) * x0_bar + eta_b * y_bar + spread * z
  noisier = s * sigma_next >= sigma_y
  return jnp.where(s > 0, jnp.where(noisier, more, less), null)


def ddrm_start(den, op, y, sigma_y, rng, shape):
  """x_T of DDRM (eq. 7): spectral coordinates y / s + sqrt(sigma_T^2 -
  sigma_y^2 / s^2) z where s sigma_T > sigma_y, sigma_T z elsewhere; scaled
  back to the VP chain by sqrt(abar_T)."""
  abar = den.schedule.alphas_cumprod[-1]
  sigma_T, s = ve_sigma(abar), D.singular_values(op)
  z = start(den, rng, shape)
  safe_s = jnp.where(s > 0, s, 1.0)
  informed = (s * sigma_T > sigma_y) & (s > 0)
  spread = jnp.sqrt(jnp.maximum(sigma_T ** 2 - (sigma_y / safe_s) ** 2, 0.0))
  x_bar = jnp.where(informed, spectral_measurement(op, y) + spread * z, sigma_T * z)
  return jnp.sqrt(abar) * D.V(op, x_bar)


def ddrm(den, op, y, rng, shape, sigma_y=0.0, eta=0.85, eta_b=1.0):
  """DDRM (Kawar et al. 2022): the denoiser's (x0, eps) moved to A's
  spectral coordinates, ``ddrm_update`` per coordinate, back through V and
  onto the VP chain (x_{t-1} = sqrt(abar_{t-1}) x_bar_{t-1}). Defaults: the
  paper's eta = 0.85, eta_b = 1 with 20 steps."""
  sched = den.schedule
  T = sched.num_timesteps
  s, y_bar = D.singular_values(op), spectral_measurement(op, y)

  def body(j, x):
    i = T - 1 - j
    x0, eps = predict(den, x, i)
    abar_prev = sched.alphas_cumprod_prev[i]
    x_bar = ddrm_update(s, y_bar, D.Vt(op, x0), D.Vt(op, eps), ve_sigma(abar_prev),
                        sigma_y, eta, eta_b, noise(rng, i, x))
    return jnp.sqrt(abar_prev) * D.V(op, x_bar)

  return jax.lax.fori_loop(0, T, body, ddrm_start(den, op, y, sigma_y, rng, shape))


def measurement_error(op, y, x0):
  """||y - A x0|| per example [B]."""
  r = y - D.apply(op, x0)
  return jnp.sqrt(jnp.sum(jnp.square(r), axis=tuple(range(1, r.ndim))))


def dps(den, op, y, rng, shape, scale=1.0, eta=1.0):
  """DPS (Chung et al. 2023, Alg. 1, Gaussian noise): a DDIM(eta) step
  (eta = 1: the paper's ancestral step) from x_i, then x_{i-1} -= zeta
  grad_{x_i} ||y - A x0_hat(x_i)|| with zeta = ``scale`` (the reference
  implementation's step: the gradient of the norm, not of its square)."""
  sched = den.schedule
  T = sched.num_timesteps

  def error(x, i):
    x0, eps = predict(den, x, i)
    return jnp.sum(measurement_error(op, y, x0)), (x0, eps)

  def body(j, x):
    i = T - 1 - j
    grad, (x0, eps) = jax.grad(error, has_aux=True)(x, i)
    x0, eps = jax.lax.stop_gradient((x0, eps))
    return ddim_update(sched, x0, eps, i, eta, noise(rng, i, x)) - scale * grad

  return jax.lax.fori_loop(0, T, body, start(den, rng, shape))


def diffpir(den, op, y, rng, shape, sigma_y=0.0, lam=1.0, zeta=0.1):
  """DiffPIR (Zhu et al. 2023, Alg. 1): x0 from the denoiser, the data step
  x0 <- argmin ||y - A x||^2 + rho_t ||x - x0||^2 with rho_t = lambda
  sigma_n^2 / sigma_t^2 (sigma_t = sqrt((1 - abar_t) / abar_t), sigma_n =
  max(sigma_y, 1e-3) as the reference), then x_{t-1} = sqrt(abar_{t-1}) x0
  + sqrt(1 - abar_{t-1}) (sqrt(1 - zeta) eps_hat + sqrt(zeta) z) with
  eps_hat = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t) of the corrected x0.
  The reference's defaults: lambda = 1; zeta = 0.1 (super-resolution,
  deblurring), 1.0 (inpainting)."""
  sched = den.schedule
  T = sched.num_timesteps
  sigma_n = jnp.maximum(sigma_y, 1e-3)

  def body(j, x):
    i = T - 1 - j
    abar, abar_prev = sched.alphas_cumprod[i], sched.alphas_cumprod_prev[i]
    x0, _ = predict(den, x, i)
    x0 = D.prox(op, y, x0, lam * sigma_n ** 2 / ve_sigma(abar) ** 2)
    eps = (x - jnp.sqrt(abar) * x0) / jnp.sqrt(1.0 - abar)
    mixed = jnp.sqrt(1.0 - zeta) * eps + jnp.sqrt(zeta) * noise(rng, i, x)
    return jnp.sqrt(abar_prev) * x0 + jnp.sqrt(1.0 - abar_prev) * mixed

  return jax.lax.fori_loop(0, T, body, start(den, rng, shape))


def first_step(num_steps, t0):
  """The step SDEdit starts from: t0 in (0, 1] of the way to the last step."""
  return max(1, min(num_steps, int(round(t0 * num_steps)))) - 1


def denoise_from(den, x, rng, i0, eta=1.0):
  """x at step i0 taken down to the data by DDIM(eta) steps."""
  def body(j, x_):
    i = i0 - j
    x0, eps = predict(den, x_, i)
    return ddim_update(den.schedule, x0, eps, i, eta, noise(rng, i, x_))
  return jax.lax.fori_loop(0, i0 + 1, body, x)


def sdedit(den, guide, rng, t0=0.5, eta=1.0):
  """SDEdit (Meng et al. 2022, Alg. 1 with the VP-SDE): the guide (a stroke
  painting, an edited or degraded image) noised to t0, x_{t0} =
  sqrt(abar_{t0}) guide + sqrt(1 - abar_{t0}) z, then denoised. t0 trades
  faithfulness (small) for realism (large); the paper's t0 is 0.3-0.6."""
  i0 = first_step(den.schedule.num_timesteps, t0)
  x = noised(den.schedule.alphas_cumprod[i0], guide, start(den, rng, guide.shape))
  return denoise_from(den, x, rng, i0, eta)


def low_pass(factor, image_shape):
  """ILVR's phi_N for images of ``image_shape`` [H, W, C]: the projection A_N^+ A_N onto what the bicubic x N
  downsampling keeps (the reference's down- then up-sampling pair, with
  the up-sampling that makes it a projection)."""
  op = D.make_operator(f"sr{factor}", (1,) + tuple(image_shape))
  return lambda x: D.pinv(op, D.apply(op, x))


def ilvr(den, reference, rng, factor=4, eta=1.0):
  """ILVR (Choi et al. 2021, Alg. 1): each DDIM(eta) step x'_{t-1} is
  refined to phi_N(y_{t-1}) + x'_{t-1} - phi_N(x'_{t-1}), y_{t-1} the
  reference noised to the new level, so the low frequencies follow the
  reference and the rest the model."""
  sched = den.schedule
  T = sched.num_timesteps
  phi = low_pass(factor, reference.shape[1:])   # [H, W, C]

  def body(j, x):
    i = T - 1 - j
    x0, eps = predict(den, x, i)
    x = ddim_update(sched, x0, eps, i, eta, noise(rng, i, x))
    ref = noised(sched.alphas_cumprod_prev[i], reference, noise(rng, i, x, 1))
    return x + phi(ref) - phi(x)

  return jax.lax.fori_loop(0, T, body, start(den, rng, reference.shape))
