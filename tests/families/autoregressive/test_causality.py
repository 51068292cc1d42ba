"""Causality of the autoregressive networks, shown by gradients, and their interfaces.

For every network and every output (i, j, c) of a small image, the gradient
d out[i, j, c, :] / d x[k, l, c'] must be exactly 0 for every (k, l, c') at or
after (i, j, c) in raster-then-channel order, and non-zero on the pixels the
architecture is meant to see. One vmapped VJP per network gives all the rows
of the (tiny) Jacobian in one compiled program.
"""
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.autoregressive.pixelcnn import GatedPixelCNN, PixelCNN
from genjax.families.autoregressive.pixelrnn import DiagonalBiLSTM, RowLSTM, skew, unskew

H = W = 7
NUM_CLASSES = 4
SMALL = {  # L = 2 layers of 3x3 (PixelCNNs) so the receptive fields fit in 7x7
    PixelCNN: dict(features=16, num_layers=2, first_kernel_size=3, kernel_size=3),
    GatedPixelCNN: dict(features=16, num_layers=2, first_kernel_size=3, kernel_size=3),
    RowLSTM: dict(features=24, num_layers=2),                      # 7x7 first layer
    DiagonalBiLSTM: dict(features=24, num_layers=2),
}
MODELS = list(SMALL)


def make(cls, channels=1, num_outputs=2, num_classes=NUM_CLASSES, dropout=0.5):
  return cls(**SMALL[cls], num_outputs=num_outputs, num_classes=num_classes,
             dropout=dropout)


