"""SR3 on Fashion-MNIST: 2x super-resolution, 14x14 -> 28x28 (sr3_mnist's model).

  python launch.py --config experiments/diffusion/sr3_fashion_mnist.py --workdir runs/sr3_fashion_mnist
  python launch.py --config experiments/diffusion/sr3_fashion_mnist.py --workdir runs/sr3_fashion_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

Saharia et al. 2021 (SR3), as sr3_mnist.py but with the degradation 'sr2'
(antialiased bicubic downsampling by 2): garments keep their outline at
14x14 and lose texture and print, which the model must invent. The same
0.97M-parameter U-Net, 2,000 steps of 64 (~30 minutes on 2 CPU cores),
DDIM-20 at eta = 1. Measured: ``psnr`` / ``ssim`` of the SR outputs against
the originals beside the bicubic baseline's ``psnr_bicubic`` /
``ssim_bicubic``, and with the Fashion-MNIST classifier ``fid_fashion_mnist``
and ``cond_acc_fashion_mnist`` (the SR output keeps its garment's class).
"""
from genjax.config import parse_arg
from experiments.diffusion.sr3_mnist import sr3_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = sr3_config(arg, "sr2", "fashion_mnist")
  if arg == "smoke":   # psnr / ssim's smoke run is sr3_mnist's (the same code)
    c.train.eval_metrics = ("loss",)
    c.eval.metrics = ("fid_fashion_mnist", "cond_acc_fashion_mnist")
  return c
