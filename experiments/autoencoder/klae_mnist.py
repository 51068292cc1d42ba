"""KL autoencoder (LDM's first stage, KL-f4 by default) on MNIST, with the PatchGAN.

  python launch.py --config experiments/autoencoder/klae_mnist.py --workdir runs/klae_mnist
  python launch.py --config experiments/autoencoder/klae_mnist.py --workdir runs/klae_mnist --mode eval

Config arguments (``--config experiments/autoencoder/klae_mnist.py:f8``):
  f4 (the default)  f = 4: 28x28x1 -> 7x7x3 latents
  f2                f = 2: 14x14x2 latents
  f8                f = 8: 'resize(32)' then 32x32x1 -> 4x4x4 latents
  smoke             the f2 shape (two levels) with tiny nets, a run of seconds
Grey MNIST in [0, 1] ('scale_01'; the networks work in [-1, 1]). L1
reconstruction summed over pixels, KL weight 1e-6, the adversarial term
(disc_weight 0.5 times the adaptive weight) from step ``disc_start`` on,
Adam(b1=0.5, b2=0.9) for both players, as LDM. No LPIPS (no VGG weights
offline). The nets are a small LDM encoder/decoder (ch 8, widths 8-16-32,
one ResNet block per level), sized for minutes on a 2-core CPU.

Expected (2-core CPU, ~7 min of training, 1,500 steps of 32, the
PatchGAN from step 1,000): test PSNR of the decoded posterior means >= 25 dB
at f=4, higher at f=2, lower at f=8. Measured: 29.6 / 27.1 / 26.0 dB at
f2 / f4 / f8 (f8 on the resized 32x32 images), and a transient drop of the
raw parameters' PSNR when the PatchGAN starts (docs/results.md, "Latent
autoencoders (issue 18): KL autoencoder"). ``latent_stats`` of the run is
what a latent diffusion model rescales the latents by.
Paper's released models (CompVis/latent-diffusion README, "Pretrained
Autoencoding Models", OpenImages 256x256): KL-f4 PSNR 27.53, KL-f8 24.19 --
another dataset, with LPIPS and days of GPU training.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config

# arg -> (f, ch_mult, latent channels, extra preprocessing, image side)
FACTORS = {"f2": (2, (1, 2), 2, (), 28), "f4": (4, (1, 2, 4), 3, (), 28),
           "f8": (8, (1, 2, 4, 4), 4, ("resize(32)",), 32)}


def parse_factor(arg):
  """The ``:ARG`` of the config path: '' / None (f4), f2, f4, f8 or smoke."""
  return parse_arg(arg, tuple(FACTORS)) or "f4"


def klae_config(arg, dataset):
  """The KL autoencoder on 28x28 grey ``dataset`` at the factor of ``arg``."""
  arg = parse_factor(arg)
  factor, ch_mult, latent, extra, side = FACTORS["f2" if arg == "smoke" else arg]
  c = default_config()
  c.model.update(name="klae", image_shape=(side, side, 1))
  c.model.klae.update(downsample=factor, ch_mult=ch_mult, latent_channels=latent,
                      ch=8, num_res_blocks=1, mid_attention=True, recon_loss="l1",
                      kl_weight=1e-6, disc_weight=0.5, disc_start=1_000,
                      disc_layers=2, disc_channels=16)
  c.data.update(name=dataset, preprocess=list(extra) + ["scale_01"])
  c.train.update(batch_size=32, num_steps=1_500, log_every=50, ckpt_every=500,
                 sample_every=1_500, eval_every=500, eval_metrics=["psnr"],
                 eval_num_examples=1_000)
  c.optim.update(lr=1e-3, b1=0.5, b2=0.9, ema_decay=0.999)
  c.eval.update(metrics=["psnr", "recon_mse", "kl"], batch_size=500)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.klae.update(ch=4, ch_mult=(1, 1), disc_channels=4, disc_start=3, disc_layers=1,
                        mid_attention=False)
  return c


def get_config(arg=None):
  return klae_config(arg, "mnist")
