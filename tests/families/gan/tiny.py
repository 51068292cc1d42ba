"""Tiny GANs whose outputs have closed forms, for the tests of the family's functions.

With no hidden layers the MLP networks are affine maps:
  D(x, y) = <w, x> + b (+ w[16 + y] with 'concat' conditioning): a linear critic;
  G(z, y) = tanh(K [z, one_hot(y)] + c): a zero kernel makes every fake tanh(c).
Their parameters are set by hand (no flax initialisers to compile).
"""
import jax
import jax.numpy as jnp
import numpy as np

from genjax.families.gan import family
from genjax.families.gan.config import default_config
from genjax.families.gan.state import create_gan_state

SHAPE = (4, 4, 1)
PIXELS = 16
Z_DIM = 3
BATCH = 4


def tiny_config(**model):
  """The default config with affine MLP networks on 4x4 images and plain SGD
  (G: lr 0.1, D: d_lr 0.05), overridden by ``model``."""
  c = default_config()
  c.model.update(arch="mlp", image_shape=SHAPE, z_dim=Z_DIM, g_hidden=(), d_hidden=())
  c.model.update(**model)
  c.optim.update(name="sgd", momentum=0.0, lr=0.1, d_lr=0.05, ema_decay=0.99)
  return c


def tiny(config=None, **model):
  """(settings, nets) of ``config`` (default: ``tiny_config(**model)``)."""
  settings = family.read_settings(config or tiny_config(**model))
  return settings, family.build_networks(settings)


def linear_critic_params(w, b):
  """D's parameters for D(x) = <w, flatten(x)> + b (w: [16] or [16 + K])."""
  return {"head": {"psi": {"dense": {"kernel": jnp.asarray(w, jnp.float32)[:, None],
                                     "bias": jnp.asarray([b], jnp.float32)}}}}


def affine_generator_params(kernel, bias):
  """G's parameters for G(z, y) = tanh(kernel^T [z, one_hot(y)] + bias)."""
  return {"out": {"kernel": jnp.asarray(kernel, jnp.float32),
                  "bias": jnp.asarray(bias, jnp.float32)}}


def tiny_state(nets, g_params, d_params, g_stats=None):
  """A fresh GANState holding the given parameters."""
  g_vars = {"params": g_params, **(g_stats or {})}
  return create_gan_state(jax.random.PRNGKey(0), g_vars, {"params": d_params},
                          nets.g_optimizer, nets.d_optimizer)


def random_images(seed=0, num=BATCH):
  return jnp.asarray(np.random.RandomState(seed).uniform(-1, 1, (num,) + SHAPE),
                     jnp.float32)


def softplus(x):
  return np.logaddexp(0.0, x)


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))
