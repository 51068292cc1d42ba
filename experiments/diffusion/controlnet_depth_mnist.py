"""ControlNet on a depth-like map (the distance transform) over the class-conditional latent model ldm_mnist.

  python launch.py --config experiments/diffusion/ldm_mnist.py --workdir runs/ldm_mnist
  python launch.py --config experiments/diffusion/controlnet_depth_mnist.py --workdir runs/controlnet_depth_mnist

controlnet_canny_mnist's model and training with the condition map
``distance_transform(normalize=True)``: each pixel's Euclidean distance to
the digit (Felzenszwalb & Huttenlocher 2012) over the image diagonal, 0 on
the strokes -- the analogue of a depth map's distance to a surface.
"""
from genjax.config import parse_arg
from experiments.diffusion.controlnet_canny_mnist import controlnet_config


def get_config(arg=None):
  return controlnet_config(parse_arg(arg), "distance_transform(normalize=True)")
