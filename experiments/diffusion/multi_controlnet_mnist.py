"""Multi-ControlNet: the Canny and the depth (distance transform) ControlNets of ldm_mnist summed at sampling time.

  python launch.py --config experiments/diffusion/controlnet_canny_mnist.py --workdir runs/controlnet_canny_mnist
  python launch.py --config experiments/diffusion/controlnet_depth_mnist.py --workdir runs/controlnet_depth_mnist
  python launch.py --config experiments/diffusion/multi_controlnet_mnist.py --workdir runs/multi_controlnet_mnist --mode sample
  python launch.py --config experiments/diffusion/multi_controlnet_mnist.py --workdir runs/multi_controlnet_mnist --mode eval

Nothing trains: ``controlnet_canny_mnist`` reads the edge map
(``batch['edges']``) and ``controlnet_depth_mnist`` the normalised distance
transform (``batch['depth']``) of the same digit; their residuals are added
to the locked ``ldm_mnist`` U-Net with weights 1 and 1 (diffusers'
``MultiControlNetModel``), CFG w = 1 with both controls on both halves.

Measured (500 test digits, benchmarks/results/control_fidelity_multi_mnist.json):
edge F1 0.891 exactly (0.997 within 1 pixel) and distance-map r 0.996 at
once, class accuracy 0.986.
"""
from genjax.config import dependency, parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  for name in ("canny", "depth"):
    c.deps[name] = dependency(workdir=f"runs/controlnet_{name}_mnist",
                              experiment=f"experiments/diffusion/controlnet_{name}_mnist.py")
  c.model.update(name="multi_controlnet", image_shape=(28, 28, 1))
  c.model.control.update(keys=("edges", "depth"), weights=(1.0, 1.0))
  c.data.update(name="mnist", preprocess=(
      "canny(sigma=1.0, outkey='edges')",
      "distance_transform(normalize=True, outkey='depth')", "scale_01"))
  c.sample.update(sampler="ddim", steps=20, eta=0.0, guidance_weight=1.0)
  c.eval.update(metrics=("fid_mnist", "cond_acc_mnist"), batch_size=250,
                sample_batch_size=250, num_samples=1_000)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.sample.update(steps=5)
    c.eval.metrics = ("fid_mnist",)
  return c
