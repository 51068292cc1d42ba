"""pix2pix / CycleGAN networks: the references' parameter counts, PatchGAN's
receptive field measured by gradients, and the U-Net's noise."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.nn.norms import image_norm
from genjax.nn.patchgan import PatchGAN, check_patchgan, receptive_field
from genjax.nn.translation_generators import ResNetTranslator, UNetTranslator


def num_params(module, shape, **kwargs):
  variables = jax.eval_shape(
      lambda: module.init({"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)},
                          jnp.zeros(shape), **kwargs))
  return sum(int(np.prod(v.shape)) for v in jax.tree.leaves(variables["params"]))


# The figures junyanz/pytorch-CycleGAN-and-pix2pix prints at start-up
# ("[Network G] Total number of parameters : 54.414 M", '%.3f M' of
# sum(p.numel())) for its defaults: pix2pix's unet_256 G with batch norm
# (RGB -> RGB), its basic 70x70 D on the 6-channel (input, output) pair, and
# CycleGAN's resnet_9blocks G with instance norm (the issue quotes them).
@pytest.mark.parametrize("module,shape,millions", [
    (UNetTranslator(3, num_downs=8, ngf=64, norm="batch"), (1, 256, 256, 3), 54.414),
    (PatchGAN(ndf=64, n_layers=3, norm="batch"), (1, 256, 256, 6), 2.769),
    (ResNetTranslator(3, n_blocks=9, ngf=64, norm="instance"), (1, 256, 256, 3), 11.378),
])
def test_parameter_counts_equal_the_reference_implementations(module, shape, millions):
  assert round(num_params(module, shape) / 1e6, 3) == millions


# by hand: two 4x4 stride-1 convs see 4 + 3 = 7 px, each stride-2 4x4 conv
# before them maps r to 2 (r - 1) + 4 (7 -> 16 -> 34 -> 70, the paper's 70)
@pytest.mark.parametrize("n_layers,expected", [(0, 7), (1, 16), (2, 34), (3, 70)])
def test_receptive_field_closed_form(n_layers, expected):
  assert receptive_field(n_layers) == expected


@pytest.mark.parametrize("n_layers", [1, 2])
def test_receptive_field_measured_by_gradients_equals_the_configured_size(n_layers):
  """The input pixels that move one interior logit span N x N, N = receptive_field."""
  d = PatchGAN(ndf=4, n_layers=n_layers, norm="batch")
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 64, 64, 2))
  variables = d.init(jax.random.PRNGKey(1), x)
  logits = d.apply(variables, x)
  cy, cx = logits.shape[1] // 2, logits.shape[2] // 2
  grad = jax.grad(lambda x: d.apply(variables, x)[0, cy, cx, 0])(x)
  rows, cols = np.nonzero(np.abs(np.asarray(grad[0])).sum(-1))
  n = receptive_field(n_layers)
  assert rows.max() - rows.min() + 1 == n and cols.max() - cols.min() + 1 == n


def test_patchgan_leaving_no_output_is_a_config_error():
  check_patchgan(2, (32, 32, 1))
  with pytest.raises(ConfigError, match="fewer layers"):
    check_patchgan(3, (16, 16, 1))


def test_unet_output_shape_range_and_test_time_dropout():
  # 6 downs: one dropout layer (the reference has num_downs - 5)
  g = UNetTranslator(1, num_downs=6, ngf=2, norm="batch")
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 64, 64, 1))
  rngs = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}
  variables = g.init(rngs, x)
  out = lambda seed: g.apply(variables, x, rngs={"dropout": jax.random.PRNGKey(seed)})
  y1, y2 = out(1), out(2)
  assert y1.shape == (2, 64, 64, 1) and float(jnp.max(jnp.abs(y1))) < 1
  assert not np.allclose(y1, y2)    # dropout is pix2pix's noise, at test time too
  quiet = UNetTranslator(1, num_downs=6, ngf=2, norm="batch", dropout_at_test=False)
  np.testing.assert_array_equal(quiet.apply(variables, x), quiet.apply(variables, x))


def test_unet_skips_carry_the_input_to_the_output():
  """Without the skips the 1x1 bottleneck of an 8x8 U-Net could not tell
  the images apart pixel by pixel; with them, changing one input pixel
  changes the output at that pixel (the outermost skip)."""
  g = UNetTranslator(1, num_downs=3, ngf=4, norm="none", dropout=False)
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 1))
  variables = g.init(jax.random.PRNGKey(0), x)
  grad = jax.grad(lambda x: g.apply(variables, x)[0, 2, 5, 0])(x)
  assert float(jnp.abs(grad[0, 2, 5, 0])) > 0


def test_resnet_translator_keeps_the_size_and_blocks_are_residual():
  g = ResNetTranslator(3, n_blocks=2, ngf=4)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 16, 1))
  variables = g.init(jax.random.PRNGKey(0), x)
  assert g.apply(variables, x).shape == (2, 16, 16, 3)


class Norm(nn.Module):
  kind: str

  @nn.compact
  def __call__(self, x):
    return image_norm(x, self.kind, train=False)


def test_instance_norm_standardises_each_image_and_channel_and_names_are_checked():
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 3)) * 4 + 2
  y = Norm("instance").apply({}, x)
  np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-5)
  np.testing.assert_allclose(y.var(axis=(1, 2)), 1, atol=1e-3)   # eps 1e-5 on var ~16
  with pytest.raises(ConfigError,
                     match="Valid norm layer names: batch, instance, instance_affine, none"):
    Norm("group").init(jax.random.PRNGKey(0), x)


def test_affine_instance_norm_scales_and_shifts_each_standardised_channel():
  """StarGAN's InstanceNorm2d(affine=True): (x - mean) / std per image and
  channel, times a learned scale plus a learned shift (2 C parameters)."""
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 3)) * 4 + 2
  params = jax.tree_util.tree_map(jnp.ones_like,
                                  Norm("instance_affine").init(jax.random.PRNGKey(0), x))
  assert sum(v.size for v in jax.tree_util.tree_leaves(params)) == 2 * 3
  scale, shift = jnp.asarray([2.0, 0.5, 1.0]), jnp.asarray([3.0, -1.0, 0.0])
  name = next(iter(params["params"]))
  y = Norm("instance_affine").apply(
      {"params": {name: {"scale": scale, "bias": shift}}}, x)
  np.testing.assert_allclose(y.mean(axis=(1, 2)), jnp.broadcast_to(shift, (2, 3)), atol=1e-4)
  np.testing.assert_allclose(y.std(axis=(1, 2)), jnp.broadcast_to(scale, (2, 3)), rtol=1e-3)
