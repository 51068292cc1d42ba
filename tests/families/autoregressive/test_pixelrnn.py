"""The PixelRNN layers give the same outputs and gradients whichever conv
formulation runs inside their scans (``pixelrnn.SCAN_CONV_IMPL``)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.autoregressive import pixelrnn


@pytest.mark.parametrize("layer", [pixelrnn.RowLSTMLayer(4), pixelrnn.DiagonalBiLSTMLayer(4)],
                         ids=["row_lstm", "diagonal_bilstm"])
def test_scan_conv_formulation_does_not_change_the_layer(layer, monkeypatch):
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 6, 3))
  params = layer.init(jax.random.PRNGKey(1), x)

  def value_and_grads(impl):
    monkeypatch.setattr(pixelrnn, "SCAN_CONV_IMPL", impl)   # read at trace time
    f = lambda p, x: jnp.sum(jnp.sin(layer.apply(p, x)))
    return jax.value_and_grad(f, argnums=(0, 1))(params, x)

  want = value_and_grads("xla")
  for impl in ("taps", "im2col"):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5,
                                                         err_msg=impl),
                 value_and_grads(impl), want)
