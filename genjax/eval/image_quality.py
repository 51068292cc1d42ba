"""Full-reference image quality: PSNR and SSIM, per example, in JAX.

Images are [B,H,W,C] on any scale; ``data_range`` is its width (2 for images
in [-1, 1], 1 for [0, 1], 255 for 8-bit). Both match scikit-image's
``peak_signal_noise_ratio`` and ``structural_similarity`` with
``channel_axis=-1`` (the tests compare them): SSIM (Wang et al. 2004, eq. 13)
is computed per channel over the window positions that lie wholly inside the
image (skimage crops the filter's radius from its reflect-padded map, which
leaves exactly those) and averaged over positions and channels.
"""

import jax.numpy as jnp
import numpy as np

from genjax.errors import ConfigError

K1, K2 = 0.01, 0.03
SIGMA = 1.5
TRUNCATE = 3.5            # skimage: an 11-tap Gaussian at sigma 1.5
UNIFORM_SIZE = 7          # skimage's default window


def psnr(x, y, data_range):
  """10 log10(data_range^2 / MSE) per example [B] (inf where x == y)."""
  mse = jnp.mean(jnp.square(x.astype(jnp.float32) - y.astype(jnp.float32)), axis=(1, 2, 3))
  return 10.0 * jnp.log10(data_range ** 2 / mse)


def gaussian_window(sigma=SIGMA, truncate=TRUNCATE):
  """scipy.ndimage's Gaussian taps: radius int(truncate sigma + 0.5), normalised."""
  radius = int(truncate * sigma + 0.5)
  k = np.arange(-radius, radius + 1, dtype=np.float64)
  g = np.exp(-0.5 * (k / sigma) ** 2)
  return g / g.sum()


def valid_filter_matrix(n, taps):
  """[n - len(taps) + 1, n]: row i is the window over inputs i .. i + k - 1."""
  k = len(taps)
  m = np.zeros((n - k + 1, n))
  for i in range(n - k + 1):
    m[i, i:i + k] = taps
  return m


def _filter(x, fh, fw):
  """Separable filtering of [B,H,W,C] at the valid window positions."""
  x = jnp.einsum("ih,bhwc->biwc", fh, x, precision="highest")
  return jnp.einsum("jw,biwc->bijc", fw, x, precision="highest")


def _window(gaussian):
  """(taps, covariance normalisation): population covariance for the
  Gaussian window (Wang et al.), the sample one (N / (N - 1)) for skimage's
  default 7x7 uniform window."""
  if gaussian:
    return gaussian_window(), 1.0
  n = UNIFORM_SIZE ** 2
  return np.full(UNIFORM_SIZE, 1.0 / UNIFORM_SIZE), n / (n - 1)


def ssim(x, y, data_range, gaussian=True):
  """Mean SSIM per example [B] of images [B,H,W,C] (Wang et al. 2004, eq. 13;
  K1 = 0.01, K2 = 0.03). gaussian=True: the 11x11 Gaussian window of sigma
  1.5; False: skimage's default 7x7 uniform window with sample covariances."""
  taps, cov_norm = _window(gaussian)
  _, h, w, _ = x.shape
  if min(h, w) < len(taps):
    raise ConfigError(
        f"SSIM's {len(taps)}x{len(taps)} window does not fit images of {h}x{w}: "
        f"compute it on images at least that large (or with gaussian=False, "
        f"a 7x7 window).")
  fh = jnp.asarray(valid_filter_matrix(h, taps), jnp.float32)
  fw = jnp.asarray(valid_filter_matrix(w, taps), jnp.float32)
  x, y = x.astype(jnp.float32), y.astype(jnp.float32)
  mx, my = _filter(x, fh, fw), _filter(y, fh, fw)
  vx = cov_norm * (_filter(x * x, fh, fw) - mx * mx)
  vy = cov_norm * (_filter(y * y, fh, fw) - my * my)
  cxy = cov_norm * (_filter(x * y, fh, fw) - mx * my)
  c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
  s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
  return jnp.mean(s, axis=(1, 2, 3))
