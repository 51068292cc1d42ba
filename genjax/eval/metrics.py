"""Sample-quality metrics on feature vectors: pure functions of arrays.

Host-side statistics are float64 NumPy (covariances of 2048-d features lose
digits in float32); the O(n^2) parts (kernels, distances) run in jitted JAX in
row chunks, so 50k x 50k never sits in memory.

- ``frechet_distance`` — FID, Heusel et al. 2017, eq. (6):
  ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}).
- ``kid`` — Kernel Inception Distance, Binkowski et al. 2018, eq. (2)/(3):
  unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, over disjoint subsets.
- ``precision_recall`` — improved precision and recall, Kynkaanniemi et al.
  2019, eqs. (1)-(3): k-NN balls around each feature as the manifold.
- ``inception_score`` — Salimans et al. 2016: exp E_x KL(p(y|x) || p(y)).
- ``class_histogram`` / ``conditional_accuracy`` — classifier read-outs for
  mode coverage and class-conditional fidelity.
"""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np


# --------------------------------------------------------------------- FID

def sqrtm_psd(a):
  """Principal square root of a symmetric positive semi-definite matrix.

  Through the eigendecomposition ``a = V diag(w) V^T`` (w clipped at 0, which
  removes the tiny negative eigenvalues rounding leaves in a singular
  covariance): stable where the Schur-based ``scipy.linalg.sqrtm`` returns
  complex noise on rank-deficient inputs.
  """
  a = np.asarray(a, np.float64)
  a = 0.5 * (a + a.T)
  w, v = np.linalg.eigh(a)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1, sigma2):
  """Tr((S_1 S_2)^{1/2}) for PSD S_1, S_2.

  The eigenvalues of S_1 S_2 are the squared singular values of
  A = S_1^{1/2} S_2^{1/2} (S_1 S_2 ~ A A^T by similarity), so the trace is
  A's nuclear norm. Taking singular values of A, rather than eigenvalues of
  A A^T, never squares the rounding noise of a rank-deficient covariance:
  FID of a set with itself stays 0 to ~1e-12 even with fewer samples than
  dimensions, where sqrt(eig(S_1^{1/2} S_2 S_1^{1/2})) leaves ~1e-5.
  """
  a = sqrtm_psd(sigma1) @ sqrtm_psd(sigma2)
  return float(np.sum(np.linalg.svd(a, compute_uv=False)))


def frechet_distance(mu1, sigma1, mu2, sigma2):
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (FID, eq. 6)."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  diff = mu1 - mu2
  tr = (np.trace(np.asarray(sigma1, np.float64)) +
        np.trace(np.asarray(sigma2, np.float64)) -
        2.0 * trace_sqrt_product(sigma1, sigma2))
  return float(diff @ diff + tr)


def mean_cov(features):
  """Sample mean and unbiased covariance (float64) of [N, D] features."""
  f = np.asarray(features, np.float64)
  if f.ndim != 2 or f.shape[0] < 2:
    raise ValueError(f"need [N>=2, D] features; got shape {f.shape}")
  mu = f.mean(axis=0)
  c = f - mu
  return mu, (c.T @ c) / (f.shape[0] - 1)


def warn_if_few(n, dim, what="FID"):
  """Warns when N samples cannot give a full-rank D x D covariance."""
  if n < dim + 1:
    warnings.warn(
        f"{what} from {n} samples of {dim}-d features: the covariance has "
        f"rank <= {n - 1} < {dim}, so the value is biased and unstable. Use "
        f"at least {dim + 1} samples (10,000 or more to compare with papers).",
        RuntimeWarning, stacklevel=3)


def fid(features1, features2):
  """FID between two [N, D] feature sets."""
  warn_if_few(min(len(features1), len(features2)), np.shape(features1)[1])
  return frechet_distance(*mean_cov(features1), *mean_cov(features2))


# --------------------------------------------------------------------- KID

@jax.jit
def _mmd2_unbiased(x, y):
  """Unbiased MMD^2 with the cubic polynomial kernel (KID, eq. 2 of Binkowski)."""
  d = x.shape[1]
  hp = jax.lax.Precision.HIGHEST
  k = lambda a, b: (jnp.matmul(a, b.T, precision=hp) / d + 1.0) ** 3
  m, n = x.shape[0], y.shape[0]
  kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
  sxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (m * (m - 1))
  syy = (jnp.sum(kyy) - jnp.trace(kyy)) / (n * (n - 1))
  return sxx + syy - 2.0 * jnp.mean(kxy)


