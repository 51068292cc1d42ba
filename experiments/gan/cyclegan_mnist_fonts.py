"""CycleGAN (Zhu et al. 2017) between handwritten MNIST digits (domain A) and
typeset digits of the installed fonts (domain B, ``font_digits``), unpaired,
sized for a ~30-minute run on 2 CPU cores.

  python launch.py --config experiments/gan/cyclegan_mnist_fonts.py --workdir runs/cyclegan_mnist_fonts
  python launch.py --config experiments/gan/cyclegan_mnist_fonts.py:nocycle --workdir runs/cyclegan_mnist_fonts_nocycle
  ... --mode eval   (cycle errors; cond_acc_mnist: class preservation A -> B)
  ... --mode eval --config.sample.direction=BA --config.eval.metrics=cond_acc_mnist,fid_mnist
                    (class preservation B -> A and FID-MNIST of G_BA's digits)

Smoke run (seconds): ``:smoke`` or ``:nocycle,smoke``.

Data: MNIST's training digits and font_digits' training fonts as two
independent streams (``data.unpaired``: its images arrive as 'target'),
both 28x28 in [-1, 1]; evaluation pairs MNIST's test digits with the held-out
typefaces. Model: the paper's ResNet G (c7s1-16, d32, d64, 6 residual
blocks, u32, u16, c7s1-1; instance norm; the paper's 128 px setting, at 28
px with ngf 16) and 34x34 PatchGANs (n_layers 2, ndf 16), least-squares
loss, lambda 10, identity 0.5 lambda, pools of 50 fakes, Adam 2e-4 (beta1
0.5), constant for 1,500 steps then linearly to 0 at 3,000 (the paper's
100 + 100 epochs, scaled), batch 16 (the paper: 1). ``:nocycle`` sets
lambda_cycle = lambda_identity = 0, the ablation whose class preservation
should collapse (the paper's GAN-alone row, Table 4).
Class preservation A -> B (``cond_acc_mnist``): the MNIST classifier's
label of G_AB(a) against a's label; it reads typeset digits framed as
MNIST's (docs/data.md gives its accuracy on font_digits).
"""
from genjax.families.translation.config import (default_config, parse_variant_arg,
                                                shrink_translation_for_smoke)


def cyclegan_config(dataset, other, shape, *, num_steps, hold_steps, cycle=True):
  """CycleGAN between ``dataset`` (A) and the unpaired ``other`` (B)."""
  c = default_config()
  c.model.update(name="cyclegan", source_key="image", target_key="target",
                 image_shape=shape, source_shape=shape, generator="resnet", ngf=16,
                 n_blocks=6, norm="instance", dropout=False, ndf=16, n_layers=2,
                 gan_mode="lsgan", lambda_cycle=10.0 if cycle else 0.0,
                 lambda_identity=0.5 if cycle else 0.0, pool_size=50)
  c.data.update(name=dataset, preprocess=("scale_pm1",), unpaired=dict(name=other))
  c.train.update(batch_size=16, num_steps=num_steps, log_every=100, ckpt_every=500,
                 sample_every=1_000, eval_every=1_000, eval_metrics=("cycle_a", "cycle_b"),
                 eval_num_examples=500, eval_num_samples=500)
  c.optim.update(schedule="linear", hold_steps=hold_steps, decay_steps=num_steps)
  c.eval.update(metrics=("cycle_a", "cycle_b", f"cond_acc_{dataset}"), batch_size=250,
                sample_batch_size=250, num_examples=2_000, num_samples=2_000)
  return c


def get_config(arg=None):
  variant, smoke = parse_variant_arg(arg, ("nocycle",))
  c = cyclegan_config("mnist", "font_digits", (28, 28, 1), num_steps=3_000,
                      hold_steps=1_500, cycle=variant != "nocycle")
  if smoke:
    shrink_translation_for_smoke(c)
    c.optim.update(hold_steps=3, decay_steps=6)
    c.model.pool_size = 20
  return c
