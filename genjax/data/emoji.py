"""Colour emoji rendered from Noto Color Emoji: the ``emoji32``/``emoji64`` sources.

Debian's ``fonts-noto-color-emoji`` installs ``NotoColorEmoji.ttf``, whose
glyphs are colour bitmaps of 136x128 pixels at its one bitmap size (109 px).
Every emoji the font draws is rendered here with Pillow:

1. The strings: each codepoint of the font's character map, and each
   sequence of its ligature substitutions (GSUB LookupType 4: skin tones,
   ZWJ families and professions, flags, keycaps), spelt back into codepoints
   through the character map. Sorted by codepoints, so the order is fixed.
2. Each string is drawn with ``embedded_color=True`` and raqm's text layout
   (which applies the ligatures) straight onto a white 136x128 RGB canvas,
   which composites the glyph's alpha over white.
3. Dropped: strings raqm cannot lay out, strings that do not shape into a
   single glyph (their advance is wider than one glyph), blank renders (no
   pixel differs from white), and renders with ink outside the central
   128 columns (none in version 2.042). The rest is cropped to those
   central 128x128 pixels, and only the first of identical renders (by
   SHA-256 of the 128x128 pixels) is kept.
4. Each kept render is averaged over 2x2 blocks (64x64) or 4x4 blocks
   (32x32), rounded half up to uint8: an exact area downsampling.

Every 10th kept emoji (index 9, 19, ...) is the 'test' split, the others
'train'. With Debian bookworm's font (2.042) 3,916 of 5,472 strings are kept:
3,525 train, 391 test. The result is cached in-process; the tfds builders
write it to disk once.
"""
import collections
import functools
import hashlib
import os
import pathlib

import numpy as np

from genjax.errors import DataError

FONT_ENV = "GENJAX_EMOJI_FONT"
FONT_DEFAULT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
FONT_INSTALL = "apt-get install fonts-noto-color-emoji"
RAQM_INSTALL = "apt-get install libfribidi0"

FONT_SIZE = 109            # the font's only bitmap strike
GLYPH_BOX = (136, 128)     # (width, height) of its bitmaps at that size
CROP_COLUMNS = (4, 132)    # the central 128 of the 136 columns
SIZES = (32, 64)
TEST_EVERY = 10            # index % 10 == 9 -> 'test'
_LIGATURE_LOOKUP, _EXTENSION_LOOKUP = 4, 7

EmojiSet = collections.namedtuple("EmojiSet", "sequences images dropped")
EmojiSet.__doc__ = """The rendered emoji.

sequences: tuple of codepoint tuples, one per kept emoji, in order.
images: {size: uint8 [N,size,size,3]} for each size in SIZES.
dropped: {reason: count} of the strings not kept.
"""


# --------------------------------------------------------------------------
# The font and its strings.


def font_path():
  """``$GENJAX_EMOJI_FONT`` or Debian's NotoColorEmoji.ttf, checked to exist."""
  path = pathlib.Path(os.environ.get(FONT_ENV) or FONT_DEFAULT)
  if not path.is_file():
    raise DataError(
        f"The offline emoji source is missing: there is no font file {path}. "
        f"Install Debian's colour emoji font with `{FONT_INSTALL}` (as root), "
        f"or point ${FONT_ENV} at a NotoColorEmoji.ttf.")
  return path


def check_raqm():
  from PIL import features
  if not features.check("raqm"):
    raise DataError(
        "Rendering the emoji needs Pillow's raqm text layout (it applies the "
        "font's ligatures: skin tones, flags, ZWJ sequences), which is not "
        f"available here: Pillow's wheels load it with libfribidi, so install "
        f"that with `{RAQM_INSTALL}` (as root).")


def _ligature_subtables(gsub):
  for lookup in gsub.table.LookupList.Lookup:
    for sub in lookup.SubTable:
      kind = lookup.LookupType
      if kind == _EXTENSION_LOOKUP:
        kind, sub = sub.ExtensionLookupType, sub.ExtSubTable
      if kind == _LIGATURE_LOOKUP:
        yield sub


def _ligature_sequences(gsub, codepoint_of):
  """The glyph sequences of the ligatures, as codepoint tuples."""
  for sub in _ligature_subtables(gsub):
    for first, ligatures in sub.ligatures.items():
      for ligature in ligatures:
        glyphs = (first, *ligature.Component)
        if all(g in codepoint_of for g in glyphs):
          yield tuple(codepoint_of[g] for g in glyphs)


