"""Linear degradations y = A x + sigma_y n of image restoration, with their SVDs.

Images x are [B,H,W,C] float32 in [-1, 1]. Two kinds of operator A:

- **separable**: A = Mh (x) Mw (x) Mc, a Kronecker product of dense per-axis
  matrices: y[b,a,c,d] = sum_{h,w,e} Mh[a,h] Mw[c,w] Mc[d,e] x[b,h,w,e].
  The matrices are fixed numpy arrays (static under jit). Identity
  (denoising), average pooling and bicubic downsampling (super-resolution),
  Gaussian blur (deblurring) and the channel mean (colourisation).
- **mask**: A = diag(keep), keep float [B,H,W,1] per example (1 observed,
  0 missing), a traced array; y has x's shape and is zero where missing.
  The data pipeline's masks (genjax/data/masks.py) mark the *missing*
  pixels with 1: ``keep_from_mask`` converts.

The SVD A = U S V^T is the basis of DDRM (Kawar et al. 2022, sec. 3-4) and
of the closed-form data steps of DiffPIR (Zhu et al. 2023). For a separable
operator it is the Kronecker product of the per-axis SVDs M = U_m diag(s_m)
V_m^T (``np.linalg.svd(M, full_matrices=True)``; every factor here is wide or
square). Spectral coordinates x_bar = V^T x keep x's layout [B,H,W,C]: index
(i,j,k) pairs with the singular value s[i,j,k] = sh[i] sw[j] sc[k], zero
beyond the number of rows of an axis (the null space). Measurements in
spectral coordinates, U^T y [B,h',w',c'], sit in the corner of that layout,
zero elsewhere. For a mask, U = V = I and s = keep.

Per-axis singular values below the operator's ``threshold`` count as zero,
as DDRM's ``svd_replacement.py`` does for its deblurring and bicubic
super-resolution (ZERO = 3e-2 on the 1-D factors, before their products are
formed). The SVD functions (``Vt``..``pinv``, ``prox``) then describe the
truncated operator A_thr = U S_thr V^T, while ``apply`` / ``adjoint`` /
``measure`` keep the exact A; with threshold 0 the two agree.
"""
import dataclasses
import functools
import hashlib
import math

import jax
import jax.numpy as jnp
import numpy as np

from genjax.errors import ConfigError, unknown_name

HIGHEST = jax.lax.Precision.HIGHEST


# ---------------------------------------------------------------------------
# Per-axis matrices of the separable operators.

