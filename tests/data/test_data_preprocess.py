"""Preprocessing ops against their definitions, eagerly and inside tf.data."""
import numpy as np
import pytest

from genjax.data import preprocess as pp
from genjax.data._tf import tf
from genjax.errors import ConfigError
from tests.data.ops import SEED, images, run

RANDOM_OPS = ("dequantize", "binarize_dynamic", "flip_lr")
ALL_OPS = ("scale_01", "scale_pm1", "dequantize", "binarize_dynamic",
           "binarize_static(0.3)", "resize(7, 5)", "flip_lr")


def test_scale_01_and_scale_pm1():
  x = images().astype(np.float32)
  np.testing.assert_allclose(run("scale_01", images()), x / 255, rtol=1e-6)
  np.testing.assert_allclose(run("scale_pm1", images()), x / 127.5 - 1,
                             atol=1e-6)


def test_dequantize_floors_back_to_the_pixels():
  x = images(batch=64)
  y = run("dequantize", x)
  assert y.dtype == np.float32 and y.min() >= 0 and y.max() < 1
  np.testing.assert_array_equal(np.floor(256 * y), x)
  assert abs((256 * y - x).mean() - 0.5) < 0.02  # u ~ U[0,1)


def test_binarize_dynamic_has_mean_x_over_255():
  x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
  x = np.tile(x, (20, 1, 1, 1))
  samples = np.stack([run("binarize_dynamic", x, seed=(s, 0), batch_size=0)
                      for s in range(25)])
  assert set(np.unique(samples)) <= {0.0, 1.0}
  mean = samples.mean(axis=(0, 1))
  # 500 samples per pixel: the standard error is at most 0.023.
  np.testing.assert_allclose(mean, x[0] / 255, atol=0.1)
  assert mean[0, 0] == 0 and mean[-1, -1] == 1


def test_binarize_static_threshold():
  x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
  np.testing.assert_array_equal(run("binarize_static", x), x / 255 > 0.5)
  np.testing.assert_array_equal(
      run("binarize_static(threshold=0.2)", x), x / 255 > 0.2)


def _bilinear_weights(n_in, n_out):
  """Rows: the triangle-kernel weights of each output pixel (antialiased)."""
  scale = n_out / n_in
  kernel_scale = min(scale, 1.0)  # Widened by 1/scale when shrinking.
  centres = (np.arange(n_out) + 0.5) / scale
  dist = np.abs(np.arange(n_in)[None, :] + 0.5 - centres[:, None])
  w = np.maximum(0.0, 1.0 - dist * kernel_scale)
  return w / w.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("h, w", [(2, 3), (8, 10), (5, 12)])
def test_resize_is_antialiased_bilinear(h, w):
  x = images(batch=2, h=6, w=7, c=1).astype(np.float32)
  expected = np.einsum("hi,bijc,wj->bhwc", _bilinear_weights(6, h), x,
                       _bilinear_weights(7, w))
  np.testing.assert_allclose(run(f"resize({h}, {w})", x), expected, atol=1e-3)


def test_resize_shapes_and_dtypes():
  x = images(h=8, w=8)
  small = run("resize(4)", x)
  assert small.shape == (8, 4, 4, 2) and small.dtype == np.uint8
  exact = run("resize(4)", x.astype(np.float32))
  np.testing.assert_array_equal(small, np.round(exact))  # uint8 in, uint8 out
  big = run("resize(16, 12)", x.astype(np.float32))
  assert big.shape == (8, 16, 12, 2) and big.dtype == np.float32
  constant = np.full((2, 8, 8, 1), 77, np.uint8)
  np.testing.assert_array_equal(run("resize(3)", constant), 77)


def test_pad_adds_a_constant_border_as_numpy_pad():
  x = images(h=6, w=5)
  expected = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
  padded = run("pad(2)", x)
  np.testing.assert_array_equal(padded, expected)
  assert padded.dtype == np.uint8
  scaled = x.astype(np.float32) / 127.5 - 1
  grey = run("pad(1, value=-1)", scaled)
  np.testing.assert_array_equal(grey[:, 0], -1)
  np.testing.assert_array_equal(grey[:, 1:-1, 1:-1], scaled)
  assert pp.output_shape(["pad(2)", "scale_pm1"], (28, 28, 1)) == (32, 32, 1)


def test_flip_lr_flips_whole_examples_about_half():
  x = images(batch=400, seed=1, extremes=False)
  y = run("flip_lr", x)
  same = (y == x).all(axis=(1, 2, 3))
  flipped = (y == x[:, :, ::-1]).all(axis=(1, 2, 3))
  assert (same ^ flipped).all()  # Each example: exactly one of the two.
  assert 150 < flipped.sum() < 250
  one = pp.parse_op("flip_lr")({"image": tf.constant(x[5])},
                               tf.constant(SEED))["image"].numpy()
  assert (one == x[5]).all() or (one == x[5][:, ::-1]).all()


@pytest.mark.parametrize("spec", ALL_OPS)
def test_ops_work_on_single_examples(spec):
  x = images()
  one = pp.parse_op(spec)({"image": tf.constant(x[2])}, tf.constant(SEED))
  assert one["image"].shape == pp.output_shape([spec], x.shape[1:])


