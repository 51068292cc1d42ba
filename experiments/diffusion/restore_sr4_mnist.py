"""Training-free 4x super-resolution (7x7 -> 28x28) of MNIST with ddpm_mnist as the prior.

  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist
  python launch.py --config experiments/diffusion/restore_sr4_mnist.py --workdir runs/restore_sr4_mnist --mode eval
  python launch.py --config experiments/diffusion/restore_sr4_mnist.py --workdir runs/restore_sr4_mnist --mode sample
  # another method, task or noise (model.restore is not part of the run's
  # identity beyond the base it pins: use one workdir per method):
  ... --workdir runs/restore_sr4_dps --config.model.restore.method=dps --config.sample.steps=100
  ... --config.model.restore.task=deblur --config.model.restore.noise=0.05

Nothing trains: the locked ``ddpm_mnist`` denoiser (config.deps.base) is the
prior of DDRM (Kawar et al. 2022: eta = 0.85, eta_b = 1, 20 steps) on the
bicubic x4 downsampling of each test digit (degradations.TASKS['sr4']).
``--mode eval`` reports PSNR and SSIM against the originals, the
measurement consistency (RMS of A x - y), FID-MNIST of the restorations and
class preservation (cond_acc_mnist: the MNIST classifier's accuracy on
them); the grid shows measurement | 3 restorations | original.
``benchmarks/restoration.py`` runs every method on every task
(docs/results.md, "Restoration").
"""
from genjax.config import dependency, parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config


def restore_config(arg, task, method, steps, base_dir="runs/ddpm_mnist",
                   base_experiment="experiments/diffusion/ddpm_mnist.py", dataset="mnist",
                   image_op="scale_pm1"):
  """Restoration of ``dataset``'s test images degraded by ``task`` with
  ``method`` over the denoiser run ``base_dir`` (``image_op``: the base's
  data range op, 'scale_01' for a latent base)."""
  c = default_config()
  c.deps.base = dependency(workdir=base_dir, experiment=base_experiment)
  c.model.update(name="restore", image_shape=(28, 28, 1))
  c.model.restore.update(task=task, method=method)
  c.data.update(name=dataset, preprocess=(image_op,))
  c.train.eval_metrics = ()
  c.sample.update(sampler="ddim", steps=steps, eta=1.0)
  c.eval.update(metrics=("psnr", "ssim", "consistency", f"fid_{dataset}",
                         f"cond_acc_{dataset}"),
                num_examples=1_000, num_samples=1_000, batch_size=250,
                sample_batch_size=250)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.sample.steps = 5
    # diversity runs a second restoration program: unit-tested instead
    # (tests/families/diffusion/test_restore_family.py).
    c.eval.metrics = ("psnr", "ssim", "consistency", f"cond_acc_{dataset}")
  return c


def get_config(arg=None):
  return restore_config(parse_arg(arg), "sr4", "ddrm", 20)
