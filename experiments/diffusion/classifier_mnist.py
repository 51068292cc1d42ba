"""The noisy MNIST classifier p(y | x_t, t) for classifier guidance (guided_mnist.py).

  python launch.py --config experiments/diffusion/classifier_mnist.py --workdir runs/classifier_mnist

Dhariwal & Nichol (2021): the U-Net's encoder half with the time embedding,
pooled to class logits, trained with cross-entropy on x_t ~ q(x_t | x_0) at
uniform t with the denoiser's schedule. Reports accuracy at random t.

Measured (2-core CPU): 1,500 steps x 64 in 7.5 min, test accuracy 0.569 at
uniform t (chance at large t).
"""
from genjax.config import parse_arg
from experiments.diffusion import ddpm_mnist


def get_config(arg=None):
  arg = parse_arg(arg)
  c = ddpm_mnist.get_config(arg)
  c.model.update(name="classifier", num_classes=10)
  c.train.update(num_steps=1_500 if arg != "smoke" else c.train.num_steps,
                 eval_metrics=("accuracy",), sample_every=0)
  if arg != "smoke":
    c.optim.update(decay_steps=1_500)
    c.train.eval_every = 500
  c.eval.metrics = ("loss", "accuracy")
  return c
