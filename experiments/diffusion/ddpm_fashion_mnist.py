"""Unconditional DDPM on Fashion-MNIST: ddpm_mnist's model and schedule.

  python launch.py --config experiments/diffusion/ddpm_fashion_mnist.py --workdir runs/ddpm_fashion_mnist

Sample quality is reported with the Fashion-MNIST classifier's features
(fid_fashion_mnist etc.).
"""
from genjax.config import parse_arg
from experiments.diffusion import ddpm_mnist


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ddpm_mnist.get_config(arg)
  c.data.name = "fashion_mnist"
  c.train.eval_metrics = tuple(m.replace("_mnist", "_fashion_mnist")
                               for m in c.train.eval_metrics)
  c.eval.metrics = tuple(m.replace("_mnist", "_fashion_mnist") for m in c.eval.metrics)
  if arg == "smoke":   # bits/dim's smoke run is ddpm_mnist's (the same model)
    c.eval.metrics = ("fid_fashion_mnist", "class_hist_fashion_mnist")
  return c
