"""Captions written from real labels and attributes measured on the image.

No captioned dataset is reachable offline, so for text-conditional models a
caption is written per example from its real label and a few attributes
measured on the image itself (docs/data.md, "Captions and tokens").

Attributes: pure TensorFlow functions of an image [H,W,C] or a batch
[B,H,W,C] (C = 1, or 3: BT.601 luma) holding pixel values in [0,255], uint8
or float. They work eagerly (also on numpy arrays: a batch of generated
samples, scaled to [0,255]) and inside tf.data, and give a float32 value per
image ([] or [B]; ``ink_box`` and ``position``: [2] or [B,2]). The ink is
luma / 255 in [0,1]; a blank image gives 0 everywhere, never NaN. Rows go
down and columns right.

- ``stroke_thickness``: ink mass / stroke length, in pixels. The mass is
  the sum of the ink; the length is the pixel count of the Zhang-Suen
  skeleton of the ink > 0.5 (``transforms.zhang_suen_thinning``) plus the
  thickness t itself, which thinning eats off the ends: t = mass / (length
  + t). A filled bar of width w >= 2 gives exactly w (the plain ratio mass /
  skeleton gives w L / (L - w)).
- ``slant``: the shear of the ink distribution from its second central
  moments, -mu_rc / mu_rr = the columns the ink moves right per row *up*
  (tan of the angle from the vertical; 0 for a blank or one-row image).
  Positive: the top leans right, like "/"; negative: like "\\".
- ``ink_box``: (height, width) in pixels of the bounding box of the ink
  pixels above ``FOREGROUND``; ``size``: that box's area as a fraction of
  the image (the size word uses it: the box's *height* alone is 20 px for
  over 3/4 of every MNIST class, which MNIST normalises to a 20x20 box, and
  28 px for 7 of the 10 Fashion-MNIST classes).
- ``position``: the ink centroid minus the image centre ((H-1)/2, (W-1)/2),
  (row, col) in pixels: positive row is below the centre, positive col right.
- ``brightness``: the mean ink (luma / 255) of the pixels above
  ``FOREGROUND``.

Words. ``attribute_levels`` discretises them with the thresholds of
``THRESHOLDS`` (``compute_thresholds`` on the training sets): a level 0
(low), 1 (middle: no word, or "upright") or 2 (high); position 0 (centred),
1 top, 2 bottom, 3 left, 4 right. ``write_captions`` turns a label and
levels into a caption through templates and synonyms chosen with a
stateless seed; ``caption`` is the preprocessing op ``"caption(...)"`` and
``tokenize_caption`` the op ``"tokenize(max_tokens=16)"``.
"""
import functools
import string

import numpy as np

from genjax.data import tokenizer
from genjax.data import transforms
from genjax.data._tf import tf
from genjax.errors import ConfigError

DATASETS = ("mnist", "fashion_mnist")
PHRASINGS = ("train", "heldout")
# Ink pixels: the skeleton's threshold on luma / 255 (transforms' default),
# and the one of the bounding box and of brightness.
SKELETON_THRESHOLD = 0.5
FOREGROUND = 0.1

# --------------------------------------------------------------------------
# Attributes.


def _ink(image):
  """luma / 255 of an image or a batch, as a float32 batch [B,H,W,1]."""
  x = tf.convert_to_tensor(image)
  if x.shape.rank not in (3, 4) or x.shape[-1] not in (1, 3):
    raise ConfigError(
        f"Caption attributes take an image [H,W,C] or a batch [B,H,W,C] with "
        f"1 or 3 channels of [0,255] pixels; got shape {x.shape}. Use the "
        "image key as the inkey (and samples in [0,1] times 255).")
  x = transforms.luma(tf.cast(x, tf.float32)) / 255.0
  return x[None] if x.shape.rank == 3 else x


def _per_image(fn, image):
  """``fn`` of the ink batch, at the image's rank (one value per image)."""
  out = fn(_ink(image))
  return out[0] if tf.convert_to_tensor(image).shape.rank == 3 else out


def _total(x):
  return tf.reduce_sum(x, axis=[1, 2, 3])


