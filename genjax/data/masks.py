"""Masks for inpainting: random and structured, as preprocessing ops.

Each op is a pure TensorFlow function ``fn(image, seed, *args)`` that reads
only the shape of ``image`` ([H,W,C] or [B,H,W,C]) and returns a float32
mask [...,H,W,1] with 1 on the missing region (the hole the model fills) and
0 on the known pixels (Palette's and LaMa's convention). Random masks are
drawn per example from the stateless ``seed``: the same seed and shape give
the same mask, so a mask drawn for ``image`` and one drawn for ``target``
with the same seed are aligned.

- ``random_pixel_mask(p)``: each pixel missing independently with prob. p.
- ``random_box_mask(min_size, max_size)``: one axis-aligned box, its height
  and width fractions uniform in [min_size, max_size], its position uniform.
- ``centre_box_mask(size)``: the centred box of ``size`` of each side.
- ``half_mask(side)``: the left, right, top or bottom half ('random': one of
  the four per example).
"""
from genjax.data._tf import tf
from genjax.data.transforms import on_batch

HALF_SIDES = ("left", "right", "top", "bottom", "random")


def box_mask(x, top, left, height, width):
  """The mask [B,H,W,1] of x's size, 1 on rows [top, top + height) and
  columns [left, left + width) of each example (int32 [B] each)."""
  shape = tf.shape(x)
  rows = tf.range(shape[1])[None, :, None]
  cols = tf.range(shape[2])[None, None, :]

  def within(coord, start, size):
    return (coord >= start[:, None, None]) & (
        coord < (start + size)[:, None, None])

  inside = within(rows, top, height) & within(cols, left, width)
  return tf.cast(inside, tf.float32)[..., None]


def _sizes(x):
  shape = tf.shape(x)
  return shape[0], shape[1], shape[2]


def _fraction_of(n, fraction):
  """round(n * fraction), at least 1 and at most n (int32)."""
  size = tf.cast(tf.round(tf.cast(n, tf.float32) * fraction), tf.int32)
  return tf.clip_by_value(size, 1, n)


def _uniform_start(n, size, u):
  """A start uniform in {0, ..., n - size} from u ~ U[0,1)."""
  span = tf.cast(n - size + 1, tf.float32)
  return tf.minimum(tf.cast(tf.floor(u * span), tf.int32), n - size)


def random_pixel_mask(image, seed, p=0.5):
  """Each pixel missing (1) independently with probability ``p``."""
  def fn(x):
    b, h, w = _sizes(x)
    u = tf.random.stateless_uniform(tf.stack([b, h, w, 1]), seed)
    return tf.cast(u < p, tf.float32)
  return on_batch(fn, image)


def random_box_mask(image, seed, min_size=0.25, max_size=0.5):
  """One random box per example: height and width fractions uniform in
  [min_size, max_size] (independently), the position uniform."""
  def fn(x):
    b, h, w = _sizes(x)
    u = tf.random.stateless_uniform(tf.stack([b, 4]), seed)
    span = max_size - min_size
    height = _fraction_of(h, min_size + span * u[:, 0])
    width = _fraction_of(w, min_size + span * u[:, 1])
    return box_mask(x, _uniform_start(h, height, u[:, 2]),
                    _uniform_start(w, width, u[:, 3]), height, width)
  return on_batch(fn, image)


def centre_box_mask(image, seed, size=0.5):
  """The centred box of round(size * H) x round(size * W) pixels."""
  del seed

  def fn(x):
    b, h, w = _sizes(x)
    height = tf.fill([b], _fraction_of(h, size))
    width = tf.fill([b], _fraction_of(w, size))
    return box_mask(x, (h - height) // 2, (w - width) // 2, height, width)
  return on_batch(fn, image)


def _half_boxes(h, w):
  """(top, left, height, width) of the left, right, top and bottom halves."""
  return tf.stack([
      tf.stack([0, 0, h, w // 2]),
      tf.stack([0, w - w // 2, h, w // 2]),
      tf.stack([0, 0, h // 2, w]),
      tf.stack([h - h // 2, 0, h // 2, w]),
  ])


def half_mask(image, seed, side="left"):
  """Half the image missing: the ``side`` half ('left', 'right', 'top',
  'bottom'; for odd sizes the smaller half), or one of the four uniformly
  per example with side='random'."""
  def fn(x):
    b, h, w = _sizes(x)
    if side == "random":
      which = tf.random.stateless_uniform([b], seed, 0, 4, dtype=tf.int32)
    else:
      which = tf.fill([b], HALF_SIDES.index(side))
    boxes = tf.gather(_half_boxes(h, w), which)
    return box_mask(x, boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
  return on_batch(fn, image)
