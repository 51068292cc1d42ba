"""Differentiable augmentations for data-efficient GAN training: DiffAugment and ADA.

Images are NHWC floats in [-1, 1] (the GAN family's range), so 0 is mid-grey:
zero padding and cutout fill with grey, and contrast / saturation act around
the image or pixel mean. Every function is pure, jittable (``policy`` / ``ops``
are static tuples of names) and differentiable w.r.t. the images, so when D
sees augmented fakes the generator's gradient flows back through the
augmentation (Zhao et al. 2020, sec. 3; Karras et al. 2020, sec. 2).

Random draws are per image. Each op uses its own key, ``fold_in(rng, i)`` with
i its index in DIFFAUGMENT_POLICIES / ADA_OPS, so a subset of ops draws the
same numbers as the full list for the ops they share.
"""
import jax
import jax.numpy as jnp

from genjax.errors import check_choice

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")
ADA_OPS = ("xflip", "rotate90", "xint", "brightness", "contrast", "saturation", "cutout")

DIFF_TRANSLATION_RATIO = 0.125   # Zhao et al. (2020): shift up to 1/8 of the size
CUTOUT_RATIO = 0.5               # both papers: a square of half the image size
ADA_XINT_RATIO = 0.125           # Karras et al. (2020), app. B: integer translation <= 1/8
ADA_BRIGHTNESS_STD = 0.2         # Karras et al. (2020), app. B: b ~ N(0, 0.2^2)
ADA_CONTRAST_STD = 0.5           # c ~ lognormal(0, (0.5 ln 2)^2), in units of ln 2
ADA_SATURATION_STD = 1.0         # s ~ lognormal(0, (ln 2)^2), in units of ln 2
_LN2 = 0.6931471805599453


def _per_image(v):
  """[B] -> [B, 1, 1, 1], to broadcast against NHWC."""
  return v.reshape((-1, 1, 1, 1))


def _check_names(what, names, valid):
  """``names`` (one name or several) as a tuple, each checked against ``valid``."""
  if isinstance(names, str):
    names = (names,)
  return tuple(check_choice(what, name, valid) for name in names)


# ----- parameterised transforms (deterministic given their per-image parameters) -----

def adjust_brightness(x, b):
  """x + b, b: [B] added to every pixel and channel of its image."""
  return x + _per_image(b).astype(x.dtype)


def adjust_saturation(x, s):
  """mean_c + s (x - mean_c), per pixel (mean over channels); identity for 1 channel."""
  m = jnp.mean(x, axis=3, keepdims=True)
  return m + _per_image(s).astype(x.dtype) * (x - m)


def adjust_contrast(x, c):
  """mean + c (x - mean), the mean over the whole image (H, W, C)."""
  m = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return m + _per_image(c).astype(x.dtype) * (x - m)


def translate_zero(x, ty, tx):
  """y[i, j] = x[i - ty, j - tx], zero (grey) where that falls outside; ty, tx: int [B]."""
  _, h, w, _ = x.shape
  rows = jnp.arange(h)[None, :] - ty[:, None]                    # [B, H]
  cols = jnp.arange(w)[None, :] - tx[:, None]                    # [B, W]
  valid = (((rows >= 0) & (rows < h))[:, :, None]
           & ((cols >= 0) & (cols < w))[:, None, :])             # [B, H, W]
  shifted = jax.vmap(lambda im, r, c: im[r][:, c])(
      x, jnp.clip(rows, 0, h - 1), jnp.clip(cols, 0, w - 1))
  return jnp.where(valid[..., None], shifted, jnp.zeros((), x.dtype))


def _reflect(idx, n):
  """Map indices in [-(n-1), 2(n-1)] into [0, n) by mirror reflection (numpy 'reflect')."""
  idx = jnp.abs(idx)
  return jnp.where(idx > n - 1, 2 * (n - 1) - idx, idx)


def translate_reflect(x, ty, tx):
  """y[i, j] = x[i - ty, j - tx] with reflection padding (Karras et al. 2020 pad by reflection).

  |ty| < H and |tx| < W; ty, tx: int [B].
  """
  _, h, w, _ = x.shape
  rows = _reflect(jnp.arange(h)[None, :] - ty[:, None], h)      # [B, H]
  cols = _reflect(jnp.arange(w)[None, :] - tx[:, None], w)      # [B, W]
  return jax.vmap(lambda im, r, c: im[r][:, c])(x, rows, cols)


