"""Typeset digits rendered from the machine's fonts: the ``font_digits`` source.

The second domain of unpaired MNIST <-> typeset-digit translation: the digits
0-9 of every installed font that draws them, framed as MNIST frames its
handwritten digits, white on black, uint8 28x28, label = the digit.

1. **Fonts.** Every ``.ttf`` / ``.otf`` file under ``/usr/share/fonts`` (or
   the directories of ``$GENJAX_FONT_DIRS``, separated by ``:``), in path
   order. Each file is one weight and style of one family.
2. **Excluded fonts** (``FontDigitSet.excluded`` says which and why): a file
   FreeType cannot draw at 96 px (bitmap-only fonts such as colour emoji); a
   font whose digits draw no ink (no glyphs for them); a font whose ten
   digits are not ten different glyphs (a font without digit glyphs draws its
   one ``.notdef`` box for each: most script fonts); a font whose framed
   digits repeat an earlier kept file's (mean |difference| < 2 of 255: the
   Latin digits many script fonts copy from their family's main font); a
   font of which fewer than 6 framed digits correlate best with their own
   digit's mean over all these fonts (symbol and dingbat fonts, which draw
   ten distinct pictures).
3. **Variants** per font and digit (``VARIANTS``): drawn at 28 px per em
   (small, hinted type, ~20 px tall) and at 96 px per em, plain or thickened
   by an outline of 2 or 4 px; each drawing rotated by ``ANGLES_PER_VARIANT``
   angles drawn uniformly from [-10, 10] degrees by a generator seeded with
   the font's file name, so a font's images do not depend on which other
   fonts are installed. 10 digits x 4 drawings x 3 angles = 120 images a font.
4. **MNIST's framing** (LeCun et al. 1998, and the MNIST page: "size
   normalized to fit in a 20x20 pixel box while preserving their aspect ratio
   [...] centered in a 28x28 image by computing the center of mass of the
   pixels, and translating the image so as to position this point at the
   center"): the glyph's ink box is area-resampled so that its longer side is
   20 px, then pasted into the 28x28 frame at the integer offset that puts its
   centre of mass nearest to pixel (14, 14). The offline MNIST's centres of
   mass are at (14.00, 14.01) +- 0.29 (rows, cols; pixel indices), and the ink
   box's longer side is 20 px for 99.98% of its digits.
5. **Split by design**: a typeface is the first two words of the family name
   ("Noto Sans Display" and "Noto Sans Arabic" are "Noto Sans"; "DejaVu Sans
   Mono" is "DejaVu Sans"), and typefaces whose fonts draw nearly the same
   digits (mean |difference| < 5 of 255, e.g. Noto Kufi Arabic's Latin
   digits and Noto Sans's, DejaVu Math TeX Gyre's and DejaVu Serif's) are one
   design. Different designs differ by 6 or more (Liberation Mono and
   Liberation Sans: 6.1; most pairs 9 or more). In the order of the SHA-256
   of their names, designs go to 'test' until it holds 20% of the fonts, so
   the test split measures generalisation to unseen typefaces.

With Debian bookworm's fonts-dejavu-core, fonts-noto-core, fonts-liberation2
and fonts-urw-base35, 117 of 338 files are kept (20 typefaces, 18 designs):
91 fonts (10,920 images) in 'train', 26 (3,120) in 'test'. With DejaVu alone,
22 fonts: 13 (1,560) train, 9 (1,080) test, and a warning.

The set is rendered once per process (cached); the tfds builder writes it to
disk once, with the list of fonts it used in its metadata.
"""
import collections
import functools
import hashlib
import os
import pathlib
import warnings

import numpy as np

from genjax.errors import DataError

FONT_DIRS_ENV = "GENJAX_FONT_DIRS"
DEFAULT_FONT_DIRS = ("/usr/share/fonts",)
FONT_SUFFIXES = (".otf", ".ttf")
MORE_FONTS = ("fonts-noto-core", "fonts-liberation2", "fonts-urw-base35")
FONT_INSTALL = "apt-get install fonts-dejavu-core " + " ".join(MORE_FONTS)
MIN_TYPEFACES = 8  # fewer: a warning that names MORE_FONTS

