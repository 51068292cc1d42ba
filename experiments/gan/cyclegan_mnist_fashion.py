"""CycleGAN (Zhu et al. 2017) between Fashion-MNIST garments (domain A) and
handwritten MNIST digits (domain B), unpaired: the settings of
cyclegan_mnist_fonts.py (``cyclegan_config``) on two unrelated domains,
where no class can be kept, so the measures are the cycle errors and the
garments that the digits become.

  python launch.py --config experiments/gan/cyclegan_mnist_fashion.py --workdir runs/cyclegan_mnist_fashion
  ... --mode eval   (cycle errors; FID-FashionMNIST and the Fashion-MNIST
                    classifier's class histogram of G_BA's garments, made
                    from the test digits)

Smoke run (seconds): ``:smoke``.

Data: Fashion-MNIST's training garments (the Debian package's IDX files,
offline) and MNIST's training digits as two independent streams
(``data.unpaired``: the digits arrive as 'target'), both 28x28 in [-1, 1];
evaluation pairs the test garments with the test digits. Fashion-MNIST is
domain A, the main stream, because the family's sample metrics compare
with the main stream's eval split: ``sample.direction='BA'`` (set here)
translates the test digits with G_BA, so ``fid_fashion_mnist`` is FID in
the garment domain and ``class_hist_fashion_mnist`` shows whether the
digits map onto all ten garment classes or collapse onto a few
(``class_min`` / ``class_max``: 0.1 each when balanced). ``cond_acc`` would
be meaningless here (a digit's class is no garment's) and is not computed.
Model: as cyclegan_mnist_fonts.py (ResNet G c7s1-16 ... 6 residual blocks,
instance norm; 34x34 PatchGANs, ndf 16; least squares; lambda 10, identity
0.5 lambda; pools of 50; Adam 2e-4, beta1 0.5, constant for 1,500 steps then
linearly to 0 at 3,000; batch 16), sized like it for a ~30-minute run on
2 CPU cores (not timed here). Grids: garment | digit | garment, and
digit | garment | digit.
"""
from experiments.gan.cyclegan_mnist_fonts import cyclegan_config
from genjax.config import parse_arg
from genjax.families.translation.config import shrink_translation_for_smoke


def get_config(arg=None):
  smoke = parse_arg(arg) == "smoke"
  c = cyclegan_config("fashion_mnist", "mnist", (28, 28, 1), num_steps=3_000,
                      hold_steps=1_500)
  c.sample.direction = "BA"
  c.eval.metrics = ("cycle_a", "cycle_b", "fid_fashion_mnist", "class_hist_fashion_mnist")
  if smoke:
    shrink_translation_for_smoke(c)
    c.optim.update(hold_steps=3, decay_steps=6)
    c.model.pool_size = 20
  return c
