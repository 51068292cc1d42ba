"""Limited data: the DCGAN of dcgan_mnist.py on 600 MNIST images (1%), with no
augmentation, DiffAugment or ADA.

  python launch.py --config experiments/gan/dcgan_mnist600.py:none --workdir runs/dcgan_mnist600_none
  python launch.py --config experiments/gan/dcgan_mnist600.py:diffaugment --workdir runs/dcgan_mnist600_diffaugment
  python launch.py --config experiments/gan/dcgan_mnist600.py:ada --workdir runs/dcgan_mnist600_ada
  python launch.py --config experiments/gan/dcgan_mnist600.py --workdir runs/dcgan_mnist600   # = :ada
  ... --mode eval   (FID-MNIST against the 10k test images)

Smoke run (seconds): ``:smoke`` (ADA) or e.g. ``:diffaugment,smoke``.

The training split is ``train[:600]`` (the first 600 of the 60k). With so
little data D memorises the training set: r_t = E[sign D(real)] (logged
every step, Karras et al. 2020 eq. 1) climbs toward 1 and FID gets worse
after a while. DiffAugment (Zhao et al. 2020: color, translation, cutout on
real and fake, for D and G) and ADA (Karras et al. 2020: flips, 90-degree
rotations, integer translation, brightness, contrast, cutout, each with
probability p; p steered so r_t -> 0.6, logged as ada_p) both fight it. The
papers: DiffAugment improves FID on 10% / 20% of CIFAR-10 (e.g. BigGAN 10%:
39.7 -> 22.4, Zhao et al. Table 1); ADA on 1k-2k images of FFHQ (Karras et
al. Fig. 4). Measured here (2-core CPU, 10k samples, FID-MNIST at 30,000
steps): none 173.2, DiffAugment 140.2, ADA 143.1 -- both augmentations beat
none from step 24,000 on. Without augmentation FID is best near 12k steps
(138.7) and then rises as D memorises the 600 images; ADA's p rises from 0
at ~4k steps and settles near 0.06. docs/results.md (GANs, limited data) has the
whole table and the r_t plot.
"""
from genjax.families.gan.config import (default_config, parse_augment_arg,
                                        shrink_gan_for_smoke)


def get_config(arg=None):
  augment, smoke = parse_augment_arg(arg)
  c = default_config()
  c.model.update(arch="dcgan", image_shape=(28, 28, 1), z_dim=100,
                 g_channels=(64, 32), d_channels=(32, 64), loss="non_saturating",
                 augment=augment, ada_target=0.6, ada_interval=4, ada_kimg=100)
  c.data.update(name="mnist", train_split="train[:600]", preprocess=("scale_pm1",),
                shuffle_buffer=600)
  # Batches of 32 (as dcgan_mnist: twice the updates per image on this CPU)
  # for 30,000 steps (960k images, 1,600 epochs of the 600): long enough for
  # the unaugmented D's memorisation to start costing G (see docs/results.md).
  c.train.update(batch_size=32, num_steps=30_000, log_every=100, ckpt_every=2_000,
                 sample_every=2_000, eval_every=1_000,
                 eval_metrics=("d_real", "r_t", "fid_mnist"), eval_num_examples=1_000,
                 eval_num_samples=1_000)
  c.optim.update(lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999, ema_decay=0.999)
  c.eval.update(metrics=("d_real", "r_t", "fid_mnist", "kid_mnist", "pr_mnist",
                         "class_hist_mnist"), batch_size=500, sample_batch_size=500)
  if smoke:
    shrink_gan_for_smoke(c)
    c.data.shuffle_buffer = 600
    # p moves visibly in 6 steps; fewer ADA ops compile faster
    c.model.update(ada_interval=1, ada_kimg=1,
                   ada_ops=("xflip", "xint", "cutout"))
  return c
