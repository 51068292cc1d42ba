"""Deterministic convolutional autoencoder on MNIST (BCE reconstruction).

  python launch.py --config experiments/autoencoder/ae_mnist.py --workdir runs/ae_mnist
  python launch.py --config experiments/autoencoder/ae_mnist.py --workdir runs/ae_mnist --mode eval

Reports test reconstruction loss (per-image BCE in nats) and the anomaly score
(per-image reconstruction error); samples decode random codes (an AE has no
prior; the grids that matter are reconstructions and interpolations).
No paper figure: the AE is the baseline the VAE and DAE are read against.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="ae", architecture="conv", channels=(32, 64),
                 latent_dim=32, recon_loss="bce")
  c.data.update(name="mnist", preprocess=["scale_01"])
  c.train.update(batch_size=128, num_steps=10_000, log_every=200,
                 ckpt_every=2_000, sample_every=5_000, eval_every=5_000,
                 eval_metrics=["recon"], eval_num_examples=2_000)
  c.eval.update(metrics=["recon", "anomaly_score"], batch_size=500)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.update(channels=(8, 16), latent_dim=4)
  return c
