"""KL autoencoder (KL-f4) on Fashion-MNIST: klae_mnist's model, loss and schedule.

  python launch.py --config experiments/autoencoder/klae_fashion_mnist.py --workdir runs/klae_fashion_mnist
  python launch.py --config experiments/autoencoder/klae_fashion_mnist.py --workdir runs/klae_fashion_mnist --mode eval

The same arguments as klae_mnist.py (f2, f4 -- the default --, f8 with
'resize(32)', smoke). Grey Fashion-MNIST in [0, 1] from the offline builder.
Expected: a lower test PSNR than MNIST's at the same factor (textures and
gray levels, not strokes on black); not measured yet (docs/results.md).
"""
from experiments.autoencoder import klae_mnist


def get_config(arg=None):
  return klae_mnist.klae_config(arg, "fashion_mnist")
