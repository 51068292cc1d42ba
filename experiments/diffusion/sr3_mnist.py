"""SR3 on MNIST: 4x super-resolution, 7x7 -> 28x28, ddpm_mnist's U-Net and budget.

  python launch.py --config experiments/diffusion/sr3_mnist.py --workdir runs/sr3_mnist
  python launch.py --config experiments/diffusion/sr3_mnist.py --workdir runs/sr3_mnist --mode eval
  python launch.py --config experiments/diffusion/sr3_mnist.py --workdir runs/sr3_mnist --mode sample
  # more refinement steps, or deterministic DDIM:
  ... --mode eval --config.sample.steps=100
  ... --mode eval --config.sample.eta=0.0

Smoke run (seconds): append ``:smoke`` to the config path.

Saharia et al. 2021, "Image Super-Resolution via Iterative Refinement" (SR3):
a denoiser whose input is the noisy 28x28 image concatenated with the bicubic
upsampling of the low-resolution image, trained with L_simple and sampled by
iterative refinement. The low-resolution images are made in the loss by the
shared degradation 'sr4' (genjax/families/diffusion/degradations.py:
antialiased bicubic downsampling by 4, the matrix of jax.image.resize), so
the data are plain MNIST. The paper trains a 625M-parameter U-Net for 1M
steps (16x16 -> 128x128 faces); this is ddpm_mnist's 0.97M-parameter U-Net
(two input channels) trained for 2,000 steps of 64 (~30 minutes on 2 CPU
cores), sampled with DDIM-20 at eta = 1 (ddpm_mnist's sampler).

What it measures (the eval split's images, each degraded and super-resolved):
``psnr`` / ``ssim`` against the originals (images in [0, 1]) beside
``psnr_bicubic`` / ``ssim_bicubic``, the bicubic upsampling's (SR3 reports
that its samples score below a regression model's on PSNR/SSIM, which
reward the blurry mean, while looking sharper); the sample metrics ``fid_mnist`` (the SR outputs against
the test set) and ``cond_acc_mnist`` (the share of SR outputs the MNIST
classifier gives the class of the image they came from: does the output keep
the digit). ``--mode eval`` scores psnr/ssim on 1,000 test images and the
sample metrics on 10,000 SR outputs (20 network calls each).
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config


def sr3_config(arg, task, dataset):
  """The SR3 experiment of ``task`` (model.sr3.task) on ``dataset``."""
  c = default_config()
  # ddpm_mnist's U-Net: 16 channels at 28x28, 64 at 14x14 and 7x7 (attention at 7x7).
  c.model.update(name="sr3", ch=16, ch_mult=(1, 4, 4), num_res_blocks=1,
                 attn_resolutions=(7,), dropout=0.0, image_shape=(28, 28, 1))
  c.model.sr3.task = task
  c.data.update(name=dataset, preprocess=("scale_pm1",))
  net = dataset                 # the dataset's classifier: fid_mnist, fid_fashion_mnist
  c.train.update(batch_size=64, num_steps=2_000, log_every=100, ckpt_every=500,
                 sample_every=1_000, eval_every=1_000,
                 eval_metrics=("loss", "psnr", "ssim", f"fid_{net}"),
                 eval_num_examples=250, eval_num_samples=200)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=200, decay_steps=2_000,
                 end_lr_fraction=0.05, ema_decay=0.995, grad_clip=1.0)
  c.sample.update(sampler="ddim", steps=20, eta=1.0)
  c.eval.update(metrics=("loss", "psnr", "ssim", "psnr_bicubic", "ssim_bicubic",
                         f"fid_{net}", f"cond_acc_{net}"),
                num_examples=1_000, batch_size=250, sample_batch_size=250)
  if arg == "smoke":
    shrink_for_smoke(c)
    # ddpm_mnist's smoke U-Net (one level, no attention) on a 20-step chain.
    c.model.update(ch=16, ch_mult=(1,), attn_resolutions=(), timesteps=20)
    c.sample.update(steps=5)
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.train.eval_metrics = ("loss", "psnr")
    c.eval.metrics = ("loss", "psnr", "ssim", "psnr_bicubic", f"fid_{net}",
                      f"cond_acc_{net}")
  return c


def get_config(arg=None):
  return sr3_config(parse_arg(arg), "sr4", "mnist")
