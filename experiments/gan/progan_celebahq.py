"""ProGAN on CelebA-HQ at 1024x1024 (Karras et al. 2018), the paper's
configuration, for GPU/TPU users.

  python launch.py --config experiments/gan/progan_celebahq.py --workdir runs/progan_celebahq \
      --config.data.offline=False --config.data.data_dir=/path/to/tfds
  ... --mode eval   (FID on 50k samples, Inception features)
  ... --mode sample

The paper's networks (Table 2): z of 512, channels min(8192 / 2^s, 512) (512
up to 32x32, then 256, 128, 64, 32, 16 at 1024), equalised lr, pixel norm,
nearest upsampling and average pooling, a toRGB / fromRGB at every level,
minibatch stddev in groups of 4 (G 23,079,115 and D 23,087,249 parameters,
the paper's 23.1M each: tests/families/gan/test_progan.py). Training (sec. 3,
4.1, app. A.1): 600k images of fade-in and 600k stable per level, WGAN-GP
(lambda 10, one critic step) with the drift term epsilon 0.001, Adam 0.001
with betas (0, 0.99), eps 1e-8, G's EMA 0.999, 15M images (the reference's
total_kimg; 1024x1024 is reached after 10.2M). Here every level's network is
computed at every step at the data's shape (static shapes: growing never
recompiles), so the batch is 16 throughout (the paper lowers it to 3 at 1024
to fit its GPUs' memory). The paper reports no FID for CelebA-HQ (samples,
and sliced Wasserstein distances in Table 1 for 128x128 CelebA).

CelebA-HQ is tfds' ``celeb_a_hq/1024``, which needs a manual download (the
deltas of the paper's dataset tool applied to CelebA): prepare it under
``data.data_dir``. So its ``:smoke`` run cannot use tfds' mock data: it
trains the same configuration (shrunk by ``shrink_gan_for_smoke``) on the
offline ``emoji32`` set at 32x32 (``smoke_on_emoji32``).
"""
from experiments.gan.progan_mnist import progan_config
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, smoke_on_emoji32

BATCH = 16
TOTAL_KIMG = 15_000


def get_config(arg=None):
  arg = parse_arg(arg)
  c = progan_config(default_config(), z_dim=512, fmap_base=8192, fmap_max=512,
                    kimg=(600.0, 600.0))
  c.model.image_shape = (1024, 1024, 3)
  c.data.update(name="celeb_a_hq/1024", offline=False, train_split="train",
                eval_split="train", preprocess=("flip_lr", "scale_pm1"),
                shuffle_buffer=10_000)
  c.train.update(batch_size=BATCH, num_steps=TOTAL_KIMG * 1000 // BATCH, log_every=1_000,
                 ckpt_every=10_000, sample_every=20_000, eval_every=75_000,
                 eval_metrics=("d_real", "fid_inception"), eval_num_samples=10_000)
  c.optim.ema_decay = 0.999
  c.eval.update(metrics=("d_real", "fid_inception", "kid_inception", "pr_inception"),
                num_samples=50_000, batch_size=64, sample_batch_size=32)
  return smoke_on_emoji32(c) if arg == "smoke" else c