def pool_matrix(n, factor):
  """Block averaging [n // factor, n]: row a averages inputs a*f .. a*f+f-1."""
  m = np.zeros((n // factor, n))
  for a in range(n // factor):
    m[a, a * factor:(a + 1) * factor] = 1.0 / factor
  return m


def bicubic_matrix(n, factor):
  """The matrix [n // factor, n] of ``jax.image.resize(method='cubic',
  antialias=True)`` along one axis: resize is linear, so column j is the
  resized basis vector e_j (resizing axis 0 of the identity does them all)."""
  with jax.ensure_compile_time_eval():
    eye = jnp.eye(n, dtype=jnp.float32)
    m = jax.image.resize(eye, (n // factor, n), method="cubic", antialias=True)
  return np.asarray(m, np.float64)


def reflect_index(i, n):
  """scipy.ndimage's 'reflect' (symmetric) boundary, any distance from the
  edge: ... c b a | a b c ... z | z y x ... (period 2n)."""
  j = i % (2 * n)
  return j if j < n else 2 * n - 1 - j


def gaussian_kernel1d(sigma, radius):
  """exp(-k^2 / (2 sigma^2)) for k = -radius..radius, normalised to sum 1."""
  k = np.arange(-radius, radius + 1, dtype=np.float64)
  g = np.exp(-0.5 * (k / sigma) ** 2)
  return g / g.sum()


def blur_matrix(n, sigma, radius=None):
  """The [n, n] Toeplitz matrix of Gaussian filtering with symmetric
  (reflect) boundary: each row sums to 1, so a constant image stays
  constant. radius defaults to ceil(3 sigma)."""
  radius = math.ceil(3 * sigma) if radius is None else radius
  g = gaussian_kernel1d(sigma, radius)
  m = np.zeros((n, n))
  for i in range(n):
    for k in range(-radius, radius + 1):
      m[i, reflect_index(i + k, n)] += g[k + radius]
  return m


GREY = np.full((1, 3), 1.0 / 3.0)       # colour -> grey: the channel mean


# ---------------------------------------------------------------------------
# Operators as pytrees: static factors, traced keep.

@dataclasses.dataclass(frozen=True, eq=False)
class AxisFactor:
  """One axis M [m, n] (m <= n) of a separable operator and its full SVD
  M = u diag(s[:m]) v^T; s [n] is zero beyond m and below the threshold.
  Compared and hashed by content, so it can be static under jit."""
  matrix: np.ndarray
  u: np.ndarray
  s: np.ndarray
  v: np.ndarray
  digest: str

  def __eq__(self, other):
    return isinstance(other, AxisFactor) and self.digest == other.digest

  def __hash__(self):
    return hash(self.digest)


def axis_factor(matrix, threshold=0.0):
  """The AxisFactor of ``matrix``: per-axis singular values < threshold -> 0
  (DDRM's convention for the 1-D factors)."""
  matrix = np.asarray(matrix, np.float64)
  m, n = matrix.shape
  if m > n:
    raise ValueError(f"a separable factor must be wide or square, got {matrix.shape}")
  u, s, vt = np.linalg.svd(matrix, full_matrices=True)
  s = np.where(s < threshold, 0.0, s)
  s = np.concatenate([s, np.zeros(n - m)])
  digest = hashlib.sha1(matrix.tobytes() + repr((matrix.shape, threshold)).encode())
  return AxisFactor(matrix, u, s, vt.T, digest.hexdigest())


@dataclasses.dataclass(frozen=True)
class Operator:
  """A degradation: ``task``, the image shape (H, W, C) it takes, its
  ``threshold``; ``axes`` (Mh, Mw, Mc) for a separable operator, ``keep``
  [B,H,W,1] (the only traced leaf) for a mask."""
  task: str
  image_hwc: tuple
  threshold: float
  axes: tuple = None
  keep: jax.Array = None


jax.tree_util.register_dataclass(
    Operator, data_fields=["keep"],
    meta_fields=["task", "image_hwc", "threshold", "axes"])


def is_mask(op):
  """A diagonal (mask) operator rather than a separable one."""
  return op.axes is None


def keep_from_mask(mask):
  """The data pipeline's mask (1 = missing) -> keep (1 = observed)."""
  return 1.0 - mask


# ---------------------------------------------------------------------------
# Masks.

def centre_box_keep(shape, size=0.5):
  """Observed everywhere but the centred box of round(size * side) of each
  side (as genjax.data.masks.centre_box_mask)."""
  b, h, w, _ = shape
  bh = min(max(int(np.round(h * size)), 1), h)
  bw = min(max(int(np.round(w * size)), 1), w)
  keep = np.ones((h, w, 1), np.float32)
  keep[(h - bh) // 2:(h - bh) // 2 + bh, (w - bw) // 2:(w - bw) // 2 + bw] = 0
  return jnp.broadcast_to(jnp.asarray(keep), (b, h, w, 1))


def right_half_keep(shape):
  """The right half missing (the smaller half for odd widths, as
  genjax.data.masks.half_mask(side='right'))."""
  b, h, w, _ = shape
  keep = np.ones((h, w, 1), np.float32)
  keep[:, w - w // 2:] = 0
  return jnp.broadcast_to(jnp.asarray(keep), (b, h, w, 1))


def random_keep(shape, rng, p_missing):
  """Each pixel (all its channels) missing independently with p_missing,
  drawn per example from ``rng``."""
  if rng is None:
    raise ConfigError("Task inpaint_random draws its masks at random: pass "
                      "make_operator(..., rng=key).")
  b, h, w, _ = shape
  u = jax.random.uniform(rng, (b, h, w, 1))
  return (u >= p_missing).astype(jnp.float32)


def field_keep(shape, batch):
  """keep = 1 - batch['mask'] (the mask ops' convention: 1 = missing)."""
  if batch is None or "mask" not in batch:
    raise ConfigError(
        "Task inpaint_field reads its mask from the batch field 'mask': pass "
        "make_operator(..., batch=batch) with a batch the data pipeline's mask "
        "ops (genjax/data/masks.py) wrote a 'mask' [B,H,W,1] into.")
  mask = jnp.asarray(batch["mask"], jnp.float32)
  b, h, w, _ = shape
  if tuple(mask.shape) != (b, h, w, 1):
    raise ConfigError(
        f"Task inpaint_field: batch['mask'] has shape {tuple(mask.shape)}, but "
        f"images of shape {tuple(shape)} need a mask of shape {(b, h, w, 1)}.")
  return keep_from_mask(mask)


# ---------------------------------------------------------------------------
# The tasks.

def _divisible(task, h, w, factor):
  if h % factor or w % factor:
    raise ConfigError(
        f"Task {task!r} downsamples by {factor}, but the images are {h}x{w}: "
        f"height and width must be multiples of {factor}. Resize or crop the "
        f"data, or pick a task with another factor.")


def pool_axes(h, w, c, factor, task):
  _divisible(task, h, w, factor)
  return pool_matrix(h, factor), pool_matrix(w, factor), np.eye(c)


def bicubic_axes(h, w, c, factor, task):
  _divisible(task, h, w, factor)
  return bicubic_matrix(h, factor), bicubic_matrix(w, factor), np.eye(c)


def blur_axes(h, w, c, sigma):
  return blur_matrix(h, sigma), blur_matrix(w, sigma), np.eye(c)


def identity_axes(h, w, c):
  return np.eye(h), np.eye(w), np.eye(c)


def grey_axes(h, w, c):
  if c != 3:
    raise ConfigError(
        f"Task 'colourise' turns colour images into grey ones, so it needs 3 "
        f"channels; these images have {c}. Use a colour dataset, or another task.")
  return np.eye(h), np.eye(w), GREY


@dataclasses.dataclass(frozen=True)
class Task:
  """A restoration task: how to build A, the default measurement noise
  sigma_y (on the [-1, 1] scale) and the default per-axis SVD threshold.
  ``axes(h, w, c)`` -> (Mh, Mw, Mc) for separable operators;
  ``keep(shape, batch, rng)`` -> [B,H,W,1] for masks."""
  sigma_y: float
  threshold: float
  axes: object = None
  keep: object = None


INPAINT_RANDOM_P = 0.8         # fraction of pixels missing in inpaint_random
BLUR_SIGMA = 1.5               # deblur's Gaussian, in pixels (for 28x28 data)
DDRM_ZERO = 3e-2               # DDRM's per-axis threshold for blur and bicubic SR

# The tasks (sigma_y on the [-1, 1] scale; threshold on the 1-D factors):
#   inpaint_box     centre box of half of each side missing   sigma_y 0
#   inpaint_half    right half missing                        sigma_y 0
#   inpaint_random  each pixel (all channels) missing with p = 0.8, drawn per
#                   example: hard but well posed on 28x28 (about 157 pixels
#                   left), between the 50% and 90%+ settings of the papers
#   inpaint_field   keep = 1 - batch['mask'] from the data pipeline's mask ops
#   sr2, sr4        bicubic (antialiased) downsampling; threshold 3e-2 as
#                   DDRM's SRConv (on 28x28 no value is that small)
#   sr2_pool, sr4_pool  average pooling (DDRM's SuperResolution): all s = 1/f
#   deblur          Gaussian sigma 1.5, radius ceil(3 sigma) = 5 (an 11-tap
#                   blur that wipes out MNIST's stroke detail), reflect
#                   boundary; threshold 3e-2 as DDRM's Deblurring (12 of 28
#                   per-axis values dropped); sigma_y 0, DDRM's noiseless case
#   denoise         identity, sigma_y 0.2 (PSNR of y about 20 dB at range 2)
#   colourise       the channel mean, only for C = 3

TASKS = {
    "inpaint_box": Task(0.0, 0.0, keep=lambda s, b, r: centre_box_keep(s)),
    "inpaint_half": Task(0.0, 0.0, keep=lambda s, b, r: right_half_keep(s)),
    "inpaint_random": Task(0.0, 0.0, keep=lambda s, b, r: random_keep(
        s, r, INPAINT_RANDOM_P)),
    "inpaint_field": Task(0.0, 0.0, keep=lambda s, b, r: field_keep(s, b)),
    "sr2": Task(0.0, DDRM_ZERO, axes=functools.partial(bicubic_axes, factor=2, task="sr2")),
    "sr4": Task(0.0, DDRM_ZERO, axes=functools.partial(bicubic_axes, factor=4, task="sr4")),
    "sr2_pool": Task(0.0, 0.0, axes=functools.partial(pool_axes, factor=2, task="sr2_pool")),
    "sr4_pool": Task(0.0, 0.0, axes=functools.partial(pool_axes, factor=4, task="sr4_pool")),
    "deblur": Task(0.0, DDRM_ZERO, axes=functools.partial(blur_axes, sigma=BLUR_SIGMA)),
    "denoise": Task(0.2, 0.0, axes=identity_axes),
    "colourise": Task(0.0, 0.0, axes=grey_axes),
}


def _image_shape(image_shape, what):
  if len(image_shape) != 4:
    raise ConfigError(f"{what}: image shapes are [B, H, W, C], got {tuple(image_shape)}.")
  return tuple(int(d) for d in image_shape)


def make_operator(task, image_shape, batch=None, rng=None, threshold=None):
  """The operator of ``task`` (a TASKS name) for images of ``image_shape``
  [B,H,W,C]. Random masks are drawn from ``rng``; inpaint_field reads
  ``batch['mask']``. ``threshold`` (per-axis singular values below it count
  as zero) defaults to the task's."""
  if task not in TASKS:
    raise unknown_name("restoration task", task, TASKS)
  spec = TASKS[task]
  shape = _image_shape(image_shape, f"Task {task!r}")
  threshold = spec.threshold if threshold is None else float(threshold)
  if spec.keep is not None:
    return Operator(task, shape[1:], threshold, keep=spec.keep(shape, batch, rng))
  axes = tuple(axis_factor(m, threshold) for m in spec.axes(*shape[1:]))
  return Operator(task, shape[1:], threshold, axes=axes)


# ---------------------------------------------------------------------------
# A, A^T and measurements.

def _contract(x, mh, mw, mc):
  """y[b,a,c,d] = sum_{h,w,e} mh[a,h] mw[c,w] mc[d,e] x[b,h,w,e]."""
  as_x = lambda m: jnp.asarray(m, x.dtype)
  x = jnp.einsum("ah,bhwe->bawe", as_x(mh), x, precision=HIGHEST)
  x = jnp.einsum("cw,bawe->bace", as_x(mw), x, precision=HIGHEST)
  return jnp.einsum("de,bace->bacd", as_x(mc), x, precision=HIGHEST)


def apply(op, x):
  """A x: [B,H,W,C] -> the measurement shape."""
  if is_mask(op):
    return op.keep * x
  return _contract(x, *(f.matrix for f in op.axes))


def adjoint(op, y):
  """A^T y: the measurement shape -> [B,H,W,C]."""
  if is_mask(op):
    return op.keep * y
  return _contract(y, *(f.matrix.T for f in op.axes))


def measurement_shape(op, image_shape):
  """The shape of A x for x of ``image_shape`` [B,H,W,C]."""
  shape = _image_shape(image_shape, f"Task {op.task!r}")
  if shape[1:] != tuple(op.image_hwc):
    raise ConfigError(
        f"The {op.task!r} operator was built for images of H, W, C = "
        f"{tuple(op.image_hwc)}, not {shape[1:]}: build it with make_operator("
        f"{op.task!r}, image_shape) for these images.")
  if is_mask(op):
    if op.keep.shape[0] != shape[0]:
      raise ConfigError(
          f"The {op.task!r} operator holds masks for {op.keep.shape[0]} images, "
          f"not {shape[0]}: build it for this batch.")
    return shape
  return (shape[0],) + tuple(f.matrix.shape[0] for f in op.axes)


def measure(op, x, sigma_y, rng):
  """y = A x + sigma_y n, n ~ N(0, I); a mask adds noise on observed pixels only."""
  y = apply(op, x)
  noise = jax.random.normal(rng, y.shape, y.dtype)
  if is_mask(op):
    noise = noise * op.keep
  return y + sigma_y * noise


def check_measurement(op, y, image_shape):
  """A ConfigError unless y has the shape the operator gives images of
  ``image_shape``."""
  expected = measurement_shape(op, image_shape)
  if tuple(y.shape) != expected:
    raise ConfigError(
        f"The measurement y has shape {tuple(y.shape)}, but task {op.task!r} "
        f"measures images of shape {tuple(image_shape)} as arrays of shape "
        f"{expected}. Measure the images with degradations.measure(op, x, ...) "
        f"of the same operator, or build the operator for the task and image "
        f"shape the measurements came from.")


# ---------------------------------------------------------------------------
# The SVD A = U S V^T (DDRM, sec. 3-4).

def has_svd(op):
  """Every operator here has an SVD (separable: per-axis; mask: trivial)."""
  del op
  return True


def Vt(op, x):
  """x_bar = V^T x, [B,H,W,C] -> [B,H,W,C] (orthonormal)."""
  if is_mask(op):
    return x
  return _contract(x, *(f.v.T for f in op.axes))


def V(op, x_bar):
  """x = V x_bar, the inverse of Vt."""
  if is_mask(op):
    return x_bar
  return _contract(x_bar, *(f.v for f in op.axes))


def singular_values(op):
  """s, broadcastable to [B,H,W,C], paired with x_bar: s[i,j,k] =
  sh[i] sw[j] sc[k] (after thresholding); a mask's s is keep."""
  if is_mask(op):
    return op.keep
  sh, sw, sc = (f.s for f in op.axes)
  s = sh[:, None, None] * sw[None, :, None] * sc[None, None, :]
  return jnp.asarray(s[None], jnp.float32)


def Ut(op, y):
  """U^T y in x_bar's layout [B,H,W,C]: the [B,h',w',c'] coordinates in the
  corner, zeros beyond (where s = 0). A mask's U is I (y is already zero
  where keep = 0)."""
  if is_mask(op):
    return y
  y_bar = _contract(y, *(f.u.T for f in op.axes))
  pad = [(0, 0)] + [(0, n - m) for n, m in zip(op.image_hwc, y_bar.shape[1:])]
  return jnp.pad(y_bar, pad)


def U(op, y_bar):
  """y = U y_bar for y_bar in x_bar's layout (entries beyond [h',w',c']
  ignored): the inverse of Ut."""
  if is_mask(op):
    return y_bar
  h, w, c = (f.u.shape[0] for f in op.axes)
  return _contract(y_bar[:, :h, :w, :c], *(f.u for f in op.axes))


def pinv(op, y):
  """A^+ y = V S^+ U^T y (of the thresholded operator)."""
  s = singular_values(op)
  y_bar = Ut(op, y)
  return V(op, jnp.where(s > 0, y_bar / jnp.where(s > 0, s, 1.0), 0.0))


def prox(op, y, z, rho):
  """argmin_x ||y - A x||^2 + rho ||x - z||^2 = V (S^T U^T y + rho V^T z) /
  (s^2 + rho): DiffPIR's data step (Zhu et al. 2023, eq. 13) for any A with
  an SVD; rho > 0, a scalar or broadcastable to [B,H,W,C]."""
  s = singular_values(op)
  rho = jnp.asarray(rho, jnp.float32)
  if rho.ndim == 1:
    rho = rho[:, None, None, None]
  return V(op, (s * Ut(op, y) + rho * Vt(op, z)) / (s * s + rho))


# ---------------------------------------------------------------------------
# The classical baseline.

def fill_missing_with_mean(keep, y):
  """Observed pixels kept, missing ones set to the mean of the observed
  pixels of their example and channel (0 if none is observed)."""
  count = jnp.sum(keep, axis=(1, 2, 3), keepdims=True)
  mean = jnp.sum(keep * y, axis=(1, 2), keepdims=True) / jnp.maximum(count, 1.0)
  return keep * y + (1.0 - keep) * mean


def naive(op, y, image_shape):
  """The classical restoration each task is compared with: bicubic
  upsampling for sr*, missing pixels filled with the observed mean for
  inpaint_*, y for denoise, the (truncated-SVD) pseudo-inverse A^+ y for
  deblur, and for colourise the grey image in all three channels (= A^+ y)."""
  check_measurement(op, y, image_shape)
  if is_mask(op):
    return fill_missing_with_mean(op.keep, y)
  if op.task.startswith("sr"):
    return jax.image.resize(y, tuple(image_shape), method="cubic")
  if op.task == "denoise":
    return y
  return pinv(op, y)
