"""Derived fields (genjax.data.transforms) against closed forms and
independent references (scipy, scikit-image), on real MNIST digits."""
import numpy as np
import pytest
from scipy import ndimage
from skimage import feature, transform

from genjax.data import preprocess as pp
from genjax.data import transforms as T
from genjax.errors import ConfigError
from tests.data.ops import images, run, run_one

TRANSFORMS = ("greyscale", "greyscale(channels=3)", "gaussian_blur(1.0)",
              "downsample(2)", "downsample(2, upsample='nearest')",
              "downsample(2, upsample='bilinear')", "canny", "skeleton",
              "distance_transform", "distance_transform(normalize=True)")
EIGHT_NEIGHBOURS = np.ones((3, 3), int)


def _square(n=20, top=5, left=5, size=10):
  x = np.zeros((1, n, n, 1), np.uint8)
  x[0, top:top + size, left:left + size] = 255
  return x


@pytest.mark.parametrize("spec", TRANSFORMS)
def test_batches_single_examples_and_declared_shapes(spec):
  x = images(batch=4, h=8, w=8, c=3)
  batch = run(spec, x)
  assert batch.shape[1:] == pp.output_shape([spec], x.shape[1:])
  np.testing.assert_array_equal(run_one(spec, x[2]), batch[2])


def test_greyscale_is_bt601_luma():
  x = images(batch=4, c=3)
  luma = x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
  np.testing.assert_allclose(run("greyscale", x.astype(np.float32))[..., 0],
                             luma, rtol=1e-5)
  assert np.abs(run("greyscale", x)[..., 0] - luma).max() <= 0.5 + 1e-4
  grey = np.repeat(images(batch=4, c=1), 3, axis=-1)  # R = G = B
  np.testing.assert_array_equal(run("greyscale(channels=3)", grey), grey)
  one = images(c=1)
  np.testing.assert_array_equal(run("greyscale", one), one)


def test_gaussian_kernel_sums_to_one_and_is_the_gaussian():
  for sigma in (0.5, 1.0, 2.3):
    k = T.gaussian_kernel(sigma)
    radius = int(4.0 * sigma + 0.5)
    assert len(k) == 2 * radius + 1 and abs(k.sum() - 1) < 1e-6
    np.testing.assert_allclose(k, k[::-1])
    x = np.arange(-radius, radius + 1)
    np.testing.assert_allclose(k / k[radius], np.exp(-x**2 / (2 * sigma**2)),
                               rtol=1e-5)


def test_blur_of_a_constant_is_constant():
  for value in (0, 77, 255):
    x = np.full((2, 9, 7, 3), value, np.uint8)
    np.testing.assert_array_equal(run("gaussian_blur(1.5)", x), x)
    np.testing.assert_allclose(run("gaussian_blur(1.5)", x.astype(np.float32)),
                               value, rtol=1e-5)


def test_blur_matches_scipy_on_mnist(mnist_digits):
  x = mnist_digits.astype(np.float32)
  reference = ndimage.gaussian_filter(x.astype(np.float64), (0, 1.5, 1.5, 0),
                                      mode="reflect", truncate=4.0)
  np.testing.assert_allclose(run("gaussian_blur(1.5)", x), reference,
                             atol=1e-3)
  with pytest.raises(ConfigError, match="smaller sigma"):
    run("gaussian_blur(5.0)", x[:, :10, :10])


def test_downsample_of_block_constant_images_is_exact():
  rng = np.random.default_rng(0)
  low = rng.integers(0, 256, (3, 4, 5, 2)).astype(np.uint8)
  blocks = np.repeat(np.repeat(low, 3, axis=1), 3, axis=2)  # 12 x 15
  np.testing.assert_array_equal(run("downsample(3)", blocks), low)
  np.testing.assert_array_equal(
      run("downsample(3)", blocks.astype(np.float32)), low)
  np.testing.assert_array_equal(
      run("downsample(3, upsample='nearest')", blocks), blocks)


def test_downsample_is_the_block_mean_on_mnist(mnist_digits):
  x = mnist_digits.astype(np.float32)
  reference = transform.downscale_local_mean(x, (1, 4, 4, 1))
  np.testing.assert_allclose(run("downsample(4)", x), reference, rtol=1e-5)
  up = run("downsample(4, upsample='bilinear')", x)
  assert up.shape == x.shape
  assert abs(up.mean() - x.mean()) < 0.5  # Interpolation keeps the mean.
  with pytest.raises(ConfigError, match="multiple of 3"):
    run("downsample(3)", x)