DIGITS = "0123456789"
# (px per em, outline px) of each drawing: at 28 px per em a digit is drawn
# ~20 px tall (small, hinted type); at 96 it is smooth and is thickened by an
# outline of 2 or 4 px (~1 or ~2 px of stroke width once framed).
VARIANTS = ((28, 0), (96, 0), (96, 2), (96, 4))
BASE_EM = 96
ANGLES_PER_VARIANT = 3
MAX_ANGLE = 10.0              # degrees
SEED = 0
FRAME, BOX, CENTRE = 28, 20, 14.0  # MNIST's frame, ink box and centre of mass
TEST_FRACTION = 0.2
# Distances between two fonts' framed digits: the mean |difference| (of 255).
DUPLICATE_LEVELS = 2.0    # below: the same digits (the later file is dropped)
SAME_DESIGN_LEVELS = 5.0  # below: one design (the two share a split)
MIN_RECOGNISED = 6        # of the ten digits, nearest to their own template

Font = collections.namedtuple("Font",
                              "path family style typeface design split")
Font.__doc__ = """One kept font file: its names, its typeface (the family's
first two words), its design (the typefaces whose digits are alike, named by
the one with the most fonts) and its split, 'train' or 'test'."""

FontDigitSet = collections.namedtuple(
    "FontDigitSet", "images labels font_index fonts excluded")
FontDigitSet.__doc__ = """The rendered digits.

images: uint8 [N,28,28,1], white on black. labels: int64 [N], the digits.
font_index: int64 [N], each image's index into ``fonts``.
fonts: tuple of Font, the kept files in path order.
excluded: tuple of (path, reason) of the files not kept.
"""


# --------------------------------------------------------------------------
# Finding the fonts.


def font_dirs():
  """``$GENJAX_FONT_DIRS`` (separated by ``:``) or ``/usr/share/fonts``."""
  value = os.environ.get(FONT_DIRS_ENV)
  dirs = value.split(os.pathsep) if value else DEFAULT_FONT_DIRS
  return tuple(pathlib.Path(d) for d in dirs if d)


def font_files(dirs):
  """The font files under ``dirs``, sorted; a DataError when there are none."""
  files = sorted({p for d in dirs if d.is_dir() for p in d.rglob("*")
                  if p.suffix.lower() in FONT_SUFFIXES and p.is_file()})
  if not files:
    raise DataError(
        "The offline font_digits source is missing: there is no font file "
        f"({', '.join(FONT_SUFFIXES)}) under {', '.join(map(str, dirs))}. "
        f"Install Debian's fonts with `{FONT_INSTALL}` (as root), or point "
        f"${FONT_DIRS_ENV} at directories holding TrueType/OpenType fonts.")
  return files


def typeface(family):
  """The first two words of a family name: the design a split keeps whole."""
  return " ".join(family.split()[:2])


# --------------------------------------------------------------------------
# Drawing and framing one digit.


def open_font(path, em):
  """A Pillow font at ``em`` px per em, or the reason it cannot be drawn."""
  from PIL import ImageFont
  try:
    return ImageFont.truetype(str(path), em)
  except OSError as e:
    return f"FreeType cannot draw it at {em} px ({e}): a bitmap-only font"


def draw_glyph(font, char, stroke=0):
  """uint8 [H,W]: ``char`` in white on black, with a ``stroke`` px outline."""
  from PIL import Image, ImageDraw
  left, top, right, bottom = font.getbbox(char, stroke_width=stroke)
  pad = 2
  canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad))
  ImageDraw.Draw(canvas).text((pad - left, pad - top), char, font=font,
                              fill=255, stroke_width=stroke, stroke_fill=255)
  return np.asarray(canvas)


def rotate(glyph, degrees):
  """The glyph turned counter-clockwise (bicubic), its canvas enlarged."""
  from PIL import Image
  turned = Image.fromarray(glyph).rotate(
      degrees, resample=Image.Resampling.BICUBIC, expand=True)
  return np.asarray(turned)


