"""Rematerialisation (config.model.remat; genjax.core.precision.rematerialised).

The reference is the same tiny network without remat: the same parameter
paths and values, the same gradients, a backward pass that recomputes the
blocks (in the lowered program) and, where the backend keeps the
recomputation, less temporary memory.
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax import config as config_lib
from genjax import registry
from genjax.core import precision
from genjax.errors import ConfigError
from genjax.families.autoregressive.pixelcnnpp import PixelCNNPP
from genjax.families.diffusion.unet import UNet
from tests.helpers import load_config

X = jnp.linspace(-1, 1, 4 * 8 * 8 * 3).reshape(4, 8, 8, 3)
T = jnp.array([1, 5, 7, 9])
CASES = {
    # ResBlocks and attention, dropout on in training
    "unet": (lambda remat: UNet(ch=8, ch_mult=(1,), num_res_blocks=1,
                                attn_resolutions=(8,), dropout=0.1, remat=remat),
             ("ResBlock", "SelfAttention"), (X, T)),
    "pixelcnnpp": (lambda remat: PixelCNNPP(nr_resnet=1, nr_filters=8, nr_logistic_mix=2,
                                            num_resolutions=2, dropout=0.5, remat=remat),
                   ("GatedResnet",), (X,)),
}


def init_and_loss(name, remat):
  """(parameter shapes, loss of params) of the tiny model, its blocks
  rematerialised or not (the shapes from ``jax.eval_shape``: no compile)."""
  make, kinds, args = CASES[name]
  model = make(kinds if remat else ())
  key = jax.random.PRNGKey(0)
  params = jax.eval_shape(model.init, {"params": key, "dropout": key}, *args)["params"]

  def loss(p):
    out = model.apply({"params": p}, *args, train=True,
                      rngs={"dropout": jax.random.PRNGKey(1)})
    return jnp.mean(jnp.square(out - 0.3))

  return params, loss


@pytest.mark.parametrize("name", sorted(CASES))
def test_remat_keeps_parameters_and_gradients(name):
  shapes, loss = init_and_loss(name, remat=False)
  remat_shapes, remat_loss = init_and_loss(name, remat=True)
  # The same parameter paths, shapes and dtypes: checkpoints stay compatible.
  described = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype), tree)
  assert described(shapes) == described(remat_shapes)
  # Any parameters will do for comparing gradients (no init to compile).
  rng = np.random.default_rng(0)
  params = jax.tree.map(
      lambda x: jnp.asarray(0.3 * rng.standard_normal(x.shape), x.dtype), shapes)
  # Same gradients (the dropout masks recomputed identically) to float32 round-off.
  plain = jax.jit(jax.grad(loss)).lower(params)
  lowered = jax.jit(jax.grad(remat_loss)).lower(params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               plain.compile()(params), lowered.compile()(params))
  # The backward pass recomputes the blocks: their convolutions and matmuls
  # appear again, behind XLA optimisation barriers.
  text, plain = lowered.as_text(), plain.as_text()
  assert "optimization_barrier" in text and "optimization_barrier" not in plain
  assert num_convs_and_dots(text) > num_convs_and_dots(plain)


def num_convs_and_dots(text):
  return text.count("stablehlo.convolution") + text.count("stablehlo.dot_general")


@pytest.mark.skipif(
    jax.default_backend() == "cpu",
    reason="XLA:CPU drops jax.checkpoint's optimisation barriers and CSEs the "
    "recomputation back into the forward pass (measured: temp size unchanged); "
    "benchmarks/device_check.sh runs this on GPU/TPU")
def test_remat_lowers_temp_memory():
  def temp(remat):
    model = UNet(ch=32, ch_mult=(1, 2), num_res_blocks=2, attn_resolutions=(16,),
                 dropout=0.0, remat=("ResBlock", "SelfAttention") if remat else ())
    x, t = jnp.zeros((32, 32, 32, 3)), jnp.zeros((32,), jnp.int32)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, t)["params"]
    loss = lambda p: jnp.mean(model.apply({"params": p}, x, t) ** 2)
    compiled = jax.jit(jax.grad(loss)).lower(params).compile()
    return compiled.memory_analysis().temp_size_in_bytes

  assert temp(True) < 0.8 * temp(False)


def diffusion_config(remat):
  c = load_config("experiments/diffusion/ddpm_cifar10.py")
  c.unlock()
  c.model.remat = remat
  c.lock()
  return c


def test_config_remat_reaches_the_unet():
  from genjax.families.diffusion import ddpm
  from genjax.families.diffusion.settings import read_settings
  # A tuple, or a list (as a config.json reads).
  for remat in (("ResBlock", "SelfAttention"), ["ResBlock", "SelfAttention"]):
    settings = read_settings(diffusion_config(remat))
    assert ddpm.build_networks(settings).model.remat == ("ResBlock", "SelfAttention")
  assert read_settings(diffusion_config(())).remat == ()


def test_unknown_block_kind_lists_valid_ones():
  with pytest.raises(ConfigError, match="Valid .*ResBlock, SelfAttention"):
    registry.make_family(diffusion_config(("ResBlok",)))
  c = load_config("experiments/autoregressive/pixelcnn_binary_mnist.py")
  c.unlock()
  c.model.remat = ("GatedResnet",)
  c.lock()
  with pytest.raises(ConfigError, match="has no blocks to rematerialise"):
    registry.make_family(c)
  c = load_config("experiments/autoregressive/pixelcnnpp_cifar10.py")
  c.unlock()
  c.model.remat = ("GatedResnet",)
  c.lock()
  assert registry.make_family(c).model == "pixelcnnpp"


def test_remat_is_not_part_of_a_runs_identity():
  """A run may resume with remat turned on or off, and a config.json written
  before the field existed (no model.remat) is the same experiment."""
  on = diffusion_config(("ResBlock",)).to_dict()
  off = diffusion_config(()).to_dict()
  old = diffusion_config(()).to_dict()
  del old["model"]["remat"]
  assert config_lib.identity_diff(on, off) == []
  assert config_lib.identity_diff(old, on) == []
  assert precision.read_remat(ml_collections.ConfigDict(old), ("ResBlock",), "x") == ()
