"""genjax.nn.modulated: StyleGAN2's eqs. 1-3 against numpy loops, both forms, unit variance."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.nn.equalized import EqualConv
from genjax.nn.modulated import ModulatedConv, modulated_conv2d, modulated_weights
from genjax.nn.resample import setup_filter
from genjax.nn.style import minibatch_stddev
from tests.nn import style_reference as ref

RNG = np.random.default_rng(0)
CASES = [  # (up, down, kernel size, demodulate)
    (1, 1, 3, True), (2, 1, 3, True), (1, 2, 3, True), (1, 1, 1, False), (2, 1, 3, False),
]


def _per_sample_weights(weight, styles, demodulate, eps=1e-8):
  """Eq. 1 (w' = s_i w_ijk) and eq. 3 (w'' = w' / sqrt(sum_ik w'^2 + eps)), float64 loops."""
  kh, kw, cin, cout = weight.shape
  out = np.zeros((len(styles), kh, kw, cin, cout))
  for b, s in enumerate(np.asarray(styles, np.float64)):
    for i in range(cin):
      out[b, :, :, i, :] = s[i] * weight[:, :, i, :]
    if demodulate:
      for j in range(cout):
        out[b, ..., j] /= math.sqrt(np.sum(out[b, ..., j] ** 2) + eps)
  return out


@pytest.fixture(scope="module")
def outputs():
  """For every case: (x, weight, styles) and the 'grouped' and 'scaled' outputs (one jit)."""
  inputs = []
  for _, _, k, _ in CASES:
    inputs.append((RNG.normal(size=(3, 6, 6, 4)).astype(np.float32),
                   RNG.normal(size=(k, k, 4, 5)).astype(np.float32),
                   np.exp(RNG.normal(size=(3, 4))).astype(np.float32)))

  @jax.jit
  def run(inputs):
    return [tuple(modulated_conv2d(x, w, s, demod, up, down, form=form)
                  for form in ("grouped", "scaled"))
            for (x, w, s), (up, down, _, demod) in zip(inputs, CASES)]

  return inputs, run(inputs)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_modulated_conv_matches_per_sample_loop(outputs, case):
  (x, w, s), (grouped, scaled) = outputs[0][case], outputs[1][case]
  up, down, _, demod = CASES[case]
  ws = _per_sample_weights(w, s, demod)
  expected = np.concatenate([ref.resample_conv(x[b:b + 1], ws[b], setup_filter(), up, down)
                             for b in range(3)])
  np.testing.assert_allclose(grouped, expected, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(scaled, expected, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(scaled, grouped, rtol=1e-4, atol=1e-5)   # the two forms agree


def test_demodulated_weights_have_unit_norm():
  """Eq. 3 in closed form: sum_ik w''_ijk^2 = S_j / (S_j + eps), S_j = sum_ik w'_ijk^2."""
  w = RNG.normal(size=(3, 3, 4, 5)).astype(np.float32)
  s = np.exp(RNG.normal(size=(2, 4))).astype(np.float32)
  norms = np.sum(np.asarray(modulated_weights(w, s), np.float64) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_demodulation_gives_unit_variance_for_unit_iid_inputs():
  """StyleGAN2 sec. 2.2: x i.i.d. with unit variance -> Var[y_j] = sum_ik w''_ijk^2 = 1.

  Four styles (spanning a factor ~50 between input channels), each applied to
  256 independent 8x8 inputs; the variance per style and output channel pools
  256 draws x 36 interior pixels. Pixels of one image are correlated (their
  3x3 windows overlap), at worst ~3.5x fewer effective samples: relative sd
  <= sqrt(2 * 3.5 / 9216) = 2.8%; tolerance 12%. Without demodulation the
  variances are far from 1.
  """
  kx, kw, ks = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(kx, (4 * 256, 8, 8, 8))
  w = jax.random.normal(kw, (3, 3, 8, 6))
  s = jnp.repeat(jnp.exp(jax.random.normal(ks, (4, 8))), 256, axis=0)

  def variances(demodulate):
    y = modulated_conv2d(x, w, s, demodulate)[:, 1:-1, 1:-1]
    return jnp.var(y.reshape(4, 256 * 36, 6), axis=1)           # [style, O]

  demod, plain = jax.jit(lambda: [variances(d) for d in (True, False)])()
  np.testing.assert_allclose(demod, 1.0, atol=0.12)
  assert np.max(np.abs(np.log(plain))) > 2.0


def test_module_parameters_and_forms_agree_with_gradients():
  x = jax.random.normal(jax.random.PRNGKey(2), (2, 6, 6, 4))
  latent = jax.random.normal(jax.random.PRNGKey(3), (2, 7))
  layers = [ModulatedConv(5, up=2, form=f) for f in ("scaled", "grouped")]
  params = jax.jit(layers[0].init)(jax.random.PRNGKey(4), x, latent)["params"]
  assert params["kernel"].shape == (3, 3, 4, 5)
  assert params["affine"]["kernel"].shape == (7, 4)
  np.testing.assert_array_equal(params["affine"]["bias"], 1.0)    # styles start near 1

  def loss(layer, p, x):
    return jnp.sum(jnp.sin(layer.apply({"params": p}, x, latent)))

  @jax.jit
  def run(p, x):
    grads = [jax.value_and_grad(lambda p, x: loss(l, p, x), (0, 1))(p, x) for l in layers]
    # The module is modulated_conv2d of kernel / sqrt(fan_in) and the affine's styles.
    styles = latent @ (p["affine"]["kernel"] / math.sqrt(7)) + p["affine"]["bias"]
    y = modulated_conv2d(x, p["kernel"] / math.sqrt(36), styles, up=2)
    return grads, layers[0].apply({"params": p}, x, latent), y

  grads, y_module, y = run(params, x)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), *grads)
  np.testing.assert_allclose(y_module, y, rtol=1e-5, atol=1e-5)


def test_to_rgb_and_unknown_form():
  x = jax.ShapeDtypeStruct((2, 4, 4, 6), jnp.float32)
  latent = jax.ShapeDtypeStruct((2, 3), jnp.float32)
  to_rgb = ModulatedConv(3, kernel_size=1, demodulate=False)
  out = jax.eval_shape(lambda x, w: to_rgb.init_with_output(jax.random.PRNGKey(0), x, w)[0],
                       x, latent)
  assert out.shape == (2, 4, 4, 3)
  with pytest.raises(ConfigError, match="grouped"):
    modulated_conv2d(jnp.ones((2, 4, 4, 6)), jnp.ones((1, 1, 6, 3)), jnp.ones((2, 6)),
                     form="fused")


def test_second_order_gradients_match_xla_convs():
  """R1 (D: d/dtheta |dD/dx|^2) and path-length-like (G: d/dtheta |d<G, y>/dw|^2) penalties
  through the default convs (the CPU kernels' custom VJPs) equal XLA's conv."""
  x = jax.random.normal(jax.random.PRNGKey(5), (4, 8, 8, 3))
  latent = jax.random.normal(jax.random.PRNGKey(6), (4, 5))
  cot = jax.random.normal(jax.random.PRNGKey(7), (4, 16, 16, 2))

  def d(impl, p, x):
    return jnp.sum(minibatch_stddev(EqualConv(4, down=2, impl=impl).apply(p, x)) ** 2)

  def g(impl, p, w):
    return jnp.sum(ModulatedConv(2, up=2, impl=impl).apply(p, x, w) * cot)

  @jax.jit
  def penalties_grads():
    d_params = EqualConv(4, down=2).init(jax.random.PRNGKey(8), x)
    g_params = ModulatedConv(2, up=2).init(jax.random.PRNGKey(9), x, latent)
    out = []
    for impl in (None, "xla"):
      r1 = lambda p: jnp.sum(jax.grad(d, 2)(impl, p, x) ** 2)
      pl = lambda p: jnp.sum(jax.grad(g, 2)(impl, p, latent) ** 2)
      out.append((jax.grad(r1)(d_params), jax.grad(pl)(g_params)))
    return out

  ours, xla = penalties_grads()
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), ours, xla)
