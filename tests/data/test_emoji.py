"""The offline emoji32 / emoji64 datasets: Noto Color Emoji rendered by Pillow."""
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from genjax.data import builders, emoji, pipeline, sources
from genjax.errors import DataError

# The emoji are rendered once per process (~10 s): one xdist worker for all.
pytestmark = pytest.mark.xdist_group("emoji")

GRINNING, THUMBS_UP_MEDIUM = (0x1F600,), (0x1F44D, 0x1F3FD)
JAPAN, FRANCE, CLIPPERTON = (0x1F1EF, 0x1F1F5), (0x1F1EB, 0x1F1F7), (0x1F1E8, 0x1F1F5)


@pytest.fixture(scope="module")
def emoji_set():
  try:
    emoji.check_raqm()
    emoji.font_path()
  except DataError as e:
    pytest.skip(str(e))
  return emoji.load_emoji()


@pytest.fixture(scope="module")
def font(emoji_set):
  del emoji_set
  return emoji.load_font(emoji.font_path())


def _font_revision():
  from fontTools.ttLib import TTFont
  return round(TTFont(str(emoji.font_path()), lazy=True)["head"].fontRevision, 3)


def test_counts_shapes_dtypes_and_splits(emoji_set):
  n = len(emoji_set.sequences)
  if _font_revision() == 2.042:  # Debian bookworm's font
    assert n == 3916
    assert emoji_set.dropped == {"blank": 40, "layout": 1, "duplicate": 1515}
  assert n > 3000 and "cropped" not in emoji_set.dropped
  for size in (32, 64):
    images = emoji_set.images[size]
    assert images.shape == (n, size, size, 3) and images.dtype == np.uint8
    splits = sources.LOADERS[f"emoji{size}"]()
    test_index = list(range(9, n, 10))  # every 10th
    np.testing.assert_array_equal(splits["test"], images[test_index])
    np.testing.assert_array_equal(
        splits["train"], np.delete(images, test_index, axis=0))
    assert not splits["train"].flags.writeable
  assert emoji.load_emoji() is emoji_set  # cached


def test_images_are_distinct_and_not_blank(emoji_set):
  for images in emoji_set.images.values():
    flat = images.reshape(len(images), -1)
    assert len({hashlib.sha256(x.tobytes()).digest() for x in flat}) == len(flat)
    assert flat.min(axis=1).max() < 255  # every image has ink


def test_sequences_are_sorted_and_include_ligatures(emoji_set):
  sequences = emoji.font_sequences(emoji.font_path())
  assert list(sequences) == sorted(set(sequences))
  assert emoji.font_sequences(emoji.font_path()) == sequences
  kept = set(emoji_set.sequences)
  assert {GRINNING, JAPAN, THUMBS_UP_MEDIUM} <= kept
  assert sum(len(s) > 1 for s in kept) > 2000  # skin tones, ZWJ, flags
  # Noto draws Clipperton Island's flag as France's: the first one is kept.
  assert FRANCE in sequences and CLIPPERTON in kept and FRANCE not in kept


def test_render_matches_the_fonts_bitmap(font):
  # Reference: the glyph's PNG in the font's CBDT table, composited on white.
  from fontTools.ttLib import TTFont
  ttf = TTFont(str(emoji.font_path()))
  glyph = ttf["CBDT"].strikeData[0][ttf.getBestCmap()[GRINNING[0]]]
  rgba = np.asarray(Image.open(io.BytesIO(glyph.imageData)).convert("RGBA"),
                    np.float64)
  alpha = rgba[..., 3:] / 255.0
  want = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
  got = emoji.render_sequence(font, GRINNING)
  assert got.shape == (128, 128, 3) and got.dtype == np.uint8
  assert np.abs(got - want[:, 4:132]).max() <= 2


def test_ligatures_render_one_glyph_and_text_is_dropped(font):
  flag = emoji.render_sequence(font, JAPAN)
  letter = emoji.render_sequence(font, JAPAN[:1])  # a regional indicator
  assert isinstance(flag, np.ndarray) and not np.array_equal(flag, letter)
  assert emoji.render_sequence(font, (0x20,)) == "blank"
  assert emoji.render_sequence(font, GRINNING * 2) == "not one glyph"


def test_area_downsample_is_the_rounded_block_mean(font):
  image = emoji.render_sequence(font, THUMBS_UP_MEDIUM)
  for size in (32, 64):
    f = 128 // size
    blocks = image.reshape(size, f, size, f, 3).astype(np.float64)
    want = np.floor(blocks.mean(axis=(1, 3)) + 0.5)
    got = emoji.area_downsample(image, size)
    np.testing.assert_array_equal(got, want)
    pillow = np.asarray(Image.fromarray(image).reduce(f), np.int64)
    assert np.abs(got - pillow).max() <= 1


def test_rendering_is_deterministic(emoji_set, font):
  # Rendering a prefix again keeps the same emoji, with identical pixels.
  prefix = emoji.font_sequences(emoji.font_path())[:400]
  again = emoji.render_emoji(prefix, font)
  kept = [i for i, s in enumerate(emoji_set.sequences) if s in set(prefix)]
  assert again.sequences == tuple(emoji_set.sequences[i] for i in kept)
  for size in (32, 64):
    np.testing.assert_array_equal(again.images[size],
                                  emoji_set.images[size][kept])


def test_missing_font_names_the_apt_package(monkeypatch, tmp_path):
  monkeypatch.setenv(emoji.FONT_ENV, str(tmp_path / "NotoColorEmoji.ttf"))
  with pytest.raises(DataError,
                     match="`apt-get install fonts-noto-color-emoji`"):
    sources.LOADERS["emoji64"]()


def test_missing_raqm_names_libfribidi(monkeypatch):
  from PIL import features
  monkeypatch.setattr(features, "check", lambda name: False)
  with pytest.raises(DataError, match="`apt-get install libfribidi0`"):
    emoji.check_raqm()


def test_builder_and_pipeline(emoji_set, tmp_path, no_downloads):
  builder = builders.Emoji32(data_dir=str(tmp_path))
  builders.prepare_offline(builder, max_examples_per_split=20)
  builder = builders.get_builder("emoji32", data_dir=str(tmp_path))
  assert "label" not in builder.info.features
  got = builder.as_dataset(split="test", batch_size=-1)["image"].numpy()
  want = sources.LOADERS["emoji32"]()["test"][:20]
  digest = lambda xs: sorted(hashlib.md5(x.tobytes()).hexdigest() for x in xs)
  assert digest(got) == digest(want)

  cfg = dict(name="emoji32", data_dir=str(tmp_path), preprocess=("scale_pm1",),
             shuffle_buffer=20)
  assert pipeline.image_shape(cfg) == (32, 32, 3)
  assert pipeline.num_classes(cfg) is None
  batch = next(pipeline.train_iterator(cfg, 8, seed=0))
  assert set(batch) == {"image"} and batch["image"].shape == (8, 32, 32, 3)
