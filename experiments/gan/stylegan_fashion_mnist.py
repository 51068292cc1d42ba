"""StyleGAN (Karras et al. 2019, "A Style-Based Generator Architecture for
GANs") on Fashion-MNIST resized to 32x32, sized for a ~30-minute run on 2
CPU cores.

  python launch.py --config experiments/gan/stylegan_fashion_mnist.py --workdir runs/stylegan_fashion_mnist
  python launch.py --config experiments/gan/stylegan_fashion_mnist.py --workdir runs/stylegan_fashion_mnist --mode eval
  python launch.py --config experiments/gan/stylegan_fashion_mnist.py --workdir runs/stylegan_fashion_mnist --mode sample
  # truncation in w (psi 0.7; StyleGAN truncates layers < 8, all 8 at 32x32):
  ... --mode eval --config.sample.w_truncation=0.7

Smoke run (seconds): append ``:smoke`` to the config path.

The same data, widths and optimiser as ``stylegan2_fashion_mnist.py`` (z and
w of 128, a 2-layer mapping network, channels min(1024 / r, 64): 64 at 4-16,
32 at 32x32), so the two runs compare the architectures: StyleGAN's
synthesis network (a learned constant, per layer noise with per-channel
strengths, bias, lReLU, instance norm and AdaIN; toRGB at 32x32 only; no
progressive growing) and its discriminator, ProGAN's at a fixed resolution
(``d_architecture='orig'``: no skips), with style mixing 0.9 and no
path-length regularisation. Loss: non-saturating with R1 on every D step,
as StyleGAN's FFHQ config (gamma 10 at 1024; here gamma 0.01 as the StyleGAN2
experiment, ``penalty_weight`` = gamma / 2); Adam lr 0.001 (StyleGAN's base
rate) with betas (0, 0.99); G's EMA 0.998 (StyleGAN's 10 kimg at batch 32);
3,000 steps of 32 (96k images; measured 33-39 train img/s on the 2-core CPU
shared with two other training runs, where the StyleGAN2 experiment ran at
24-34 img/s: ~40 minutes there, ~30 on idle cores). G 0.36M, D 0.28M
parameters. Not yet trained to the end: no measured FID or PPL yet.
Metrics: FID-FashionMNIST (the Fashion-MNIST classifier's features, samples
and references resized to 28x28) on 10k samples, and perceptual path length
in W (``ppl_fashion_mnist``: the same classifier's squared feature distance,
not the paper's LPIPS-VGG, so not comparable to its FFHQ 412.0 / Table 3's
numbers). The paper reports no Fashion-MNIST number.
"""
from experiments.gan.stylegan2_fashion_mnist import R1_GAMMA, stylegan2_cpu
from genjax.config import parse_arg
from genjax.families.gan.config import shrink_gan_for_smoke


def get_config(arg=None):
  arg = parse_arg(arg)
  c = stylegan2_cpu("fashion_mnist", (32, 32, 1), ("resize(32)", "scale_pm1"),
                    num_steps=3_000)
  c.model.update(arch="stylegan", penalty_weight=R1_GAMMA / 2, penalty_every=1)
  c.model.stylegan2.update(d_architecture="orig", pl_weight=0.0)
  c.optim.update(lr=0.001, d_lr=0.001)
  c.train.eval_metrics = ("d_real", "fid_fashion_mnist")
  c.eval.metrics = ("d_real", "r_t", "fid_fashion_mnist", "kid_fashion_mnist",
                    "pr_fashion_mnist", "class_hist_fashion_mnist", "ppl_fashion_mnist")
  if arg == "smoke":
    shrink_gan_for_smoke(c, ("d_real", "fid_fashion_mnist", "ppl_fashion_mnist"))
  return c