def _thickness(ink):
  bones = transforms.zhang_suen_thinning(
      tf.cast(ink > SKELETON_THRESHOLD, tf.float32))
  mass, length = _total(ink), _total(bones)
  # t = mass / (length + t): the positive root of t^2 + length t - mass.
  root = 0.5 * (tf.sqrt(length * length + 4.0 * mass) - length)
  return tf.where(length > 0, root, 0.0)


def stroke_thickness(image):
  """Ink mass / stroke length, in pixels: t = mass / (skeleton + t).

  Thinning eats about one stroke width off the length (half at each end of
  a bar), so the length is the skeleton's pixel count plus t; a filled w x L
  bar (w >= 2) gives exactly w. 0 where the skeleton is empty (no ink above
  SKELETON_THRESHOLD).
  """
  return _per_image(_thickness, image)


def _coordinates(ink):
  """Row and column indices, broadcastable against ink [B,H,W,1]."""
  shape = tf.shape(ink)
  rows = tf.cast(tf.range(shape[1]), tf.float32)[None, :, None, None]
  cols = tf.cast(tf.range(shape[2]), tf.float32)[None, None, :, None]
  return rows, cols


def _centroid(ink):
  """The ink-weighted mean (row, col) [B] each; 0 for a blank image."""
  rows, cols = _coordinates(ink)
  mass = _total(ink)
  return (tf.math.divide_no_nan(_total(ink * rows), mass),
          tf.math.divide_no_nan(_total(ink * cols), mass))


def _slant(ink):
  rows, cols = _coordinates(ink)
  mean_row, mean_col = _centroid(ink)
  dr = rows - mean_row[:, None, None, None]
  dc = cols - mean_col[:, None, None, None]
  # Rows go down, so a top leaning right has mu_rc < 0: the minus sign
  # (0 - x: an upright image gives 0, not -0).
  return 0.0 - tf.math.divide_no_nan(_total(ink * dr * dc),
                                     _total(ink * dr * dr))


def slant(image):
  """The shear -mu_rc / mu_rr: columns right per row up (> 0: like '/')."""
  return _per_image(_slant, image)


def _extent(mask, axis):
  """The number of rows (axis 1) or columns (2) from the first to the last
  holding a True pixel of mask [B,H,W,1]; 0 where none."""
  n = tf.shape(mask)[axis]
  hit = tf.reduce_any(mask, axis=[3 - axis, 3])
  index = tf.range(n)[None]
  first = tf.reduce_min(tf.where(hit, index, n), axis=1)
  last = tf.reduce_max(tf.where(hit, index, -1), axis=1)
  return tf.cast(tf.maximum(last - first + 1, 0), tf.float32)


def _box(ink):
  on = ink > FOREGROUND
  return tf.stack([_extent(on, 1), _extent(on, 2)], axis=-1)


def ink_box(image):
  """(height, width) in pixels of the box of the pixels above FOREGROUND."""
  return _per_image(_box, image)


def _size(ink):
  box = _box(ink)
  pixels = tf.cast(tf.shape(ink)[1] * tf.shape(ink)[2], tf.float32)
  return box[:, 0] * box[:, 1] / pixels


def size(image):
  """The ink's bounding-box area as a fraction of the image, in [0,1]."""
  return _per_image(_size, image)


def _position(ink):
  mean_row, mean_col = _centroid(ink)
  shape = tf.cast(tf.shape(ink), tf.float32)
  offset = tf.stack([mean_row - (shape[1] - 1) / 2,
                     mean_col - (shape[2] - 1) / 2], axis=-1)
  return tf.where((_total(ink) > 0)[:, None], offset, 0.0)


def position(image):
  """The ink centroid minus the image centre, (row, col) in pixels."""
  return _per_image(_position, image)


def _brightness(ink):
  on = tf.cast(ink > FOREGROUND, tf.float32)
  return tf.math.divide_no_nan(_total(ink * on), _total(on))


def brightness(image):
  """The mean luma / 255 of the ink pixels (those above FOREGROUND)."""
  return _per_image(_brightness, image)


