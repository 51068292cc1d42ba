"""Captions (genjax.data.captions): attributes against numpy references on
images whose answer is known and on real digits, the words and templates,
the held-out phrasings, and the ops in a tf.data pipeline."""
import itertools
import re

import numpy as np
import pytest
from scipy import ndimage

from genjax.data import captions as C
from genjax.data import pipeline
from genjax.data import preprocess as pp
from genjax.data import tokenizer
from genjax.data import transforms as T
from genjax.data._tf import tf
from genjax.data.sources import load_fashion_mnist_arrays
from genjax.data.sources import load_mnist_arrays
from genjax.errors import ConfigError
from tests.data.ops import run

SMALL = dict(name="mnist", train_split="test", shuffle_buffer=500)
# A literal of each held-out template, never in a train template.
HELDOUT_MARKERS = {"mnist": ("an image of", "drawn by hand", "numeral"),
                   "fashion_mnist": ("an image of", "a picture of")}


def _canvas(n=28):
  return np.zeros((n, n, 1), np.uint8)


def _bar(width, length=24, top=2, left=10):
  x = _canvas()
  x[top:top + length, left:left + width] = 255
  return x


def _sheared(width, per_row, rows=range(4, 24)):
  """A bar whose column moves right by ``per_row`` for every row up."""
  x = _canvas()
  left = 4 if per_row >= 0 else 23  # the bottom row's column
  for r in rows:
    c = left + int(np.floor((rows[-1] - r) * per_row))
    x[r, c:c + width] = 255
  return x


def _moments_reference(x):
  """(slant, row offset, col offset) from numpy moments of the ink."""
  ink = x[..., 0].astype(np.float64) / 255.0
  r, c = np.mgrid[:ink.shape[0], :ink.shape[1]]
  m = ink.sum()
  mr, mc = (ink * r).sum() / m, (ink * c).sum() / m
  mu_rc = (ink * (r - mr) * (c - mc)).sum()
  mu_rr = (ink * (r - mr) ** 2).sum()
  h, w = ink.shape
  return -mu_rc / mu_rr, mr - (h - 1) / 2, mc - (w - 1) / 2


def _thickness_reference(x):
  """t = mass / (skeleton + t) in numpy, from the (tested) TF skeleton."""
  mass = x.astype(np.float64).sum() / 255.0
  length = T.skeleton(tf.constant(x), None).numpy().sum()
  return (np.sqrt(length**2 + 4 * mass) - length) / 2


# --------------------------------------------------------------------------
# Attributes.


@pytest.mark.parametrize("width", [2, 3, 4, 5, 6])
def test_thickness_of_a_filled_bar_is_its_width(width):
  for x in (_bar(width), _bar(width, length=16).transpose(1, 0, 2)):
    got = float(C.stroke_thickness(x))
    assert got == pytest.approx(width, abs=1e-5)
    assert got == pytest.approx(_thickness_reference(x), rel=1e-5)
  assert float(C.stroke_thickness(_bar(1))) == pytest.approx(
      _thickness_reference(_bar(1)), rel=1e-5)  # 1 - 1/L for a line


def test_blank_images_give_zeros_not_nans():
  blank = np.zeros((3, 28, 28, 1), np.float32)
  for fn in (C.stroke_thickness, C.slant, C.size, C.brightness, C.position,
             C.ink_box):
    out = np.asarray(fn(blank))
    assert not np.isnan(out).any() and (out == 0).all(), fn.__name__
  faint = np.full((28, 28, 1), 100, np.uint8)  # ink, but none above 0.5
  assert float(C.stroke_thickness(faint)) == 0


@pytest.mark.parametrize("per_row", [1.0, 0.5, 0.25, -0.5, -1.0])
def test_slant_of_a_sheared_bar(per_row):
  x = _sheared(3, per_row)
  got = float(C.slant(x))
  assert got == pytest.approx(_moments_reference(x)[0], abs=1e-5)
  assert np.sign(got) == np.sign(per_row)  # > 0: the top leans right
  assert got == pytest.approx(per_row, abs=0.04)
  assert float(C.slant(_bar(4))) == 0.0  # upright


def test_position_of_a_blob_at_a_known_offset():
  for top, left in ((3, 5), (12, 20), (20, 2)):
    x = _canvas()
    x[top:top + 3, left:left + 5] = 200
    row, col = np.asarray(C.position(x))
    assert (row, col) == pytest.approx((top + 1 - 13.5, left + 2 - 13.5),
                                       abs=1e-5)
    assert (row, col) == pytest.approx(_moments_reference(x)[1:], abs=1e-5)