def ink_box(image):
  """The smallest crop of ``image`` holding all its nonzero pixels."""
  rows = np.flatnonzero(image.any(axis=1))
  cols = np.flatnonzero(image.any(axis=0))
  return image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def fit_box(image, box=BOX):
  """Area-resampled so that the longer side is ``box`` px, aspect kept."""
  from PIL import Image
  h, w = image.shape
  scale = box / max(h, w)
  size = (max(1, round(w * scale)), max(1, round(h * scale)))
  return np.asarray(Image.fromarray(image).resize(
      size, resample=Image.Resampling.BOX))


def centre_of_mass(image):
  """(row, col) of the pixel-value-weighted mean of the pixel indices."""
  mass = image.astype(np.float64)
  total = mass.sum()
  rows = mass.sum(axis=1) @ np.arange(image.shape[0]) / total
  cols = mass.sum(axis=0) @ np.arange(image.shape[1]) / total
  return rows, cols


def paste_centred(image, frame=FRAME, centre=CENTRE):
  """``image`` in a black frame, its centre of mass nearest to ``centre``.

  The offset is an integer (no resampling); it is clipped so that the whole
  image stays inside the frame.
  """
  out = np.zeros((frame, frame), np.uint8)
  h, w = image.shape
  com = centre_of_mass(image)
  top, left = (int(np.clip(np.floor(centre - c + 0.5), 0, frame - n))
               for c, n in zip(com, (h, w)))
  out[top:top + h, left:left + w] = image
  return out


def mnist_frame(glyph):
  """uint8 [28,28]: a white-on-black glyph framed as MNIST frames digits."""
  return paste_centred(fit_box(ink_box(glyph)))


# --------------------------------------------------------------------------
# Which fonts draw real digits.


def digit_problem(glyphs):
  """Why ten drawn digits are not real digits, or None when they are."""
  blank = [d for d, g in zip(DIGITS, glyphs) if not g.any()]
  if blank:
    return f"the digits {''.join(blank)} draw no ink (no glyphs for them)"
  distinct = len({(g.shape, g.tobytes()) for g in glyphs})
  if distinct < len(DIGITS):
    return (f"the ten digits draw only {distinct} different glyph(s) (a font "
            "without digit glyphs draws its .notdef box for each)")
  return None


def base_digits(path):
  """uint8 [10,28,28]: the framed digits at BASE_EM px per em, neither
  thickened nor rotated; or the reason the font is excluded."""
  font = open_font(path, BASE_EM)
  if isinstance(font, str):
    return font
  try:
    glyphs = [draw_glyph(font, d) for d in DIGITS]
  except OSError as e:  # e.g. a broken hinting program
    return f"FreeType fails to draw its digits ({e})"
  problem = digit_problem(glyphs)
  if problem:
    return problem
  return np.stack([mnist_frame(g) for g in glyphs])


def digit_distance(a, b):
  """Mean absolute difference (of 255) of two fonts' framed digits."""
  return float(np.abs(a.astype(np.int16) - b).mean())


def duplicate_of(framed, kept):
  """The first kept path whose digits ``framed`` repeats (a distance below
  DUPLICATE_LEVELS), or None. ``kept``: [(path, framed)]."""
  for path, other in kept:
    if digit_distance(framed, other) < DUPLICATE_LEVELS:
      return path
  return None


def _standardised(images):
  flat = images.reshape(*images.shape[:-2], -1).astype(np.float64)
  flat = flat - flat.mean(axis=-1, keepdims=True)
  return flat / np.linalg.norm(flat, axis=-1, keepdims=True)


def recognised_digits(framed, templates):
  """How many of a font's ten framed digits correlate best (Pearson) with
  their own digit's template [10,28,28] among the ten."""
  scores = _standardised(framed) @ _standardised(templates).T
  return int((scores.argmax(axis=1) == np.arange(len(DIGITS))).sum())


def _distinct_digit_fonts(paths):
  """[(path, framed)] of the fonts that draw ten distinct digits, without
  repeats, and the excluded [(path, reason)]."""
  candidates, excluded = [], []
  for path in paths:
    framed = base_digits(path)
    if isinstance(framed, str):
      excluded.append((path, framed))
      continue
    original = duplicate_of(framed, candidates)
    if original is not None:
      excluded.append((path, f"the same digits as {original.name}"))
      continue
    candidates.append((path, framed))
  return candidates, excluded


