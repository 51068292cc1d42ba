"""Class-conditional DCGAN on MNIST: conditional BatchNorm G + projection D.

  python launch.py --config experiments/gan/cgan_mnist.py --workdir runs/cgan_mnist
  python launch.py --config experiments/gan/cgan_mnist.py --workdir runs/cgan_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

G: the DCGAN generator of dcgan_mnist.py, the label concatenated to z and
every BatchNorm class-conditional (class-dependent gain and bias, BigGAN,
Brock et al. 2019); D: the DCGAN discriminator with a projection head,
logit = psi(phi(x)) + <embed(y), phi(x)> (Miyato & Koyama 2018 eq. 3), hinge
loss (as in that paper). Fakes carry the real batch's labels. Sampling is
class-balanced (sample i has class i mod 10); the 'classes' grid has one row
per digit. The papers report ImageNet / CIFAR numbers only; the issue's bar
here is class-conditional accuracy >= 95% (cond_acc_mnist: the MNIST
classifier's agreement with the requested class on 10k samples).
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(arch="dcgan", image_shape=(28, 28, 1), z_dim=100,
                 g_channels=(64, 32), d_channels=(32, 64), loss="hinge",
                 num_classes=10, g_cond="cbn", d_cond="projection")
  c.data.update(name="mnist", preprocess=("scale_pm1",))
  c.train.update(batch_size=64, num_steps=3_500, log_every=100, ckpt_every=1_000,
                 sample_every=1_000, eval_every=2_000,
                 eval_metrics=("d_real", "cond_acc_mnist"), eval_num_examples=1_000,
                 eval_num_samples=1_000)
  c.optim.update(lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999, ema_decay=0.999)
  c.eval.update(metrics=("d_real", "fid_mnist", "kid_mnist", "pr_mnist",
                         "class_hist_mnist", "cond_acc_mnist"),
                batch_size=500, sample_batch_size=500)
  if arg == "smoke":
    shrink_gan_for_smoke(c, ("d_real", "cond_acc_mnist"))
  return c
