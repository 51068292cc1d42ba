"""StyleGAN2 config F on FFHQ at 1024x1024 (Karras et al. 2020), for GPU/TPU users.

  python launch.py --config experiments/gan/stylegan2_ffhq_configf.py --workdir runs/stylegan2_ffhq_configf \
      --config.data.offline=False --config.data.data_dir=/path/to/tfds
  ... --mode eval   (FID on 50k samples, Inception features)
  ... --mode sample --config.sample.w_truncation=0.5

The paper's configuration F as StyleGAN2-ADA's ``--cfg=stylegan2`` states it
(its train.py, without the mixed precision): z and w of 512, an 8-layer
mapping network (lr multiplier 0.01), channels min(32768 / r, 512) (512 up to
64x64, then 256, 128, 64, 32 at 1024), the skip generator and residual
discriminator, minibatch stddev in groups of 4; non-saturating loss, lazy R1
with gamma = 10 every 16 steps (penalty_weight = gamma / 2), path-length
regularisation (weight 2, every 4 steps, half batch, decay 0.01), style
mixing 0.9, Adam 0.002 with betas (0, 0.99) and eps 1e-8 (the reference
runs the lazy terms as passes of their own and so scales lr by c and takes
betas to the power c, c = 16/17 for D and 4/5 for G; here they join the main
step and Adam is the paper's), batch 32, G's EMA with a
10 kimg half-life (0.5^(32/10000) = 0.99778), 25M images (781,250 steps),
x-flips. Parameters: G 30,370,060 and D 29,012,513
(tests/families/gan/test_stylegan2.py, against StyleGAN2-ADA's printed
module summary). The paper / StyleGAN2-ADA report FID 2.84 (FFHQ 1024,
config F, 50k samples).

FFHQ (NVlabs/ffhq-dataset, 70k PNGs) has no builder in the tfds catalog:
prepare it as a tfds dataset named 'ffhq' with a uint8 'image' feature
[1024, 1024, 3] and a 'train' split (e.g. ``tfds build`` of a
``tfds.folder_dataset.ImageFolder`` copy) under ``data.data_dir``. So its
``:smoke`` run cannot use tfds' mock data: it trains the same configuration
(shrunk by ``shrink_gan_for_smoke``) on the offline ``emoji32`` set at 32x32.
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke

BATCH = 32
EMA_HALF_LIFE_IMAGES = 10_000


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(arch="stylegan2", image_shape=(1024, 1024, 3), z_dim=512,
                 loss="non_saturating", penalty="r1", penalty_weight=10.0 / 2,
                 penalty_every=16)
  c.model.stylegan2.update(w_dim=512, mapping_layers=8, mapping_lr_mul=0.01,
                           channel_base=32768, channel_max=512, mbstd_group=4,
                           style_mixing=0.9, pl_weight=2.0, pl_interval=4,
                           pl_batch_shrink=2, pl_decay=0.01)
  c.data.update(name="ffhq", offline=False, train_split="train", eval_split="train",
                preprocess=("flip_lr", "scale_pm1"), shuffle_buffer=10_000)
  c.train.update(batch_size=BATCH, num_steps=25_000_000 // BATCH, log_every=1_000,
                 ckpt_every=10_000, sample_every=20_000, eval_every=50_000,
                 eval_metrics=("d_real", "fid_inception"), eval_num_samples=10_000)
  c.optim.update(lr=0.002, d_lr=0.002, b1=0.0, b2=0.99, eps=1e-8,
                 ema_decay=0.5 ** (BATCH / EMA_HALF_LIFE_IMAGES))
  c.sample.update(truncation=0.0, w_truncation=1.0, w_truncation_grid=(1.0, 0.7, 0.5, 0.0))
  c.eval.update(metrics=("d_real", "fid_inception", "kid_inception", "pr_inception"),
                num_samples=50_000, batch_size=64, sample_batch_size=32)
  if arg == "smoke":
    shrink_gan_for_smoke(c, ("d_real",))
    c.model.image_shape = (32, 32, 3)
    c.data.update(name="emoji32", offline=True, eval_split="test", shuffle_buffer=1_000)
  return c
