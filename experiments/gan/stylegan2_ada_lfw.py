"""Limited data: StyleGAN2 with ADA (Karras et al. 2020, "Training GANs with
Limited Data") on the 100 real faces of scikit-image's lfw_subset(), against
no augmentation (or DiffAugment) at the same images seen.

  python launch.py --config experiments/gan/stylegan2_ada_lfw.py --workdir runs/stylegan2_ada_lfw   # = :ada
  python launch.py --config experiments/gan/stylegan2_ada_lfw.py:none --workdir runs/stylegan2_lfw_none
  python launch.py --config experiments/gan/stylegan2_ada_lfw.py:diffaugment --workdir runs/stylegan2_lfw_diffaugment
  ... --mode eval   (FID and KID with Inception features against the same 100 faces)

Smoke run (seconds): ``:smoke`` (ADA) or e.g. ``:none,smoke``.

Data: the offline ``lfw_subset`` (25x25 grey; test = the same 100 faces)
resized to 32x32. The model and optimiser are stylegan2_fashion_mnist's
(CPU widths, lazy R1 gamma 0.01, path-length regularisation, style
mixing); ADA as in dcgan_lfw: the family's pipeline (flips, 90-degree
rotations, integer translation, colour, cutout), target r_t = 0.6, p
adjusted every 4 steps so that it can go 0 -> 1 in 20k images (the paper's
500k is for runs of millions of images). 2,500 steps of 32 (80k images,
800 passes over the faces; ~30 minutes on 2 CPU cores). The ADA paper's
claim to check: with 100 images D memorises the set (r_t -> 1) and FID
rises without augmentation; with ADA r_t stays near the target and FID is
lower at the same images seen (its Fig. 4; DiffAugment's "100-shot"
StyleGAN2 FIDs at 256x256: 54.4 / 31.3 / 12.7, Zhao et al. 2020 Table 3).
FID on 100 reference images is biased: compare the runs with each other.
"""
from experiments.gan.stylegan2_fashion_mnist import stylegan2_cpu
from genjax.families.gan.config import parse_augment_arg, shrink_gan_for_smoke


def get_config(arg=None):
  augment, smoke = parse_augment_arg(arg)
  c = stylegan2_cpu("lfw_subset", (32, 32, 1), ("resize(32)", "scale_pm1"),
                    num_steps=2_500)
  c.model.update(augment=augment, ada_target=0.6, ada_interval=4, ada_kimg=20)
  c.data.update(train_split="train", eval_split="test", shuffle_buffer=100)
  c.train.update(eval_metrics=("d_real", "r_t"), eval_num_examples=100)
  c.eval.update(metrics=("d_real", "r_t", "fid_inception", "kid_inception"),
                batch_size=100, num_samples=1_000)
  if smoke:
    shrink_gan_for_smoke(c, ("d_real", "r_t"))
    c.data.shuffle_buffer = 100
    c.eval.update(num_examples=32, reference_num_examples=32)
    # p moves visibly in 6 steps; fewer ADA ops compile faster
    c.model.update(ada_interval=1, ada_kimg=1, ada_ops=("xflip", "xint", "cutout"))
  return c