# Each dataset's attributes: the digits' strokes, the garments' tone.
ATTRIBUTES = {
    "mnist": ("size", "thickness", "slant", "position"),
    "fashion_mnist": ("size", "brightness", "position"),
}
_MEASURES = {"thickness": _thickness, "slant": _slant, "size": _size,
             "position": _position, "brightness": _brightness}


def _measure_ink(ink, dataset):
  return {name: _MEASURES[name](ink) for name in ATTRIBUTES[dataset]}


def measure(image, dataset="mnist"):
  """The dataset's attributes (``ATTRIBUTES``) of an image or a batch:
  name -> values ([] or [B]; position [2] or [B,2])."""
  check_dataset(dataset)
  values = _measure_ink(_ink(image), dataset)
  if tf.convert_to_tensor(image).shape.rank == 3:
    return {name: v[0] for name, v in values.items()}
  return values


# --------------------------------------------------------------------------
# Thresholds.

# Magnitudes (thickness, size, brightness) are relative to the class ("thick
# for a seven"): the class's quartiles. Directions (slant, position) are
# absolute: the quantiles of the whole training set, widened to straddle 0
# by at least a visible margin.
RELATIVE = ("thickness", "size", "brightness")
QUANTILES = (0.25, 0.75)
POSITION_QUANTILES = (0.1, 0.9)
MIN_SLANT = 0.1        # |shear| below this is upright (about 6 degrees)
MIN_OFFSET = 1.5       # pixels; MNIST is centred by centre of mass to < 1 px
NUM_CLASSES = 10

# (low, high) per class 0..9, or one pair for every class (slant, row, col:
# the position's axes). Values below low get the low word, above high the
# high word. Computed by compute_thresholds(images, labels, dataset) on the
# full training sets, 60,000 images each (genjax.data.sources'
# load_mnist_arrays / load_fashion_mnist_arrays), rounded outwards to 4
# decimals.
THRESHOLDS = {
    "mnist": {
        "size": (  # classes 0..9
            (0.4081, 0.4847), (0.153, 0.3062), (0.4081, 0.5103),
            (0.3571, 0.4592), (0.3571, 0.4592), (0.3826, 0.4847),
            (0.3316, 0.4337), (0.3571, 0.4592), (0.3571, 0.4592),
            (0.3061, 0.4082),
        ),
        "thickness": (  # classes 0..9
            (2.2299, 3.158), (2.2026, 3.2778), (2.2032, 3.1963),
            (2.2233, 3.0595), (2.0981, 2.9372), (2.0275, 2.7986),
            (2.0854, 2.9326), (2.2234, 3.1305), (1.9176, 2.5895),
            (1.9758, 2.6371),
        ),
        "slant": (-0.1, 0.2933),
        "row": (-1.5, 1.5),
        "col": (-1.5, 1.5),
    },
    "fashion_mnist": {
        "size": (  # classes 0..9
            (0.7232, 0.8572), (0.3928, 0.4286), (0.7142, 0.7858),
            (0.4285, 0.6072), (0.6785, 0.7858), (0.3928, 0.75),
            (0.7142, 0.8215), (0.4132, 0.5358), (0.6428, 0.8929),
            (0.6428, 0.8572),
        ),
        "brightness": (  # classes 0..9
            (0.4566, 0.7616), (0.5922, 0.7758), (0.457, 0.7792),
            (0.5439, 0.7918), (0.6028, 0.7903), (0.4457, 0.6033),
            (0.4031, 0.7354), (0.5007, 0.6596), (0.5793, 0.7488),
            (0.6301, 0.7585),
        ),
        "row": (-1.5, 2.5005),
        "col": (-1.5, 3.1322),
    },
}


