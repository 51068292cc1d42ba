"""pix2pix (Isola et al. 2017) from the skeleton of each MNIST digit to the
digit, and the same U-Net trained with L1 alone (the paper's L1 vs L1 + cGAN
comparison, its Table 1 / Fig. 4): the settings of
pix2pix_edges_fashion_mnist.py (``pix2pix_config``) on MNIST.

  python launch.py --config experiments/gan/pix2pix_skeleton_mnist.py --workdir runs/pix2pix_skeleton_mnist
  python launch.py --config experiments/gan/pix2pix_skeleton_mnist.py:l1 --workdir runs/pix2pix_skeleton_mnist_l1
  ... --mode eval   (L1 / PSNR / SSIM to the held-out digits, FID-MNIST, and
                    cond_acc_mnist: class preservation)

Smoke run (seconds): ``:smoke`` or ``:l1,smoke``.

Data: MNIST padded to 32x32 ('pad(2)'), the source field its Zhang-Suen
skeleton ('skeleton', ink = luma / 255 > 0.5, a one-pixel-wide {0,1} map
written to batch['source']), the target the digit in [-1, 1]: real paired
data, derived. A skeleton fixes the digit's shape but not its stroke width
or ink, so L1 alone averages them (blurred strokes) and the cGAN term has
something to add. Model: the paper's U-Net G (5 stride-2 levels down to 1x1
at 32 px, ngf 32, batch norm; no dropout layer at 5 levels) and a 34x34
PatchGAN (2 stride-2 layers, ndf 32), vanilla (BCE) loss, lambda_l1 = 100,
Adam 2e-4 (beta1 0.5), batch 32, 3,000 steps. Sample metrics translate the
test digits' skeletons (the family's ``cond_keys``): FID-MNIST scores the
32x32 translations and the held-out digits alike resized to the classifier's
28x28, and ``cond_acc_mnist`` is the share of translations the MNIST
classifier labels with their source digit's class (the test split's
'label', the family's ``label_key``): a skeleton keeps the class, so a
good G keeps it too. Its ceiling: the classifier labels 99.11% of the real
test digits right through the same pad(2) and resize to 28x28 (10,000
digits). Sized like the edges experiment (3,000 steps of 32 on 2 CPU
cores; not timed here, the skeleton op runs in the input pipeline).
"""
from experiments.gan.pix2pix_edges_fashion_mnist import pix2pix_config
from genjax.families.translation.config import parse_variant_arg, shrink_translation_for_smoke


def get_config(arg=None):
  variant, smoke = parse_variant_arg(arg, ("l1",))
  c = pix2pix_config("mnist", "skeleton(threshold=0.5)", num_steps=3_000,
                     lambda_gan=0.0 if variant == "l1" else 1.0)
  c.eval.metrics = tuple(c.eval.metrics) + ("cond_acc_mnist",)
  if smoke:
    shrink_translation_for_smoke(c)
    c.train.eval_metrics = ("l1",)
    c.eval.metrics = ("l1", "psnr", "fid_mnist", "cond_acc_mnist")
  return c
