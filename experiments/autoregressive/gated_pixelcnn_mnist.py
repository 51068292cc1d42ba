"""Class-conditional Gated PixelCNN (van den Oord et al. 2016) on binarised MNIST.

  python launch.py --config experiments/autoregressive/gated_pixelcnn_mnist.py --workdir runs/gated_pixelcnn_mnist
  python launch.py --config experiments/autoregressive/gated_pixelcnn_mnist.py --workdir runs/gated_pixelcnn_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

Vertical and horizontal stacks (no blind spot), gated tanh * sigmoid units
with a class embedding, "Conditional Image Generation with PixelCNN Decoders"
(van den Oord et al. 2016). Reports the exact test NLL in nats (the papers:
PixelCNN 81.30, PixelRNN 79.20 nats) and the class-conditional accuracy of
the MNIST classifier on class-balanced samples (``cond_acc_mnist``). Samples
use the row-cached fast generator (``config.sample.cached``; the naive
sampler with ``--config.sample.cached=False``).
"""
import ml_collections

from experiments.autoregressive import pixelcnn_binary_mnist
from genjax.config import parse_arg


def get_config(arg=None):
  arg = parse_arg(arg)
  c = pixelcnn_binary_mnist.get_config(arg)
  c.model.update(name="gated_pixelcnn", num_classes=10)
  # 32 features x 6 gated layers: ~0.6 GFLOP per image per step. Batches of
  # 16: the 2-core CPU runs this net faster per image at 16 (~60 img/s) than
  # at 64 (47 img/s; probably as its activations then fit in cache), and the
  # run makes 4x the updates: 5,000 steps of 16 in ~23 min beat 1,500 steps
  # of 64 in 35.5 min by several nats.
  c.model.net = ml_collections.ConfigDict(dict(
      features=32, num_layers=6, first_kernel_size=7, kernel_size=3, dropout=0.0))
  if arg != "smoke":
    c.train.batch_size = 16
    c.train.num_steps = c.optim.decay_steps = 5_000
  c.eval.update(metrics=("nll", "bpd", "cond_acc_mnist"), num_samples=1_000,
                sample_batch_size=500)
  if arg == "smoke":
    c.model.net = ml_collections.ConfigDict(dict(
        features=8, num_layers=2, first_kernel_size=3, kernel_size=3, dropout=0.0))
    c.eval.update(metrics=("nll", "cond_acc_mnist"), num_samples=16,
                  sample_batch_size=16)
  return c