def compute_thresholds(images, labels, dataset, batch_size=2000):
  """The ``THRESHOLDS`` entry of ``dataset`` from training images and labels.

  images: uint8 [N,H,W,1]; labels: ints in 0..9. Returns name -> a tuple
  of 10 (low, high) pairs (RELATIVE attributes, per class) or one pair.
  """
  labels = np.asarray(labels)
  values = {}
  for start in range(0, len(images), batch_size):
    for name, v in measure(images[start:start + batch_size], dataset).items():
      values.setdefault(name, []).append(np.asarray(v))
  values = {k: np.concatenate(v) for k, v in values.items()}
  table = {}
  for name in ATTRIBUTES[dataset]:
    if name in RELATIVE:
      table[name] = tuple(
          _rounded(np.quantile(values[name][labels == c], QUANTILES))
          for c in range(NUM_CLASSES))
    elif name == "slant":
      table[name] = _straddling(values[name], QUANTILES, MIN_SLANT)
    else:
      for axis, key in enumerate(("row", "col")):
        table[key] = _straddling(values[name][:, axis], POSITION_QUANTILES,
                                 MIN_OFFSET)
  return table


def _rounded(pair):
  """(low, high) to 4 decimals, outwards: a value tied with a quantile (box
  areas are multiples of 1/(H W)) stays in the middle."""
  low, high = pair
  return (float(np.floor(low * 1e4) / 1e4), float(np.ceil(high * 1e4) / 1e4))


def _straddling(values, quantiles, margin):
  low, high = np.quantile(values, quantiles)
  return _rounded((min(low, -margin), max(high, margin)))


def _bounds(dataset, key, label):
  """(low, high) [B] each of ``key`` for int labels [B]."""
  pairs = np.broadcast_to(np.asarray(THRESHOLDS[dataset][key], np.float32),
                          (NUM_CLASSES, 2))
  rows = tf.gather(tf.constant(pairs), label)
  return rows[:, 0], rows[:, 1]


def _three_levels(value, low, high):
  return tf.where(value < low, 0, tf.where(value > high, 2, 1))


def _position_level(offset, dataset, label):
  """0 centred, else 1 + the side (top, bottom, left, right) the furthest
  past its threshold."""
  row_low, row_high = _bounds(dataset, "row", label)
  col_low, col_high = _bounds(dataset, "col", label)
  row, col = offset[:, 0], offset[:, 1]
  beyond = tf.stack([row_low - row, row - row_high, col_low - col,
                     col - col_high], axis=-1)
  side = tf.argmax(beyond, axis=-1, output_type=tf.int32)
  return tf.where(tf.reduce_max(beyond, axis=-1) > 0, side + 1, 0)


def levels_of(values, label, dataset="mnist"):
  """Attribute values (``measure`` of a batch) and labels [B] -> name ->
  int32 levels [B]: 0 low, 1 middle, 2 high; position 0 centred, 1 top, 2
  bottom, 3 left, 4 right (``LEVEL_NAMES``)."""
  label = tf.cast(label, tf.int32)
  out = {}
  for name, value in values.items():
    if name == "position":
      out[name] = _position_level(value, dataset, label)
    else:
      out[name] = _three_levels(value, *_bounds(dataset, name, label))
  return out


def attribute_levels(image, label, dataset="mnist"):
  """The attribute levels of images [B,H,W,C] with labels [B] (or one
  image [H,W,C] and a scalar label): name -> int32 [B] (or [])."""
  check_dataset(dataset)
  single = tf.convert_to_tensor(image).shape.rank == 3
  label = tf.reshape(tf.convert_to_tensor(label), [-1])
  out = levels_of(_measure_ink(_ink(image), dataset), label, dataset)
  return {k: v[0] for k, v in out.items()} if single else out


LEVEL_NAMES = {
    "thickness": ("thin", "medium", "thick"),
    "slant": ("left", "upright", "right"),
    "size": ("small", "medium", "large"),
    "brightness": ("dark", "medium", "bright"),
    "position": ("centred", "top", "bottom", "left", "right"),
}


# --------------------------------------------------------------------------
# Words, templates and the captions.

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven",
               "eight", "nine")
FASHION_NAMES = ("T-shirt/top", "trouser", "pullover", "dress", "coat",
                 "sandal", "shirt", "sneaker", "bag", "ankle boot")

