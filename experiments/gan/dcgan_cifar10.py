"""SNGAN-style ResNet GAN on CIFAR-10 (Miyato et al. 2018), for GPU/TPU users.

  python launch.py --config experiments/gan/dcgan_cifar10.py --workdir runs/dcgan_cifar10 \
      --config.data.offline=False

The small ResNet G/D for 32x32 of SNGAN (Miyato et al. 2018, appendix B.4,
Table 4 (b)/(c) at 128 channels): G: z (128) -> 4x4x128 -> three up-blocks
(BatchNorm-ReLU-up-conv3) -> BN-ReLU-conv3-tanh; D: spectrally normalised
ResBlocks of 128 channels (32 -> 16 -> 8 -> 4) + global sum pooling + linear; hinge
loss, n_critic = 5, Adam 2e-4 (beta1 0, beta2 0.9), batch 64, 50k G steps,
EMA of G. The paper: Inception score 8.22, FID 21.7 (SN-GANs, ResNet, hinge;
Table 2); the EMA G should do a little better. Needs the tfds CIFAR-10
download (no offline builder); smoke-tested on tfds mock data. For the plain
DCGAN networks instead: --config.model.arch=dcgan
--config.model.g_channels='(256, 128, 64)' --config.model.d_channels='(64, 128, 256)'.
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(arch="resnet", image_shape=(32, 32, 3), z_dim=128,
                 g_channels=(128, 128, 128), d_channels=(128, 128, 128),
                 spectral_norm=True, loss="hinge", n_critic=5)
  c.data.update(name="cifar10", offline=False, preprocess=("flip_lr", "scale_pm1"))
  c.train.update(batch_size=64, num_steps=50_000, log_every=500, ckpt_every=5_000,
                 sample_every=5_000, eval_every=10_000,
                 eval_metrics=("d_real", "fid_inception"), eval_num_samples=5_000)
  c.optim.update(lr=2e-4, d_lr=2e-4, b1=0.0, b2=0.9, ema_decay=0.9999)
  c.eval.update(metrics=("d_real", "fid_inception", "kid_inception", "pr_inception",
                         "is_inception"), num_samples=50_000)
  if arg == "smoke":
    shrink_gan_for_smoke(c, ("d_real",))
    c.model.n_critic = 1
  return c
