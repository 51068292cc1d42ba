"""ControlNet's networks (Zhang et al. 2023): exactness at init and at scale 0,
the copy's initialisation, the residuals' count and shapes, multi-ControlNet."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.core.params import copy_matching, flat_leaves
from genjax.errors import ConfigError
from genjax.families.diffusion.controlnet import (COPIED, ControlNet, control_factor,
                                                  scaled, summed)
from genjax.families.diffusion.unet import UNet

FIELDS = dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,),
              num_classes=3, dropout=0.0)
X = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
T = jnp.array([3, 7])
LABELS = jnp.array([0, 2])
CONTROL = jax.random.uniform(jax.random.PRNGKey(1), (2, 16, 16, 1))


def randomised(tree, seed):
  """Every leaf moved off its initialisation (the U-Net's output conv starts
  at zero, which would make any comparison of outputs trivially equal)."""
  leaves, treedef = jax.tree.flatten(tree)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  return jax.tree.unflatten(treedef, [a + 0.1 * jax.random.normal(k, a.shape)
                                      for a, k in zip(leaves, keys)])


@pytest.fixture(scope="module")
def nets():
  unet, control = UNet(**FIELDS), ControlNet(**FIELDS, hint_channels=(4, 8))
  locked = randomised(unet.init(jax.random.PRNGKey(2), X, T, LABELS)["params"], 5)
  fresh = control.init(jax.random.PRNGKey(3), X, T, CONTROL, LABELS)["params"]
  return unet, control, locked, copy_matching(fresh, locked, include=COPIED)


def test_the_controlled_unet_equals_the_locked_one_bitwise_at_init(nets):
  unet, control, locked, params = nets
  residuals = control.apply({"params": params}, X, T, CONTROL, LABELS)
  plain = unet.apply({"params": locked}, X, T, LABELS)
  assert float(jnp.abs(plain).max()) > 0.1     # a non-trivial output
  np.testing.assert_array_equal(
      unet.apply({"params": locked}, X, T, LABELS, residuals=residuals), plain)


def test_at_scale_zero_a_trained_controlnet_leaves_the_output_bitwise_unchanged(nets):
  unet, control, locked, params = nets
  trained = randomised(params, 11)   # zero convs and condition encoder non-zero
  residuals = control.apply({"params": trained}, X, T, CONTROL, LABELS)
  plain = unet.apply({"params": locked}, X, T, LABELS)
  controlled = unet.apply({"params": locked}, X, T, LABELS, residuals=residuals)
  assert float(jnp.abs(controlled - plain).max()) > 1e-3   # the control acts
  np.testing.assert_array_equal(
      unet.apply({"params": locked}, X, T, LABELS, residuals=scaled(residuals, 0.0)),
      plain)


def test_the_copy_starts_as_the_locked_encoder_and_the_zero_convs_at_zero(nets):
  _, _, locked, params = nets
  mine, theirs = flat_leaves(params), flat_leaves(locked)
  copied = [p for p in mine if p in theirs]
  assert copied and all(np.array_equal(mine[p], theirs[p]) for p in copied)
  # the up path and output are not copied; the new parts are the hint and zero convs
  assert not any(p.startswith(("up_", "conv_out", "norm_out")) for p in mine)
  new = sorted({p.split("/")[0] for p in mine if p not in theirs})
  assert new == ["hint", "zero_0", "zero_1", "zero_2", "zero_3", "zero_mid"]
  for p in mine:
    if p.startswith("zero_") or p.startswith("hint/zero_out"):
      assert not np.any(mine[p]), p


def test_one_residual_per_skip_with_the_skips_shapes(nets):
  # conv_in + one per block per level + a downsample between levels
  # = 1 + 2 * 1 + 1 = 4 skips, at 8x8x8, 8x8x8, 4x4x8, 4x4x16; mid 4x4x16.
  _, control, _, params = nets
  down, mid = control.apply({"params": params}, X, T, CONTROL, LABELS)
  assert [r.shape for r in down] == [(2, 8, 8, 8), (2, 8, 8, 8), (2, 4, 4, 8),
                                     (2, 4, 4, 16)]
  assert mid.shape == (2, 4, 4, 16)


def test_multi_controlnet_sums_the_weighted_residuals():
  a = (tuple(jnp.full((1, 2, 2, 1), v) for v in (1.0, 2.0)), jnp.full((1, 1, 1, 1), 3.0))
  b = (tuple(jnp.full((1, 2, 2, 1), v) for v in (10.0, 20.0)), jnp.full((1, 1, 1, 1), 30.0))
  down, mid = summed([a, b], [0.5, 2.0])
  assert [float(r[0, 0, 0, 0]) for r in down] == [20.5, 41.0]
  assert float(mid[0, 0, 0, 0]) == 61.5


@pytest.mark.parametrize("control_hw,denoiser_hw,factor", [
    ((28, 28), (28, 28), 1), ((28, 28), (7, 7), 4), ((32, 16), (8, 4), 4)])
def test_control_factor_is_the_power_of_two_size_ratio(control_hw, denoiser_hw, factor):
  assert control_factor(control_hw, denoiser_hw) == factor


@pytest.mark.parametrize("control_hw", [(27, 27), (21, 21), (28, 14), (14, 14)])
def test_a_control_map_the_convs_cannot_bring_to_the_denoisers_size_is_refused(control_hw):
  with pytest.raises(ConfigError, match="power-of-2 multiple"):
    control_factor(control_hw, (7, 7) if control_hw != (14, 14) else (28, 28))


def fake_controlnet_run(base_fingerprint):
  """A trained-ControlNet Dependency as far as Multi-ControlNet's start-up
  checks read it (its family and its base's pin)."""
  import types
  family = types.SimpleNamespace(family="diffusion", model="controlnet")
  base = types.SimpleNamespace(fingerprint=base_fingerprint)
  return types.SimpleNamespace(workdir="/runs/cn", family=family, deps={"base": base})


@pytest.mark.parametrize("deps,keys,match", [
    ({"a": "x"}, ("c",), "two or more"),
    ({"a": "x", "b": "y"}, ("c", "d"), "different base runs"),
    ({"a": "x", "b": "x"}, ("c",), "one entry per ControlNet"),
])
def test_multi_controlnet_start_up_errors(deps, keys, match):
  from genjax.families.diffusion import multicontrol
  from genjax.families.diffusion.config import default_config
  config = default_config()
  config.model.update(name="multi_controlnet")
  config.model.control.update(keys=keys, weights=(1.0,) * len(keys))
  with pytest.raises(ConfigError, match=match):
    multicontrol.read_multi_settings(
        config, {name: fake_controlnet_run(pin) for name, pin in deps.items()})