# attribute -> phrasings -> where ('pre': before the name, 'post': after it,
# after a comma) -> one tuple of synonyms per level (LEVEL_NAMES' order).
# An empty tuple: no word at that level (or no such placement).
PHRASES = {
    "thickness": {
        "train": {
            "pre": (("thin", "light", "fine"), (), ("thick", "bold", "heavy")),
            "post": (("with thin strokes", "written thinly"), (),
                     ("with thick strokes", "written boldly")),
        },
        "heldout": {
            "pre": (("slender",), (), ("chunky",)),
            "post": (("in fine lines",), (), ("in heavy lines",)),
        },
    },
    "slant": {
        "train": {
            "pre": (("left-leaning",), ("upright",), ("right-leaning",)),
            "post": (("leaning left", "slanted left"), ("standing upright",),
                     ("leaning right", "slanted right")),
        },
        "heldout": {
            "pre": (("left-tilted",), ("vertical",), ("right-tilted",)),
            "post": (("tilted left",), ("standing straight",),
                     ("tilted right",)),
        },
    },
    "size": {
        "train": {"pre": (("small", "little"), (), ("large", "big"))},
        "heldout": {"pre": (("tiny",), (), ("huge",))},
    },
    "brightness": {
        "train": {"pre": (("dark", "dim"), (), ("bright", "pale"))},
        "heldout": {"pre": (("shadowy",), (), ("luminous",))},
    },
    "position": {
        "train": {"post": (("centred", "in the centre"),
                           ("near the top", "at the top"),
                           ("near the bottom", "at the bottom"),
                           ("to the left", "on the left"),
                           ("to the right", "on the right"))},
        "heldout": {"post": (("in the middle",), ("high up",), ("low down",),
                             ("left of centre",), ("right of centre",))},
    },
}

# {pre}: the adjectives; {name}: the class name; {num}: the digit as a
# numeral; {post}: ", phrase, phrase"; {post_}: the same without the first
# comma. The held-out templates are never used with phrasings='train'.
TEMPLATES = {
    ("mnist", "train"): (
        "a {pre} handwritten {name}{post}",
        "the {pre} digit {num}{post}",
        "a {pre} {num}{post_}",
        "a {pre} {name}{post_}",
        "{pre} digit {name}{post}",
    ),
    ("mnist", "heldout"): (
        "an image of a {pre} {name}{post}",
        "a {pre} {num} drawn by hand{post}",
        "the {pre} numeral {num}{post_}",
    ),
    ("fashion_mnist", "train"): (
        "a {pre} {name}{post}",
        "a photo of a {pre} {name}{post}",
        "the {pre} {name}{post}",
        "{pre} {name}{post}",
    ),
    ("fashion_mnist", "heldout"): (
        "an image of a {pre} {name}{post}",
        "a picture of a {pre} {name}{post_}",
    ),
}

# Attribute combinations held out of phrasings='train': (attribute, level,
# attribute, level, labels). With 'train' the second word is dropped when
# both would be written for one of the labels; 'heldout' writes both.
HELDOUT_COMBINATIONS = {
    "mnist": (("thickness", 2, "slant", 0, (1, 4, 7)),     # thick, left
              ("size", 0, "slant", 2, (0, 3))),            # small, right
    "fashion_mnist": (("brightness", 0, "size", 2, (4, 8)),  # dark, large
                      ("brightness", 2, "size", 0, (7,))),   # bright, small
}
INCLUDE_P = 0.5        # each attribute's chance to be written
NEUTRAL_P = 0.25       # ... at its neutral level ("upright", "centred")
MAX_ATTRIBUTES = 2     # at most this many words per caption (keeps it short)
# Cleanups of the joined text (RE2 patterns): spaces, commas, articles.
_CLEANUPS = ((r" +", " "), (r"^ | $", ""), (r" ,", ","),
             (r"\ba ([aeiouAEIOU8])", r"an \1"), (r"\ban one\b", "a one"))


