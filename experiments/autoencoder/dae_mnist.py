"""Denoising convolutional autoencoder on MNIST (Vincent et al. 2008): Gaussian noise, std 0.5.

  python launch.py --config experiments/autoencoder/dae_mnist.py --workdir runs/dae_mnist
  python launch.py --config experiments/autoencoder/dae_mnist.py --workdir runs/dae_mnist --mode eval

Trains to reconstruct the clean image from a corrupted one; the sample grids
include ``restoration_*.png`` (rows: noisy | restored | clean). Eval reports
``denoise_mse`` (restored vs clean, per pixel) beside the reconstruction loss.
Use ``--config.model.noise=masking --config.model.noise_level=0.5`` for
masking noise. No paper figure is reproduced.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="dae", architecture="conv", channels=(32, 64),
                 latent_dim=32, recon_loss="bce", noise="gaussian",
                 noise_level=0.5)
  c.data.update(name="mnist", preprocess=["scale_01"])
  c.train.update(batch_size=128, num_steps=10_000, log_every=200,
                 ckpt_every=2_000, sample_every=5_000, eval_every=5_000,
                 eval_metrics=["denoise_mse"], eval_num_examples=2_000)
  c.eval.update(metrics=["recon", "denoise_mse"], batch_size=500)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.update(channels=(8, 16), latent_dim=4)
  return c
