"""DCGAN on MNIST (Radford et al. 2016), sized for a <= 20-minute run on 2 CPU cores.

  python launch.py --config experiments/gan/dcgan_mnist.py --workdir runs/dcgan_mnist
  python launch.py --config experiments/gan/dcgan_mnist.py --workdir runs/dcgan_mnist --mode eval
  # truncation curve (FID / precision / recall at psi = 0.5, 0.7, 1.0):
  ... --mode eval --config.sample.truncation=0.5

Smoke run (seconds): append ``:smoke`` to the config path.

G: z (100) -> 7x7x128 -> sub-pixel 2x up to 14x14x64 -> 28x28x32 (BatchNorm +
ReLU) -> 3x3 conv -> tanh; D: 4x4 stride-2 convs 32 -> 64 with LeakyReLU(0.2),
linear logit; non-saturating loss, Adam 2e-4 (beta1 0.5) for both players,
EMA of G. The paper reports no MNIST FID (its samples are qualitative;
Table 1 is CIFAR-10 classification from D's features). Expected: FID-MNIST
(10k samples, MNIST classifier features) well above the train-vs-test floor
but with digits of every class (class histogram within 5-15% per class).
Sizing: G costs ~60 MFLOP per image, so the step draws ~300-350 train img/s
alone on the 2-core CPU. Batches of 32: at the same 51k images, 1,600 steps
of 32 reached FID-MNIST 260 (1k samples; classes 5.1-15.5%) where 800 steps
of 64 reached 348 (2.9-24.9%), at the same images/s; doubling D's widths or
its learning rate did not help at 800 steps (353, 356). 10,000 steps of 32
(320k images, ~5.3 epochs) fit the 20 minutes. The previous setting (4,200
steps of 64, 18.7 min) reached FID-MNIST 148.9 with classes 6.1%-15.3%;
this one, 17.2 min: FID-MNIST 114.5 on 10k samples, classes 6.5%-14.5%
(docs/results.md).
"""
from genjax.config import parse_arg
from genjax.families.gan.config import default_config, shrink_gan_for_smoke

MNIST_METRICS = ("d_real", "r_t", "fid_mnist", "kid_mnist", "pr_mnist",
                 "class_hist_mnist")


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(arch="dcgan", image_shape=(28, 28, 1), z_dim=100,
                 g_channels=(64, 32), d_channels=(32, 64), loss="non_saturating")
  c.data.update(name="mnist", preprocess=("scale_pm1",))
  c.train.update(batch_size=32, num_steps=10_000, log_every=200, ckpt_every=2_000,
                 sample_every=2_500, eval_every=5_000,
                 eval_metrics=("d_real", "fid_mnist"), eval_num_examples=1_000,
                 eval_num_samples=1_000)
  c.optim.update(lr=2e-4, d_lr=2e-4, b1=0.5, b2=0.999, ema_decay=0.999)
  c.eval.update(metrics=MNIST_METRICS, batch_size=500, sample_batch_size=500)
  if arg == "smoke":
    shrink_gan_for_smoke(c)
  return c
