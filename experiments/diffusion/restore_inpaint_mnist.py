"""Training-free inpainting of MNIST (the centre box missing) with ddpm_mnist as the prior.

  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist
  python launch.py --config experiments/diffusion/restore_inpaint_mnist.py --workdir runs/restore_inpaint_mnist --mode eval
  python launch.py --config experiments/diffusion/restore_inpaint_mnist.py --workdir runs/restore_inpaint_mnist --mode sample
  # the right half missing, several completions per digit and their spread:
  ... --config.model.restore.task=inpaint_half --config.eval.metrics=diversity,psnr
  # score_sde's replacement instead of RePaint's resampling:
  ... --workdir runs/restore_inpaint_replacement --config.model.restore.method=replacement

Nothing trains: RePaint (Lugmayr et al. 2022) with the locked ``ddpm_mnist``
denoiser (config.deps.base): DDPM steps on a 50-step schedule whose unknown
pixels are resampled along the paper's jump schedule (jump length 10, 10
resamplings), the known pixels replaced by the measurement noised to each
level, so they come back exactly. Metrics and grids as restore_sr4_mnist.
"""
from genjax.config import parse_arg
from experiments.diffusion.restore_sr4_mnist import restore_config


def get_config(arg=None):
  return restore_config(parse_arg(arg), "inpaint_box", "repaint", 50)
