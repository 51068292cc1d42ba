"""WGAN-GP on MNIST (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty.

  python launch.py --config experiments/gan/wgan_gp_mnist.py --workdir runs/wgan_gp_mnist
  python launch.py --config experiments/gan/wgan_gp_mnist.py --workdir runs/wgan_gp_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

The DCGAN networks of dcgan_mnist.py with no BatchNorm in the critic (the
paper drops it there), the Wasserstein loss (Arjovsky et al. 2017 eq. 3),
the gradient penalty lambda E(||grad D(x_hat)|| - 1)^2 with lambda = 10 on
random interpolates (eq. 3, Alg. 1), n_critic = 5 critic steps per generator
step on the same real batch, Adam 1e-4 with beta1 0, beta2 0.9 (Alg. 1's
defaults). The paper's MNIST results are samples only (its numbers are
CIFAR-10 Inception scores, 6.58 for the DCGAN-style G unsupervised; Table 3).
Expected: digits of every class, FID-MNIST near dcgan_mnist's at ~5x the
discriminator cost per step.
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(arch="dcgan", image_shape=(28, 28, 1), z_dim=100,
                 g_channels=(64, 32), d_channels=(32, 64), loss="wasserstein",
                 penalty="gp", penalty_weight=10.0, penalty_every=1, n_critic=5)
  c.data.update(name="mnist", preprocess=("scale_pm1",))
  c.train.update(batch_size=64, num_steps=2_000, log_every=50, ckpt_every=500,
                 sample_every=500, eval_every=1_000,
                 eval_metrics=("d_real", "fid_mnist"), eval_num_examples=1_000,
                 eval_num_samples=1_000)
  c.optim.update(lr=1e-4, d_lr=1e-4, b1=0.0, b2=0.9, ema_decay=0.999)
  c.eval.update(metrics=("d_real", "fid_mnist", "kid_mnist", "pr_mnist",
                         "class_hist_mnist"), batch_size=500, sample_batch_size=500)
  if arg == "smoke":
    shrink_gan_for_smoke(c)
    c.model.n_critic = 2
  return c
