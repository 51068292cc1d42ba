"""Degradation operators against brute-force dense matrices and their SVDs
against numpy's, on tiny images.

The references are built independently of the code under test: pooling by
explicit block loops, bicubic downsampling by jax.image.resize itself, blur by
scipy.ndimage.gaussian_filter, masks by hand; the dense matrix of a task is
its reference applied to every basis image.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from genjax.errors import ConfigError
from genjax.families.diffusion import degradations as D

SHAPE = (2, 8, 8, 3)
SEPARABLE = ("sr2", "sr4", "sr2_pool", "sr4_pool", "deblur", "denoise", "colourise")
MASKS = ("inpaint_box", "inpaint_half", "inpaint_random", "inpaint_field")
RNG = jax.random.PRNGKey(0)


def pooled(x, f):
  """Average pooling by explicit loops over the output blocks."""
  b, h, w, c = x.shape
  y = np.zeros((b, h // f, w // f, c))
  for a in range(h // f):
    for d in range(w // f):
      y[:, a, d] = x[:, a * f:(a + 1) * f, d * f:(d + 1) * f].mean(axis=(1, 2))
  return y


def reference_separable(task, x):
  b, h, w, c = x.shape
  if task.endswith("_pool"):
    return pooled(x, int(task[2]))
  if task.startswith("sr"):
    f = int(task[2])
    return np.asarray(jax.image.resize(jnp.asarray(x, jnp.float32), (b, h // f, w // f, c),
                                       method="cubic", antialias=True), np.float64)
  if task == "deblur":
    return ndimage.gaussian_filter(x, 1.5, mode="reflect", radius=5, axes=(1, 2))
  if task == "denoise":
    return x
  return x.mean(axis=-1, keepdims=True)        # colourise


def expected_keep(task, shape):
  """The hand-made masks: inpaint_box misses the centre half of each side,
  inpaint_half the right half."""
  _, h, w, _ = shape
  keep = np.ones((h, w, 1))
  if task == "inpaint_box":
    keep[h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2] = 0
  else:
    keep[:, w // 2:] = 0
  return np.broadcast_to(keep, shape[:3] + (1,))


@functools.lru_cache(maxsize=None)
def dense_separable(task, shape):
  """[m, n]: the reference applied to each of the n basis images."""
  n = int(np.prod(shape[1:]))
  basis = np.eye(n).reshape((n,) + tuple(shape[1:]))
  return reference_separable(task, basis).reshape(n, -1).T


def field_batch(shape, seed=3):
  mask = (np.random.default_rng(seed).random(shape[:3] + (1,)) < 0.5).astype(np.float32)
  return {"mask": jnp.asarray(mask)}


def make(task, shape=SHAPE, **kw):
  return D.make_operator(task, shape, batch=field_batch(shape), rng=RNG, **kw)


def rand(shape, seed):
  return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def dense_of(op, task, shape):
  """Per example dense matrices [B, m, n] of the reference operator."""
  if task in SEPARABLE:
    a = dense_separable(task, shape)
    return np.broadcast_to(a, (shape[0],) + a.shape)
  keep = np.asarray(op.keep, np.float64)
  if task in ("inpaint_box", "inpaint_half"):
    np.testing.assert_array_equal(keep, expected_keep(task, shape))
  keep = np.broadcast_to(keep, shape).reshape(shape[0], -1)
  return np.stack([np.diag(k) for k in keep])


def flat(a):
  return np.asarray(a, np.float64).reshape(a.shape[0], -1)


@pytest.mark.parametrize("task", SEPARABLE + MASKS)
def test_apply_and_adjoint_equal_the_dense_matrix(task):
  op = make(task, threshold=0.0)
  a = dense_of(op, task, SHAPE)
  x = rand(SHAPE, 1)
  y = rand(D.measurement_shape(op, SHAPE), 2)
  ax, aty = D.apply(op, x), D.adjoint(op, y)
  assert ax.shape == y.shape and aty.shape == SHAPE
  np.testing.assert_allclose(flat(ax), np.einsum("bmn,bn->bm", a, flat(x)), atol=1e-5)
  np.testing.assert_allclose(flat(aty), np.einsum("bmn,bm->bn", a, flat(y)), atol=1e-5)
  # <A x, y> = <x, A^T y>
  np.testing.assert_allclose(np.sum(flat(ax) * flat(y), 1), np.sum(flat(x) * flat(aty), 1),
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("task", SEPARABLE + MASKS)
def test_svd_reconstructs_the_operator(task):
  op = make(task, threshold=0.0)
  assert D.has_svd(op)
  x = rand(SHAPE, 4)
  y = rand(D.measurement_shape(op, SHAPE), 5)
  if task in MASKS:
    y = op.keep * y                                  # measurements of masks are 0 where missing
  x_bar = D.Vt(op, x)
  s = D.singular_values(op)
  assert x_bar.shape == SHAPE
  np.testing.assert_allclose(np.linalg.norm(flat(x_bar), axis=1),
                             np.linalg.norm(flat(x), axis=1), rtol=1e-5)
  np.testing.assert_allclose(D.V(op, x_bar), x, atol=1e-5)
  np.testing.assert_allclose(D.U(op, s * x_bar), D.apply(op, x), atol=1e-5)
  np.testing.assert_allclose(D.U(op, D.Ut(op, y)), y, atol=1e-5)
  np.testing.assert_allclose(D.V(op, s * D.Ut(op, y)), D.adjoint(op, y), atol=1e-5)
  a = dense_of(op, task, SHAPE)
  s_full = np.broadcast_to(np.asarray(s), SHAPE).reshape(SHAPE[0], -1)
  for b in range(SHAPE[0]):
    svals = np.linalg.svd(a[b], compute_uv=False)
    expected = np.sort(np.concatenate([svals, np.zeros(s_full.shape[1] - len(svals))]))
    np.testing.assert_allclose(np.sort(s_full[b]), expected, atol=1e-5)


def truncated_blur_pinv(n, rcond=3e-2):
  """pinv of the per-axis truncated blur, Kronecker over (H, W, C=3): the
  dense 1-D blur from scipy, numpy's pinv cutting at rcond * s_max (s_max = 1)."""
  m = ndimage.gaussian_filter1d(np.eye(n), 1.5, axis=0, mode="reflect", radius=5)
  assert np.linalg.svd(m, compute_uv=False)[0] == pytest.approx(1.0)
  p = np.linalg.pinv(m, rcond=rcond)
  return np.kron(p, np.kron(p, np.eye(3)))