def check_dataset(dataset, phrasings="train"):
  """Raises a ConfigError unless captions are written for ``dataset`` and
  ``phrasings`` is one of PHRASINGS."""
  if dataset not in DATASETS:
    raise ConfigError(
        f"Captions are written for the datasets {DATASETS}, not {dataset!r}; "
        "pass dataset='mnist' or dataset='fashion_mnist'.")
  if phrasings not in PHRASINGS:
    raise ConfigError(
        f"Caption phrasings are {PHRASINGS}, not {phrasings!r}; pass "
        "phrasings='train' (training) or 'heldout' (held-out evaluation).")


def _class_names(dataset):
  return DIGIT_NAMES if dataset == "mnist" else FASHION_NAMES


class _Table:
  """Synonyms of one attribute, phrasing and placement, gathered by level."""

  def __init__(self, synonyms):
    flat = [w for level in synonyms for w in level] + [""]
    self.words = tf.constant(flat)
    self.starts = tf.constant(np.cumsum([0] + [len(s) for s in synonyms])[:-1],
                              tf.int32)
    self.counts = tf.constant([len(s) for s in synonyms], tf.int32)
    self.sentinel = len(flat) - 1

  def has(self, level):
    return tf.gather(self.counts, level) > 0

  def pick(self, level, u):
    """A synonym at ``level`` chosen with u in [0,1), '' if there is none."""
    count = tf.gather(self.counts, level)
    offset = tf.minimum(tf.cast(u * tf.cast(count, tf.float32), tf.int32),
                        tf.maximum(count - 1, 0))
    index = tf.where(count > 0, tf.gather(self.starts, level) + offset,
                     self.sentinel)
    return tf.gather(self.words, index)


def _tables(dataset, phrasings):
  """attribute -> {'pre': _Table, 'post': _Table} (empty ones for missing)."""
  out = {}
  for name in ATTRIBUTES[dataset]:
    phrases = PHRASES[name][phrasings]
    n = len(LEVEL_NAMES[name])
    out[name] = {where: _Table(phrases.get(where, ((),) * n))
                 for where in ("pre", "post")}
  return out


def _neutral_level(name):
  """The level that says nothing unusual: the middle, or position's centred."""
  return 0 if name == "position" else 1


def _rank_below(u, candidate):
  """For each column: how many candidate columns have a smaller u."""
  smaller = (u[:, None, :] < u[:, :, None]) & candidate[:, None, :]
  return tf.reduce_sum(tf.cast(smaller, tf.int32), axis=-1)


def _chosen(tables, levels, u_include):
  """attribute -> bool [B]: written (random subset, at most MAX_ATTRIBUTES)."""
  names = list(tables)
  has = tf.stack([tables[n]["pre"].has(levels[n])
                  | tables[n]["post"].has(levels[n]) for n in names], -1)
  neutral = tf.stack([tf.equal(levels[n], _neutral_level(n)) for n in names],
                     -1)
  candidate = has & (u_include < tf.where(neutral, NEUTRAL_P, INCLUDE_P))
  keep = candidate & (_rank_below(u_include, candidate) < MAX_ATTRIBUTES)
  return {n: keep[:, i] for i, n in enumerate(names)}


def _without_heldout_combinations(chosen, levels, label, dataset):
  """phrasings='train': drops the second word of a held-out combination."""
  out = dict(chosen)
  for first, level_a, second, level_b, labels in HELDOUT_COMBINATIONS[dataset]:
    in_labels = tf.reduce_any(
        tf.equal(label[:, None], tf.constant(labels, tf.int32)), axis=-1)
    both = (out[first] & out[second] & tf.equal(levels[first], level_a)
            & tf.equal(levels[second], level_b) & in_labels)
    out[second] = out[second] & ~both
  return out


def _fill(template, fields):
  """The template with its fields, a tf.string [B]."""
  parts = []
  for literal, field, _, _ in string.Formatter().parse(template):
    parts.append(literal)
    if field is not None:
      parts.append(fields[field])
  return tf.strings.join(parts)


