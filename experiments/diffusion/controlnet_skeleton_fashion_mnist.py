"""ControlNet on skeletons over the pixel-space DDPM of Fashion-MNIST (ddpm_fashion_mnist).

  python launch.py --config experiments/diffusion/ddpm_fashion_mnist.py --workdir runs/ddpm_fashion_mnist
  python launch.py --config experiments/diffusion/controlnet_skeleton_fashion_mnist.py --workdir runs/controlnet_skeleton_fashion_mnist

The condition is each garment's skeleton (``skeleton(threshold=0.2)``:
Zhang & Suen thinning of the foreground), a pose-like stick figure; the
base is unconditional and in pixel space, so the condition encoder keeps
the 28x28 size and there is no guidance (w = 0).
"""
from genjax.config import parse_arg
from experiments.diffusion.controlnet_canny_mnist import controlnet_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = controlnet_config(arg, "skeleton(threshold=0.2)", base_dir="runs/ddpm_fashion_mnist",
                        base_experiment="experiments/diffusion/ddpm_fashion_mnist.py",
                        dataset="fashion_mnist", image_op="scale_pm1")
  c.sample.update(guidance_weight=0.0, eta=1.0)   # ddpm_fashion_mnist's sampler
  c.model.control.hint_channels = (16,) if arg != "smoke" else (4,)
  return c