@pytest.mark.parametrize("task", SEPARABLE + MASKS)
def test_pinv_inverts_on_the_row_space(task):
  """pinv(A x) is x's projection on the row space; deblurring's tiny singular
  values (down to 1e-9 on 8x8) need the default threshold in float32."""
  op = make(task, threshold=None if task == "deblur" else 0.0)
  a = dense_of(op, task, SHAPE)
  x = rand(SHAPE, 6)
  got = flat(D.pinv(op, D.apply(op, x)))
  for b in range(SHAPE[0]):
    inverse = truncated_blur_pinv(SHAPE[1]) if task == "deblur" else np.linalg.pinv(a[b])
    np.testing.assert_allclose(got[b], inverse @ a[b] @ flat(x)[b], atol=2e-4)


@pytest.mark.parametrize("task", SEPARABLE + MASKS)
def test_prox_solves_the_regularised_least_squares(task):
  op = make(task, threshold=0.0)
  y = D.apply(op, rand(SHAPE, 7)) + (op.keep if task in MASKS else 1.0) * rand(
      D.measurement_shape(op, SHAPE), 8)
  z, rho = rand(SHAPE, 9), 0.3
  x = D.prox(op, y, z, rho)
  residual = D.adjoint(op, D.apply(op, x) - y) + rho * (x - z)   # the optimality condition
  np.testing.assert_allclose(residual, 0.0, atol=1e-4)
  a = dense_of(op, task, SHAPE)
  b = 0
  direct = np.linalg.solve(a[b].T @ a[b] + rho * np.eye(a.shape[2]),
                           a[b].T @ flat(y)[b] + rho * flat(z)[b])
  np.testing.assert_allclose(flat(x)[b], direct, atol=1e-4)
  per_example = D.prox(op, y, z, jnp.array([rho, rho]))
  np.testing.assert_allclose(per_example, x, atol=1e-6)