def select_fonts(paths):
  """([(path, framed digits)] of the kept fonts, ((path, reason), ...) of
  the excluded ones), both in path order.

  A font is kept when its digits are distinct glyphs, not a repeat of an
  earlier font's, and at least MIN_RECOGNISED of them correlate best with
  their own digit's mean over all these fonts (a symbol or dingbat font
  maps the digits to ten distinct pictures, which fail this).
  """
  candidates, excluded = _distinct_digit_fonts(paths)
  if not candidates:
    return [], tuple(excluded)
  templates = np.mean([f for _, f in candidates], axis=0)
  kept = []
  for path, framed in candidates:
    n = recognised_digits(framed, templates)
    if n < MIN_RECOGNISED:
      excluded.append((path, f"only {n} of its ten digits look like digits "
                       "(a symbol or dingbat font)"))
    else:
      kept.append((path, framed))
  return kept, tuple(sorted(excluded))


# --------------------------------------------------------------------------
# Variants of the kept fonts.


def font_angles(path, seed=SEED):
  """float64 [10, len(VARIANTS), ANGLES_PER_VARIANT] degrees,
  uniform in [-MAX_ANGLE, MAX_ANGLE], seeded by ``seed`` and the file name."""
  digest = hashlib.sha256(f"{seed}:{path.name}".encode()).digest()
  rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
  shape = (len(DIGITS), len(VARIANTS), ANGLES_PER_VARIANT)
  return rng.uniform(-MAX_ANGLE, MAX_ANGLE, shape)


def render_font(path, seed=SEED):
  """uint8 [10 * V, 28, 28] and their labels: every variant of every digit.

  Digit-major: each digit's V = len(VARIANTS) * ANGLES_PER_VARIANT images,
  in the order of VARIANTS, each rotated by its angles.
  """
  angles = font_angles(path, seed)
  fonts = {em: open_font(path, em) for em in sorted({em for em, _ in VARIANTS})}
  images, labels = [], []
  for digit, char in enumerate(DIGITS):
    for i, (em, stroke) in enumerate(VARIANTS):
      glyph = draw_glyph(fonts[em], char, stroke)
      for angle in angles[digit, i]:
        images.append(mnist_frame(rotate(glyph, angle)))
        labels.append(digit)
  return np.stack(images), np.array(labels, np.int64)


# --------------------------------------------------------------------------
# Typefaces, designs and the split.


def font_names(path):
  """(family, style) as the font names them."""
  from PIL import ImageFont
  return ImageFont.truetype(str(path), BASE_EM).getname()


def design_groups(typefaces, framed):
  """{typeface: design} for the fonts' typefaces [F] and framed digits [F]:
  typefaces are joined (single linkage) when two of their fonts' digits are
  nearer than SAME_DESIGN_LEVELS. A design is named by its typeface with
  the most fonts (the first in sorted order on a tie)."""
  parent = {t: t for t in typefaces}

  def root(t):
    while parent[t] != t:
      t = parent[t]
    return t

  for i, a in enumerate(framed):
    for j in range(i):
      if digit_distance(a, framed[j]) < SAME_DESIGN_LEVELS:
        parent[root(typefaces[i])] = root(typefaces[j])
  count = collections.Counter(typefaces)
  name = {}
  for t in sorted(count, key=lambda t: (-count[t], t)):
    name.setdefault(root(t), t)
  return {t: name[root(t)] for t in count}


def held_out_designs(design_of_font, fraction=TEST_FRACTION):
  """The test designs, given each font's design: in the order of the
  SHA-256 of their names, designs are held out until they hold at least
  ``fraction`` of the fonts; at least one design stays in 'train'."""
  count = collections.Counter(design_of_font)
  ranked = sorted(count, key=lambda d: hashlib.sha256(d.encode()).hexdigest())
  held_out, fonts = set(), 0
  for design in ranked[:-1]:
    held_out.add(design)
    fonts += count[design]
    if fonts >= fraction * len(design_of_font):
      break
  return frozenset(held_out)