def test_size_box_and_brightness_of_a_rectangle():
  x = _canvas()
  x[4:15, 6:13] = 200            # 11 rows x 7 columns of ink
  x[20, 20] = 20                 # below FOREGROUND (0.1): not ink
  np.testing.assert_array_equal(C.ink_box(x), (11, 7))
  assert float(C.size(x)) == pytest.approx(11 * 7 / 28**2)
  assert float(C.brightness(x)) == pytest.approx(200 / 255)
  x[20, 20] = 40                 # above it: the box grows, the mean drops
  np.testing.assert_array_equal(C.ink_box(x), (17, 15))
  assert float(C.brightness(x)) == pytest.approx((77 * 200 + 40) / 78 / 255)


def test_attributes_batch_single_rgb_numpy_and_tf_data_agree(mnist_digits):
  x = mnist_digits[:6]
  batch = C.measure(x, "mnist")
  for k, value in C.measure(x[2], "mnist").items():
    np.testing.assert_allclose(value, batch[k][2], rtol=1e-6, atol=1e-6)
  rgb = C.measure(np.repeat(x, 3, axis=-1).astype(np.float32), "mnist")
  ds = tf.data.Dataset.from_tensor_slices(x).batch(6).map(C.measure)
  in_data = next(ds.as_numpy_iterator())
  for k in batch:
    np.testing.assert_allclose(rgb[k], batch[k], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(in_data[k], batch[k], rtol=1e-6, atol=1e-6)


def test_attributes_of_real_digits_follow_their_edits(mnist_digits):
  x = mnist_digits[:16]
  dilated = ndimage.grey_dilation(x, size=(1, 3, 3, 1))
  assert (np.asarray(C.stroke_thickness(dilated))
          > np.asarray(C.stroke_thickness(x))).all()
  # Shift every row by -0.3 columns per row down: the top moves right.
  rows = np.arange(28) - 13.5
  sheared = np.stack([
      np.stack([ndimage.shift(img[r, :, 0].astype(np.float32),
                              -0.3 * rows[r], order=1) for r in range(28)])
      for img in x])[..., None]
  gain = np.asarray(C.slant(sheared)) - np.asarray(C.slant(x))
  np.testing.assert_allclose(gain, 0.3, atol=0.06)
  placed, moved = (np.pad(x, [(0, 0), (3 + dr, 3 - dr), (3 + dc, 3 - dc),
                               (0, 0)]) for dr, dc in ((0, 0), (3, -2)))
  np.testing.assert_allclose(np.asarray(C.position(moved))
                             - np.asarray(C.position(placed)),
                             [[3, -2]] * 16, atol=1e-4)


def test_the_threshold_table_fits_the_training_data():
  images, labels = load_mnist_arrays()["train"]
  images, labels = images[:1000], labels[:1000]
  table = C.compute_thresholds(images, labels, "mnist")
  np.testing.assert_allclose(table["thickness"],
                             C.THRESHOLDS["mnist"]["thickness"], rtol=0.12)
  assert table["slant"][0] <= -C.MIN_SLANT and table["row"] == (-1.5, 1.5)
  levels = C.attribute_levels(images, labels, "mnist")
  for name in ("thickness", "size", "slant"):
    share = np.bincount(levels[name].numpy(), minlength=3) / len(labels)
    assert 0.12 < share[0] < 0.35 and 0.12 < share[2] < 0.4, (name, share)
  # MNIST is centred by centre of mass, to within a pixel.
  assert (levels["position"].numpy() == 0).all()


# --------------------------------------------------------------------------
# Captions from levels: words, templates, held-out phrasings, length.


def _level_grid(dataset, repeats=2):
  """Every label with every combination of levels, ``repeats`` times."""
  names = C.ATTRIBUTES[dataset]
  combos = list(itertools.product(
      range(10), *[range(len(C.LEVEL_NAMES[n])) for n in names])) * repeats
  grid = np.array(combos, np.int32)
  return grid[:, 0], {n: grid[:, i + 1] for i, n in enumerate(names)}


def _captions(dataset, phrasings, seeds=(0, 1)):
  labels, levels = _level_grid(dataset, 2 if dataset == "mnist" else 6)
  out = [C.write_captions(labels, levels, tf.constant([s, 7]), dataset,
                          phrasings).numpy() for s in seeds]
  return (np.tile(labels, len(seeds)),
          {k: np.tile(v, len(seeds)) for k, v in levels.items()},
          [c.decode() for c in np.concatenate(out)])


def _phrases(attribute, level=None, phrasings=C.PHRASINGS):
  """The attribute's phrases (at ``level``, or all) in those phrasings."""
  out = set()
  for kind in phrasings:
    for per_level in C.PHRASES[attribute][kind].values():
      for i, synonyms in enumerate(per_level):
        if level is None or i == level:
          out.update(synonyms)
  return out


def _says(text, phrases):
  return any(re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text)
             for p in phrases)


