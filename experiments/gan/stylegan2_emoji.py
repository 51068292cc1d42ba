"""StyleGAN2 (Karras et al. 2020) on colour emoji, 32x32 RGB, sized for a
~30-minute run on 2 CPU cores.

  python launch.py --config experiments/gan/stylegan2_emoji.py --workdir runs/stylegan2_emoji
  python launch.py --config experiments/gan/stylegan2_emoji.py --workdir runs/stylegan2_emoji --mode eval
  python launch.py --config experiments/gan/stylegan2_emoji.py --workdir runs/stylegan2_emoji --mode sample

Smoke run (seconds): append ``:smoke`` to the config path.

Data: the offline ``emoji32`` set (every distinct emoji of Debian's Noto
Color Emoji rendered at 32x32 on white; every 10th in 'test'), with random
horizontal flips (the paper's x-flips, ``flip_lr``). The model and
optimiser are stylegan2_fashion_mnist's (CPU widths, three colour channels
in toRGB / fromRGB only); 2,500 steps of 32 (80k images, ~23 passes over
the ~3.5k training emoji). FID with the Inception features against the test
emoji (a few hundred: biased upwards; compare runs with each other); the
paper's FFHQ config F reaches FID 2.84 at 1024x1024 after 25M images.
"""
from experiments.gan.stylegan2_fashion_mnist import stylegan2_cpu
from genjax.config import parse_arg
from genjax.families.gan.config import shrink_gan_for_smoke


def get_config(arg=None):
  arg = parse_arg(arg)
  c = stylegan2_cpu("emoji32", (32, 32, 3), ("flip_lr", "scale_pm1"), num_steps=2_500)
  c.data.shuffle_buffer = 4_000
  c.train.eval_metrics = ("d_real", "r_t")
  c.eval.update(metrics=("d_real", "r_t", "fid_inception", "kid_inception",
                         "pr_inception"), num_samples=2_000)
  if arg == "smoke":
    shrink_gan_for_smoke(c, ("d_real",))
  return c
