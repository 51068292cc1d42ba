"""ProGAN (Karras et al. 2018, "Progressive Growing of GANs") on MNIST padded
to 32x32, grown 4 -> 8 -> 16 -> 32, sized for a ~25-minute run on 2 CPU cores.

  python launch.py --config experiments/gan/progan_mnist.py --workdir runs/progan_mnist
  python launch.py --config experiments/gan/progan_mnist.py --workdir runs/progan_mnist --mode eval
  python launch.py --config experiments/gan/progan_mnist.py --workdir runs/progan_mnist --mode sample

Smoke run (seconds): append ``:smoke`` to the config path.

Data: MNIST's 50k 28x28 training digits with a 2-pixel black border
(``pad(2)``: 32x32, the digit unscaled), in [-1, 1]. The paper's networks and
training in shape with CPU widths: z of 128, channels min(256 / 2^s, 32) (32
at 4x4-16x16, 16 at 32x32; G 0.12M, D 0.07M parameters), equalised lr, pixel
norm, minibatch stddev in groups of 4; WGAN-GP (lambda 10, n_critic 1) with
the drift term epsilon 0.001; Adam 0.001 with betas (0, 0.99), eps 1e-8; G's
EMA at 0.98 (a half-life of ~1k images, short against a level's 12k).
Schedule: 6k images at 4x4, then per level 6k of fade-in and 6k stable
(``model.progan.fade_kimg`` / ``stable_kimg``; the paper: 600k each at
CelebA-HQ's scale), so 32x32 is reached at 36k images and trained for 21.6k
more: 1,800 steps of 32 (57.6k images; 43-50 train img/s measured at 4x4 on
the shared 2-core CPU, every level being computed at every step, so ~22
minutes plus evaluations).
Evaluation every 375 steps (12k images) falls where a fade has just ended:
step 375 is 8x8 at alpha 1, 750 16x16, 1125 and later 32x32, so the
``eval/fid_mnist`` rows of metrics.jsonl give FID per level (the train rows
carry ``level`` and ``alpha``; images of a level below 32 are shown
nearest-upsampled). FID: FID-MNIST (the MNIST classifier's features) on 1k
samples; the 32x32 samples and the padded references are both resized to the
classifier's 28x28 (docs/evaluation.md). The paper reports no MNIST number
(it reports CIFAR-10 Inception score 8.80 and CelebA-HQ samples).
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke

BATCH = 32


def progan_config(c, *, z_dim, fmap_base, fmap_max, kimg):
  """``c`` set to the paper's ProGAN training: WGAN-GP (lambda 10, one critic
  step) with drift 0.001, Adam 0.001 (0, 0.99, 1e-8), ``kimg`` = (fade, stable)."""
  c.model.update(arch="progan", z_dim=z_dim, loss="wasserstein", penalty="gp",
                 penalty_weight=10.0, penalty_every=1, n_critic=1)
  c.model.progan.update(fmap_base=fmap_base, fmap_max=fmap_max, mbstd_group=4,
                        fade_kimg=kimg[0], stable_kimg=kimg[1], epsilon_drift=0.001)
  c.optim.update(lr=0.001, d_lr=0.001, b1=0.0, b2=0.99, eps=1e-8)
  return c


def get_config(arg=None):
  arg = parse_arg(arg)
  c = progan_config(default_config(), z_dim=128, fmap_base=256, fmap_max=32,
                    kimg=(6.0, 6.0))
  c.model.image_shape = (32, 32, 1)
  c.data.update(name="mnist", preprocess=("pad(2)", "scale_pm1"))
  c.train.update(batch_size=BATCH, num_steps=1_800, log_every=75, ckpt_every=375,
                 sample_every=375, eval_every=375, eval_metrics=("d_real", "fid_mnist"),
                 eval_num_examples=500, eval_num_samples=1_000)
  c.optim.ema_decay = 0.98
  c.eval.update(metrics=("d_real", "fid_mnist", "kid_mnist", "pr_mnist",
                         "class_hist_mnist"), batch_size=250, sample_batch_size=250)
  if arg == "smoke":
    shrink_gan_for_smoke(c)
  return c