def test_thresholded_deblur_follows_ddrm():
  """Per-axis singular values < 3e-2 are zeroed before their products are
  formed (DDRM's svd_replacement.Deblurring); the truncated operator stays
  within 3e-2 of A and its SVD factors stay orthonormal."""
  shape = (1, 12, 12, 1)
  op = D.make_operator("deblur", shape)
  assert op.threshold == pytest.approx(3e-2)
  s_axis = np.linalg.svd(D.blur_matrix(12, 1.5), compute_uv=False)
  kept = int(np.sum(s_axis >= 3e-2))
  assert 0 < kept < 12
  assert int(np.sum(np.asarray(D.singular_values(op)) > 0)) == kept * kept
  x = rand(shape, 10)
  truncated = D.U(op, D.singular_values(op) * D.Vt(op, x))
  assert np.linalg.norm(truncated - D.apply(op, x)) <= 3e-2 * np.linalg.norm(x)
  np.testing.assert_allclose(D.V(op, D.Vt(op, x)), x, atol=1e-5)
  assert D.make_operator("sr4_pool", shape).threshold == 0.0


def test_tasks_and_defaults():
  assert set(D.TASKS) == set(SEPARABLE + MASKS)
  assert D.TASKS["denoise"].sigma_y == pytest.approx(0.2)
  assert all(t.sigma_y == 0.0 for n, t in D.TASKS.items() if n != "denoise")


def test_masks_follow_the_data_pipeline_convention():
  shape = (3, 8, 8, 1)
  batch = field_batch(shape)
  op = D.make_operator("inpaint_field", shape, batch=batch)
  np.testing.assert_array_equal(op.keep, 1.0 - batch["mask"])
  np.testing.assert_array_equal(D.keep_from_mask(jnp.array([1.0, 0.0])), [0.0, 1.0])
  odd = D.make_operator("inpaint_half", (1, 5, 7, 1))
  assert np.asarray(odd.keep)[0, :, :, 0].sum(axis=0).tolist() == [5] * 4 + [0] * 3


def test_random_masks_are_per_example_and_per_pixel():
  shape = (4, 32, 32, 3)
  op = D.make_operator("inpaint_random", shape, rng=jax.random.PRNGKey(1))
  keep = np.asarray(op.keep)
  assert keep.shape == (4, 32, 32, 1) and set(np.unique(keep)) <= {0.0, 1.0}
  assert abs(1.0 - keep.mean() - D.INPAINT_RANDOM_P) < 0.03
  assert not np.array_equal(keep[0], keep[1])
  other = D.make_operator("inpaint_random", shape, rng=jax.random.PRNGKey(2))
  assert not np.array_equal(np.asarray(other.keep), keep)


def test_operators_work_under_jit():
  x = rand(SHAPE, 11)

  @jax.jit
  def restore(rng, x):
    op = D.make_operator("inpaint_random", SHAPE, rng=rng)
    return D.prox(op, D.apply(op, x), jnp.zeros_like(x), 0.5), op.keep

  out, keep = restore(RNG, x)
  np.testing.assert_allclose(out, keep * x / (keep + 0.5), atol=1e-6)
  op = D.make_operator("sr2", SHAPE)
  apply = jax.jit(D.apply)
  np.testing.assert_allclose(apply(op, x), D.apply(op, x), atol=1e-6)
  assert apply(D.make_operator("sr2", SHAPE), x).shape == (2, 4, 4, 3)   # same static factors
  assert apply._cache_size() == 1
  inside = jax.jit(lambda x: D.apply(D.make_operator("sr2", x.shape), x))   # built while tracing
  np.testing.assert_allclose(inside(x), D.apply(op, x), atol=1e-6)


