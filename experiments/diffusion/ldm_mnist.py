"""Class-conditional latent diffusion on MNIST (Rombach et al. 2022) over the KL-f4 autoencoder.

  python launch.py --config experiments/autoencoder/klae_mnist.py --workdir runs/klae_mnist
  python launch.py --config experiments/diffusion/ldm_mnist.py --workdir runs/ldm_mnist
  python launch.py --config experiments/diffusion/ldm_mnist.py --workdir runs/ldm_mnist \
      --mode eval --config.deps.first_stage.workdir=runs/klae_mnist

The denoiser works on the 7x7x3 latents of the frozen ``klae_mnist`` run
(KL-f4: its posterior samples scaled by the run's measured 1/std, 0.287 for
the run in docs/results.md), with a one-level U-Net whose attention blocks
are LDM's spatial transformers; labels enter as a class embedding (null
class for classifier-free guidance, dropped with probability 0.1), and
samples are DDIM-20 at w = 1, decoded by the autoencoder. The pixel-space
twin is ``cfg_mnist``; ``benchmarks/ldm_speed.py`` measures both side by
side (docs/results.md, "Latent diffusion").

Measured (2-core CPU, 3,000 steps x 64; 1k DDIM-20 samples at w = 1;
docs/results.md, "Latent diffusion"): FID-MNIST 59.7, class-conditional
accuracy 0.775, against 78.4 / 0.700 for ``cfg_mnist`` after the same
training minutes (1,500 of its steps) and 17.0 / 0.975 after twice them
(3,000 steps); 153.7 vs 75.7 train images/s and 17.2 vs 6.2 sample images/s
side by side (benchmarks/results/ldm_speed.json).

Paper: LDM-4 class-conditional ImageNet 256 (Table 3) FID 3.60 with
guidance, days of A100 training; not comparable here.
"""
from genjax.config import dependency, parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config

def ldm_config(arg, first_stage_dir="runs/klae_mnist", dataset="mnist"):
  """Latent diffusion over the KL autoencoder run ``first_stage_dir``, trained
  by ``experiments/autoencoder/klae_<dataset>.py`` (28x28 grey ``dataset`` in
  [0, 1]); sample metrics on ``dataset``'s own classifier."""
  c = default_config()
  c.deps.first_stage = dependency(
      workdir=first_stage_dir, experiment=f"experiments/autoencoder/klae_{dataset}.py")
  # One level at 7x7 (7 is odd: no downsampling), 64 channels, a spatial
  # transformer after each block: ~1.0M parameters like cfg_mnist's U-Net,
  # 153.7 train images/s against its 75.7 (benchmarks/results/ldm_speed.json).
  c.model.update(name="ldm", image_shape=(28, 28, 1), ch=64, ch_mult=(1,),
                 num_res_blocks=1, attn_resolutions=(7,), num_heads=4, dropout=0.0)
  c.model.ldm.update(backbone="unet", transformer_depth=1)
  c.data.update(name=dataset, preprocess=("scale_01",))
  c.train.update(batch_size=64, num_steps=3_000, log_every=100, ckpt_every=500,
                 sample_every=1_500, eval_every=1_500, eval_metrics=("loss",),
                 eval_num_examples=1_000, eval_num_samples=200)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=200, decay_steps=3_000,
                 end_lr_fraction=0.05, ema_decay=0.995, grad_clip=1.0)
  c.sample.update(sampler="ddim", steps=20, eta=0.0)
  c.eval.update(metrics=("loss", "latent_rms", f"fid_{dataset}", f"kid_{dataset}"),
                batch_size=250, sample_batch_size=250)
  if arg == "smoke":
    shrink_for_smoke(c)
    # The smoke first stage is f2 (14x14x2); the transformer sits in the middle block.
    c.model.update(ch=16, attn_resolutions=(), num_heads=2, timesteps=20)
    c.sample.update(steps=5, inversion_fixed_point_iters=1)
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.eval.metrics = ("loss", "latent_rms", f"fid_{dataset}")
  return c


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ldm_config(arg)
  c.model.update(num_classes=10, label_dropout=0.1)
  c.sample.guidance_weight = 1.0
  c.eval.metrics = tuple(c.eval.metrics) + ("cond_acc_mnist",)
  return c