@pytest.mark.parametrize("n, top, left, size", [(20, 5, 5, 10),
                                                (16, 3, 6, 7), (24, 8, 4, 13)])
def test_canny_of_a_filled_square_is_its_boundary(n, top, left, size):
  x = _square(n, top, left, size)
  inside = x[0, ..., 0] > 0
  boundary = inside & ~ndimage.binary_erosion(inside)
  np.testing.assert_array_equal(run("canny", x)[0, ..., 0], boundary)
  assert run("canny", np.full((1, n, n, 1), 90, np.uint8)).sum() == 0


def test_canny_matches_scikit_image_on_mnist(mnist_digits):
  edges = run("canny(sigma=1.0, low=0.1, high=0.2)", mnist_digits)
  assert set(np.unique(edges)) == {0.0, 1.0}
  for digit, got in zip(mnist_digits, edges):
    expected = feature.canny(digit[..., 0] / 255.0, sigma=1.0,
                             low_threshold=0.1, high_threshold=0.2,
                             mode="reflect")
    np.testing.assert_array_equal(got[..., 0], expected)


def _zhang_suen_reference(b):
  """Zhang & Suen (1984) written from the paper: pixel loops, P2..P9 from
  north clockwise, two subiterations until nothing changes."""
  b = np.pad(b.astype(int), 1)
  order = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]
  changed = True
  while changed:
    changed = False
    for step in (1, 2):
      delete = []
      for i, j in zip(*np.nonzero(b)):
        p = [b[i + di, j + dj] for di, dj in order]  # p[0] = P2
        a = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
        if step == 1:
          ok = p[0] * p[2] * p[4] == 0 and p[2] * p[4] * p[6] == 0
        else:
          ok = p[0] * p[2] * p[6] == 0 and p[0] * p[4] * p[6] == 0
        if 2 <= sum(p) <= 6 and a == 1 and ok:
          delete.append((i, j))
      for i, j in delete:
        b[i, j] = 0
      changed |= bool(delete)
  return b[1:-1, 1:-1]


def test_skeleton_is_zhang_suen_and_keeps_the_topology(mnist_digits):
  digits = mnist_digits[:8]
  skeletons = run("skeleton(threshold=0.5)", digits)[..., 0]
  for digit, got in zip(digits, skeletons):
    fg = digit[..., 0] / 255.0 > 0.5
    np.testing.assert_array_equal(got, _zhang_suen_reference(fg))
    assert (got <= fg).all()  # Inside the foreground.
    assert (ndimage.label(got, EIGHT_NEIGHBOURS)[1]
            == ndimage.label(fg, EIGHT_NEIGHBOURS)[1])


def test_skeleton_of_lines_and_bars():
  lines = np.zeros((12, 14), np.uint8)
  lines[2, 2:11] = 255       # A horizontal line, then a vertical one.
  lines[2:10, 10] = 255
  np.fill_diagonal(lines[4:, :6], 255)  # A diagonal line.
  np.testing.assert_array_equal(run_one("skeleton", lines[..., None])[..., 0],
                                lines > 0)
  bar = np.zeros((9, 21, 1), np.uint8)
  bar[2:7, 2:19] = 255       # 5 x 17: thinned onto its middle row.
  rows, cols = np.nonzero(run_one("skeleton", bar)[..., 0])
  assert set(rows) == {4} and len(cols) > 8
  assert cols.max() - cols.min() + 1 == len(cols)  # One segment.


def test_distance_transform_of_a_single_pixel_is_the_euclidean_distance():
  x = np.zeros((1, 9, 13, 1), np.uint8)
  x[0, 2, 7] = 255
  i, j = np.meshgrid(np.arange(9), np.arange(13), indexing="ij")
  np.testing.assert_allclose(run("distance_transform", x)[0, ..., 0],
                             np.hypot(i - 2, j - 7), rtol=1e-6)
  empty = run("distance_transform(normalize=True)", np.zeros_like(x))
  np.testing.assert_allclose(empty, 1.0)


def test_distance_transform_matches_scipy_on_mnist(mnist_digits):
  got = run("distance_transform(threshold=0.3)", mnist_digits)[..., 0]
  for digit, distances in zip(mnist_digits, got):
    background = ~(digit[..., 0] / 255.0 > 0.3)
    np.testing.assert_allclose(
        distances, ndimage.distance_transform_edt(background), atol=1e-5)
  normalized = run("distance_transform(threshold=0.3, normalize=True)",
                   mnist_digits)[..., 0]
  np.testing.assert_allclose(normalized, got / np.hypot(28, 28), rtol=1e-5)
