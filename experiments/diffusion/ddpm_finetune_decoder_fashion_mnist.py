"""ddpm_finetune_fashion_mnist with only the U-Net's decoder half trained:
the up path and the output layers learn Fashion-MNIST; the encoder half, the
middle and the time embedding stay the MNIST run's, bitwise (config.optim.groups).

  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist
  python launch.py --config experiments/diffusion/ddpm_finetune_decoder_fashion_mnist.py --workdir runs/ddpm_finetune_decoder_fashion_mnist

Frozen groups keep no Adam moments; the gradient clip counts the trained
leaves only (genjax/core/optim.py).
"""
from genjax.config import parse_arg
from experiments.diffusion import ddpm_finetune_fashion_mnist

DECODER = "(up_.*|norm_out|conv_out)/.*"


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ddpm_finetune_fashion_mnist.get_config(arg)
  c.optim.groups = ((DECODER, 1.0), (".*", None))
  return c
