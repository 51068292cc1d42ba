"""Classifier guidance on MNIST: the unconditional ddpm_mnist denoiser steered
by the noisy classifier of classifier_mnist (Dhariwal & Nichol 2021, Alg. 2).

  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist
  python launch.py --config experiments/diffusion/classifier_mnist.py --workdir runs/classifier_mnist
  python launch.py --config experiments/diffusion/guided_mnist.py --workdir runs/ddpm_mnist --mode eval \
      --config.sample.classifier_workdir=runs/classifier_mnist --config.sample.classifier_scale=2.0

It evaluates the denoiser's workdir (same model, same identity) with the
guided sampler; samples are class-balanced and cond_acc reports how often the
MNIST classifier agrees with the requested class.

Measured (2-core CPU, 1k DDIM-20 samples, --config.sample.steps=20
--config.eval.num_samples=1000): accuracy 0.49 / 0.81 / 0.895 and FID-MNIST
132 / 57 / 39 at s = 1 / 4 / 10.
"""
from genjax.config import parse_arg
from experiments.diffusion import ddpm_mnist


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ddpm_mnist.get_config(arg)
  # Measured with deterministic DDIM-20 (eta=0), unlike ddpm_mnist's eta=1.
  c.sample.update(classifier_workdir="runs/classifier_mnist", classifier_scale=2.0,
                  eta=0.0)
  c.eval.metrics = ("fid_mnist", "kid_mnist", "pr_mnist", "class_hist_mnist", "cond_acc_mnist")
  if arg == "smoke":
    # No trained classifier exists in a smoke run; the guided path is tested
    # in tests/families/diffusion/test_family.py with a smoke classifier.
    c.sample.classifier_workdir = ""
    c.eval.metrics = ("loss", "fid_mnist")
  return c
