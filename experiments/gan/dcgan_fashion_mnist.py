"""DCGAN on Fashion-MNIST (Radford et al. 2016), the dcgan_mnist model on clothes.

  python launch.py --config experiments/gan/dcgan_fashion_mnist.py --workdir runs/dcgan_fashion_mnist
  python launch.py --config experiments/gan/dcgan_fashion_mnist.py --workdir runs/dcgan_fashion_mnist --mode eval
  # truncation curve (FID / precision / recall at psi = 0.5, 0.7, 1.0):
  ... --mode eval --config.sample.truncation=0.5

Smoke run (seconds): append ``:smoke`` to the config path.

The model, loss and run of dcgan_mnist.py (G: z -> 7x7x128 -> 14x14x64 ->
28x28x32 sub-pixel upsampling with BatchNorm + ReLU, tanh; D: strided 4x4
convs 32 -> 64 + LeakyReLU(0.2)), on Fashion-MNIST's 60k training images.
Radford et al. (2016) report no Fashion-MNIST number (the set is from 2017).
Expected: FID with the Fashion-MNIST classifier's features (FID-FMNIST) well
above the train-vs-test floor, every class present in the class histogram.
"""
from experiments.gan import dcgan_mnist
from genjax.config import parse_arg


def get_config(arg=None):
  arg = parse_arg(arg)
  c = dcgan_mnist.get_config(arg)
  c.data.name = "fashion_mnist"
  rename = lambda names: tuple(n.replace("_mnist", "_fashion_mnist") for n in names)
  c.train.eval_metrics = rename(c.train.eval_metrics)
  c.eval.metrics = rename(c.eval.metrics)
  return c
