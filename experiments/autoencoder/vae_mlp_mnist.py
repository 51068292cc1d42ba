"""The Kingma & Welling MLP VAE on dynamically binarised MNIST, in the IWAE paper's 1-layer setting.

  python launch.py --config experiments/autoencoder/vae_mlp_mnist.py --workdir runs/vae_mlp_mnist
  python launch.py --config experiments/autoencoder/vae_mlp_mnist.py --workdir runs/vae_mlp_mnist --mode eval

Architecture as Burda et al. 2016 (Sec. 5, "1 stochastic layer"): 784-200-200-50
with tanh units, Bernoulli decoder mirroring the encoder. Their Table 1 reports
test NLL (IWAE k=5000 estimate) of 86.76 nats for the VAE (k=1 training) after
3,280 passes over the data; ours is a short CPU run (docs/results.md).
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="vae", architecture="mlp", hidden=(200, 200),
                 latent_dim=50, activation="tanh", likelihood="bernoulli")
  c.data.update(name="mnist", preprocess=["binarize_dynamic"])
  c.train.update(batch_size=100, num_steps=30_000, log_every=500,
                 ckpt_every=5_000, sample_every=10_000, eval_every=10_000,
                 eval_metrics=["nelbo"], eval_num_examples=2_000)
  c.optim.update(lr=1e-3, b1=0.9, b2=0.999, eps=1e-4, ema_decay=0.999)
  c.eval.update(metrics=["nelbo", "iwae_nll", "iwae_bpd"], batch_size=100)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.update(hidden=(16,), latent_dim=4)
    c.eval.update(iwae_k=8, iwae_chunk=4)
  return c
