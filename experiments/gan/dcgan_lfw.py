"""Limited data: a DCGAN on the 100 real faces of scikit-image's lfw_subset(),
with no augmentation, DiffAugment or ADA.

  python launch.py --config experiments/gan/dcgan_lfw.py:none --workdir runs/dcgan_lfw_none
  python launch.py --config experiments/gan/dcgan_lfw.py:diffaugment --workdir runs/dcgan_lfw_diffaugment
  python launch.py --config experiments/gan/dcgan_lfw.py:ada --workdir runs/dcgan_lfw_ada
  python launch.py --config experiments/gan/dcgan_lfw.py --workdir runs/dcgan_lfw   # = :ada
  ... --mode eval   (FID with Inception features against the same 100 faces)

Smoke run (seconds): ``:smoke`` (ADA) or e.g. ``:none,smoke``.

Data: the offline ``lfw_subset`` dataset (25x25 grey; test = the same 100
faces), resized to 32x32 so that the DCGAN G builds it (4 -> 8 -> 16 -> 32).
100 images is the regime of Karras et al. (2020) Fig. 4 / Zhao et al. (2020)
"100-shot" (Obama, grumpy cat, panda: DiffAugment FID 54.4 / 31.3 / 12.7 at
256x256 with StyleGAN2, Table 3). Expected here: without augmentation D
memorises the 100 faces within a few hundred steps (r_t -> 1) and samples
collapse toward copies; DiffAugment and ADA keep r_t lower and the samples
varied. FID on 100 reference images is biased; compare runs with each other.
"""
from genjax.families.gan.config import (default_config, parse_augment_arg,
                                        shrink_gan_for_smoke)


def get_config(arg=None):
  augment, smoke = parse_augment_arg(arg)
  c = default_config()
  c.model.update(arch="dcgan", image_shape=(32, 32, 1), z_dim=64,
                 g_channels=(128, 64, 32), d_channels=(32, 64, 128),
                 loss="non_saturating", augment=augment, ada_target=0.6,
                 ada_interval=4, ada_kimg=20)
  c.data.update(name="lfw_subset", train_split="train", eval_split="test",
                preprocess=("resize(32)", "scale_pm1"), shuffle_buffer=100)
  c.train.update(batch_size=32, num_steps=4_000, log_every=50, ckpt_every=1_000,
                 sample_every=500, eval_every=1_000,
                 eval_metrics=("d_real", "r_t"), eval_num_examples=100,
                 eval_num_samples=500)
  c.optim.update(lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999, ema_decay=0.999)
  c.eval.update(metrics=("d_real", "r_t", "fid_inception", "kid_inception"),
                batch_size=100, num_samples=1_000, sample_batch_size=250)
  if smoke:
    shrink_gan_for_smoke(c, ("d_real", "r_t"))
    c.data.shuffle_buffer = 100
    c.eval.update(num_examples=32, reference_num_examples=32)
    # p moves visibly in 6 steps; fewer ADA ops compile faster
    c.model.update(ada_interval=1, ada_kimg=1,
                   ada_ops=("xflip", "xint", "cutout"))
  return c