@pytest.fixture(scope="module", params=C.DATASETS)
def grid_captions(request):
  dataset = request.param
  return (dataset,) + tuple(_captions(dataset, p) for p in C.PHRASINGS)


def test_captions_say_only_the_words_of_their_levels(grid_captions):
  dataset, (labels, levels, texts), _ = grid_captions
  for name in C.ATTRIBUTES[dataset]:
    for level in range(len(C.LEVEL_NAMES[name])):
      words = _phrases(name, level)
      for text, got in zip(texts, levels[name]):
        if got != level:
          assert not _says(text, words), (text, name, got)
  mentioned = np.mean([sum(_says(t, _phrases(n)) for n in levels)
                       for t in texts])
  assert 0.4 < mentioned <= C.MAX_ATTRIBUTES  # a random subset of words


def test_captions_name_the_class(grid_captions):
  dataset, (labels, _, texts), (h_labels, _, h_texts) = grid_captions
  names = C.DIGIT_NAMES if dataset == "mnist" else C.FASHION_NAMES
  for label, text in zip(np.concatenate([labels, h_labels]), texts + h_texts):
    if dataset == "mnist":
      said = {d for d in range(10)
              if _says(text, {names[d], str(d)})}
      assert said == {label}, text
    else:
      assert names[label] in text, text


def test_heldout_phrasings_only_with_heldout(grid_captions):
  dataset, (_, _, train), (_, h_levels, heldout) = grid_captions
  heldout_only = set(HELDOUT_MARKERS[dataset]).union(*[
      _phrases(n, phrasings=("heldout",)) for n in C.ATTRIBUTES[dataset]])
  assert not any(_says(t, heldout_only) for t in train)
  for phrase in heldout_only:
    assert any(_says(t, {phrase}) for t in heldout), phrase
  train_templates_only = {"handwritten", "digit", "a photo of"}
  assert not any(_says(t, train_templates_only) for t in heldout)


def _has_combination(texts, labels, combination):
  first, level_a, second, level_b, keep = combination
  return [label in keep and _says(t, _phrases(first, level_a))
          and _says(t, _phrases(second, level_b))
          for t, label in zip(texts, labels)]


def test_heldout_combinations_only_with_heldout(grid_captions):
  dataset, (labels, _, train), (h_labels, _, heldout) = grid_captions
  for combination in C.HELDOUT_COMBINATIONS[dataset]:
    assert not any(_has_combination(train, labels, combination))
    assert sum(_has_combination(heldout, h_labels, combination)) >= 5
    # Each word alone still appears for those labels in training.
    first, level_a, second, level_b, keep = combination
    for name, level in ((first, level_a), (second, level_b)):
      assert any(label in keep and _says(t, _phrases(name, level))
                 for t, label in zip(train, labels))


def test_captions_fit_in_16_tokens_and_read_cleanly(grid_captions):
  dataset, (_, _, train), (_, _, heldout) = grid_captions
  texts = train + heldout
  lengths = [len(e.ids) for e in tokenizer.load_tokenizer().encode_batch(
      texts)]  # [CLS] and [SEP] included
  assert max(lengths) <= 16, texts[int(np.argmax(lengths))]
  for text in texts:
    assert text == text.strip() and "  " not in text and " ," not in text
    assert not re.search(r"\ba (?!one\b)[aeiou8]|\ban (one|[^aeiou8\s])",
                         text), text
  assert len(set(texts)) > 300


def test_captions_are_deterministic_given_the_seed_and_vary_across_seeds(
    mnist_digits):
  labels = load_mnist_arrays()["test"][1][:8]
  example = {"image": tf.constant(mnist_digits[:8]),
             "label": tf.constant(labels)}
  first = C.caption(example, tf.constant([5, 6]))
  np.testing.assert_array_equal(first, C.caption(example, tf.constant([5, 6])))
  one = {"image": example["image"][3], "label": example["label"][3]}
  variants = {C.caption(one, tf.constant([s, 0])).numpy() for s in range(12)}
  assert len(variants) >= 5


# --------------------------------------------------------------------------
# The ops: real examples, tf.data, the pipeline, bad arguments.


def _real(dataset, n=32):
  load = load_mnist_arrays if dataset == "mnist" else load_fashion_mnist_arrays
  images, labels = load()["test"]
  return {"image": images[:n], "label": labels[:n]}


