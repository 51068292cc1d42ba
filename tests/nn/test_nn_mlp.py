"""genjax.nn.mlp: shapes, activations by name, clear errors."""
import jax
import jax.numpy as jnp
import pytest

from genjax.errors import ConfigError
from genjax.nn.mlp import ACTIVATIONS, MLP, get_activation


def test_mlp_shapes_and_parameter_count():
  x = jnp.ones((3, 5))
  mlp = MLP((8, 4), "silu", out_features=2)
  params = mlp.init(jax.random.PRNGKey(0), x)
  assert mlp.apply(params, x).shape == (3, 2)
  count = sum(p.size for p in jax.tree.leaves(params))
  assert count == (5 * 8 + 8) + (8 * 4 + 4) + (4 * 2 + 2)


def test_mlp_with_layer_norm_normalises_each_block():
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 6))
  mlp = MLP((16,), "identity", norm="layer")
  y = mlp.apply(mlp.init(jax.random.PRNGKey(2), x), x)
  assert jnp.allclose(y.mean(-1), 0.0, atol=1e-5) and jnp.allclose(y.std(-1), 1.0, atol=1e-2)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_is_elementwise_and_finite(name):
  x = jnp.linspace(-3.0, 3.0, 7)
  y = get_activation(name)(x)
  assert y.shape == x.shape and bool(jnp.all(jnp.isfinite(y)))


def test_unknown_names_list_the_valid_ones():
  with pytest.raises(ConfigError, match="Did you mean 'relu'.*leaky_relu"):
    get_activation("rellu")
  with pytest.raises(ConfigError, match="layer"):
    MLP((4,), norm="batch").init(jax.random.PRNGKey(0), jnp.ones((1, 2)))
