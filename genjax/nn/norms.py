"""Normalisation helpers shared by the families."""
import flax.linen as nn

from genjax.errors import unknown_name


def num_groups(channels, max_groups=32, min_group_size=2):
  """The largest divisor of ``channels`` at most ``max_groups`` and ``channels / min_group_size``.

  GroupNorm (Wu & He 2018) with 32 groups, as DDPM uses it, needs the channel
  count divisible by 32; other widths (48, tiny test models) get the most
  groups that still divide them (1 = LayerNorm over H, W, C). Groups of one
  channel are avoided (32 channels get 16 groups): such a group norm would
  subtract each channel's spatial mean, erasing a per-channel shift such as
  the time embedding a DDPM ResBlock adds just before its second norm.
  """
  cap = max(1, min(max_groups, channels // min_group_size))
  return max(g for g in range(1, cap + 1) if channels % g == 0)


def group_norm(x, max_groups=32, epsilon=1e-6, name=None):
  """GroupNorm of ``x`` (channels last) with ``num_groups(C, max_groups)`` groups.

  Call inside an ``nn.compact`` method; ``name`` names the submodule.
  """
  return nn.GroupNorm(num_groups=num_groups(x.shape[-1], max_groups),
                      epsilon=epsilon, name=name)(x)


IMAGE_NORMS = ("batch", "instance", "instance_affine", "none")


def image_norm(x, kind, train, name=None):
  """pix2pix / CycleGAN's norm layer ``kind`` on NHWC ``x`` (call inside an
  ``nn.compact`` method): 'batch' (affine BatchNorm, PyTorch's momentum 0.1 and
  eps 1e-5; running statistics when not ``train``), 'instance' (PyTorch's
  ``InstanceNorm2d`` default: per image and channel, no affine parameters,
  eps 1e-5), 'instance_affine' (the same with a learned scale and shift:
  StarGAN's ``affine=True``; its ``track_running_stats`` is not copied, so
  test time normalises per image too) or 'none'."""
  if kind == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        name=name)(x)
  if kind == "instance":
    return nn.InstanceNorm(epsilon=1e-5, use_bias=False, use_scale=False, name=name)(x)
  if kind == "instance_affine":
    return nn.InstanceNorm(epsilon=1e-5, name=name)(x)
  if kind == "none":
    return x
  raise unknown_name("norm layer", kind, IMAGE_NORMS)


def norm_has_affine(kind):
  """Whether ``kind``'s layer shifts its output (then a conv before it needs
  no bias: pix2pix's use_bias = norm is instance norm, i.e. not batch norm)."""
  return kind in ("batch", "instance_affine")
