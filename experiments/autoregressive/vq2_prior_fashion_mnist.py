"""Class-conditional two-level prior over a frozen VQ-VAE-2's codes (vqvae2_fashion_mnist): 7x7 top, 14x14 bottom.

  python launch.py --config experiments/autoencoder/vqvae2_fashion_mnist.py --workdir runs/vqvae2_fashion_mnist
  python launch.py --config experiments/autoregressive/vq2_prior_fashion_mnist.py --workdir runs/vq2_prior_fashion_mnist
  python launch.py --config experiments/autoregressive/vq2_prior_fashion_mnist.py --workdir runs/vq2_prior_fashion_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path (the smoke tests
train the VQ-VAE-2's smoke run first).

Razavi et al. 2019, algorithm 2: a class-conditional Gated PixelCNN over the
top codes, and one over the bottom codes conditioned on the class and on the
top map (vq2_prior.py), trained together on the codes of each batch. Samples
draw the top map, then the bottom map given it, and decode both. The eval
mode reports the NLL per image and per code of each level, FID with the
Fashion-MNIST classifier's features, the class-conditional accuracy and the
class histogram of decoded samples.
"""
import ml_collections

from genjax.config import dependency, parse_arg, shrink_for_smoke
from genjax.families.autoregressive.config import default_config

VQVAE2 = "experiments/autoencoder/vqvae2_fashion_mnist.py"


def gated(features, num_layers):
  return ml_collections.ConfigDict(dict(features=features, num_layers=num_layers,
                                        first_kernel_size=5, kernel_size=3, dropout=0.0))


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="gated_pixelcnn", likelihood="codes", num_classes=10,
                 image_shape=(28, 28, 1))
  c.model.net = gated(32, 6)
  c.model.net_bottom = gated(32, 6)
  c.deps.vqvae2 = dependency(workdir="runs/vqvae2_fashion_mnist", experiment=VQVAE2)
  c.data.update(name="fashion_mnist", preprocess=["scale_01"])
  c.train.update(batch_size=64, num_steps=3_000, log_every=100, ckpt_every=1_000,
                 sample_every=1_000, eval_every=3_000,
                 eval_metrics=["code_nll_top", "code_nll_bottom",
                               "cond_acc_fashion_mnist"],
                 eval_num_examples=1_000, eval_num_samples=500)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=100, decay_steps=3_000,
                 end_lr_fraction=0.05, grad_clip=1.0, ema_decay=0.0)
  c.sample.num = 100
  c.eval.update(metrics=["nll", "code_nll_top", "code_nll_bottom", "fid_fashion_mnist",
                         "cond_acc_fashion_mnist", "class_hist_fashion_mnist"],
                batch_size=500, num_samples=1_000, sample_batch_size=500)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.net = gated(8, 2)
    c.model.net_bottom = gated(8, 2)
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.train.eval_metrics = ["code_nll_bottom"]
    c.eval.metrics = ["nll", "code_nll_top"]   # (vq_prior_mnist's smoke run has cond_acc)
  return c
