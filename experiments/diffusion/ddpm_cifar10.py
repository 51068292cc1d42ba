"""DDPM on CIFAR-10 in the paper's setting (Ho et al. 2020), for GPU/TPU users.

  python launch.py --config experiments/diffusion/ddpm_cifar10.py --workdir runs/ddpm_cifar10 \
      --config.data.offline=False

The paper's U-Net (ch 128, multipliers 1,2,2,2, 2 ResBlocks per level,
attention at 16x16, dropout 0.1: 35.7M parameters), linear schedule T=1000,
L_simple, Adam 2e-4 with 5000 warm-up steps, batch 128, 800k steps, EMA
0.9999, random horizontal flips; paper FID 3.17 (Inception, 50k samples) and
<= 3.70 bits/dim. Needs the tfds CIFAR-10 download (no offline builder);
smoke-tested on tfds mock data.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,),
                 dropout=0.1, image_shape=(32, 32, 3))
  c.data.update(name="cifar10", offline=False, preprocess=("flip_lr", "scale_pm1"))
  c.train.update(batch_size=128, num_steps=800_000, log_every=1_000, ckpt_every=10_000,
                 sample_every=50_000, eval_every=100_000,
                 eval_metrics=("loss", "fid_inception"), eval_num_samples=5_000)
  c.optim.update(lr=2e-4, warmup_steps=5_000, grad_clip=1.0, ema_decay=0.9999)
  c.sample.update(sampler="ddpm", steps=1000)
  c.eval.update(metrics=("bpd", "fid_inception", "kid_inception", "pr_inception"),
                num_samples=50_000)
  if arg == "smoke":
    shrink_for_smoke(c)
    # 8x8 images keep the attention block (64 positions) cheap.
    c.model.update(ch=16, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(8,),
                   timesteps=10, image_shape=(8, 8, 3))
    c.data.preprocess = ("flip_lr", "resize(8)", "scale_pm1")
    c.sample.update(sampler="ddim", steps=3)
    c.optim.warmup_steps = 1
    c.train.eval_metrics = ("loss",)
    c.eval.metrics = ("loss",)
  return c