def cutout_size(h, w):
  """Side lengths of the cutout square: half the size, rounded half up (Zhao et al.'s int(s/2 + .5))."""
  return int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)


def cutout(x, top, left):
  """Zero (grey) the [ch, cw] = cutout_size(H, W) box whose top-left corner is (top, left) [B]."""
  _, h, w, _ = x.shape
  ch, cw = cutout_size(h, w)
  i = jnp.arange(h)[None, :, None]
  j = jnp.arange(w)[None, None, :]
  top, left = top[:, None, None], left[:, None, None]
  inside = (i >= top) & (i < top + ch) & (j >= left) & (j < left + cw)
  return jnp.where(inside[..., None], jnp.zeros((), x.dtype), x)


def _random_cutout(rng, x):
  """A box of half the size, placed uniformly so that it lies wholly inside the image."""
  _, h, w, _ = x.shape
  ch, cw = cutout_size(h, w)
  k1, k2 = jax.random.split(rng)
  top = jax.random.randint(k1, (x.shape[0],), 0, h - ch + 1)
  left = jax.random.randint(k2, (x.shape[0],), 0, w - cw + 1)
  return cutout(x, top, left)


# ----- DiffAugment (Zhao et al. 2020) -----

def rand_brightness(rng, x):
  """Zhao et al. (2020) color: x + b, b ~ U[-0.5, 0.5] per image."""
  return adjust_brightness(x, jax.random.uniform(rng, (x.shape[0],)) - 0.5)


def rand_saturation(rng, x):
  """Zhao et al. (2020) color: saturation factor s ~ U[0, 2] per image."""
  return adjust_saturation(x, 2.0 * jax.random.uniform(rng, (x.shape[0],)))


def rand_contrast(rng, x):
  """Zhao et al. (2020) color: contrast factor c ~ U[0.5, 1.5] per image."""
  return adjust_contrast(x, jax.random.uniform(rng, (x.shape[0],)) + 0.5)


def translation_max_shift(h, w, ratio=DIFF_TRANSLATION_RATIO):
  """Largest integer shift per axis: floor(ratio * size), i.e. never more than 1/8 of it."""
  return int(h * ratio), int(w * ratio)


def rand_translation(rng, x):
  """Zhao et al. (2020) translation: integer (ty, tx) ~ U{-s..s}^2 per image, zero padding."""
  _, h, w, _ = x.shape
  sy, sx = translation_max_shift(h, w)
  k1, k2 = jax.random.split(rng)
  ty = jax.random.randint(k1, (x.shape[0],), -sy, sy + 1)
  tx = jax.random.randint(k2, (x.shape[0],), -sx, sx + 1)
  return translate_zero(x, ty, tx)


def rand_cutout(rng, x):
  """Zhao et al. (2020) cutout: a zeroed square of half the size at a random position.

  Unlike the reference code (whose square may hang over the border), the square
  is always wholly inside the image, so exactly cutout_size(H, W) pixels are masked.
  """
  return _random_cutout(rng, x)


def diffaugment(rng, x, policy=DIFFAUGMENT_POLICIES):
  """DiffAugment (Zhao et al. 2020, sec. 3): apply ``policy``'s ops, in the order given, to x [B,H,W,C].

  'color' = brightness, then saturation, then contrast (the reference order).
  Apply the same function (fresh rng each call) to real and fake images fed to D,
  in both the D and the G step.
  """
  policy = _check_names("DiffAugment policy", policy, DIFFAUGMENT_POLICIES)
  for name in policy:
    key = jax.random.fold_in(rng, DIFFAUGMENT_POLICIES.index(name))
    if name == "color":
      k1, k2, k3 = jax.random.split(key, 3)
      x = rand_contrast(k3, rand_saturation(k2, rand_brightness(k1, x)))
    elif name == "translation":
      x = rand_translation(key, x)
    else:
      x = rand_cutout(key, x)
  return x


# ----- ADA (Karras et al. 2020, "Training GANs with Limited Data") -----
# Each op, when it fires, always changes a generic image (xflip always flips,
# rotate90 turns by 90, 180 or 270 degrees, xint's shift is never (0, 0)), so
# p is exactly the probability that the op acts. (The reference code draws the
# identity among the choices too, e.g. xflip fires with p but flips half of those.)

def _ada_xflip(rng, x):
  del rng
  return x[:, :, ::-1, :]


