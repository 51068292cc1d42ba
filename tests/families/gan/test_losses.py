"""GAN losses against their closed forms; gradient penalties against finite differences."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.gan import losses as L


def _sig(x):
  return 1.0 / (1.0 + np.exp(-x))


R = np.array([-2.0, -0.3, 0.0, 0.7, 3.0])
F = np.array([1.5, -1.0, 0.2, -4.0, 0.0])


def _paper_d(kind, r, f):
  """The papers' discriminator losses written with D = sigmoid(logit) where they use it."""
  if kind in ("minimax", "non_saturating"):
    return np.mean(-np.log(_sig(r)) - np.log(1.0 - _sig(f)))
  if kind == "hinge":
    return np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f))
  if kind == "least_squares":
    return np.mean(0.5 * (r - 1) ** 2 + 0.5 * f ** 2)
  return np.mean(f) - np.mean(r)


def _paper_g(kind, f):
  if kind == "minimax":
    return np.mean(np.log(1.0 - _sig(f)))
  if kind == "non_saturating":
    return np.mean(-np.log(_sig(f)))
  if kind == "least_squares":
    return np.mean(0.5 * (f - 1) ** 2)
  return -np.mean(f)


@pytest.mark.parametrize("kind", L.LOSSES)
def test_losses_match_closed_forms(kind):
  d = L.discriminator_loss(kind, jnp.asarray(R, jnp.float32), jnp.asarray(F, jnp.float32))
  g = L.generator_loss(kind, jnp.asarray(F, jnp.float32))
  assert d.shape == () and g.shape == ()
  np.testing.assert_allclose(float(d), _paper_d(kind, R, F), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(g), _paper_g(kind, F), rtol=1e-5, atol=1e-6)
  # [B, 1] logits are flattened, not broadcast.
  d2 = L.discriminator_loss(kind, jnp.asarray(R[:, None], jnp.float32),
                            jnp.asarray(F[:, None], jnp.float32))
  np.testing.assert_allclose(float(d2), float(d), rtol=1e-6)
  np.testing.assert_allclose(float(L.generator_loss(kind, jnp.asarray(F[:, None], jnp.float32))),
                             float(g), rtol=1e-6)


def test_sigmoid_losses_are_stable_at_large_logits():
  """-log sigmoid(l) -> -l for l -> -inf and -> 0 for l -> +inf, with finite gradients."""
  big = 200.0   # sigmoid(-200) underflows float32: the naive log(sigmoid) form gives inf
  r = jnp.array([-big, big], jnp.float32)
  f = jnp.array([big, -big], jnp.float32)
  # D: mean over [-log s(-big), -log s(big)] + mean over [-log(1 - s(big)), -log(1 - s(-big))]
  np.testing.assert_allclose(float(L.discriminator_loss("minimax", r, f)), big / 2 + big / 2, rtol=1e-6)
  np.testing.assert_allclose(float(L.generator_loss("non_saturating", f)), big / 2, rtol=1e-6)
  np.testing.assert_allclose(float(L.generator_loss("minimax", f)), -big / 2, rtol=1e-6)
  for kind in L.LOSSES:
    vals = [L.discriminator_loss(kind, r, f), L.generator_loss(kind, f)]
    grads = [jax.grad(lambda a, b: L.discriminator_loss(kind, a, b), argnums=(0, 1))(r, f),
             jax.grad(lambda b: L.generator_loss(kind, b))(f)]
    for v in vals + jax.tree.leaves(grads):
      assert np.all(np.isfinite(np.asarray(v))), kind


