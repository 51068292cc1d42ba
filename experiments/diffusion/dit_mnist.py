"""Class-conditional DiT (Peebles & Xie 2023) on MNIST latents: ``ldm_mnist`` with a transformer backbone.

  python launch.py --config experiments/autoencoder/klae_mnist.py --workdir runs/klae_mnist
  python launch.py --config experiments/diffusion/dit_mnist.py --workdir runs/dit_mnist
  python launch.py --config experiments/diffusion/dit_mnist.py --workdir runs/dit_mnist \
      --mode eval --config.deps.first_stage.workdir=runs/klae_mnist

The same frozen KL-f4 latents (7x7x3), data, schedule, label dropout,
optimiser and sampler as ``ldm_mnist``; the denoiser is a DiT with adaLN-Zero
blocks (dit.py) of DiT-S's layout at patch size 1 (49 tokens: 7 is odd) and
narrowed for the 2-core CPU: hidden 192, 6 blocks, 6 heads (the named sizes
DiT-S/B/L/XL are ``model.ldm.dit='DiT-XL/2'`` with dit_hidden = dit_depth =
dit_heads = 0). ``benchmarks/ldm_speed.py`` times it beside the U-Net;
docs/results.md, "Latent diffusion", compares the two at equal minutes.

Measured (2-core CPU; docs/results.md, "Latent diffusion"): 78.4 train
images/s against the U-Net's 153.7, so at equal training minutes (1,530
steps, ``--config.train.num_steps=1530 --config.optim.decay_steps=1530``)
FID-MNIST 180.9 and class accuracy 0.568 against ``ldm_mnist``'s 59.7 /
0.775 (1k DDIM-20 samples, w = 1).

Paper: DiT-XL/2 class-conditional ImageNet 256, FID 2.27 with guidance
(Table 4), on TPU-v3 pods; not comparable here.
"""
from genjax.config import parse_arg
from experiments.diffusion import ldm_mnist


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ldm_mnist.get_config(arg)
  c.model.ldm.update(backbone="dit", dit="DiT-S/1", dit_hidden=192, dit_depth=6,
                     dit_heads=6)
  if arg == "smoke":
    c.model.ldm.update(dit="DiT-S/2", dit_hidden=32, dit_depth=1, dit_heads=2)
  return c
