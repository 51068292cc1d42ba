"""Class-conditional Gated PixelCNN prior over the 7x7 codes of a frozen VQ-VAE (vqvae_mnist).

  python launch.py --config experiments/autoencoder/vqvae_mnist.py --workdir runs/vqvae_mnist
  python launch.py --config experiments/autoregressive/vq_prior_mnist.py --workdir runs/vq_prior_mnist
  python launch.py --config experiments/autoregressive/vq_prior_mnist.py --workdir runs/vq_prior_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path (the smoke tests
train the VQ-VAE's smoke run first).

van den Oord et al. 2017, sec. 4.1: a PixelCNN prior over the latent map of a
trained VQ-VAE, sampled and decoded. 49 positions with a 512-way softmax
instead of 784 binary pixels: the fix for the pixel-level Gated PixelCNN's
class-conditional accuracy (gated_pixelcnn_mnist.py). The codes of each
batch come from the frozen VQ-VAE on the fly (vq_prior.py). The eval mode
reports the prior's NLL in nats per code map and per code, the whole
model's bits/dim bound (Bernoulli decoder + prior), FID-MNIST and the
class-conditional accuracy of decoded samples. Measured (3,000 steps, 7.4
min of a 2-core CPU): class-conditional accuracy 0.825 at temperature 1,
0.937 at ``--config.sample.temperature=0.6``; sampling 24x the pixel-level
Gated PixelCNN's images/s (docs/results.md).
"""
import ml_collections

from genjax.config import dependency, parse_arg, shrink_for_smoke
from genjax.families.autoregressive.config import default_config

VQVAE = "experiments/autoencoder/vqvae_mnist.py"


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="gated_pixelcnn", likelihood="codes", num_classes=10,
                 image_shape=(28, 28, 1))
  c.model.net = ml_collections.ConfigDict(dict(
      features=32, num_layers=6, first_kernel_size=5, kernel_size=3, dropout=0.0))
  c.deps.vqvae = dependency(workdir="runs/vqvae_mnist", experiment=VQVAE)
  c.data.update(name="mnist", preprocess=["binarize_dynamic"])
  c.train.update(batch_size=64, num_steps=3_000, log_every=100, ckpt_every=1_000,
                 sample_every=1_000, eval_every=2_000,
                 eval_metrics=["code_nll", "cond_acc_mnist"],
                 eval_num_examples=1_000, eval_num_samples=500)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=100, decay_steps=3_000,
                 end_lr_fraction=0.05, grad_clip=1.0, ema_decay=0.0)
  c.sample.num = 100
  c.eval.update(metrics=["nll", "code_nll", "bpd", "fid_mnist", "cond_acc_mnist",
                         "class_hist_mnist"], batch_size=500, num_samples=1_000,
                sample_batch_size=500)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.net = ml_collections.ConfigDict(dict(
        features=8, num_layers=2, first_kernel_size=3, kernel_size=3, dropout=0.0))
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.train.eval_metrics = ["code_nll"]
    c.eval.metrics = ["nll", "code_nll", "bpd", "cond_acc_mnist"]
  return c