def random_params(model, x, labels, seed=0):
  """Random parameters, none zero (unlike biases at init), without compiling init.

  Kernels N(0, 1/fan_in); biases N(1, 0.3^2), positive so that few ReLUs of
  these narrow nets are dead (a dead ReLU zeroes a gradient path, which could
  hide a dependency the architecture has); class embeddings N(0, 0.3^2).
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, labels)["params"]

  def draw(path, leaf):
    if "kernel" in jax.tree_util.keystr(path[-1:]) or "state_to_state" in str(path[-1]):
      return rng.normal(0, np.prod(leaf.shape[:-1]) ** -0.5, leaf.shape).astype(np.float32)
    mean = 1.0 if "bias" in jax.tree_util.keystr(path[-1:]) else 0.0
    return rng.normal(mean, 0.3, leaf.shape).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, shapes)


def image(channels, batch=1, seed=1):
  return jax.random.uniform(jax.random.PRNGKey(seed), (batch, H, W, channels), minval=-1,
                            maxval=1)


@functools.lru_cache(maxsize=None)
def jacobian(cls, channels):
  """J [H, W, C, H, W, C]: d sum_p out[0, i, j, c, p] / d x[0, k, l, c'] (eval mode), labels 1."""
  model = make(cls, channels)
  x, labels = image(channels), jnp.array([1])
  params = random_params(model, x, labels)

  @jax.jit
  def rows(x):
    _, pull = jax.vjp(lambda x: model.apply({"params": params}, x, labels), x)
    eye = jnp.eye(H * W * channels).reshape(-1, 1, H, W, channels, 1)
    cot = jnp.broadcast_to(eye, (*eye.shape[:-1], model.num_outputs))
    return jax.vmap(lambda ct: pull(ct)[0][0])(cot)

  return np.asarray(rows(x)).reshape(H, W, channels, H, W, channels)


def raster_order(channels):
  """Order [H, W, C] of every (k, l, c') in raster-then-channel order."""
  return np.arange(H * W * channels).reshape(H, W, channels)


def assert_causal(jac, channels):
  order = raster_order(channels)
  for i, j, c in itertools.product(range(H), range(W), range(channels)):
    g = jac[i, j, c]
    leak = (g != 0) & (order >= order[i, j, c])
    assert not leak.any(), (i, j, c, np.argwhere(leak)[:5])


def nonzero_pixels(jac, i, j, c):
  """[H, W] bool: pixels with any channel of non-zero gradient for output (i, j, c)."""
  return (jac[i, j, c] != 0).any(-1)


def offsets_first(r):
  """Visible offsets of a (2r+1)^2 type-A mask (single channel)."""
  return {(a, b) for a in range(-r, 1) for b in range(-r, r + 1) if a < 0 or b < 0}


def minkowski(*sets):
  out = {(0, 0)}
  for s in sets:
    out = {(a + c, b + d) for a, b in out for c, d in s}
  return out


def pixelcnn_field(i, j):
  """Exact receptive field of the SMALL PixelCNN (C=1): type-A 3x3, then two type-B 3x3.

  The Minkowski sum of the masks' visible offsets (the 1x1 convs add none).
  """
  a = offsets_first(1)
  b = a | {(0, 0)}
  field = np.zeros((H, W), bool)
  for da, db in minkowski(a, b, b):
    if 0 <= i + da < H and 0 <= j + db < W:
      field[i + da, j + db] = True
  return field


def gated_field(i, j, reach=2):
  """Gated PixelCNN (C=1), L layers of n=3 (reach = L * (n // 2)): every earlier pixel of

  rows i - 1 - reach .. i - 1, columns j - reach .. j + reach (the down-shifted
  vertical stack), and of the current row's j - reach .. j - 1 (horizontal stack).
  """
  rows, cols = np.mgrid[:H, :W]
  above = (rows < i) & (rows >= i - 1 - reach) & (abs(cols - j) <= reach)
  left = (rows == i) & (cols < j) & (cols >= j - reach)
  return above | left


# ---- causality: exact zeros on and after the target, every model, C in {1, 3} ----

@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_no_gradient_from_current_or_future_subpixels(cls, channels):
  jac = jacobian(cls, channels)
  assert_causal(jac, channels)
  # ... and every output depends on something (except the very first sub-pixel).
  seen = (jac != 0).reshape(H * W * channels, -1).any(-1)
  assert not seen[0] and seen[1:].all()


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_channel_order_at_the_current_pixel(cls):
  """C=3: output c sees channels < c of its own pixel (R -> G -> B), all of earlier pixels."""
  jac = jacobian(cls, 3)
  for i, j in [(0, 0), (3, 4), (6, 6)]:
    for c in range(3):
      g = jac[i, j, c]
      assert (g[i, j, :c] != 0).all() and (g[i, j, c:] == 0).all(), (i, j, c)
      if j > 0:
        assert (g[i, j - 1] != 0).all()
      if i > 0:
        assert (g[i - 1, j] != 0).all()


# ---- receptive fields: PixelCNN's blind spot, the Gated PixelCNN's none ----

def test_pixelcnn_field_is_the_masks_minkowski_sum_with_a_blind_spot():
  jac = jacobian(PixelCNN, 1)
  for i, j in itertools.product(range(H), range(W)):
    np.testing.assert_array_equal(nonzero_pixels(jac, i, j, 0), pixelcnn_field(i, j),
                                  err_msg=f"target {(i, j)}")
  # The blind spot: (i-1, j+2) lies inside the 7x7 square that three 3x3 layers
  # nominally cover, is earlier in raster order, and is never seen.
  i, j = 4, 3
  assert not pixelcnn_field(i, j)[i - 1, j + 2] and jac[i, j, 0, i - 1, j + 2, 0] == 0
  assert jac[i, j, 0, i - 2, j + 2, 0] != 0 and jac[i, j, 0, i - 3, j + 3, 0] != 0


def test_gated_pixelcnn_sees_its_whole_field_no_blind_spot():
  jac = jacobian(GatedPixelCNN, 1)
  for i, j in itertools.product(range(H), range(W)):
    np.testing.assert_array_equal(nonzero_pixels(jac, i, j, 0), gated_field(i, j),
                                  err_msg=f"target {(i, j)}")
  i, j = 4, 3   # up-right of the target, PixelCNN's blind spot above
  assert jac[i, j, 0, i - 1, j + 2, 0] != 0 and jac[i, j, 0, i - 1, j + 1, 0] != 0


def test_row_lstm_sees_the_triangle_above():
  """Row LSTM: the 7x7 first layer's half-square, and rows i - d at columns j - d .. j + d."""
  jac = jacobian(RowLSTM, 1)
  rows, cols = np.mgrid[:H, :W]
  for i, j in itertools.product(range(H), range(W)):
    first = ((rows < i) & (rows >= i - 3) & (abs(cols - j) <= 3)) | (
        (rows == i) & (cols < j) & (cols >= j - 3))
    triangle = (rows < i) & (abs(cols - j) <= i - rows)
    want = first | triangle
    got = nonzero_pixels(jac, i, j, 0)
    assert got[want].all(), (i, j, np.argwhere(want & ~got))
  # The field widens by one column per row up (plus the first layer's 3), so
  # it is not the whole past: from (3, 0), row 0 is seen up to column 5 only.
  assert nonzero_pixels(jac, 3, 0, 0)[0, 5] and not nonzero_pixels(jac, 3, 0, 0)[0, 6]


def test_diagonal_bilstm_sees_every_earlier_pixel_but_one():
  """Diagonal BiLSTM (sec. 3.2): the whole causal past, except one pixel.

  The left-to-right direction sees everything above-left and left; the
  mirrored direction, shifted down a row, the rest of the rows above -- but
  only through features of row i - 1, and no feature at a pixel sees that
  pixel itself (mask A), so the last pixel (i - 1, W - 1) of the previous row
  is only seen through the 7x7 first layer from row i, i.e. when
  j + 3 >= W - 1. This follows from the paper's construction; the test pins it.
  """
  jac = jacobian(DiagonalBiLSTM, 1)
  order = raster_order(1)[..., 0]
  for i, j in itertools.product(range(H), range(W)):
    want = order < order[i, j]
    if i > 0 and j + 3 < W - 1:
      want[i - 1, W - 1] = False
    np.testing.assert_array_equal(nonzero_pixels(jac, i, j, 0), want,
                                  err_msg=f"target {(i, j)}")


def test_skew_unskew_definition():
  """PixelRNN's skew (sec. 3.2): skewed[i, i + j] = x[i, j], zeros elsewhere; unskew inverts it."""
  x = np.random.default_rng(0).normal(size=(2, 4, 5, 3)).astype(np.float32)
  s = np.asarray(skew(x))
  want = np.zeros((2, 4, 8, 3), np.float32)
  for i, j in itertools.product(range(4), range(5)):
    want[:, i, i + j] = x[:, i, j]
  np.testing.assert_array_equal(s, want)
  np.testing.assert_array_equal(unskew(s, 5), x)


# ---- Gated PixelCNN: the row-local split used for cached sampling ----

@pytest.fixture(scope="module")
def gated():
  model = make(GatedPixelCNN, 3, num_outputs=5)
  x, labels = image(3, batch=2, seed=3), jnp.array([0, 3])
  params = {"params": random_params(model, x, labels, seed=4)}
  return model, params, x, labels


def test_horizontal_row_equals_full_forward_on_every_row(gated):
  model, params, x, labels = gated
  full = jax.jit(lambda x, l: model.apply(params, x, l))(x, labels)
  v = jax.jit(lambda x, l: model.apply(params, x, l,
                                       method=GatedPixelCNN.vertical_features))(x, labels)
  assert v.shape == (2, 2, H, W, 2 * 16)
  row = jax.jit(lambda xr, vr, l: model.apply(params, xr, vr, l,
                                              method=GatedPixelCNN.horizontal_row))
  for i in range(H):
    got = row(x[:, i:i + 1], v[:, :, i:i + 1], labels)
    assert got.shape == (2, 1, W, 3, 5)
    np.testing.assert_allclose(got, full[:, i:i + 1], rtol=1e-5, atol=1e-5,
                               err_msg=f"row {i}")


def test_vertical_features_of_row_i_see_only_rows_above(gated):
  model, params, x, labels = gated

  @jax.jit
  def grads(x):
    v, pull = jax.vjp(lambda x: model.apply(params, x, labels,
                                            method=GatedPixelCNN.vertical_features), x)
    sel = (jnp.arange(H)[:, None] == jnp.arange(H)[None, :]).astype(v.dtype)  # [i, row]
    cot = jnp.broadcast_to(sel[:, None, None, :, None, None], (H, *v.shape))
    return jax.vmap(lambda ct: pull(ct)[0])(cot)     # [H (row i of v), B, H, W, C]

  g = np.asarray(grads(x))
  for i in range(H):
    assert (g[i, :, i:] == 0).all(), i
    used = (g[i] != 0).any(axis=(0, 2, 3))          # rows of x that v row i uses
    np.testing.assert_array_equal(np.flatnonzero(used), np.arange(max(i - 3, 0), i))


def test_class_conditioning_changes_the_output(gated):
  model, params, x, _ = gated
  f = jax.jit(jax.vmap(lambda l: model.apply(params, x, jnp.full((2,), l))))
  outs = np.asarray(f(jnp.arange(NUM_CLASSES)))
  for a, b in itertools.combinations(range(NUM_CLASSES), 2):
    assert np.abs(outs[a] - outs[b]).max() > 1e-3, (a, b)


# ---- shapes and dropout ----

@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_output_shapes(cls):
  for channels, p, num_classes in itertools.product([1, 3], [1, 256], [None, 10]):
    model = make(cls, channels, num_outputs=p, num_classes=num_classes)
    x = jax.ShapeDtypeStruct((2, 5, 6, channels), jnp.float32)
    labels = None if num_classes is None else jax.ShapeDtypeStruct((2,), jnp.int32)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, labels)
    out = jax.eval_shape(lambda p, x, l: model.apply(p, x, l), params, x, labels)
    assert out.shape == (2, 5, 6, channels, p) and out.dtype == jnp.float32


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_labels_must_match_num_classes(cls):
  x = jax.ShapeDtypeStruct((1, 4, 4, 1), jnp.float32)
  with pytest.raises(ValueError, match="labels"):
    jax.eval_shape(make(cls, num_classes=None).init, jax.random.PRNGKey(0), x,
                   jnp.zeros((1,), jnp.int32))
  with pytest.raises(ValueError, match="labels"):
    jax.eval_shape(make(cls).init, jax.random.PRNGKey(0), x)


