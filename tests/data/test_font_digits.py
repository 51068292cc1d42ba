"""The offline font_digits dataset: the digits of the installed fonts, framed
as MNIST's. Fast: a set of fonts-dejavu-core's six fonts, synthetic fonts."""
import json
import pathlib
import shutil

import numpy as np
import pytest
from scipy import ndimage

from genjax.data import builders, font_digits, pipeline, sources
from genjax.errors import DataError

DEJAVU = pathlib.Path("/usr/share/fonts/truetype/dejavu")
URW = pathlib.Path("/usr/share/fonts/opentype/urw-base35")
EMOJI = pathlib.Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
MORE_FONTS_HINT = "apt-get install fonts-noto-core fonts-liberation2 fonts-urw-base35"


@pytest.fixture(scope="module")
def dejavu_paths():
  from tests.data.conftest import DEJAVU_CORE
  paths = [DEJAVU / n for n in DEJAVU_CORE]
  if not all(p.is_file() for p in paths):
    pytest.skip("fonts-dejavu-core is not installed")
  return sorted(paths)


@pytest.fixture(scope="module")
def digit_set(dejavu_paths):
  with pytest.warns(UserWarning, match=MORE_FONTS_HINT):
    return font_digits.render_fonts(dejavu_paths)


def _split_of_images(digit_set):
  return np.array([f.split for f in digit_set.fonts])[digit_set.font_index]


# --------------------------------------------------------------------------
# Synthetic fonts (fontTools), each glyph a union of rectangles.


def _rect(pen, x0, y0, x1, y1):
  pen.moveTo((x0, y0))
  pen.lineTo((x0, y1))
  pen.lineTo((x1, y1))
  pen.lineTo((x1, y0))
  pen.closePath()


def synthetic_font(path, glyphs, family="Synthetic Test"):
  """A TrueType font: ``glyphs`` maps a character to its rectangles (font
  units, 1000 per em); .notdef is a box; other characters have no glyph."""
  from fontTools.fontBuilder import FontBuilder
  from fontTools.pens.ttGlyphPen import TTGlyphPen
  names = [".notdef"] + [f"g{i}" for i in range(len(glyphs))]
  shapes = [[(100, 0, 500, 700)]] + list(glyphs.values())
  outlines = {}
  for name, rects in zip(names, shapes):
    pen = TTGlyphPen(None)
    for rect in rects:
      _rect(pen, *rect)
    outlines[name] = pen.glyph()
  builder = FontBuilder(1000, isTTF=True)
  builder.setupGlyphOrder(names)
  builder.setupCharacterMap({ord(c): f"g{i}" for i, c in enumerate(glyphs)})
  builder.setupGlyf(outlines)
  builder.setupHorizontalMetrics({n: (600, 0) for n in names})
  builder.setupHorizontalHeader(ascent=800, descent=-200)
  builder.setupNameTable({"familyName": family, "styleName": "Regular"})
  builder.setupOS2()
  builder.setupPost()
  builder.save(str(path))
  return path


def bars_font(path):
  """Ten distinct pictures for the digits: bars of growing length."""
  return synthetic_font(path, {
      d: [(50, 300, 50 + 50 * (i + 2), 400)] for i, d in enumerate("0123456789")})


# --------------------------------------------------------------------------
# The set.


def test_shapes_dtypes_labels_and_counts(digit_set):
  n = len(digit_set.fonts) * 120
  assert len(digit_set.fonts) == 6 and not digit_set.excluded
  assert digit_set.images.shape == (n, 28, 28, 1)
  assert digit_set.images.dtype == np.uint8
  assert digit_set.labels.dtype == np.int64
  # Every font gives each digit 4 drawings x 3 angles.
  for f in range(len(digit_set.fonts)):
    labels = digit_set.labels[digit_set.font_index == f]
    np.testing.assert_array_equal(np.bincount(labels), [12] * 10)
  assert digit_set.images.max() == 255 and digit_set.images.min() == 0


def test_every_digit_in_both_splits_and_fonts_disjoint(digit_set):
  split = _split_of_images(digit_set)
  splits = font_digits.splits_of(digit_set)
  for s, (images, labels) in splits.items():
    assert set(labels.tolist()) == set(range(10))
    assert len(images) == (split == s).sum() and not images.flags.writeable
  train = {digit_set.fonts[i] for i in digit_set.font_index[split == "train"]}
  test = {digit_set.fonts[i] for i in digit_set.font_index[split == "test"]}
  assert train and test and not train & test
  for key in ("path", "typeface", "design"):
    assert not {getattr(f, key) for f in train} & {getattr(f, key) for f in test}
  # Brute force: every test font's digits differ from every train font's.
  base = {f: font_digits.base_digits(f.path) for f in digit_set.fonts}
  nearest = min(np.abs(base[a].astype(float) - base[b]).mean()
                for a in train for b in test)
  assert nearest >= font_digits.SAME_DESIGN_LEVELS
  # DejaVu Sans (with its Mono) and DejaVu Serif: one design per split.
  assert {f.typeface for f in digit_set.fonts} == {"DejaVu Sans", "DejaVu Serif"}