def _ada_rotate90(rng, x):
  """Counter-clockwise rotation by k * 90 degrees, k ~ U{1, 2, 3}; non-square images: 180 only."""
  _, h, w, _ = x.shape
  r180 = x[:, ::-1, ::-1, :]
  if h != w:
    return r180
  k = jax.random.randint(rng, (x.shape[0],), 1, 4)
  r90 = jnp.rot90(x, 1, axes=(1, 2))
  r270 = jnp.rot90(x, 3, axes=(1, 2))
  k = _per_image(k)
  return jnp.where(k == 1, r90, jnp.where(k == 2, r180, r270))


def _ada_xint(rng, x):
  """Integer translation, (ty, tx) uniform over {-s..s}^2 minus (0, 0), s = floor(size / 8); reflect padding."""
  _, h, w, _ = x.shape
  sy, sx = translation_max_shift(h, w, ADA_XINT_RATIO)
  nx = 2 * sx + 1
  n = (2 * sy + 1) * nx
  if n == 1:
    return x
  centre = sy * nx + sx
  j = jax.random.randint(rng, (x.shape[0],), 0, n - 1)
  j = j + (j >= centre)
  ty, tx = j // nx - sy, j % nx - sx
  return translate_reflect(x, ty, tx)


def _ada_brightness(rng, x):
  return adjust_brightness(x, ADA_BRIGHTNESS_STD * jax.random.normal(rng, (x.shape[0],)))


def _ada_contrast(rng, x):
  """x * c, c ~ lognormal(0, (0.5 ln 2)^2): a scaling about 0, i.e. about mid-grey."""
  c = jnp.exp(ADA_CONTRAST_STD * _LN2 * jax.random.normal(rng, (x.shape[0],)))
  return x * _per_image(c).astype(x.dtype)


def _ada_saturation(rng, x):
  """Scale the chroma (x - channel mean) by s ~ lognormal(0, (ln 2)^2); skipped for 1 channel."""
  if x.shape[3] == 1:
    return x
  s = jnp.exp(ADA_SATURATION_STD * _LN2 * jax.random.normal(rng, (x.shape[0],)))
  return adjust_saturation(x, s)


_ADA_FNS = {
    "xflip": _ada_xflip, "rotate90": _ada_rotate90, "xint": _ada_xint,
    "brightness": _ada_brightness, "contrast": _ada_contrast,
    "saturation": _ada_saturation, "cutout": _random_cutout,
}


def ada_augment(rng, x, p, ops=ADA_OPS):
  """ADA's pipeline on x [B,H,W,C]: each op in ``ops`` fires on each image independently with probability p.

  Karras et al. (2020), sec. 2-3 and app. B. ``p`` may be a traced scalar in [0, 1].
  The ops run in ADA_OPS order (geometric, then colour, then cutout) whatever
  the order of ``ops``. Where an op does not fire the image passes through
  unchanged (``jnp.where``), so p = 0 returns x exactly.
  """
  ops = _check_names("ADA augmentation", ops, ADA_OPS)
  p = jnp.asarray(p, jnp.float32)
  for i, name in enumerate(ADA_OPS):
    if name not in ops:
      continue
    k_fire, k_op = jax.random.split(jax.random.fold_in(rng, i))
    fire = jax.random.uniform(k_fire, (x.shape[0],)) < p
    x = jnp.where(_per_image(fire), _ADA_FNS[name](k_op, x), x)
  return x


def overfitting_heuristic(real_logits):
  """r_t = E[sign(D(x_real))] (Karras et al. 2020 eq. 1): 0 = no overfitting, 1 = complete."""
  return jnp.mean(jnp.sign(jnp.asarray(real_logits, jnp.float32)))


def ada_update(p, rt, target=0.6, batch_size=None, interval=4, speed_kimg=500):
  """One ADA adjustment of p, made every ``interval`` steps of ``batch_size`` images.

  Karras et al. (2020), sec. 3: p moves by sign(r_t - target) times a step
  sized so that p can go from 0 to 1 in ``speed_kimg`` thousand images:
  p += sign(r_t - target) * batch_size * interval / (speed_kimg * 1000),
  clipped to [0, 1) (the largest float32 below 1). ``batch_size`` is the
  global batch (required).
  """
  if batch_size is None:
    raise TypeError("ada_update needs batch_size (the global batch size in images)")
  step = batch_size * interval / (speed_kimg * 1000.0)
  p = jnp.asarray(p, jnp.float32)
  p = p + jnp.sign(jnp.asarray(rt, jnp.float32) - target) * step
  return jnp.clip(p, 0.0, jnp.nextafter(jnp.float32(1.0), jnp.float32(0.0)))