@pytest.mark.parametrize("spec", ALL_OPS)
def test_ops_are_deterministic_and_keep_other_keys(spec):
  x = images()
  example = {"image": tf.constant(x), "label": tf.range(len(x))}
  a = pp.apply_ops([spec], example, tf.constant(SEED))
  b = pp.apply_ops([spec], example, tf.constant(SEED))
  np.testing.assert_array_equal(a["image"], b["image"])
  np.testing.assert_array_equal(a["label"], example["label"])
  assert a["image"].shape[1:] == pp.output_shape([spec], x.shape[1:])


@pytest.mark.parametrize("spec", RANDOM_OPS)
def test_random_ops_depend_on_the_seed(spec):
  x = images(batch=64)
  a, b = run(spec, x, seed=(1, 2)), run(spec, x, seed=(1, 3))
  assert not np.array_equal(a, b)


def test_training_only_ops_are_skipped_at_eval():
  x = tf.constant(images())
  out = pp.apply_ops(["flip_lr", "scale_01"], {"image": x}, tf.constant(SEED),
                     train=False)
  np.testing.assert_allclose(out["image"], x.numpy() / 255.0, rtol=1e-6)
  assert [op.name for op in pp.parse_ops("flip_lr|resize(3)") if op.train_only
         ] == ["flip_lr"]


def test_output_shape():
  assert pp.output_shape([], (28, 28, 1)) == (28, 28, 1)
  assert pp.output_shape(["resize(32)", "flip_lr", "scale_pm1"],
                         (28, 28, 1)) == (32, 32, 1)
  assert pp.output_shape(["resize(8, w=4)"], (None, None, 3)) == (8, 4, 3)


@pytest.mark.parametrize("spec, match", [
    ("sclae_01", "Unknown preprocessing op 'sclae_01'. Did you mean"),
    ("resize", "missing a required argument"),
    ("resize(0)", "positive integers"),
    ("pad(-1)", "size must be an integer >= 0"),
    ("resize(2, 3, 4)", "too many positional"),
    ("binarize_static(1.5)", r"threshold must be a number in \[0,1\]"),
    ("resize(size)", "Python literals"),
    ("os.system('x')", "Cannot parse"),
    ("resize(3, inkey=1)", "inkey must be a key or a tuple of keys"),
    ("resize(3, outkey=())", "outkey must be a key or a tuple of keys"),
    ("flip_lr(inkey=('image', 'target'), outkey='x')", "one distinct key"),
    ("flip_lr(inkey=('image', 'target'), outkey=('x', 'x'))", "one distinct"),
    ("canny(sigma=0)", r"sigma must be a number in \(0,"),
    ("canny(low=0.3, high=0.2)", "need low <= high"),
    ("downsample(2, upsample='cubic')", "upsample must be one of"),
    ("downsample(1.5)", "factor must be a positive integer"),
    ("greyscale(channels=2)", "channels must be 1 or 3"),
    ("random_box_mask(0.6, 0.5)", "need min_size <= max_size"),
    ("random_pixel_mask(p=2)", r"p must be a number in \[0,1\]"),
    ("centre_box_mask(0)", r"size must be a number in \(0,1\]"),
    ("half_mask('middle')", "side must be one of"),
    ("distance_transform(normalize=1)", "normalize must be True or False"),
])
def test_bad_specs(spec, match):
  with pytest.raises(ConfigError, match=match):
    pp.parse_ops([spec])


def test_only_one_value_op():
  with pytest.raises(ConfigError, match="only one of them"):
    pp.parse_ops(["scale_01", "dequantize"])


# --------------------------------------------------------------------------
# Named keys: inkey / outkey.


def test_default_keys_are_image():
  op = pp.parse_op("resize(3)")
  assert op.inkeys == op.outkeys == ("image",)
  explicit = pp.parse_op("resize(3, inkey='image', outkey='image')")
  x = images(h=8, w=8)
  np.testing.assert_array_equal(run("resize(3)", x), run(explicit, x))


def test_outkey_writes_a_new_field_and_keeps_the_input():
  x = images()
  out = pp.apply_ops(["scale_01(outkey='target')"], {"image": tf.constant(x)},
                     tf.constant(SEED))
  np.testing.assert_array_equal(out["image"], x)
  np.testing.assert_allclose(out["target"], x / 255.0, rtol=1e-6)


def test_outkey_defaults_to_the_inkey():
  x, y = images(seed=1), images(seed=2)
  got = run("scale_pm1(inkey='target')", None, key="target",
            example={"image": x, "target": y})
  np.testing.assert_allclose(got, y / 127.5 - 1, atol=1e-6)
  out = pp.parse_op("scale_pm1(inkey='target')")(
      {"image": tf.constant(x), "target": tf.constant(y)}, tf.constant(SEED))
  np.testing.assert_array_equal(out["image"], x)