def test_framing_is_mnists(digit_set):
  images = digit_set.images[..., 0]
  # Reference: scipy's centre of mass (pixel indices), MNIST's (14, 14).
  com = np.array([ndimage.center_of_mass(x.astype(np.float64)) for x in images])
  off = np.abs(com - 14.0).max(axis=1)
  assert off.max() <= 1.0 and (off <= 0.5).mean() >= 0.99
  ink = images > 0
  rows, cols = ink.any(axis=2), ink.any(axis=1)
  height = 28 - rows.argmax(1) - rows[:, ::-1].argmax(1)
  width = 28 - cols.argmax(1) - cols[:, ::-1].argmax(1)
  np.testing.assert_array_equal(np.maximum(height, width), 20)


def test_paste_centred_on_known_shapes():
  # A 21x7 bar: its centre of mass (10, 3) goes exactly to (14, 14).
  bar = np.full((21, 7), 255, np.uint8)
  out = font_digits.paste_centred(bar)
  assert out.sum() == bar.sum()
  rows, cols = np.nonzero(out)
  assert (rows.min(), rows.max(), cols.min(), cols.max()) == (4, 24, 11, 17)
  # A heavy bottom row pulls the mass down: the image moves up, inside the frame.
  l_shape = np.zeros((20, 10), np.uint8)
  l_shape[:, 0] = 255
  l_shape[-1] = 255
  com = ndimage.center_of_mass(font_digits.paste_centred(l_shape).astype(float))
  assert np.all(np.abs(np.array(com) - 14.0) <= 0.5)


def test_fit_box_keeps_the_aspect_and_area_averages():
  box = np.full((40, 10), 255, np.uint8)
  out = font_digits.fit_box(box)
  assert out.shape == (20, 5) and np.all(out == 255)
  wide = np.zeros((10, 80), np.uint8)
  wide[:, ::2] = 255  # stripes average to half grey when scaled by 1/4
  out = font_digits.fit_box(wide)
  assert out.shape == (2, 20)
  assert np.all(np.abs(out.astype(int) - 128) <= 1)


def test_rendering_is_deterministic_and_seeded(digit_set, dejavu_paths, tmp_path):
  with pytest.warns(UserWarning):
    again = font_digits.render_fonts(dejavu_paths)
  np.testing.assert_array_equal(again.images, digit_set.images)
  np.testing.assert_array_equal(again.labels, digit_set.labels)
  assert again.fonts == digit_set.fonts
  # A font's angles depend on its file name and the seed only.
  copy = tmp_path / dejavu_paths[0].name
  shutil.copy(dejavu_paths[0], copy)
  angles = font_digits.font_angles(dejavu_paths[0])
  np.testing.assert_array_equal(font_digits.font_angles(copy), angles)
  assert np.abs(angles).max() <= 10 and angles.std() > 3
  other = font_digits.render_font(dejavu_paths[0], seed=1)[0]
  first = digit_set.images[digit_set.font_index == 0][..., 0]
  assert not np.array_equal(other, first)


# --------------------------------------------------------------------------
# Which fonts are kept.


def test_fonts_without_real_digits_are_excluded(dejavu_paths, tmp_path):
  no_digits = synthetic_font(tmp_path / "NoDigits.ttf",
                             {"A": [(100, 0, 500, 700)]})
  blank = synthetic_font(tmp_path / "Blank.ttf", {d: [] for d in "0123456789"})
  bars = bars_font(tmp_path / "Bars.ttf")
  copy = tmp_path / "ZCopyOfDejaVuSans.ttf"
  shutil.copy(DEJAVU / "DejaVuSans.ttf", copy)
  paths = dejavu_paths + [no_digits, blank, bars, copy]
  if EMOJI.is_file():
    paths.append(EMOJI)
  kept, excluded = font_digits.select_fonts(paths)
  assert [p for p, _ in kept] == dejavu_paths
  reasons = dict(excluded)
  assert "draw only 1 different glyph" in reasons[no_digits]
  assert "draw no ink" in reasons[blank]
  assert "look like digits" in reasons[bars]
  assert reasons[copy] == "the same digits as DejaVuSans.ttf"
  if EMOJI.is_file():
    assert "bitmap-only" in reasons[EMOJI]