@pytest.mark.parametrize("task", ("denoise", "inpaint_half"))
def test_measure_adds_noise_on_observed_entries(task):
  op = make(task)
  x = rand(SHAPE, 12)
  np.testing.assert_allclose(D.measure(op, x, 0.0, RNG), D.apply(op, x))
  noise = np.asarray(D.measure(op, x, 0.5, RNG) - D.apply(op, x))
  observed = np.broadcast_to(np.asarray(op.keep) > 0, SHAPE) if task in MASKS else np.ones(SHAPE, bool)
  assert np.all(noise[~observed] == 0.0)
  assert 0.4 < noise[observed].std() < 0.6


def test_naive_baselines():
  x = rand(SHAPE, 13)
  op = make("sr2")
  y = D.apply(op, x)
  np.testing.assert_allclose(D.naive(op, y, SHAPE),
                             jax.image.resize(y, SHAPE, method="cubic"), atol=1e-6)
  op = make("colourise")
  np.testing.assert_allclose(D.naive(op, D.apply(op, x), SHAPE),
                             np.repeat(x.mean(-1, keepdims=True), 3, axis=-1), atol=1e-5)
  op = make("inpaint_half")
  restored = np.asarray(D.naive(op, D.apply(op, x), SHAPE))
  np.testing.assert_allclose(restored[:, :, :4], x[:, :, :4])
  np.testing.assert_allclose(restored[:, :, 4:], np.broadcast_to(
      x[:, :, :4].mean(axis=(1, 2), keepdims=True), (2, 8, 4, 3)), atol=1e-5)
  op = make("denoise")
  np.testing.assert_array_equal(D.naive(op, x, SHAPE), x)
  op = make("deblur")
  y = D.apply(op, x)
  np.testing.assert_allclose(D.naive(op, y, SHAPE), D.pinv(op, y))


def test_bad_tasks_and_shapes_are_config_errors():
  with pytest.raises(ConfigError, match="Unknown restoration task 'sr3'.*sr2"):
    D.make_operator("sr3", SHAPE)
  with pytest.raises(ConfigError, match="multiples of 4"):
    D.make_operator("sr4_pool", (1, 10, 10, 1))
  with pytest.raises(ConfigError, match="3 channels"):
    D.make_operator("colourise", (1, 8, 8, 1))
  with pytest.raises(ConfigError, match="rng"):
    D.make_operator("inpaint_random", SHAPE)
  with pytest.raises(ConfigError, match="'mask'"):
    D.make_operator("inpaint_field", SHAPE, batch={"image": None})
  with pytest.raises(ConfigError, match=r"\(2, 8, 8, 1\)"):
    D.make_operator("inpaint_field", SHAPE, batch={"mask": jnp.zeros((2, 4, 4, 1))})
  with pytest.raises(ConfigError, match=r"\[B, H, W, C\]"):
    D.make_operator("sr2", (8, 8, 3))


def test_wrong_measurement_shape_is_a_config_error():
  op = make("sr4")
  D.check_measurement(op, jnp.zeros((2, 2, 2, 3)), SHAPE)
  with pytest.raises(ConfigError, match=r"'sr4'.*\(2, 8, 8, 3\).*\(2, 2, 2, 3\)"):
    D.check_measurement(op, jnp.zeros((2, 4, 4, 3)), SHAPE)
  with pytest.raises(ConfigError, match="built for images"):
    D.measurement_shape(op, (2, 16, 16, 3))
  with pytest.raises(ConfigError, match="masks for 2 images"):
    D.measurement_shape(make("inpaint_box"), (3, 8, 8, 3))
