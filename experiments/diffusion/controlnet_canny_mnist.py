"""ControlNet (Zhang et al. 2023) on Canny edges over the class-conditional latent model ldm_mnist.

  python launch.py --config experiments/autoencoder/klae_mnist.py --workdir runs/klae_mnist
  python launch.py --config experiments/diffusion/ldm_mnist.py --workdir runs/ldm_mnist
  python launch.py --config experiments/diffusion/controlnet_canny_mnist.py --workdir runs/controlnet_canny_mnist
  # draw for one edge map of your own (28x28 grey PNG, white edges):
  ... --mode sample --config.sample.control_image=edges.png
  # the base model alone (every residual times 0):
  ... --mode sample --config.sample.control_scale=0.0

The locked ``ldm_mnist`` denoiser (config.deps.base) gets a trainable copy
of its encoder and middle block, a condition encoder taking the 28x28 Canny
edge map (``canny(sigma=1.0)`` of each digit, skimage's thresholds) down to
the 7x7 latents, and zero 1x1 convs on every skip; the label is dropped to
the null class half the time in training (the paper drops half the
prompts), and sampling is DDIM-20 with classifier-free guidance w = 1 with
the control on both halves. The grids show edge map | 3 samples | source.
Control fidelity (edge F1 of the samples' own Canny edges against the given
ones, against the base without control) is measured by
``benchmarks/control_fidelity.py`` (docs/results.md, "ControlNet and LoRA").

Measured (2-core CPU, 1,500 steps x 64, 20.3 min with other jobs; 500 test
digits, benchmarks/results/control_fidelity_canny_mnist.json): edge F1 0.774
exactly (0.986 within 1 pixel) against 0.280 (0.768) for the base alone,
class accuracy of the samples 0.968 against 0.802; a train step costs 19.6%
more than ldm_mnist's (benchmarks/results/adapter_speed.json).
"""
from genjax.config import dependency, parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config


def controlnet_config(arg, op, base_dir="runs/ldm_mnist",
                      base_experiment="experiments/diffusion/ldm_mnist.py",
                      dataset="mnist", image_op="scale_01"):
  """A ControlNet over the run ``base_dir`` whose condition map is the
  preprocessing op ``op`` of each image (written to batch['control'])."""
  c = default_config()
  c.deps.base = dependency(workdir=base_dir, experiment=base_experiment)
  c.model.update(name="controlnet", image_shape=(28, 28, 1))
  c.model.control.update(key="control", shape=(28, 28, 1), hint_channels=(16, 32, 64),
                         label_dropout=0.5)
  c.data.update(name=dataset, preprocess=(f"{op[:-1]}, outkey='control')", image_op))
  c.train.update(batch_size=64, num_steps=1_500, log_every=50, ckpt_every=500,
                 sample_every=500, eval_every=0, eval_metrics=("loss",),
                 eval_num_examples=1_000)
  c.optim.update(lr=5e-4, schedule="cosine", warmup_steps=100, decay_steps=1_500,
                 end_lr_fraction=0.05, ema_decay=0.995, grad_clip=1.0)
  c.sample.update(sampler="ddim", steps=20, eta=0.0, guidance_weight=1.0)
  c.eval.update(metrics=("loss", f"fid_{dataset}"), batch_size=250, sample_batch_size=250)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.control.hint_channels = (4, 8, 8)
    c.sample.update(steps=5, inversion_fixed_point_iters=1)
    c.optim.update(warmup_steps=1, decay_steps=6)
  return c


def get_config(arg=None):
  return controlnet_config(parse_arg(arg), "canny(sigma=1.0)")