def _words(tables, levels, chosen, u_place, u_word):
  """The adjectives before the name and the ', phrase' list after it."""
  pre, post = [], []
  for i, name in enumerate(tables):
    level = levels[name]
    pre_table, post_table = tables[name]["pre"], tables[name]["post"]
    before = pre_table.has(level) & (~post_table.has(level)
                                     | (u_place[:, i] < 0.5))
    pre_word = pre_table.pick(level, u_word[:, i])
    post_word = post_table.pick(level, u_word[:, i])
    pre.append(tf.where(chosen[name] & before, pre_word + " ", ""))
    post.append(tf.where(chosen[name] & ~before, ", " + post_word, ""))
  return tf.strings.join(pre), tf.strings.join(post)


def write_captions(label, levels, seed, dataset="mnist", phrasings="train"):
  """Captions tf.string [B] from int labels [B] and ``levels`` (name ->
  int32 [B], ``levels_of``), with the stateless ``seed`` (shape [2])."""
  check_dataset(dataset, phrasings)
  label = tf.cast(label, tf.int32)
  tables = _tables(dataset, phrasings)
  templates = TEMPLATES[(dataset, phrasings)]
  n = len(tables)
  u = tf.random.stateless_uniform(tf.stack([tf.size(label), 1 + 3 * n]),
                                  seed)
  chosen = _chosen(tables, levels, u[:, 1:1 + n])
  if phrasings == "train":
    chosen = _without_heldout_combinations(chosen, levels, label, dataset)
  pre, post = _words(tables, levels, chosen, u[:, 1 + n:1 + 2 * n],
                     u[:, 1 + 2 * n:])
  fields = {"pre": pre, "post": post,
            "post_": tf.strings.regex_replace(post, "^, ", " "),
            "name": tf.gather(tf.constant(_class_names(dataset)), label),
            "num": tf.strings.as_string(label)}
  filled = tf.stack([_fill(t, fields) for t in templates], axis=-1)
  pick = tf.minimum(tf.cast(u[:, 0] * len(templates), tf.int32),
                    len(templates) - 1)
  text = tf.gather(filled, pick, batch_dims=1)
  for pattern, rewrite in _CLEANUPS:
    text = tf.strings.regex_replace(text, pattern, rewrite)
  return text


def caption(example, seed, dataset="mnist", phrasings="train"):
  """The op ``"caption(dataset='mnist', phrasings='train')"``: a caption
  (tf.string [] or [B]) of ``example['image']`` ([0,255] pixels, [H,W,C]
  or [B,H,W,C]) and ``example['label']``, naming the class and a random
  subset of the measured attributes' words; deterministic given ``seed``."""
  check_dataset(dataset, phrasings)
  image = tf.convert_to_tensor(example["image"])
  label = example["label"]
  single = image.shape.rank == 3
  label = tf.reshape(tf.cast(label, tf.int32), [-1])
  text = _caption_graph(dataset, phrasings)(image, label, seed)
  return text[0] if single else text


@functools.lru_cache(maxsize=None)
def _caption_graph(dataset, phrasings):
  """captions(image, label [B], seed) as one tf.function per (dataset,
  phrasings): traced once per input signature in this process and called
  from every pipeline that maps the op (each tf.data ``map`` would otherwise
  trace the thinning loop, thresholds and templates anew)."""
  def captions_of(image, label, seed):
    levels = levels_of(_measure_ink(_ink(image), dataset), label, dataset)
    return write_captions(label, levels, seed, dataset, phrasings)
  return tf.function(captions_of, autograph=False)


def tokenize_caption(text, seed, max_tokens=16):
  """The op ``"tokenize(max_tokens=16)"``: captions (tf.string, any shape)
  -> all-MiniLM-L6-v2 token ids int32 [..., max_tokens] ([CLS] ... [SEP],
  then 0), by ``genjax.data.tokenizer.tokenize`` in ``tf.numpy_function``."""
  del seed
  text = tf.convert_to_tensor(text)
  flat = tf.reshape(text, [-1])
  ids = tf.numpy_function(
      lambda t: tokenizer.tokenize(list(t), max_tokens), [flat], tf.int32,
      stateful=False)
  out = tf.reshape(ids, tf.concat([tf.shape(text), [max_tokens]], axis=0))
  out.set_shape(text.shape.concatenate([max_tokens]))
  return out
