"""PixelCNN++ on CIFAR-10 in the paper's setting (Salimans et al. 2017), for GPU/TPU users.

  python launch.py --config experiments/autoregressive/pixelcnnpp_cifar10.py --workdir runs/pixelcnnpp_cifar10

Smoke run (seconds, on tfds mock data): append ``:smoke`` to the config path.

Paper: 2.92 bits/dim on the CIFAR-10 test set, 5 gated ResNet blocks per
stage, 160 filters, 10 logistic mixture components, dropout 0.5, Adamax
(here Adam) at lr 1e-3 with exponential decay, batch 16 x 8 GPUs, about 5
days on 8 Maxwell TITAN X. Needs the tfds CIFAR-10 download
(``data.offline=False``; these CPU machines have no internet).
"""
import ml_collections

from experiments.autoregressive import pixelcnnpp_mnist
from genjax.config import parse_arg


def get_config(arg=None):
  arg = parse_arg(arg)
  c = pixelcnnpp_mnist.get_config(arg)
  c.model.image_shape = (8, 8, 3) if arg == "smoke" else (32, 32, 3)
  c.data.update(name="cifar10", offline=False)
  if arg != "smoke":
    c.model.net = ml_collections.ConfigDict(dict(
        nr_resnet=5, nr_filters=160, nr_logistic_mix=10, dropout=0.5))
    c.train.update(batch_size=128, num_steps=500_000, eval_every=10_000,
                   ckpt_every=5_000, eval_num_examples=10_000)
    c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=0, decay_steps=500_000,
                   ema_decay=0.9995)
  else:
    c.train.update(eval_num_examples=16)
  return c
