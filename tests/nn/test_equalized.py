"""genjax.nn.equalized: He-scaled N(0, 1) weights (ProGAN sec. 4.1) and their update scale."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.equalized import EqualConv, EqualDense
from genjax.nn.resample import resample_conv2d

KEY = jax.random.PRNGKey(0)


def _mean_output_variance(layer, x, interior=False):
  y, params = jax.jit(lambda x: layer.init_with_output(KEY, x))(x)
  if interior:                       # outputs that see no zero padding
    y = y[:, 1:-1, 1:-1]
  y = y.reshape(-1, y.shape[-1])
  return float(jnp.mean(jnp.var(y, axis=0))), params["params"]


@pytest.mark.parametrize("fan_in", [16, 64, 256])
@pytest.mark.parametrize("gain,lr_mul", [(1.0, 1.0), (math.sqrt(2), 1.0), (1.0, 0.01)])
def test_dense_output_variance_is_gain_squared(fan_in, gain, lr_mul):
  # Var_x(y_j) = c^2 |w_j|^2 with E|w_j|^2 = fan_in / lr_mul^2: gain^2 on average over
  # 256 outputs (relative sd sqrt(2 / (fan_in * 256)) <= 2.2%; 2048 inputs add ~0.2%).
  x = jax.random.normal(jax.random.PRNGKey(fan_in), (2048, fan_in))
  var, p = _mean_output_variance(EqualDense(256, gain=gain, lr_mul=lr_mul), x)
  assert abs(var / gain**2 - 1) < 0.1
  assert abs(float(jnp.std(p["kernel"])) * lr_mul - 1) < 0.1     # stored: N(0, 1/lr_mul^2)
  np.testing.assert_array_equal(p["bias"], 0.0)


@pytest.mark.parametrize("cin", [2, 8])
def test_conv_output_variance_is_gain_squared(cin):
  # fan_in 18 and 72, 64 outputs: relative sd sqrt(2 / (fan_in * 64)) <= 4.2%.
  x = jax.random.normal(jax.random.PRNGKey(cin), (16, 10, 10, cin))
  var, _ = _mean_output_variance(EqualConv(64), x, interior=True)
  assert abs(var / 2.0 - 1) < 0.15


LAYERS = [  # (layer, input shape, plain layer of the effective weights, fan_in)
    (EqualDense(5, lr_mul=0.1, bias_init=0.3), (8, 6), lambda x, w, b: x @ w + b, 6),
    (EqualConv(4, 3, down=2, lr_mul=0.5, gain=1.0), (2, 6, 6, 3),
     lambda x, w, b: resample_conv2d(x, w, down=2) + b, 27),
]


@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_sgd_moves_effective_weights_c_squared_times_a_plain_layers(case):
  """Effective weights w_hat = c w: one SGD step of size lr on w moves w_hat by
  -lr c^2 dL/dw_hat, c^2 times a plain layer's step (bias: lr_mul^2)."""
  layer, shape, plain, fan_in = LAYERS[case]
  x = jax.random.normal(KEY, shape)
  params = jax.jit(layer.init)(KEY, x)["params"]
  c = layer.lr_mul * layer.gain / math.sqrt(fan_in)          # ProGAN's c, times lr_mul
  effective = lambda p: (p["kernel"] * c, p["bias"] * layer.lr_mul)
  np.testing.assert_allclose(effective(params)[1], layer.bias_init * layer.lr_mul, rtol=1e-6)
  loss = lambda y: jnp.sum(jnp.sin(y))

  @jax.jit
  def outputs_and_gradients(params):
    y = layer.apply({"params": params}, x)
    g_plain = jax.grad(lambda w, b: loss(plain(x, w, b)), argnums=(0, 1))(*effective(params))
    g = jax.grad(lambda p: loss(layer.apply({"params": p}, x)))(params)
    return y, plain(x, *effective(params)), g_plain, g

  y, y_plain, (g_w, g_b), g = outputs_and_gradients(params)
  np.testing.assert_allclose(y, y_plain, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(g["kernel"], c * g_w, rtol=1e-4, atol=1e-7)   # the chain rule
  np.testing.assert_allclose(g["bias"], layer.lr_mul * g_b, rtol=1e-4, atol=1e-7)
  # lr = 0.1 / c: w_hat moves by 0.1 c g, well above float32's resolution of w_hat.
  lr = 0.1 / c
  stepped = jax.tree.map(lambda p, d: p - lr * d, params, g)
  (w0, b0), (w1, b1) = effective(params), effective(stepped)
  np.testing.assert_allclose(w1 - w0, -lr * c**2 * g_w, rtol=1e-3, atol=1e-5)
  np.testing.assert_allclose(b1 - b0, -lr * layer.lr_mul**2 * g_b, rtol=1e-3, atol=1e-5)


def test_equal_conv_resamples():
  x = jax.ShapeDtypeStruct((1, 8, 8, 2), jnp.float32)
  for layer, shape in ((EqualConv(3, 3, up=2), (1, 16, 16, 3)),
                       (EqualConv(3, 1, down=2, taps=(1, 1)), (1, 4, 4, 3))):
    assert jax.eval_shape(lambda x: layer.init_with_output(KEY, x)[0], x).shape == shape
