"""Derived fields: named transforms of real images into condition maps.

Each transform is a pure TensorFlow function ``fn(image, seed, *args)`` of an
image [H,W,C] or a batch [B,H,W,C] holding pixel values in [0,255] (uint8,
or float32 before any value op): it works eagerly and inside tf.data, and
``genjax.data.preprocess`` registers it as an op (``"canny(sigma=1.0,
outkey='control')"``). None of them is random; ``seed`` is ignored.

- ``greyscale``: ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B.
- ``gaussian_blur``: a separable Gaussian filter (taps to ``truncate``
  sigmas, normalised to sum 1), borders reflected (scipy's 'reflect').
- ``downsample``: the box (area) average of factor x factor blocks, the
  low-resolution copy of super-resolution, optionally upsampled back.
- ``canny``: Canny's edge detector (Canny 1986): Gaussian smoothing, Sobel
  gradients, non-maximum suppression along the gradient with bilinear
  interpolation, double threshold, and hysteresis (weak edges 8-connected to
  strong ones).
- ``skeleton``: Zhang & Suen's parallel thinning (CACM 27(3), 1984) of the
  foreground (luma / 255 > threshold).
- ``distance_transform``: the exact Euclidean distance of every pixel to
  the nearest foreground pixel, by Felzenszwalb & Huttenlocher's separable
  decomposition (Theory of Computing 8, 2012): a 1-D squared-distance
  transform along the rows, then along the columns.

``greyscale``, ``gaussian_blur`` and ``downsample`` keep the input's dtype
(uint8 is rounded, so a later value op still sees [0,255]); ``canny`` and
``skeleton`` give float32 {0,1} maps, ``distance_transform`` float32
distances in pixels; those three have one channel.
"""
import numpy as np

from genjax.data._tf import tf
from genjax.errors import ConfigError

# ITU-R BT.601 luma weights (R, G, B).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# The Sobel operator: derivative [-1, 0, 1] across, smoothing [1, 2, 1] along.
SOBEL_DERIVATIVE = (-1.0, 0.0, 1.0)
SOBEL_SMOOTHING = (1.0, 2.0, 1.0)
UPSAMPLE_METHODS = (None, "nearest", "bilinear")
# Gradient magnitudes closer than this are a tie in Canny's thinning.
NMS_TIE = 1e-5


# --------------------------------------------------------------------------
# Shared helpers.


def on_batch(fn, image):
  """``fn`` of ``image`` as a float32 batch [B,H,W,C], at ``image``'s rank."""
  if image.shape.rank not in (3, 4):
    raise ConfigError(
        f"Image transforms take an image [H,W,C] or a batch [B,H,W,C]; got "
        f"shape {image.shape}. Apply them to an image key (inkey).")
  x = tf.cast(image, tf.float32)
  if image.shape.rank == 3:
    return fn(x[None])[0]
  return fn(x)


def like_input(out, image):
  """``out`` in ``image``'s dtype: uint8 rounded and clipped, else float32."""
  if image.dtype == tf.uint8:
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)
  return tf.cast(out, tf.float32)


def luma(x):
  """One channel [...,1]: x itself if grey, BT.601 luma if RGB."""
  channels = x.shape[-1]
  if channels == 1:
    return x
  if channels == 3:
    weights = tf.constant(LUMA_WEIGHTS, x.dtype)
    return tf.reduce_sum(x * weights, axis=-1, keepdims=True)
  raise ConfigError(
      f"A greyscale conversion needs 1 or 3 channels, got {channels}; pick "
      "an inkey holding a grey or RGB image.")


def shifted(x, di, dj):
  """x [B,H,W,C] moved so that out[i, j] = x[i + di, j + dj] (0 outside)."""
  h, w = tf.shape(x)[1], tf.shape(x)[2]
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
  return padded[:, 1 + di:1 + di + h, 1 + dj:1 + dj + w]


def foreground(x, threshold):
  """The binary foreground (luma / 255 > threshold) of [0,255] pixels."""
  return luma(x) / 255.0 > threshold


# --------------------------------------------------------------------------
# Linear filters.