def font_sequences(path):
  """Every string the font maps to a glyph, as sorted codepoint tuples."""
  from fontTools.ttLib import TTFont
  font = TTFont(str(path), lazy=True)
  cmap = font.getBestCmap()
  codepoint_of = {}
  for codepoint in sorted(cmap, reverse=True):  # the smallest one wins
    codepoint_of[cmap[codepoint]] = codepoint
  sequences = {(c,) for c in cmap}
  if "GSUB" in font:
    sequences.update(_ligature_sequences(font["GSUB"], codepoint_of))
  return tuple(sorted(sequences))


# --------------------------------------------------------------------------
# Rendering.


def load_font(path):
  from PIL import ImageFont
  check_raqm()
  return ImageFont.truetype(str(path), FONT_SIZE,
                            layout_engine=ImageFont.Layout.RAQM)


def _glyph_render(font, text):
  """uint8 [128,136,3] on white, or a reason string when the text is dropped."""
  from PIL import Image, ImageDraw
  try:
    advance = font.getlength(text)
  except RuntimeError:  # raqm_layout() failed (e.g. a lone control character)
    return "layout"
  if advance > 1.5 * GLYPH_BOX[0]:
    return "not one glyph"
  canvas = Image.new("RGB", GLYPH_BOX, (255, 255, 255))
  ImageDraw.Draw(canvas).text((0, 0), text, font=font, embedded_color=True)
  return np.asarray(canvas)


def render_sequence(font, sequence):
  """One emoji as uint8 [128,128,3] on white, or the reason it is dropped."""
  full = _glyph_render(font, "".join(map(chr, sequence)))
  if isinstance(full, str):
    return full
  # Ink: a pixel with a channel below 255 (white).
  if full.min() == 255:
    return "blank"
  left, right = CROP_COLUMNS
  if full[:, :left].min() < 255 or full[:, right:].min() < 255:
    return "cropped"
  return full[:, left:right]


def area_downsample(image, size):
  """The mean of each f x f block of a uint8 [size*f,size*f,C] image.

  Rounded half up: (sum + f*f/2) // (f*f), in integers.
  """
  factor, channels = image.shape[0] // size, image.shape[2]
  rows = image.reshape(size, factor, -1).sum(axis=1, dtype=np.uint32)
  sums = rows.reshape(size, size, factor, channels).sum(axis=2)
  n = factor * factor
  return ((sums + n // 2) // n).astype(np.uint8)


def render_emoji(sequences, font, sizes=SIZES):
  """Renders the sequences; keeps the distinct non-blank single glyphs.

  Returns an EmojiSet; its sequences and images keep the input order.
  """
  kept, images, seen = [], {s: [] for s in sizes}, set()
  dropped = collections.Counter()
  for sequence in sequences:
    render = render_sequence(font, sequence)
    if isinstance(render, str):
      dropped[render] += 1
      continue
    digest = hashlib.sha256(render.tobytes()).digest()
    if digest in seen:
      dropped["duplicate"] += 1
      continue
    seen.add(digest)
    kept.append(sequence)
    for s in sizes:
      images[s].append(area_downsample(render, s))
  stacked = {s: np.stack(x) if x else np.zeros((0, s, s, 3), np.uint8)
             for s, x in images.items()}
  return EmojiSet(tuple(kept), stacked, dict(dropped))


def holdout_mask(n):
  """True for the 'test' examples: every TEST_EVERY-th, from index 9."""
  return np.arange(n) % TEST_EVERY == TEST_EVERY - 1


@functools.lru_cache(maxsize=None)
def _load_emoji(path):
  emoji = render_emoji(font_sequences(path), load_font(path))
  if not emoji.sequences:
    raise DataError(f"The font {path} rendered no emoji; reinstall it with "
                    f"`{FONT_INSTALL} --reinstall`.")
  for images in emoji.images.values():
    images.flags.writeable = False
  return emoji


def load_emoji():
  """The EmojiSet of the installed font (rendered once per process, ~5 s)."""
  return _load_emoji(font_path())


@functools.lru_cache(maxsize=None)
def _emoji_splits(path, size):
  images = _load_emoji(path).images[size]
  test = holdout_mask(len(images))
  splits = {"train": images[~test], "test": images[test]}
  for split in splits.values():
    split.flags.writeable = False
  return splits


def load_emoji_arrays(size):
  """``{'train': images, 'test': images}``, uint8 [N,size,size,3]; no labels."""
  if size not in SIZES:
    raise ValueError(f"emoji are rendered at the sizes {SIZES}, not {size}.")
  return _emoji_splits(font_path(), size)
