"""The MLP GAN of the source articles on MNIST (Goodfellow et al. 2014), non-saturating loss.

  python launch.py --config experiments/gan/gan_mlp_mnist.py --workdir runs/gan_mlp_mnist
  python launch.py --config experiments/gan/gan_mlp_mnist.py --workdir runs/gan_mlp_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

G: z (100) -> [Linear + BatchNorm + ReLU] 256 -> 512 -> 1024 -> Linear 784 ->
tanh; D: 784 -> [Linear + LeakyReLU(0.2)] 512 -> 256 -> linear logit (the
architecture the source articles describe). Non-saturating G loss (Goodfellow
et al. 2014 sec. 3), Adam 2e-4 / beta1 0.5, batch 64, EMA of G. Goodfellow et
al. report a Parzen-window log-likelihood of 225 +- 2 on MNIST (Table 1), not
an FID; expected here: recognisable digits of every class, FID-MNIST worse
than DCGAN's. Measured figures: docs/results.md.
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(arch="mlp", image_shape=(28, 28, 1), z_dim=100,
                 g_hidden=(256, 512, 1024), d_hidden=(512, 256),
                 loss="non_saturating")
  c.data.update(name="mnist", preprocess=("scale_pm1",))
  c.train.update(batch_size=64, num_steps=10_000, log_every=100, ckpt_every=1_000,
                 sample_every=2_000, eval_every=2_000,
                 eval_metrics=("d_real", "fid_mnist"), eval_num_examples=1_000,
                 eval_num_samples=1_000)
  c.optim.update(lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999, ema_decay=0.999)
  c.eval.update(metrics=("d_real", "r_t", "fid_mnist", "kid_mnist", "pr_mnist",
                         "class_hist_mnist"), batch_size=500, sample_batch_size=500)
  if arg == "smoke":
    shrink_gan_for_smoke(c)
  return c