def gaussian_kernel(sigma, truncate=4.0):
  """The 1-D Gaussian taps exp(-x^2 / 2 sigma^2), |x| <= int(truncate sigma
  + 0.5) (scipy's radius), normalised to sum 1; float32 numpy."""
  radius = int(truncate * sigma + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  taps = np.exp(-0.5 * (x / sigma) ** 2)
  return (taps / taps.sum()).astype(np.float32)


def separable_filter(x, rows, cols):
  """Correlates x [B,H,W,C] with ``rows`` along H and ``cols`` along W.

  Both kernels have odd length; borders are reflected (d c b a | a b c d,
  tf.pad's SYMMETRIC, scipy's 'reflect'), so the output keeps x's size.
  """
  ri, rj = (len(rows) - 1) // 2, (len(cols) - 1) // 2
  h, w, channels = x.shape[1], x.shape[2], x.shape[3]
  if (h is not None and ri > h) or (w is not None and rj > w):
    raise ConfigError(
        f"A filter of radius {max(ri, rj)} cannot be reflected at the borders "
        f"of a {h}x{w} image; use a smaller sigma (or a larger image).")
  x = tf.pad(x, [[0, 0], [ri, ri], [rj, rj], [0, 0]], mode="SYMMETRIC")
  k_rows = tf.tile(tf.reshape(tf.constant(rows, tf.float32), [-1, 1, 1, 1]),
                   [1, 1, channels, 1])
  k_cols = tf.tile(tf.reshape(tf.constant(cols, tf.float32), [1, -1, 1, 1]),
                   [1, 1, channels, 1])
  x = tf.nn.depthwise_conv2d(x, k_rows, [1, 1, 1, 1], "VALID")
  return tf.nn.depthwise_conv2d(x, k_cols, [1, 1, 1, 1], "VALID")


def gaussian_filter(x, sigma, truncate=4.0):
  """x [B,H,W,C] smoothed by the separable Gaussian of ``sigma`` pixels."""
  taps = gaussian_kernel(sigma, truncate)
  return separable_filter(x, taps, taps)


def sobel(x):
  """The Sobel gradients (d/drow, d/dcol) of x [B,H,W,C], unnormalised."""
  d_rows = separable_filter(x, SOBEL_DERIVATIVE, SOBEL_SMOOTHING)
  d_cols = separable_filter(x, SOBEL_SMOOTHING, SOBEL_DERIVATIVE)
  return d_rows, d_cols


def greyscale(image, seed, channels=1):
  """BT.601 luma (Y = 0.299 R + 0.587 G + 0.114 B), repeated to ``channels``.

  A one-channel image is returned unchanged when ``channels=1``.
  """
  del seed
  if image.shape[-1] == 1 and channels == 1:
    return image
  y = luma(tf.cast(image, tf.float32))
  return like_input(tf.repeat(y, channels, axis=-1), image)


def gaussian_blur(image, seed, sigma, truncate=4.0):
  """Gaussian blur of ``sigma`` pixels (taps to ``truncate`` sigmas, sum 1)."""
  del seed
  out = on_batch(lambda x: gaussian_filter(x, sigma, truncate), image)
  return like_input(out, image)


def _upsample(low, factor, method, size):
  if method == "nearest":
    return tf.repeat(tf.repeat(low, factor, axis=1), factor, axis=2)
  return tf.image.resize(low, size, method="bilinear")


def _box_average(x, factor):
  """The mean of each factor x factor block of x [B,H,W,C]."""
  h, w = x.shape[1], x.shape[2]
  if (h is not None and h % factor) or (w is not None and w % factor):
    raise ConfigError(
        f"downsample({factor}) needs the image size to be a multiple of "
        f"{factor}, got {h}x{w}; resize first or pick another factor.")
  shape = tf.shape(x)
  blocks = tf.reshape(x, [shape[0], shape[1] // factor, factor,
                          shape[2] // factor, factor, shape[3]])
  return tf.reduce_mean(blocks, axis=[2, 4])


def downsample(image, seed, factor, upsample=None):
  """The low-resolution copy: box averages of factor x factor blocks.

  ``upsample`` ('nearest': each pixel repeated; 'bilinear') brings it back
  to the input's size (a degraded image for restoration); None keeps it
  small ([H/factor, W/factor, C]).
  """
  del seed

  def fn(x):
    low = _box_average(x, factor)
    if upsample is None:
      return low
    return _upsample(low, factor, upsample, tf.shape(x)[1:3])

  return like_input(on_batch(fn, image), image)


# --------------------------------------------------------------------------
# Canny edges.


def _neighbour_at(views, di, dj):
  """x[i + di, j + dj] for per-pixel offsets di, dj in {-1, 0, 1} (int32),
  from the 9 views ``shifted(x, k // 3 - 1, k % 3 - 1)``."""
  index = (di + 1) * 3 + (dj + 1)
  return tf.add_n([tf.where(tf.equal(index, k), view, 0.0)
                   for k, view in enumerate(views)])


def nonmaximum_suppression(magnitude, d_rows, d_cols, tie=NMS_TIE):
  """Canny's thinning: True where the magnitude is a maximum along the
  gradient, comparing with the magnitude one pixel forward and one back.

  Off-grid points are interpolated between the two nearest of the 8
  neighbours: with |d_rows| >= |d_cols| between the vertical and the
  diagonal neighbour with weight w = |d_cols| / |d_rows| on the diagonal
  (and the other way round). Magnitudes within ``tie`` of each other are
  equal, and a tie goes to the pixel ahead (on the brighter side), so a
  symmetric step gives a 1-pixel edge whatever the float rounding.
  """
  ai, aj = tf.abs(d_rows), tf.abs(d_cols)
  rows_major = ai >= aj
  si = tf.where(d_rows < 0, -1, 1)
  sj = tf.where(d_cols < 0, -1, 1)
  big, small = tf.maximum(ai, aj), tf.minimum(ai, aj)
  w = tf.math.divide_no_nan(small, big)
  pi, pj = tf.where(rows_major, si, 0), tf.where(rows_major, 0, sj)
  views = [shifted(magnitude, k // 3 - 1, k % 3 - 1) for k in range(9)]

  def interpolated(sign):
    diagonal = _neighbour_at(views, sign * si, sign * sj)
    primary = _neighbour_at(views, sign * pi, sign * pj)
    return w * diagonal + (1.0 - w) * primary

  return ((magnitude > interpolated(1) + tie)
          & (magnitude >= interpolated(-1) - tie))


def _interior(x):
  """True off the 1-pixel border of x [B,H,W,C] (unreliable gradients)."""
  return tf.pad(tf.ones_like(x, tf.bool)[:, 1:-1, 1:-1],
                [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=False)


def _dilate8(mask):
  """Pixels with a True pixel among themselves and their 8 neighbours."""
  pooled = tf.nn.max_pool2d(tf.cast(mask, tf.float32), 3, 1, "SAME")
  return pooled > 0


def hysteresis(weak, strong):
  """The weak pixels 8-connected (through weak pixels) to a strong one."""
  def grow(edges, previous):
    del previous
    return weak & _dilate8(edges), edges

  def changing(edges, previous):
    return tf.reduce_any(tf.not_equal(edges, previous))

  edges, _ = tf.while_loop(changing, grow, grow(strong & weak, strong))
  return edges


def canny(image, seed, sigma=1.0, low=0.1, high=0.2):
  """Canny edges (1986) of the luma, as float32 {0,1} [...,H,W,1].

  The luma / 255 is smoothed by a Gaussian of ``sigma``; gradient
  magnitudes (Sobel) that survive non-maximum suppression are weak edges
  above ``low`` and strong above ``high`` (scikit-image's scale: 0.1 and
  0.2 are its defaults for 8-bit images); edges are the weak pixels
  connected to strong ones. The 1-pixel border has no edges.
  """
  del seed

  def fn(x):
    smooth = gaussian_filter(luma(x) / 255.0, sigma)
    d_rows, d_cols = sobel(smooth)
    magnitude = tf.sqrt(d_rows * d_rows + d_cols * d_cols)
    peaks = (nonmaximum_suppression(magnitude, d_rows, d_cols)
             & _interior(magnitude))
    weak = peaks & (magnitude >= low)
    return tf.cast(hysteresis(weak, weak & (magnitude >= high)), tf.float32)

  return on_batch(fn, image)


# --------------------------------------------------------------------------
# Skeleton (Zhang-Suen thinning).

# P2..P9 of Zhang & Suen: north, then clockwise.
_CLOCKWISE = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1),
              (-1, -1))


def _zhang_suen_deletable(b, first):
  """Pixels of b (float {0,1}) that a Zhang-Suen subiteration deletes.

  With P2..P9 the 8 neighbours: 2 <= B(P1) <= 6 neighbours set, A(P1) = 1
  (one 0 -> 1 transition around P2, P3, ..., P9, P2), and P2 P4 P6 = 0 and
  P4 P6 P8 = 0 in the first subiteration (P2 P4 P8 = 0 and P2 P6 P8 = 0 in
  the second).
  """
  p = [shifted(b, di, dj) for di, dj in _CLOCKWISE]  # p[k] is P(k+2)
  count = tf.add_n(p)
  transitions = tf.add_n([(1.0 - p[k]) * p[(k + 1) % 8] for k in range(8)])
  if first:
    zero_a, zero_b = p[0] * p[2] * p[4], p[2] * p[4] * p[6]
  else:
    zero_a, zero_b = p[0] * p[2] * p[6], p[0] * p[4] * p[6]
  return ((b > 0) & (count >= 2) & (count <= 6) & tf.equal(transitions, 1.0)
          & tf.equal(zero_a, 0.0) & tf.equal(zero_b, 0.0))


def zhang_suen_thinning(b):
  """Thins b [B,H,W,1] (float {0,1}) until neither subiteration deletes."""
  def step(current, previous):
    del previous
    thinned = current
    for first in (True, False):
      thinned = tf.where(_zhang_suen_deletable(thinned, first), 0.0, thinned)
    return thinned, current

  def changing(current, previous):
    return tf.reduce_any(tf.not_equal(current, previous))

  out, _ = tf.while_loop(changing, step, step(b, b))
  return out


def skeleton(image, seed, threshold=0.5):
  """Zhang-Suen skeleton of the foreground (luma / 255 > threshold), as
  float32 {0,1} [...,H,W,1]."""
  del seed
  return on_batch(
      lambda x: zhang_suen_thinning(
          tf.cast(foreground(x, threshold), tf.float32)), image)


# --------------------------------------------------------------------------
# Euclidean distance transform.


def squared_distance_1d(f, axis):
  """The 1-D squared-distance transform min_k f[k] + (i - k)^2 along ``axis``
  (1: rows, 2: columns) of f [B,H,W,C], by direct minimisation: exact, with
  O(B H W n) time and memory for n = H or W (the lower-envelope pass of
  Felzenszwalb & Huttenlocher is O(B H W) and worth it for large images)."""
  n = tf.shape(f)[axis]
  i = tf.range(n, dtype=tf.float32)
  d2 = tf.square(i[:, None] - i[None, :])  # [i, k]
  if axis == 1:
    return tf.reduce_min(f[:, None] + d2[None, :, :, None, None], axis=2)
  return tf.reduce_min(f[:, :, None] + d2[None, None, :, :, None], axis=3)


def distance_transform(image, seed, threshold=0.5, normalize=False):
  """The Euclidean distance (pixels) from every pixel to the nearest
  foreground pixel (luma / 255 > threshold): 0 on the foreground.

  Float32 [...,H,W,1]. An image without foreground gets sqrt(H^2 + W^2)
  everywhere (more than any real distance); ``normalize=True`` divides by
  that, giving values in [0, 1].
  """
  del seed

  def fn(x):
    shape = tf.cast(tf.shape(x), tf.float32)
    far = tf.square(shape[1]) + tf.square(shape[2])
    f = tf.where(foreground(x, threshold), 0.0, far)
    d2 = squared_distance_1d(squared_distance_1d(f, 1), 2)
    distance = tf.sqrt(tf.minimum(d2, far))
    # rsqrt: what graph mode rewrites x / sqrt(y) to, so eager is the same.
    return distance * tf.math.rsqrt(far) if normalize else distance

  return on_batch(fn, image)