def kid(features1, features2, subset_size=1000, seed=0):
  """KID: mean unbiased MMD^2 over disjoint random subsets, and its standard error.

  Subsets of ``subset_size`` (as Binkowski et al. and torch-fidelity use) are
  drawn *without overlap*, so the subset estimates are independent and
  std/sqrt(count) is an honest standard error. With fewer than two subsets'
  worth of samples the set is split in two halves.

  Returns ``(kid, stderr)``.
  """
  f1 = np.asarray(features1, np.float32)
  f2 = np.asarray(features2, np.float32)
  n = min(len(f1), len(f2))
  if n < 4:
    raise ValueError(f"KID needs at least 4 samples per set; got {n}")
  count = max(2, n // subset_size)
  size = n // count
  rng = np.random.default_rng(seed)
  p1, p2 = rng.permutation(len(f1)), rng.permutation(len(f2))
  vals = np.array([
      float(_mmd2_unbiased(f1[p1[i * size:(i + 1) * size]],
                           f2[p2[i * size:(i + 1) * size]]))
      for i in range(count)])
  return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(count))


# ------------------------------------------------------- precision / recall

@jax.jit
def _sq_dists(a, b):
  hp = jax.lax.Precision.HIGHEST
  d = (jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] -
       2.0 * jnp.matmul(a, b.T, precision=hp))
  return jnp.maximum(d, 0.0)


def _chunks(n, size):
  return [(i, min(i + size, n)) for i in range(0, n, size)]


def knn_radii(features, k=3, chunk=1024):
  """Squared distance from each feature to its k-th nearest other feature."""
  f = jnp.asarray(features, jnp.float32)
  if f.shape[0] <= k:
    raise ValueError(f"k-NN radii need more than k={k} samples; got {f.shape[0]}")
  out = []
  for s, e in _chunks(f.shape[0], chunk):
    d = _sq_dists(f[s:e], f)
    # The k+1 smallest include the point itself (distance 0).
    out.append(-jax.lax.top_k(-d, k + 1)[0][:, k])
  return np.asarray(jnp.concatenate(out))


def coverage_of(manifold, radii, queries, chunk=1024):
  """Share of ``queries`` inside at least one ball (manifold[i], radii[i])."""
  m = jnp.asarray(manifold, jnp.float32)
  r = jnp.asarray(radii, jnp.float32)
  q = jnp.asarray(queries, jnp.float32)
  inside = 0
  for s, e in _chunks(q.shape[0], chunk):
    inside += int(jnp.sum(jnp.any(_sq_dists(q[s:e], m) <= r[None, :], axis=1)))
  return inside / q.shape[0]


def precision_recall(real, fake, k=3, real_radii=None):
  """Improved precision and recall (Kynkaanniemi et al. 2019).

  precision = share of fake features inside the real manifold (eq. 2),
  recall = share of real features inside the fake manifold (eq. 3); each
  manifold is the union of balls reaching each point's k-th neighbour (eq. 1).
  ``real_radii`` may be passed in when cached with the reference statistics.
  """
  if real_radii is None:
    real_radii = knn_radii(real, k)
  fake_radii = knn_radii(fake, k)
  return coverage_of(real, real_radii, fake), coverage_of(fake, fake_radii, real)


# ------------------------------------------------------ classifier read-outs

def inception_score(logits, splits=10):
  """IS = exp(E_x KL(p(y|x) || p(y))) over ``splits`` chunks; (mean, std)."""
  logp = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)
  logp = np.asarray(logp, np.float64)
  scores = []
  for part in np.array_split(logp, splits):
    p = np.exp(part)
    log_py = np.log(np.mean(p, axis=0) + 1e-30)
    kl = np.sum(p * (part - log_py[None, :]), axis=1)
    scores.append(math.exp(float(np.mean(kl))))
  return float(np.mean(scores)), float(np.std(scores))


def class_histogram(logits, num_classes):
  """Share of samples the classifier assigns to each class (mode coverage)."""
  pred = np.argmax(np.asarray(logits), axis=-1)
  return np.bincount(pred, minlength=num_classes) / max(len(pred), 1)


def conditional_accuracy(logits, labels):
  """Share of samples conditioned on class c that the classifier assigns to c."""
  pred = np.argmax(np.asarray(logits), axis=-1)
  return float(np.mean(pred == np.asarray(labels)))
