"""VQ-VAE in the paper's CIFAR-10 shape (for users with a GPU and internet): 8x8 maps of K=512 codes.

  python launch.py --config experiments/autoencoder/vqvae_cifar10.py --workdir runs/vqvae_cifar10
  python launch.py --config experiments/autoencoder/vqvae_cifar10.py --workdir runs/vqvae_cifar10 --mode eval

Smoke run (seconds): append ``:smoke`` to the config path (on tfds' mock
data in the test suite; the full run downloads CIFAR-10 through the tfds
catalog, which these machines cannot).

van den Oord et al. 2017, sec. 4.1: two 4x4 stride-2 convs of 256 units, two
residual blocks (3x3 and 1x1 convs of 256 units), a 1x1 conv to D=64; K=512;
the EMA codebook (appendix A.1, decay 0.99) with dead-code restarts; Adam
2e-4, batch 128, 250k steps; squared error on [0, 1] images. The paper
reports 4.67 bits/dim for its VQ-VAE with a PixelCNN prior (table 1); this
config has no prior experiment yet. Not run here.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="vqvae", architecture="conv", image_shape=(32, 32, 3),
                 channels=(256, 256), recon_loss="mse")
  c.model.vq.update(num_codes=512, code_dim=64, codebook="ema", commitment=0.25,
                    res_blocks=2, res_hidden=256, restart_after=100)
  c.data.update(name="cifar10", offline=False, preprocess=["scale_01"],
                shuffle_buffer=50_000)
  c.train.update(batch_size=128, num_steps=250_000, log_every=500, ckpt_every=5_000,
                 sample_every=10_000, eval_every=10_000,
                 eval_metrics=["psnr", "code_perplexity", "code_usage"],
                 eval_num_examples=2_000)
  c.optim.update(lr=2e-4, ema_decay=0.0)
  c.eval.update(metrics=["recon_mse", "psnr", "code_perplexity", "code_usage"],
                batch_size=100)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.channels = (8, 8)
    c.model.vq.update(num_codes=16, code_dim=4, res_blocks=1, res_hidden=8,
                      restart_after=2)
  return c
