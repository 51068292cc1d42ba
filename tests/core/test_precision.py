"""Mixed precision (genjax.core.precision, config.train.compute_dtype).

The reference is the float32 step itself: the same smoke model, the same
initial state, the same batch and the same RNG, trained once in float32 and
once with the model in bfloat16.
"""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import registry
from genjax.core import precision
from genjax.errors import ConfigError
from genjax.families.base import example_batch
from tests.helpers import load_config

STEPS = 3
# bfloat16 keeps 8 significant bits (unit round-off 2**-9 = 0.2%). A smoke
# model's loss is a mean over the batch of a few layers' outputs, whose
# rounding errors partly average out; 2% is ten times that unit round-off
# (room for a few layers and three Adam steps) and far below the loss's own
# changes from step to step at these learning rates.
LOSS_RTOL = 2e-2


def config_with(path, dtype):
  c = load_config(path)
  c.unlock()
  c.train.compute_dtype = dtype
  c.lock()
  return c


def toy_batch(path, shape, batch=8):
  """A fixed batch in the experiment's data range ({0,1} or [-1,1])."""
  key_image, key_label = jax.random.split(jax.random.PRNGKey(3))
  u = jax.random.uniform(key_image, (batch,) + shape)
  image = (u > 0.5).astype(jnp.float32) if "autoencoder" in path else 2 * u - 1
  return {"image": image, "label": jax.random.randint(key_label, (batch,), 0, 10)}


def run_steps(config, state, batch):
  """(state, losses, last metrics) after STEPS steps, and the step's
  lowered (StableHLO) text."""
  lowered = jax.jit(registry.make_family(config).train_step).lower(state, batch)
  step = lowered.compile()
  losses = []
  for _ in range(STEPS):
    state, metrics = step(state, batch)
    losses.append(float(metrics["loss"]))
  return state, losses, metrics, lowered.as_text()


def conv_and_dot_types(text):
  """(op, operand element types, precision algorithm or '') of every
  convolution and dot_general of a lowered (StableHLO) program."""
  out = []
  for line in text.splitlines():
    op = re.search(r"stablehlo\.(convolution|dot_general)", line)
    if op:
      operands = line.rsplit(":", 1)[-1].split("->")[0]
      types = tuple(re.findall(r"x([a-z]\w*)>", operands))
      algorithm = re.search(r"lhs_precision_type = (\w+)", line)
      out.append((op.group(1), types, algorithm.group(1) if algorithm else ""))
  return out


@pytest.mark.parametrize("path", [
    "experiments/autoencoder/vae_mnist.py",
    # U-Net with attention; XLA:CPU compiles its bfloat16 step slowly (~10 s).
    pytest.param("experiments/diffusion/ddpm_cifar10.py", marks=pytest.mark.slow)])
def test_bfloat16_training_tracks_float32(path):
  f32, bf16 = config_with(path, "float32"), config_with(path, "bfloat16")
  shape = tuple(f32.model.image_shape)
  state = jax.jit(registry.make_family(f32).init)(jax.random.PRNGKey(0),
                                                  example_batch(shape))
  batch = toy_batch(path, shape)
  _, want, _, f32_text = run_steps(f32, state, batch)
  new_state, got, metrics, bf16_text = run_steps(bf16, state, batch)
  assert want != got                  # the bfloat16 step really differs...
  np.testing.assert_allclose(got, want, rtol=LOSS_RTOL)   # ...by round-off only
  # Masters, optimiser state, EMA and the metrics stay float32.
  for part in (new_state.params, new_state.opt_state, new_state.ema_params, metrics):
    for leaf in jax.tree.leaves(part):
      if jnp.issubdtype(leaf.dtype, jnp.floating):
        assert leaf.dtype == jnp.float32
  # Convolutions and matmuls of the step (forward and backward) run in
  # bfloat16: bf16 operands, or (the attention's float32 softmax logits in
  # the backward) an explicit bf16 x bf16 precision; none in float32.
  ops = conv_and_dot_types(bf16_text)
  assert len(ops) > 10
  assert all(set(types) == {"bf16"} or algorithm == "bf16" for _, types, algorithm in ops), ops
  # The float32 step has no bfloat16 anywhere.
  assert "bf16" not in f32_text


def test_gradients_reach_float32_params():
  """The loss's gradient through the cast: float32, and along the float32
  gradient (cosine > 0.99) on a small conv net."""
  import flax.linen as nn
  from genjax.nn.conv import Conv

  class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
      h = nn.relu(nn.GroupNorm(num_groups=4)(Conv(8)(x)))
      return nn.Dense(1)(h.reshape(x.shape[0], -1))

  net = Net()
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 8, 8, 3))
  params = jax.jit(net.init)(jax.random.PRNGKey(0), x)["params"]

  def loss(p, x):
    out = net.apply({"params": p}, x)
    assert out.dtype == jnp.float32       # the model's output comes back float32
    return jnp.mean(jnp.square(out - 1.0))

  g32 = jax.jit(jax.grad(loss))(params, x)
  g16 = jax.jit(jax.grad(precision.mixed_precision_loss(loss, jnp.bfloat16)))(params, x)
  a, b = (jnp.concatenate([v.ravel() for v in jax.tree.leaves(g)]) for g in (g32, g16))
  assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(g16))
  assert float(a @ b / jnp.linalg.norm(a) / jnp.linalg.norm(b)) > 0.99
  assert precision.mixed_precision_loss(loss, jnp.float32) is loss


def test_bad_compute_dtype_lists_valid_names():
  c = config_with("experiments/autoencoder/vae_mnist.py", "float16")
  with pytest.raises(ConfigError, match=r"compute_dtype.*Valid .*bfloat16, float32"):
    registry.make_family(c)


def test_gan_refuses_bfloat16_clearly():
  c = config_with("experiments/gan/dcgan_mnist.py", "bfloat16")
  with pytest.raises(ConfigError, match="GAN family.*set it to 'float32'"):
    registry.make_family(c)


def test_old_configs_without_the_field_run_in_float32():
  c = load_config("experiments/autoencoder/vae_mnist.py")
  plain = c.to_dict()
  del plain["train"]["compute_dtype"]
  import ml_collections
  assert precision.read_compute_dtype(ml_collections.ConfigDict(plain)) == jnp.float32