def warn_if_few(typefaces):
  """Warns, naming MORE_FONTS, when fewer than MIN_TYPEFACES are installed."""
  if len(typefaces) < MIN_TYPEFACES:
    warnings.warn(
        f"font_digits: only {len(typefaces)} typefaces draw the digits here "
        f"({', '.join(sorted(typefaces))}), so the set is small and its test "
        f"split has few fonts. Install more with `apt-get install "
        f"{' '.join(MORE_FONTS)}` (as root; scripts/setup.sh does), then "
        "delete the prepared copy (the folder font_digits in $GENJAX_DATA_DIR "
        "or ~/.cache/genjax/tfds) to render it again.")


def split_fonts(kept):
  """A Font per kept (path, framed): 'test' for the held-out designs."""
  names = [font_names(p) for p, _ in kept]
  faces = [typeface(family) for family, _ in names]
  warn_if_few(set(faces))
  design = design_groups(faces, [f for _, f in kept])
  if len(set(design.values())) < 2:
    raise DataError(
        "font_digits needs at least two typeface designs, one per split, but "
        f"the fonts that draw the digits here are of one design "
        f"({', '.join(sorted(set(faces)))}). Install more with "
        f"`{FONT_INSTALL}` (as root), or add directories to ${FONT_DIRS_ENV}.")
  test = held_out_designs([design[f] for f in faces])
  return tuple(
      Font(p, family, style, face, design[face],
           "test" if design[face] in test else "train")
      for (p, _), (family, style), face in zip(kept, names, faces))


def render_fonts(paths, seed=SEED):
  """The FontDigitSet of the given font files (uncached)."""
  kept, excluded = select_fonts(paths)
  if not kept:
    raise DataError(
        f"None of the {len(paths)} font files draws the ten digits (e.g. "
        f"{excluded[0][0].name}: {excluded[0][1]}). Install fonts that do "
        f"with `{FONT_INSTALL}` (as root).")
  fonts = split_fonts(kept)
  parts = [render_font(f.path, seed) for f in fonts]
  images = np.concatenate([x for x, _ in parts])[..., None]
  labels = np.concatenate([y for _, y in parts])
  font_index = np.repeat(np.arange(len(fonts)), [len(y) for _, y in parts])
  return FontDigitSet(images, labels, font_index, fonts, excluded)


# --------------------------------------------------------------------------
# The cached set, its splits and its manifest.


@functools.lru_cache(maxsize=None)
def _load(paths):
  digit_set = render_fonts(list(paths))
  for a in (digit_set.images, digit_set.labels, digit_set.font_index):
    a.flags.writeable = False
  return digit_set


def load_font_digits():
  """The FontDigitSet of the installed fonts (rendered once per process)."""
  return _load(tuple(font_files(font_dirs())))


def splits_of(digit_set):
  """``{'train': (images, labels), 'test': (images, labels)}``, read-only."""
  split = np.array([f.split for f in digit_set.fonts])[digit_set.font_index]
  out = {s: (digit_set.images[split == s], digit_set.labels[split == s])
         for s in ("train", "test")}
  for arrays in out.values():
    for a in arrays:
      a.flags.writeable = False
  return out


@functools.lru_cache(maxsize=None)
def _splits(paths):
  return splits_of(_load(paths))


def load_font_digits_arrays():
  """``{'train': (images, labels), 'test': (images, labels)}`` of the
  installed fonts: uint8 [N,28,28,1], int64 [N] in 0..9; 'test' holds the
  held-out designs."""
  return _splits(tuple(font_files(font_dirs())))


def manifest(digit_set):
  """What the set was made of, as JSON-able values: the kept fonts (file,
  family, style, typeface, split, images), the excluded ones and why, and
  the rendering parameters."""
  counts = np.bincount(digit_set.font_index, minlength=len(digit_set.fonts))
  return {
      "fonts": [dict(file=str(f.path), family=f.family, style=f.style,
                     typeface=f.typeface, design=f.design, split=f.split,
                     images=int(n))
                for f, n in zip(digit_set.fonts, counts)],
      "excluded": [dict(file=str(p), reason=r) for p, r in digit_set.excluded],
      "rendering": dict(variants=[list(v) for v in VARIANTS],
                        angles_per_variant=ANGLES_PER_VARIANT,
                        max_angle=MAX_ANGLE, seed=SEED, frame=FRAME, box=BOX,
                        centre=CENTRE, test_fraction=TEST_FRACTION),
  }
