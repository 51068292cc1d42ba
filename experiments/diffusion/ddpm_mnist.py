"""Unconditional DDPM on MNIST, a U-Net sized for a 30-minute CPU run.

  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist
  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist --mode eval
  # DDPM ancestral sampling with all 1000 steps, or deterministic DDIM-50:
  ... --mode sample --config.sample.sampler=ddpm --config.sample.steps=1000
  ... --mode eval --config.sample.steps=50 --config.sample.eta=0.0

Smoke run (seconds): append ``:smoke`` to the config path.

Ho et al. 2020 (linear schedule, T=1000, L_simple, EMA): the paper trains a
35.7M-parameter U-Net on CIFAR-10 for 800k steps on TPUs; this is a 0.97M-
parameter U-Net for MNIST trained for 2,000 steps of 64 (~30 minutes) on 2
CPU cores. The eval
mode reports FID/KID/precision/recall with the MNIST classifier's features
(FID-MNIST) on 10k DDIM-20 samples with eta=1 and the class histogram. The
sampler is DDIM eta=1 because this short-trained model's errors are corrected
by the fresh noise: on the same 2,000-step model, 10k samples, eta=0 gave
FID-MNIST 118.3 with 20.6% 8s, eta=1 gives 67.0 with every class in 7.5-12.8%
(the DDIM table in docs/results.md has both, 10 to 1000 steps). Bits/dim from the
full variational bound is ``--config.eval.metrics=bpd`` (1000 network calls per
test image: use --config.eval.num_examples).
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  # 16 channels at 28x28, 64 at 14x14 and 7x7 (attention at 7x7): 0.26
  # GFLOP per image per step; ~75 train images/s on the 2-core CPU.
  c.model.update(ch=16, ch_mult=(1, 4, 4), num_res_blocks=1, attn_resolutions=(7,),
                 dropout=0.0, image_shape=(28, 28, 1))
  c.data.update(name="mnist", preprocess=("scale_pm1",))
  c.train.update(batch_size=64, num_steps=2_000, log_every=100, ckpt_every=500,
                 sample_every=1_000, eval_every=1_000,
                 eval_metrics=("loss", "fid_mnist"), eval_num_examples=1_000,
                 eval_num_samples=200)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=200, decay_steps=2_000,
                 end_lr_fraction=0.05, ema_decay=0.995, grad_clip=1.0)
  c.sample.update(sampler="ddim", steps=20, eta=1.0)
  c.eval.update(metrics=("loss", "fid_mnist", "kid_mnist", "pr_mnist", "class_hist_mnist"),
                batch_size=250, sample_batch_size=250)
  if arg == "smoke":
    shrink_for_smoke(c)
    # One level and no attention (784-position attention would be a third of
    # the smoke run's time; ddpm_cifar10's smoke run has attention at 8x8):
    # the same sampler, loss and eval code paths, half the compile time. A
    # 10-step chain: bits/dim runs the network once per step; DDIM-5 a subsequence.
    c.model.update(ch=16, ch_mult=(1,), attn_resolutions=(), timesteps=10)
    c.sample.update(steps=5, inversion_fixed_point_iters=1)
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.train.eval_metrics = ("loss",)
    c.eval.metrics = ("loss", "bpd", "fid_mnist")
  return c