def _caption_op(spec, example, seed=(3, 4)):
  return pp.parse_op(spec)({k: tf.constant(v) for k, v in example.items()},
                           tf.constant(seed, tf.int64))["caption"]


def test_caption_op_on_real_mnist_eagerly_and_in_tf_data():
  example = _real("mnist")
  texts = run("caption", None, key="caption", example=example, batch_size=0)
  heldout = _caption_op("caption(phrasings='heldout')", example).numpy()
  assert texts.shape == heldout.shape == (32,) and texts.dtype == object
  for label, text, other in zip(example["label"], texts, heldout):
    for said in (text, other):
      assert _says(said.decode(), {C.DIGIT_NAMES[label], str(label)}), said
  one = _caption_op("caption", {k: v[0] for k, v in example.items()})
  assert one.shape == () and one.dtype == tf.string


def test_caption_op_on_real_fashion_mnist(fashion_mnist):
  del fashion_mnist
  example = _real("fashion_mnist")
  for phrasings in C.PHRASINGS:
    texts = _caption_op(f"caption(dataset='fashion_mnist', phrasings="
                        f"{phrasings!r})", example).numpy()
    for label, text in zip(example["label"], texts):
      assert C.FASHION_NAMES[label] in text.decode(), text


def test_tokenize_op_matches_the_tokenizer():
  texts = np.array([b"a thick handwritten seven", b"the digit 7, leaning right",
                    b"a small thin 3 near the top"])
  ids = run("tokenize", None, key="tokens", example={"caption": texts},
            batch_size=2)
  assert ids.dtype == np.int32 and ids.shape == (3, 16)
  np.testing.assert_array_equal(ids, tokenizer.tokenize(list(texts), 16))
  op = pp.parse_op("tokenize(max_tokens=8, inkey='text', outkey='ids')")
  one = op({"text": tf.constant("a bright large pullover")}, None)["ids"]
  assert one.shape == (8,)
  np.testing.assert_array_equal(one, tokenizer.tokenize(
      ["a bright large pullover"], 8)[0])


def test_caption_and_tokens_in_the_pipeline(mnist_builder):
  del mnist_builder
  cfg = dict(SMALL, preprocess=("caption(dataset='mnist')",
                                "tokenize(max_tokens=16)", "scale_01"))
  assert pipeline.example_shapes(cfg) == {
      "image": (28, 28, 1), "label": (), "caption": (), "tokens": (16,)}
  batch = next(pipeline.train_iterator(cfg, 8, seed=0))
  assert batch["tokens"].dtype == np.int32 and batch["tokens"].shape == (8, 16)
  assert batch["image"].max() <= 1.0
  np.testing.assert_array_equal(
      batch["tokens"], tokenizer.tokenize(list(batch["caption"]), 16))
  for label, text in zip(batch["label"], batch["caption"]):
    assert _says(text.decode(), {C.DIGIT_NAMES[label], str(label)}), text
  again = next(pipeline.train_iterator(cfg, 8, seed=0))
  np.testing.assert_array_equal(batch["caption"], again["caption"])
  evaluation = next(pipeline.eval_iterator(cfg, None, 16, num_examples=20))
  assert evaluation["tokens"].shape == (16, 16)


@pytest.mark.parametrize("spec, match", [
    ("caption(dataset='cifar10')",
     r"dataset must be one of \('mnist', 'fashion_mnist'\)"),
    ("caption(phrasings='test')",
     r"phrasings must be one of \('train', 'heldout'\)"),
    ("caption('mnist', 'train', 3)", "too many positional"),
    ("tokenize(max_tokens=0)", r"max_tokens must be an integer in \[2,256\]"),
    ("tokenize(max_tokens=300)", r"max_tokens must be an integer in \[2,256\]"),
    ("tokenize(max_tokens=16.0)", "max_tokens must be an integer"),
    ("caption(inkey=('image', 'target'))", "one distinct key per inkey"),
])
def test_bad_caption_and_tokenize_specs(spec, match):
  with pytest.raises(ConfigError, match=match):
    pp.parse_ops([spec])


def test_caption_needs_pixels_and_a_label():
  with pytest.raises(ConfigError, match="put 'caption' before 'scale_01'"):
    pp.parse_ops(["scale_01", "caption"])
  with pytest.raises(ConfigError, match="reads the key 'label'"):
    pp.output_shapes(["caption"], {"image": (28, 28, 1)})
  with pytest.raises(ConfigError, match="reads the key 'caption'"):
    pp.output_shapes(["tokenize"], {"image": (28, 28, 1), "label": ()})
  with pytest.raises(ConfigError, match="datasets"):
    C.attribute_levels(np.zeros((28, 28, 1)), 0, "cifar10")
