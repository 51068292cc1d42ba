"""Inpainting masks (genjax.data.masks): closed forms, per-example
randomness, and alignment of fields drawn with the same seed."""
import numpy as np
import pytest

from genjax.data import preprocess as pp
from genjax.data._tf import tf
from tests.data.ops import SEED, images, run, run_one

MASKS = ("random_pixel_mask(0.3)", "random_box_mask", "centre_box_mask(0.5)",
         "half_mask('top')", "half_mask('random')")


def _box(h, w, top, left, height, width):
  m = np.zeros((h, w, 1), np.float32)
  m[top:top + height, left:left + width] = 1
  return m


def _bounding_box(mask):
  rows, cols = np.nonzero(mask[..., 0])
  return rows.min(), cols.min(), np.ptp(rows) + 1, np.ptp(cols) + 1


@pytest.mark.parametrize("spec", MASKS)
def test_masks_are_binary_one_channel_and_read_only_the_shape(spec):
  x = images(batch=6, h=10, w=12, c=3)
  mask = run(spec, x)
  assert mask.shape == (6, 10, 12, 1) and mask.dtype == np.float32
  assert set(np.unique(mask)) <= {0.0, 1.0}
  assert pp.output_shape([spec], x.shape[1:]) == (10, 12, 1)
  np.testing.assert_array_equal(mask, run(spec, 255 - x))  # Content-free.
  assert run_one(spec, x[0]).shape == (10, 12, 1)


def test_centre_box_and_halves_are_their_closed_forms():
  x = images(batch=2, h=9, w=12, c=1)
  np.testing.assert_array_equal(run("centre_box_mask(0.5)", x)[0],
                                _box(9, 12, 2, 3, 4, 6))  # round(4.5) = 4
  halves = {"left": _box(9, 12, 0, 0, 9, 6), "right": _box(9, 12, 0, 6, 9, 6),
            "top": _box(9, 12, 0, 0, 4, 12),
            "bottom": _box(9, 12, 5, 0, 4, 12)}
  for side, expected in halves.items():
    np.testing.assert_array_equal(run(f"half_mask({side!r})", x)[1], expected)
  randoms = run("half_mask('random')", images(batch=64, h=9, w=12, c=1))
  found = [[np.array_equal(m, e) for e in halves.values()] for m in randoms]
  assert all(sum(f) == 1 for f in found)  # Each one of the four halves,
  assert all(np.any(found, axis=0))       # and every half appears.


def test_random_boxes_are_boxes_of_the_asked_size():
  h, w = 20, 16
  masks = run("random_box_mask(min_size=0.25, max_size=0.5)",
              images(batch=200, h=h, w=w, c=1))
  boxes = np.array([_bounding_box(m) for m in masks])
  for m, (top, left, height, width) in zip(masks, boxes):
    np.testing.assert_array_equal(m, _box(h, w, top, left, height, width))
  assert boxes[:, 2].min() >= 5 and boxes[:, 2].max() <= 10  # 0.25..0.5 x 20
  assert boxes[:, 3].min() >= 4 and boxes[:, 3].max() <= 8   # 0.25..0.5 x 16
  assert boxes[:, 0].min() == 0 and (boxes[:, 0] + boxes[:, 2]).max() == h
  assert len({tuple(b) for b in boxes}) > 100  # Per example, not per batch.


def test_random_pixel_mask_has_rate_p():
  mask = run("random_pixel_mask(p=0.3)", images(batch=50, h=20, w=20, c=1))
  assert abs(mask.mean() - 0.3) < 0.01  # 20k pixels: std 0.003.


@pytest.mark.parametrize("spec", ["random_pixel_mask", "random_box_mask",
                                  "half_mask('random')"])
def test_random_masks_depend_on_the_seed_only(spec):
  x = images(batch=16, h=12, w=12, c=1)
  a, b = run(spec, x, seed=(1, 2)), run(spec, x, seed=(1, 3))
  assert not np.array_equal(a, b)
  np.testing.assert_array_equal(a, run(spec, x, seed=(1, 2)))


def test_the_same_seed_aligns_masks_of_image_and_target():
  example = {"image": images(batch=8, h=12, w=12, c=3),
             "target": images(batch=8, h=12, w=12, c=1, seed=5)}
  spec = ("random_box_mask(inkey=('image', 'target'), "
          "outkey=('mask', 'target_mask'))")
  first = run(spec, None, key="mask", example=example)
  assert first.reshape(8, -1).sum(axis=1).min() > 0
  np.testing.assert_array_equal(
      first, run(spec, None, key="target_mask", example=example))
  # Two ops at one position of a list get the same folded seed too.
  seed = tf.constant(SEED, tf.int64)
  tensors = {k: tf.constant(v) for k, v in example.items()}
  a = pp.apply_ops(["random_box_mask(outkey='mask')"], tensors, seed)
  b = pp.apply_ops(["random_box_mask(inkey='target', outkey='mask')"],
                   tensors, seed)
  np.testing.assert_array_equal(a["mask"], b["mask"])
