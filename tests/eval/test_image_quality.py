"""PSNR and SSIM against scikit-image's, on random and on real images."""
import numpy as np
import pytest
from scipy import ndimage
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genjax.errors import ConfigError
from genjax.eval import image_quality as Q


def camera_crops():
  """Two 28x28 grey crops of skimage's camera in [0, 1]."""
  im = skdata.camera().astype(np.float64) / 255.0
  return np.stack([im[100:128, 200:228], im[300:328, 150:178]])[..., None]


def astronaut_crops():
  """Two 32x32 colour crops of skimage's astronaut in [-1, 1]."""
  im = skdata.astronaut().astype(np.float64) / 127.5 - 1.0
  return np.stack([im[60:92, 200:232], im[250:282, 300:332]])


def degraded(x, seed, lo, hi):
  """A restoration-like second image: blurred plus noise, clipped to the range."""
  noise = np.random.default_rng(seed).normal(0.0, 0.1 * (hi - lo), x.shape)
  return np.clip(ndimage.gaussian_filter(x, (0, 1.0, 1.0, 0)) + noise, lo, hi)


def pairs():
  rng = np.random.default_rng(0)
  random = rng.uniform(0, 1, (2, 16, 20, 2))
  cam, astro = camera_crops(), astronaut_crops()
  return [
      ("random", random, rng.uniform(0, 1, random.shape), 1.0),
      ("random_close", random, np.clip(random + rng.normal(0, 0.05, random.shape), 0, 1), 1.0),
      ("camera", cam, degraded(cam, 1, 0.0, 1.0), 1.0),
      ("astronaut", astro, degraded(astro, 2, -1.0, 1.0), 2.0),
  ]


PAIRS = pairs()
IDS = [p[0] for p in PAIRS]


def skimage_ssim(a, b, data_range, gaussian):
  kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False) if gaussian else {}
  return np.array([structural_similarity(a[i], b[i], data_range=data_range, channel_axis=-1, **kw)
                   for i in range(len(a))])


@pytest.mark.parametrize("name, a, b, data_range", PAIRS, ids=IDS)
@pytest.mark.parametrize("gaussian", (True, False))
def test_ssim_matches_skimage(name, a, b, data_range, gaussian):
  got = np.asarray(Q.ssim(a.astype(np.float32), b.astype(np.float32), data_range, gaussian))
  want = skimage_ssim(a.astype(np.float32).astype(np.float64),
                      b.astype(np.float32).astype(np.float64), data_range, gaussian)
  assert got.shape == (len(a),)
  np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("name, a, b, data_range", PAIRS, ids=IDS)
def test_psnr_matches_skimage(name, a, b, data_range):
  a, b = a.astype(np.float32), b.astype(np.float32)
  got = np.asarray(Q.psnr(a, b, data_range))
  want = [peak_signal_noise_ratio(a[i].astype(np.float64), b[i].astype(np.float64),
                                  data_range=data_range) for i in range(len(a))]
  np.testing.assert_allclose(got, want, atol=1e-4)


def test_identical_images():
  cam = camera_crops().astype(np.float32)
  np.testing.assert_allclose(Q.ssim(cam, cam, 1.0), 1.0, atol=1e-6)
  np.testing.assert_allclose(Q.ssim(cam, cam, 1.0, gaussian=False), 1.0, atol=1e-6)
  assert np.all(np.isinf(np.asarray(Q.psnr(cam, cam, 1.0))))


def test_window_larger_than_image_is_a_config_error():
  x = np.zeros((1, 8, 8, 1), np.float32)
  with pytest.raises(ConfigError, match="11x11 window does not fit images of 8x8"):
    Q.ssim(x, x, 1.0)
  assert Q.ssim(x, x, 1.0, gaussian=False).shape == (1,)
