"""PixelCNN++'s discretised logistic mixture likelihood (Salimans et al. 2017, sec. 2.1-2.2).

Pixels live on the 256-level grid of [-1, 1] (x_k = 2k/255 - 1). Each pixel
is a mixture of M components; in component m the sub-pixels are discretised
logistics, the red one with mean mu_R, the green one with mean
mu_G + c0 * R, the blue one with mean mu_B + c1 * R + c2 * G (sec. 2.2:
"the means of the mixture components [are] linearly dependent on the values
of the previous sub-pixels"), so one mixture over the whole pixel still lets
the channels depend on each other.

Per-pixel parameter layout (last axis, length ``mixture_num_params(C, M)``):

    [ logits (M) | means (C*M) | log_scales (C*M) | coeffs (C(C-1)/2 * M) ]

means / log_scales reshape to [..., C, M] (channel-major), coeffs to
[..., C(C-1)/2, M] in the order (G|R), (B|R), (B|G). As in the paper's
reference code: coeffs pass through tanh, log-scales are clipped below at -7.
"""

import jax
import jax.numpy as jnp

LOG_SCALE_MIN = -7.0    # reference implementation's lower clip on the log-scales


def mixture_num_params(num_channels, num_mixtures):
  """M * (1 + 2C + C(C-1)/2): logits, means, log-scales and the channel coefficients."""
  c = num_channels
  return num_mixtures * (1 + 2 * c + c * (c - 1) // 2)


def unpack_mixture_params(params, num_channels, num_mixtures):
  """[..., P] -> logits [..., M], means [..., C, M], log_scales [..., C, M], coeffs [..., K, M].

  K = C(C-1)/2; log_scales are clipped at ``LOG_SCALE_MIN``, coeffs are tanh'd.
  """
  c, m = num_channels, num_mixtures
  k = c * (c - 1) // 2
  if params.shape[-1] != mixture_num_params(c, m):
    raise ValueError(f"mixture params have {params.shape[-1]} channels; C={c}, M={m} "
                     f"needs {mixture_num_params(c, m)}.")
  lead = params.shape[:-1]
  logits = params[..., :m]
  means = params[..., m:m + c * m].reshape(*lead, c, m)
  log_scales = params[..., m + c * m:m + 2 * c * m].reshape(*lead, c, m)
  coeffs = params[..., m + 2 * c * m:].reshape(*lead, k, m)
  return logits, means, jnp.maximum(log_scales, LOG_SCALE_MIN), jnp.tanh(coeffs)


def _coeff_index(c, prev):
  """Index of the coefficient of channel ``prev`` in channel ``c``'s mean (prev < c)."""
  return c * (c - 1) // 2 + prev


def channel_means(means, coeffs, x):
  """Sec. 2.2: mean of channel c = mu_c + sum_{c' < c} coeff_{c,c'} x_{c'}.

  means [..., C, M], coeffs [..., K, M], x [..., C] (the previous channels'
  values) -> [..., C, M].
  """
  num_c = means.shape[-2]
  out = [means[..., 0, :]]
  for c in range(1, num_c):
    mc = means[..., c, :]
    for prev in range(c):
      mc = mc + coeffs[..., _coeff_index(c, prev), :] * x[..., prev, None]
    out.append(mc)
  return jnp.stack(out, axis=-2)


def log_logistic_bin_mass(upper, lower, width):
  """log(sigmoid(upper) - sigmoid(lower)) for width = upper - lower > 0, exactly.

  sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - exp(-(a - b))), so the
  log is log_sigmoid(a) + log_sigmoid(-b) + log(-expm1(-(a - b))): no
  subtraction of nearly equal numbers anywhere, whether the bin sits deep in
  a tail (the "low-probability" bins the reference code patches with the
  density at the bin centre) or is narrow against the scale. ``width`` is
  passed as computed directly (2h / s), not as upper - lower.
  """
  width = jnp.maximum(width, 1e-30)       # a scale beyond e^80 would underflow it to 0
  return jax.nn.log_sigmoid(upper) + jax.nn.log_sigmoid(-lower) + jnp.log(-jnp.expm1(-width))


def discretized_logistic_log_prob_pm1(x, mean, log_scale, num_bins=256):
  """log P(x) of logistic(mean, exp(log_scale)) discretised to ``num_bins`` levels of [-1, 1].

  Salimans et al. (2017), eq. 2: P(x) = sigmoid((x + h - mean)/s) - sigmoid((x - h - mean)/s),
  h = 1 / (num_bins - 1) (half the grid step 2/(num_bins-1)); the edge bins run
  to -inf (x = -1) and +inf (x = 1), so the masses of the bins sum to one.
  Elementwise; x on the grid.
  """
  half = 1.0 / (num_bins - 1)
  inv_s = jnp.exp(-log_scale)
  centred = x - mean
  upper = inv_s * (centred + half)
  lower = inv_s * (centred - half)
  log_cdf_upper = jax.nn.log_sigmoid(upper)             # x = -1: P(X < -1 + h)
  log_sf_lower = jax.nn.log_sigmoid(-lower)             # x = +1: P(X > 1 - h)
  log_mid = log_logistic_bin_mass(upper, lower, 2.0 * half * inv_s)
  return jnp.where(x < -1.0 + half, log_cdf_upper,
                   jnp.where(x > 1.0 - half, log_sf_lower, log_mid))


def discretized_logistic_mixture_log_prob(x, params, num_mixtures, num_bins=256):
  """log p(pixel) [B,H,W] of x [B,H,W,C] in [-1,1] (on the grid) under the mixture.

  log p(x) = logsumexp_m [log pi_m + sum_c log P(x_c | mean_{c,m}(x_<c), s_{c,m})],
  eq. 2 + sec. 2.2 of Salimans et al. (2017): one mixture over the whole pixel,
  channel c's mean shifted by the coefficients times the previous channels.
  params [B,H,W,mixture_num_params(C, M)] (layout in the module doc).
  """
  num_c = x.shape[-1]
  logits, means, log_scales, coeffs = unpack_mixture_params(params, num_c, num_mixtures)
  mean = channel_means(means, coeffs, x)                               # [..., C, M]
  per_channel = discretized_logistic_log_prob_pm1(x[..., None], mean, log_scales,
                                                  num_bins)           # [..., C, M]
  log_pi = jax.nn.log_softmax(logits, axis=-1)
  return jax.nn.logsumexp(log_pi + jnp.sum(per_channel, axis=-2), axis=-1)


def discretized_logistic_mixture_nll(x, params, num_mixtures, num_bins=256):
  """Negative log-likelihood summed over pixels: [B] nats (divide by H W C log 2 for bits/dim)."""
  return -jnp.sum(discretized_logistic_mixture_log_prob(x, params, num_mixtures, num_bins),
                  axis=(1, 2))


def quantize_pm1(x, num_bins=256):
  """Clip to [-1, 1] and round to the nearest level 2k/(num_bins-1) - 1."""
  k = jnp.round((jnp.clip(x, -1.0, 1.0) + 1.0) * (0.5 * (num_bins - 1)))
  return k * (2.0 / (num_bins - 1)) - 1.0


def sample_discretized_logistic_mixture(rng, params, num_mixtures, temperature=1.0,
                                        num_channels=None, num_bins=256):
  """One draw x [B,H,W,C] in [-1,1] on the grid from the per-pixel mixtures.

  params [B,H,W,P]; C is inferred from P (1 or 3) unless ``num_channels`` is given.
  A component m ~ softmax(logits / T) per pixel, then R, G, B in that order:
  x_c = round(clip(mean_{c,m}(x_<c) + T s_{c,m} logit(u))), u ~ U(0,1), each
  channel's mean using the previous channels' already rounded values, which is
  exactly what the density conditions on. Clip-then-round is the edge-bin rule
  (all mass beyond +-1 lands on +-1).

  Temperature T > 0 divides the mixture logits and multiplies the logistic
  scales: T = 1 samples the model exactly, T < 1 sharpens both the choice of
  component and each component (T -> 0: the most likely component's rounded
  mean).
  """
  p = params.shape[-1]
  if num_channels is None:
    num_channels = {3 * num_mixtures: 1, 10 * num_mixtures: 3}.get(p)
    if num_channels is None:
      raise ValueError(f"cannot infer C from {p} params and M={num_mixtures}; pass num_channels.")
  logits, means, log_scales, coeffs = unpack_mixture_params(params, num_channels, num_mixtures)
  k_mix, k_u = jax.random.split(rng)
  comp = jax.random.categorical(k_mix, logits / temperature, axis=-1)      # [B,H,W]
  pick = lambda a: jnp.take_along_axis(a, comp[..., None, None], axis=-1)[..., 0]
  mu, log_s = pick(means), pick(log_scales)                                # [B,H,W,C]
  coef = pick(coeffs)                                                      # [B,H,W,K]
  u = jax.random.uniform(k_u, mu.shape, minval=1e-5, maxval=1.0 - 1e-5)
  noise = temperature * jnp.exp(log_s) * (jnp.log(u) - jnp.log1p(-u))     # logistic draws
  xs = []
  for c in range(num_channels):
    mc = mu[..., c]
    for prev in range(c):
      mc = mc + coef[..., _coeff_index(c, prev)] * xs[prev]
    xs.append(quantize_pm1(mc + noise[..., c], num_bins))
  return jnp.stack(xs, axis=-1)
