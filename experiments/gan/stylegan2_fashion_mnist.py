"""StyleGAN2 (Karras et al. 2020) on Fashion-MNIST resized to 32x32, sized
for a ~30-minute run on 2 CPU cores.

  python launch.py --config experiments/gan/stylegan2_fashion_mnist.py --workdir runs/stylegan2_fashion_mnist
  python launch.py --config experiments/gan/stylegan2_fashion_mnist.py --workdir runs/stylegan2_fashion_mnist --mode eval
  python launch.py --config experiments/gan/stylegan2_fashion_mnist.py --workdir runs/stylegan2_fashion_mnist --mode sample
  # truncation in w (FID / precision / recall at psi = 0.7):
  ... --mode eval --config.sample.w_truncation=0.7

Smoke run (seconds): append ``:smoke`` to the config path.

Data: Fashion-MNIST's 60k 28x28 training images resized to 32x32
(``resize(32)``, antialiased bilinear): StyleGAN2 builds 4 * 2^k sides. The
model is config F's in shape with CPU widths: z and w of 128, a 2-layer
mapping network (StyleGAN2-ADA's 'auto' config below 128x128 uses 2),
channels min(1024 / r, 64) (64 at 4-16, 32 at 32x32; G 0.33M, D 0.29M
parameters), minibatch stddev groups of 4; non-saturating loss, lazy R1 with
gamma = 0.01 every 16 D steps (``penalty_weight`` = gamma / 2), path-length
regularisation (weight 2, every 4 steps, half batch), style mixing 0.9,
Adam 0.0025 with betas (0, 0.99), G's EMA at 0.998 (StyleGAN2-ADA's 10 kimg
half-life at batch 32), 3,000 steps of 32 (96k images; ~47 train img/s
measured on the shared 2-core CPU, so ~35 minutes).
FID: FID-FashionMNIST (the Fashion-MNIST classifier's features; the 32x32
samples and references are resized back to 28x28, docs/evaluation.md) on
10k samples; the paper reports no Fashion-MNIST number (its FFHQ config F:
FID 2.84 at 1024x1024 after 25M images).
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke

R1_GAMMA = 0.01


def stylegan2_cpu(dataset, image_shape, preprocess, *, num_steps):
  """The CPU-sized StyleGAN2 of the 32x32 experiments (the module doc)."""
  c = default_config()
  c.model.update(arch="stylegan2", image_shape=image_shape, z_dim=128,
                 loss="non_saturating", penalty="r1", penalty_weight=R1_GAMMA / 2,
                 penalty_every=16)
  c.model.stylegan2.update(w_dim=128, mapping_layers=2, channel_base=1024,
                           channel_max=64)
  c.data.update(name=dataset, preprocess=preprocess)
  c.train.update(batch_size=32, num_steps=num_steps, log_every=100, ckpt_every=500,
                 sample_every=1_000, eval_every=1_500, eval_num_examples=500,
                 eval_num_samples=1_000)
  c.optim.update(lr=0.0025, d_lr=0.0025, b1=0.0, b2=0.99, eps=1e-8, ema_decay=0.998)
  c.sample.update(truncation=0.0, w_truncation=1.0, w_truncation_grid=(1.0, 0.7, 0.5, 0.0))
  c.eval.update(batch_size=250, sample_batch_size=250)
  return c


def get_config(arg=None):
  arg = parse_arg(arg)
  c = stylegan2_cpu("fashion_mnist", (32, 32, 1), ("resize(32)", "scale_pm1"),
                    num_steps=3_000)
  c.train.eval_metrics = ("d_real", "fid_fashion_mnist")
  c.eval.metrics = ("d_real", "r_t", "fid_fashion_mnist", "kid_fashion_mnist",
                    "pr_fashion_mnist", "class_hist_fashion_mnist")
  if arg == "smoke":
    shrink_gan_for_smoke(c, ("d_real", "fid_fashion_mnist"))
  return c
