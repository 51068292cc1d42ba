"""PixelCNN (van den Oord et al. 2016) on dynamically binarised MNIST, sized for a CPU run.

  python launch.py --config experiments/autoregressive/pixelcnn_binary_mnist.py --workdir runs/pixelcnn_binary_mnist
  python launch.py --config experiments/autoregressive/pixelcnn_binary_mnist.py --workdir runs/pixelcnn_binary_mnist --mode eval
  python launch.py --config experiments/autoregressive/pixelcnn_binary_mnist.py --workdir runs/pixelcnn_binary_mnist --mode sample

Smoke run (seconds): append ``:smoke`` to the config path.

A type-A 7x7 masked first layer, type-B residual blocks and 1x1 output
layers; a Bernoulli logit per pixel. The exact test NLL (``nll``, nats per
image) is the paper's metric: PixelCNN 81.30 nats on binarised MNIST
(van den Oord et al. 2016, "Pixel Recurrent Neural Networks", table 4; a
bigger network trained far longer). The test images are binarised once with
a fixed seed (a fixed stochastic binarisation, as Larochelle & Murray's
binarised MNIST). The eval mode also samples: completions of test images
from their top half are drawn in the sample grids.
"""
import ml_collections

from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoregressive.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="pixelcnn", likelihood="bernoulli", image_shape=(28, 28, 1))
  c.model.net = ml_collections.ConfigDict(dict(
      features=64, num_layers=6, first_kernel_size=7, kernel_size=3, dropout=0.0))
  c.data.update(name="mnist", preprocess=("binarize_dynamic",))
  c.train.update(batch_size=64, num_steps=2_000, log_every=100, ckpt_every=500,
                 sample_every=0, eval_every=1_000, eval_metrics=("nll",),
                 eval_num_examples=1_000)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=100, decay_steps=2_000,
                 end_lr_fraction=0.05, grad_clip=1.0, ema_decay=0.0)
  c.sample.num = 36
  c.eval.update(metrics=("nll", "bpd"), batch_size=500)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.net = ml_collections.ConfigDict(dict(
        features=8, num_layers=1, first_kernel_size=3, kernel_size=3, dropout=0.0))
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.sample.num = 4
  return c
