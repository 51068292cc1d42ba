"""DDPM fine-tuned from MNIST to Fashion-MNIST: ddpm_mnist's model, its
parameters copied from a trained ddpm_mnist run (config.init_from), then
trained on Fashion-MNIST.

  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist
  python launch.py --config experiments/diffusion/ddpm_finetune_fashion_mnist.py --workdir runs/ddpm_finetune_fashion_mnist
  python launch.py --config experiments/diffusion/ddpm_finetune_fashion_mnist.py --workdir runs/ddpm_finetune_fashion_mnist --mode eval
  # the same run from scratch (the comparison of docs/results.md):
  ... --workdir runs/ddpm_scratch_fashion_mnist --config.init_from.workdir=

The source is read once, at the first start: every parameter (and its EMA)
is copied, the optimiser starts afresh, and the source's step and a
fingerprint are pinned in this run's config.json (a resume restores this
run's own checkpoint and needs the source no more). Another source:
--config.init_from.workdir=...; a subset: --config.init_from.include=REGEX over
paths such as 'params/down_0_block_0/Conv_0/kernel'.
``ddpm_finetune_decoder_fashion_mnist.py`` trains only the U-Net's decoder half.
Sample quality is FID with the Fashion-MNIST classifier's features.
"""
from genjax.config import dependency, parse_arg
from experiments.diffusion import ddpm_fashion_mnist


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ddpm_fashion_mnist.get_config(arg)
  c.init_from = dependency(workdir="runs/ddpm_mnist",
                           experiment="experiments/diffusion/ddpm_mnist.py")
  c.init_from.update(dict(include=".*", exclude=""))
  if arg != "smoke":   # fine-tuning: a fifth of the steps, a short warm-up
    c.train.update(num_steps=500, sample_every=500, eval_every=500, ckpt_every=250)
    c.optim.update(lr=2e-4, warmup_steps=20, decay_steps=500)
  return c