def test_generator_gradients_saturation():
  """At a fake the discriminator rejects confidently (logit -20), minimax's G gradient vanishes
  (d/df -softplus(f) = -sigmoid(f) ~ -2e-9) while the non-saturating one is ~ -1 (Goodfellow sec. 3)."""
  f = jnp.array([-20.0], jnp.float32)
  g_mm = float(jax.grad(lambda x: L.generator_loss("minimax", x))(f)[0])
  g_ns = float(jax.grad(lambda x: L.generator_loss("non_saturating", x))(f)[0])
  np.testing.assert_allclose(g_mm, -_sig(-20.0), rtol=1e-4)
  np.testing.assert_allclose(g_ns, -_sig(20.0), rtol=1e-6)
  assert g_mm < 0 and g_ns < 0 and abs(g_ns) > 1e8 * abs(g_mm)
  # Every generator loss decreases as the fake logit rises (below LSGAN's target c = 1).
  f2 = jnp.array([-3.0, 0.0, 0.5], jnp.float32)
  for kind in L.LOSSES:
    g = np.asarray(jax.grad(lambda x: L.generator_loss(kind, x))(f2))
    assert np.all(g < 0), kind
  # D pushes real logits up and fake ones down (inside the hinge margin; above LSGAN's a = 0).
  r3, f3 = jnp.array([-0.5, 0.0, 0.5]), jnp.array([0.2, 0.5, 0.9])
  for kind in L.LOSSES:
    gr, gf = jax.grad(lambda a, b: L.discriminator_loss(kind, a, b), argnums=(0, 1))(r3, f3)
    assert np.all(np.asarray(gr) < 0) and np.all(np.asarray(gf) > 0), kind


def test_unknown_loss_is_a_config_error():
  with pytest.raises(ConfigError, match="non_saturating"):
    L.check_loss("nonsaturating")
  with pytest.raises(ConfigError):
    L.generator_loss("wgan", jnp.zeros(2))
  with pytest.raises(ConfigError):
    L.discriminator_loss("lsgan", jnp.zeros(2), jnp.zeros(2))


# ----- gradient penalties -----

SHAPE = (3, 2, 2, 1)      # [B, H, W, C]: 4 inputs per example


def _mlp_params(dtype):
  rng = np.random.default_rng(0)
  d = int(np.prod(SHAPE[1:]))
  return {"w1": jnp.asarray(rng.normal(size=(d, 5)), dtype), "b1": jnp.asarray(rng.normal(size=5), dtype),
          "w2": jnp.asarray(rng.normal(size=(5,)), dtype), "b2": jnp.asarray(0.3, dtype)}


def _mlp_d(params, x):
  """A 2-layer tanh MLP discriminator: [B, H, W, C] -> logits [B]."""
  h = jnp.tanh(x.reshape(x.shape[0], -1) @ params["w1"] + params["b1"])
  return h @ params["w2"] + params["b2"]


def _fd_grad_norms(f, x, h=1e-5):
  """||grad_x f(x_b)||_2 per example by central differences (numpy float64)."""
  x = np.asarray(x, np.float64)
  flat = x.reshape(x.shape[0], -1)
  g = np.zeros_like(flat)
  for i in range(flat.shape[1]):
    e = np.zeros_like(flat)
    e[:, i] = h
    up = np.asarray(f(jnp.asarray((flat + e).reshape(x.shape))))
    dn = np.asarray(f(jnp.asarray((flat - e).reshape(x.shape))))
    g[:, i] = (up - dn) / (2 * h)
  return np.sqrt(np.sum(g ** 2, axis=1))