def test_a_tuple_of_keys_shares_the_seed():
  x = images(batch=64, seed=3, extremes=False)
  example = {"image": x, "target": x.copy()}
  spec = "flip_lr(inkey=('image', 'target'))"
  flipped = run(spec, None, example=example)
  np.testing.assert_array_equal(flipped, run(spec, None, key="target",
                                             example=example))
  assert not np.array_equal(flipped, x)  # Some examples were flipped.
  swap = pp.parse_op("scale_01(inkey=('image', 'target'), "
                     "outkey=('target', 'image'))")
  out = swap({"image": tf.constant(x), "target": tf.constant(x[::-1])}, None)
  np.testing.assert_allclose(out["target"], x / 255.0, rtol=1e-6)


def test_a_value_op_per_key():
  pp.parse_ops(["scale_01", "scale_pm1(inkey='target')"])  # one each: fine
  with pytest.raises(ConfigError, match="may write 'target'"):
    pp.parse_ops(["scale_01(outkey='target')", "scale_pm1(inkey='target')"])


def test_output_shapes_and_written_keys_follow_the_keys():
  ops = ["resize(8)", "canny(outkey='control')", "greyscale(channels=3)",
         "downsample(2, outkey='low')"]
  shapes = pp.output_shapes(ops, {"image": (28, 28, 1), "label": ()})
  assert shapes == {"image": (8, 8, 3), "label": (), "control": (8, 8, 1),
                    "low": (4, 4, 3)}
  assert pp.output_shape(ops, (28, 28, 1), key="control") == (8, 8, 1)
  assert pp.written_keys(ops) == ("image", "control", "low")


def test_reading_a_missing_key_names_the_keys():
  op = pp.parse_op("canny(inkey='target')")
  with pytest.raises(ConfigError, match="reads the key 'target'.*image, label"):
    op({"image": tf.zeros([8, 8, 1]), "label": tf.constant(0)}, None)
  with pytest.raises(ConfigError, match="reads the key 'target'"):
    pp.output_shapes([op], {"image": (8, 8, 1)})


# --------------------------------------------------------------------------
# Ops that read several fields, and ops with their own default keys.


def test_ops_with_their_own_default_keys():
  caption, tokens = pp.parse_op("caption"), pp.parse_op("tokenize")
  assert (caption.inkeys, caption.outkeys) == (("image",), ("caption",))
  assert (tokens.inkeys, tokens.outkeys) == (("caption",), ("tokens",))
  moved = pp.parse_op("caption(inkey='target', outkey='text')")
  assert (moved.inkeys, moved.outkeys) == (("target",), ("text",))
  shapes = pp.output_shapes(["caption", "tokenize(max_tokens=12)", "scale_01"],
                            {"image": (28, 28, 1), "label": ()})
  assert shapes == {"image": (28, 28, 1), "label": (), "caption": (),
                    "tokens": (12,)}
  assert pp.written_keys(["caption", "tokenize"]) == ("caption", "tokens")


def test_an_example_op_reads_its_inkey_as_the_image_and_the_label():
  x = images(batch=4, h=28, w=28, c=1, extremes=False)
  labels = np.arange(4)
  example = {"image": tf.zeros_like(x), "target": tf.constant(x),
             "label": tf.constant(labels)}
  seed = tf.constant(SEED, tf.int64)
  got = pp.parse_op("caption(inkey='target')")(example, seed)
  same = pp.parse_op("caption")({"image": tf.constant(x),
                                 "label": tf.constant(labels)}, seed)
  np.testing.assert_array_equal(got["caption"], same["caption"])
  np.testing.assert_array_equal(got["target"], x)  # inputs kept
  with pytest.raises(ConfigError, match="reads the key 'label'"):
    pp.parse_op("caption")({"image": tf.constant(x)}, seed)


def test_pixel_measuring_ops_come_before_their_keys_value_op():
  pp.parse_ops(["caption", "scale_01"])
  pp.parse_ops(["scale_01(inkey='target')", "caption"])  # another key: fine
  with pytest.raises(ConfigError, match="put 'caption' before 'scale_pm1'"):
    pp.parse_ops(["scale_pm1", "caption"])
  with pytest.raises(ConfigError, match="measures the \\[0,255\\] pixels of "
                     "'target'"):
    pp.parse_ops(["dequantize(outkey='target')", "caption(inkey='target')"])


def test_when_runs_an_op_in_training_or_evaluation_passes_only():
  ops = pp.parse_ops(["binarize_static(0.5, when='train', outkey='t')",
                              "scale_01(when='eval', inkey='image', outkey='e')"])
  example = {"image": tf.constant([[[200], [10]]], tf.uint8)}
  seed = tf.constant([0, 0], tf.int64)
  train = pp.apply_ops(ops, example, seed, train=True)
  evaluation = pp.apply_ops(ops, example, seed, train=False)
  assert "t" in train and "e" not in train
  assert "e" in evaluation and "t" not in evaluation
  np.testing.assert_allclose(evaluation["e"].numpy().ravel(), [200 / 255, 10 / 255],
                             atol=1e-6)
  with pytest.raises(ConfigError, match="when must be one of"):
    pp.parse_op("scale_01(when='test')")
