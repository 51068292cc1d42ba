"""Convolutional VAE on dynamically binarised MNIST: the README's default experiment.

  python launch.py --config experiments/autoencoder/vae_mnist.py --workdir runs/vae_mnist
  python launch.py --config experiments/autoencoder/vae_mnist.py --workdir runs/vae_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

Expected (2-core CPU, ~15 min of training): test negative ELBO <= 100 nats;
the eval mode adds the IWAE (k=1000) estimate of test NLL in nats and bits/dim,
and FID/KID/precision/recall of 10k samples with the MNIST classifier's
features (FID-MNIST) and the class histogram of the samples.
Measured figures are in docs/results.md.
Papers (dynamically binarised MNIST, 1 stochastic layer, Burda et al. 2016,
Table 1): VAE 86.76 nats, IWAE (k=50) 84.78 nats -- after 3,280 epochs on a
GPU, not a 15-minute CPU run.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="vae", architecture="conv", channels=(32, 64),
                 latent_dim=32, likelihood="bernoulli")
  c.data.update(name="mnist", preprocess=["binarize_dynamic"])
  c.train.update(batch_size=128, num_steps=16_000, log_every=200,
                 ckpt_every=2_000, sample_every=4_000, eval_every=4_000,
                 eval_metrics=["nelbo", "fid_mnist", "kid_mnist"],
                 eval_num_examples=2_000, eval_num_samples=2_000)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=200,
                 decay_steps=16_000, end_lr_fraction=0.05, ema_decay=0.999)
  # Sample quality against the test split with the MNIST classifier's
  # features (FID-MNIST etc., genjax.eval), on 10k samples.
  c.eval.update(metrics=["nelbo", "iwae_nll", "iwae_bpd", "fid_mnist",
                         "kid_mnist", "pr_mnist", "class_hist_mnist"],
                batch_size=100)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.update(channels=(8, 16), latent_dim=4)
    c.optim.decay_steps = 6
    c.optim.warmup_steps = 1
    c.eval.update(iwae_k=8, iwae_chunk=4)
    c.train.eval_metrics = ["nelbo"]
  return c