def test_penalties_against_finite_differences_float64():
  with jax.enable_x64(True):
    params = _mlp_params(jnp.float64)
    d_fn = lambda x: _mlp_d(params, x)
    rng = np.random.default_rng(1)
    real = jnp.asarray(rng.normal(size=SHAPE), jnp.float64)
    fake = jnp.asarray(rng.normal(size=SHAPE), jnp.float64)
    key = jax.random.PRNGKey(3)

    # x_hat lies on each example's segment, with one eps in [0, 1] per example.
    x_hat = np.asarray(L.interpolate(key, real, fake))
    eps = (x_hat - np.asarray(fake)) / (np.asarray(real) - np.asarray(fake))
    assert np.allclose(eps, eps[:, :1, :1, :1], atol=1e-12)
    assert np.all((eps >= 0) & (eps <= 1)) and np.ptp(eps[:, 0, 0, 0]) > 0

    for target in (1.0, 0.5):
      want = np.mean((_fd_grad_norms(d_fn, x_hat) - target) ** 2)
      got = float(L.gradient_penalty(d_fn, real, fake, key, target=target))
      np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(float(L.r1_penalty(d_fn, real)),
                               np.mean(_fd_grad_norms(d_fn, real) ** 2), rtol=1e-6)
    np.testing.assert_allclose(float(L.r2_penalty(d_fn, fake)),
                               np.mean(_fd_grad_norms(d_fn, fake) ** 2), rtol=1e-6)

    # Double backprop: d R1 / d w2[0] against central differences on that parameter; d R1 / d b2
    # is exactly 0 (the output bias does not change input gradients).
    def r1_of(w2_0):
      p = dict(params, w2=params["w2"].at[0].set(w2_0))
      return L.r1_penalty(lambda x: _mlp_d(p, x), real)
    w0, h = float(params["w2"][0]), 1e-6
    fd = (float(r1_of(w0 + h)) - float(r1_of(w0 - h))) / (2 * h)
    np.testing.assert_allclose(float(jax.grad(r1_of)(jnp.float64(w0))), fd, rtol=1e-6)
    gb2 = jax.grad(lambda p: L.r1_penalty(lambda x: _mlp_d(p, x), real))(params)["b2"]
    assert float(gb2) == 0.0


def test_penalties_closed_forms():
  """D(x) = a.x + c has grad a everywhere: GP = (|a| - target)^2, R1 = R2 = |a|^2;
  D(x) = 1/2 ||x||^2 has grad x: R1 = E ||x||^2."""
  rng = np.random.default_rng(2)
  a = jnp.asarray(rng.normal(size=SHAPE[1:]), jnp.float32)
  na = float(jnp.linalg.norm(a))
  linear = lambda x: jnp.sum(x * a, axis=(1, 2, 3)) + 0.7
  real = jnp.asarray(rng.normal(size=SHAPE), jnp.float32)
  fake = jnp.asarray(rng.normal(size=SHAPE), jnp.float32)
  key = jax.random.PRNGKey(0)
  np.testing.assert_allclose(float(L.gradient_penalty(linear, real, fake, key)), (na - 1) ** 2, rtol=1e-5)
  np.testing.assert_allclose(float(L.gradient_penalty(linear, real, fake, key, target=0.0)), na ** 2, rtol=1e-5)
  np.testing.assert_allclose(float(L.r1_penalty(linear, real)), na ** 2, rtol=1e-5)
  np.testing.assert_allclose(float(L.r2_penalty(linear, fake)), na ** 2, rtol=1e-5)
  quad = lambda x: 0.5 * jnp.sum(x ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(float(L.r1_penalty(quad, real)),
                             np.mean(np.sum(np.asarray(real) ** 2, axis=(1, 2, 3))), rtol=1e-5)
  # A discriminator with [B, 1] output is handled like [B].
  np.testing.assert_allclose(float(L.r1_penalty(lambda x: linear(x)[:, None], real)), na ** 2, rtol=1e-5)


def test_gradient_penalty_is_finite_at_zero_gradient():
  """A flat D (grad 0): GP = target^2, and its parameter gradient is finite (no 0/0 from the norm)."""
  x = jnp.ones(SHAPE, jnp.float32)
  gp = lambda s: L.gradient_penalty(lambda v: s * jnp.sum(v, axis=(1, 2, 3)), x, x, jax.random.PRNGKey(0))
  assert float(gp(jnp.float32(0.0))) == pytest.approx(1.0)
  assert math.isfinite(float(jax.grad(gp)(jnp.float32(0.0))))
