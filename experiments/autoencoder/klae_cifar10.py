"""KL autoencoder in LDM's KL-f4 shape on CIFAR-10 (for users with a GPU and internet).

  python launch.py --config experiments/autoencoder/klae_cifar10.py --workdir runs/klae_cifar10
  python launch.py --config experiments/autoencoder/klae_cifar10.py --workdir runs/klae_cifar10 --mode eval

Smoke run (seconds; f=2 and tiny nets): append ``:smoke`` to the config path (on tfds' mock
data in the test suite; the full run downloads CIFAR-10 through the tfds
catalog, which these machines cannot).

Rombach et al. 2022's KL-f4 first stage (their autoencoder_kl_64x64x3
config): ch 128, ch_mult (1, 2, 4), two ResNet blocks per level, no attention
but the middle's, c = 3 (32x32x3 -> 8x8x3 latents); L1 + 1e-6 KL, the
PatchGAN (3 layers, ndf 64, hinge) from step 50,001 with disc_weight 0.5 and
the adaptive weight; Adam(b1=0.5, b2=0.9) at LDM's scaled rate, batch x
4.5e-6. Without LPIPS (no VGG weights offline), so expect a lower PSNR-for-
sharpness trade than the paper's. LDM's released KL-f4 (CompVis/latent-
diffusion README, OpenImages 256x256): PSNR 27.53, rFID 0.27 -- another
dataset. Not run here.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config

BATCH = 64


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="klae", image_shape=(32, 32, 3))
  c.model.klae.update(downsample=4, latent_channels=3, ch=128, ch_mult=(1, 2, 4),
                      num_res_blocks=2, mid_attention=True, recon_loss="l1",
                      kl_weight=1e-6, disc_weight=0.5, disc_start=50_001,
                      disc_layers=3, disc_channels=64)
  c.data.update(name="cifar10", offline=False, preprocess=["scale_01"],
                shuffle_buffer=50_000)
  c.train.update(batch_size=BATCH, num_steps=200_000, log_every=500, ckpt_every=5_000,
                 sample_every=10_000, eval_every=10_000, eval_metrics=["psnr"],
                 eval_num_examples=2_000)
  c.optim.update(lr=BATCH * 4.5e-6, b1=0.5, b2=0.9, ema_decay=0.9999)
  c.eval.update(metrics=["psnr", "recon_mse", "kl"], batch_size=100)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.klae.update(downsample=2, ch=4, ch_mult=(1, 1), num_res_blocks=1,
                        disc_channels=4, disc_layers=1, disc_start=3, mid_attention=False)
  return c
