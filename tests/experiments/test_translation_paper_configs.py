"""The paper-shaped translation configs build the reference's networks: the
family's own ``init`` on those configs (shapes only, ``jax.eval_shape``)
gives every player the parameter count of junyanz/pytorch-CycleGAN-and-pix2pix.

The counts are the sums of the reference's layer shapes for its defaults
(``networks.define_G`` / ``define_D``; by hand, layer by layer, below), which
round to the figures it prints at start-up ('%.3f M'): pix2pix's unet_256 G
with batch norm 54.414 M and its basic 70x70 D on the 6-channel pair
2.769 M; CycleGAN's resnet_9blocks G with instance norm 11.378 M and its
basic D on 3 channels 2.765 M (tests/nn/test_translation_nets.py checks the
modules alone against the printed figures).
"""
import jax
import numpy as np
import pytest

from genjax import registry
from tests.helpers import load_config


def conv(c_in, c_out, k, bias):
  return c_in * c_out * k * k + (c_out if bias else 0)


# unet_256, batch norm (use_bias False but for the outermost up-conv); the
# norms' scale and bias: 2 per channel.
UNET_256 = (
    conv(3, 64, 4, False) + conv(128, 3, 4, True)                          # outermost
    + conv(64, 128, 4, False) + 2 * 128 + conv(256, 64, 4, False) + 2 * 64
    + conv(128, 256, 4, False) + 2 * 256 + conv(512, 128, 4, False) + 2 * 128
    + conv(256, 512, 4, False) + 2 * 512 + conv(1024, 256, 4, False) + 2 * 256
    + 3 * (conv(512, 512, 4, False) + 2 * 512 + conv(1024, 512, 4, False) + 2 * 512)
    + conv(512, 512, 4, False) + conv(512, 512, 4, False) + 2 * 512)       # innermost


def basic_d(c_in, batch_norm):
  """70x70 PatchGAN: a biased first conv, three convs (bias only without a
  batch norm; instance norm has no affine), a biased 1-channel conv."""
  widths = (64, 128, 256, 512)
  inner = sum(conv(a, b, 4, not batch_norm) + (2 * b if batch_norm else 0)
              for a, b in zip(widths, widths[1:]))
  return conv(c_in, 64, 4, True) + inner + conv(512, 1, 4, True)


# resnet_9blocks, instance norm (no affine, every conv biased)
RESNET_9 = (conv(3, 64, 7, True) + conv(64, 128, 3, True) + conv(128, 256, 3, True)
            + 9 * 2 * conv(256, 256, 3, True)
            + conv(256, 128, 3, True) + conv(128, 64, 3, True) + conv(64, 3, 7, True))


def test_the_hand_counts_round_to_the_printed_figures():
  assert (UNET_256, basic_d(6, True), RESNET_9, basic_d(3, False)) == (
      54_413_955, 2_768_705, 11_378_179, 2_764_737)
  printed = [round(n / 1e6, 3) for n in (UNET_256, basic_d(6, True), RESNET_9,
                                         basic_d(3, False))]
  assert printed == [54.414, 2.769, 11.378, 2.765]


def player_counts(path):
  config = load_config(path, arg=None)
  family = registry.make_family(config)
  state = jax.eval_shape(family.init, jax.random.PRNGKey(0), None)
  return {name: sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
          for name, params in state.params.items()}


@pytest.mark.parametrize("path,expected", [
    ("experiments/gan/pix2pix_facades.py", {"G": UNET_256, "D": basic_d(6, True)}),
    ("experiments/gan/cyclegan_horse2zebra.py",
     {"G_AB": RESNET_9, "G_BA": RESNET_9, "D_A": basic_d(3, False), "D_B": basic_d(3, False)}),
])
def test_paper_configs_build_the_reference_networks(path, expected):
  assert player_counts(path) == expected