def test_installed_dingbats_are_excluded(dejavu_paths):
  dingbats, symbols = URW / "D050000L.otf", URW / "StandardSymbolsPS.otf"
  if not dingbats.is_file():
    pytest.skip("fonts-urw-base35 is not installed")
  kept, excluded = font_digits.select_fonts(dejavu_paths + [dingbats, symbols])
  assert "look like digits" in dict(excluded)[dingbats]
  assert symbols in [p for p, _ in kept]  # Its digits are real digits.


def test_design_groups_join_typefaces_with_near_identical_digits():
  rng = np.random.default_rng(0)
  a = rng.integers(0, 256, (10, 28, 28)).astype(np.uint8)
  near = np.clip(a.astype(int) + 3, 0, 255).astype(np.uint8)  # |diff| <= 3
  far = rng.integers(0, 256, (10, 28, 28)).astype(np.uint8)
  faces = ["Alpha Sans", "Alpha Sans", "Beta Kufi", "Gamma Serif"]
  design = font_digits.design_groups(faces, [a, far.copy(), near, far])
  # Alpha Sans (2 fonts) names the design it shares with Beta Kufi; Gamma
  # Serif's digits equal Alpha Sans's second font: all three are one design.
  assert design == {"Alpha Sans": "Alpha Sans", "Beta Kufi": "Alpha Sans",
                    "Gamma Serif": "Alpha Sans"}
  design = font_digits.design_groups(faces[:3], [a, a, far])
  assert design == {"Alpha Sans": "Alpha Sans", "Beta Kufi": "Beta Kufi"}


def test_held_out_designs_hold_a_fifth_of_the_fonts():
  fonts = [f"design {i}" for i in range(10) for _ in range(i + 1)]
  held_out = font_digits.held_out_designs(fonts)
  share = sum(f in held_out for f in fonts) / len(fonts)
  assert share >= 0.2 and len(held_out) < 10
  # The fonts' order does not matter; two designs: one per split.
  assert held_out == font_digits.held_out_designs(list(reversed(fonts)))
  assert font_digits.held_out_designs(["a", "b"]) in ({"a"}, {"b"})


# --------------------------------------------------------------------------
# Errors and warnings.


def test_missing_fonts_name_the_apt_packages(monkeypatch, tmp_path):
  monkeypatch.setenv(font_digits.FONT_DIRS_ENV, str(tmp_path))
  with pytest.raises(DataError, match="`apt-get install fonts-dejavu-core "
                     "fonts-noto-core fonts-liberation2 fonts-urw-base35`"):
    sources.LOADERS["font_digits"]()


def test_no_font_that_draws_digits_is_an_error(tmp_path):
  path = synthetic_font(tmp_path / "NoDigits.ttf", {"A": [(0, 0, 500, 700)]})
  with pytest.raises(DataError, match="None of the 1 font files draws"):
    font_digits.render_fonts([path])


def test_one_design_is_an_error_naming_more_fonts(dejavu_paths):
  sans = [p for p in dejavu_paths if p.name.startswith("DejaVuSans")]
  with pytest.warns(UserWarning, match=MORE_FONTS_HINT):
    with pytest.raises(DataError, match="two typeface designs"):
      font_digits.render_fonts(sans)


# --------------------------------------------------------------------------
# The tfds builder.


def test_builder_records_the_fonts_it_used(dejavu_core_dir, tmp_path,
                                          no_downloads):
  data_dir = str(tmp_path / "data")
  with pytest.warns(UserWarning, match=MORE_FONTS_HINT):
    builder = builders.get_builder("font_digits", data_dir=data_dir)
  splits = sources.LOADERS["font_digits"]()
  assert {s: builder.info.splits[s].num_examples for s in splits} == {
      s: len(y) for s, (_, y) in splits.items()}
  batch = builder.as_dataset(split="test", batch_size=-1)
  assert sorted(batch["label"].numpy().tolist()) == sorted(
      splits["test"][1].tolist())
  # A fresh builder reads the manifest back from metadata.json.
  again = builders.get_builder("font_digits", data_dir=data_dir)
  fonts = again.info.metadata["fonts"]
  assert sorted(pathlib.Path(f["file"]).name for f in fonts) == sorted(
      p.name for p in dejavu_core_dir.iterdir())
  assert {f["split"] for f in fonts} == {"train", "test"}
  assert sum(f["images"] for f in fonts) == 720
  on_disk = json.loads((pathlib.Path(again.data_path) / "metadata.json")
                       .read_text())
  assert on_disk["fonts"] == fonts and on_disk["rendering"]["box"] == 20
  cfg = dict(name="font_digits", data_dir=data_dir, preprocess=("scale_pm1",))
  assert pipeline.image_shape(cfg) == (28, 28, 1)
  assert pipeline.num_classes(cfg) == 10
