"""PixelCNN++ (Salimans et al. 2017) on 8-bit MNIST, sized for a CPU run.

  python launch.py --config experiments/autoregressive/pixelcnnpp_mnist.py --workdir runs/pixelcnnpp_mnist
  python launch.py --config experiments/autoregressive/pixelcnnpp_mnist.py --workdir runs/pixelcnnpp_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

The discretised logistic mixture likelihood, down- and down-right-shifted
streams over three resolutions (28, 14, 7) with shortcut connections,
gated ResNet blocks with concat_elu, weight normalisation with data-
dependent initialisation on the first training batch. Reports exact test
bits/dim on 8-bit MNIST (the paper reports 2.92 bits/dim on CIFAR-10; there
is no MNIST figure in the paper).

Measured (2-core CPU): 2,000 steps x 32 in 25.2 min of training (~42
img/s), exact test NLL 1.162 bits/dim with the raw parameters
(``--config.sample.use_ema=False``) and 1.523 with the EMA, whose 0.999
decay is slow for so short a run.
"""
import ml_collections

from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoregressive.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="pixelcnnpp", likelihood="logistic_mixture",
                 image_shape=(28, 28, 1))
  c.model.net = ml_collections.ConfigDict(dict(
      nr_resnet=1, nr_filters=32, nr_logistic_mix=5, dropout=0.0))
  c.data.update(name="mnist", preprocess=("scale_pm1",))
  c.train.update(batch_size=32, num_steps=2_000, log_every=100, ckpt_every=500,
                 sample_every=0, eval_every=1_000, eval_metrics=("bpd",),
                 eval_num_examples=1_000)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=100, decay_steps=2_000,
                 end_lr_fraction=0.05, grad_clip=1.0, ema_decay=0.999)
  c.sample.num = 36
  c.eval.update(metrics=("bpd", "nll"), batch_size=250)
  c.train.eval_metrics = ("bpd",)
  if arg == "smoke":
    shrink_for_smoke(c)
    # Two resolutions (8, 4; the three-resolution network is unit-tested in
    # tests/families/autoregressive) compile in two thirds of the time.
    c.model.net = ml_collections.ConfigDict(dict(
        nr_resnet=1, nr_filters=8, nr_logistic_mix=2, dropout=0.0, num_resolutions=2))
    # 8x8 images: the naive sampler's 64 sequential steps instead of 784 keep
    # the smoke run to seconds.
    c.model.image_shape = (8, 8) + tuple(c.model.image_shape[2:])
    c.data.preprocess = ("resize(8)", "scale_pm1")
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.sample.num = 4
  return c