def test_dropout_only_in_training_and_labels_matter():
  """train=False ignores the dropout rng (and needs none); train=True draws a mask per key.

  Also: every model's output changes with the class labels.
  """
  x, labels = image(1, batch=2), jnp.array([0, 1])
  models = [cls(**{**SMALL[cls], "num_layers": 1}, num_outputs=2, num_classes=NUM_CLASSES,
                dropout=0.5) for cls in MODELS]
  params = [{"params": random_params(m, x, labels)} for m in models]

  @jax.jit
  def run(keys):
    outs = []
    for model, p in zip(models, params):
      apply = lambda k, train: model.apply(p, x, labels, train=train, rngs={"dropout": k})
      outs.append((jax.vmap(lambda k: apply(k, False))(keys),
                   jax.vmap(lambda k: apply(k, True))(keys),
                   model.apply(p, x, labels),            # eval mode needs no rng
                   model.apply(p, x, labels + 2)))
    return outs

  for model, (evals, trains, plain, other) in zip(models, run(
      jax.vmap(jax.random.PRNGKey)(jnp.arange(2)))):
    name = type(model).__name__
    np.testing.assert_array_equal(evals[0], evals[1], err_msg=name)
    np.testing.assert_allclose(evals[0], plain, rtol=1e-6, atol=1e-6, err_msg=name)
    assert np.abs(trains[0] - trains[1]).max() > 1e-3, name
    assert np.abs(trains[0] - evals[0]).max() > 1e-3, name
    assert (np.abs(other - plain).max(axis=(1, 2, 3, 4)) > 1e-3).all(), name
