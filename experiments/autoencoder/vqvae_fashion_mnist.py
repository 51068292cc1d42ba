"""VQ-VAE on Fashion-MNIST in [0, 1] (squared error): 7x7 maps of K=512 codes, EMA codebook with restarts.

  python launch.py --config experiments/autoencoder/vqvae_fashion_mnist.py --workdir runs/vqvae_fashion_mnist
  python launch.py --config experiments/autoencoder/vqvae_fashion_mnist.py --workdir runs/vqvae_fashion_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

vqvae_mnist's network and codebook on grey Fashion-MNIST (Debian's
dataset-fashion-mnist, offline) scaled to [0, 1], with the squared error as
the reconstruction loss (textures are not binary), so PSNR is the figure to
read; the decoder is then no likelihood and a prior over these codes reports
NLL per code but no image bits/dim.
"""
from experiments.autoencoder import vqvae_mnist
from genjax.config import parse_arg


def get_config(arg=None):
  arg = parse_arg(arg)
  c = vqvae_mnist.get_config(arg)
  c.model.recon_loss = "mse"
  c.data.update(name="fashion_mnist", preprocess=["scale_01"])
  return c
