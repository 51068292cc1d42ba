"""pix2pix (Isola et al. 2017) from edges to Fashion-MNIST garments, and the
same U-Net trained with L1 alone (the paper's L1 vs L1 + cGAN comparison,
its Table 1 / Fig. 4), sized for ~20-minute runs on 2 CPU cores.

  python launch.py --config experiments/gan/pix2pix_edges_fashion_mnist.py --workdir runs/pix2pix_edges_fashion_mnist
  python launch.py --config experiments/gan/pix2pix_edges_fashion_mnist.py:l1 --workdir runs/pix2pix_edges_fashion_mnist_l1
  ... --mode eval   (L1 / PSNR / SSIM to the held-out targets, FID-FashionMNIST)

Smoke run (seconds): ``:smoke`` or ``:l1,smoke``.

Data: Fashion-MNIST padded to 32x32 ('pad(2)'), the source field its Canny
edges ('canny', sigma 1, written to batch['source']), the target the garment
in [-1, 1]: real paired data, derived. Model: the paper's U-Net G (5
stride-2 levels down to 1x1 at 32 px, ngf 32, batch norm, dropout 0.5 —
none at 5 levels: the reference puts num_downs - 5 dropout layers, so G is
deterministic here, as the paper's own maps -> photos ablation notes that
its G largely ignores noise) and a 34x34 PatchGAN (2 stride-2 layers, ndf
32; the paper's 70x70 is for 256 px), vanilla (BCE) loss, lambda_l1 = 100,
Adam 2e-4 (beta1 0.5), batch 32 (the paper: 1-10 at 256 px). FID-FashionMNIST
scores the 32x32 translations and the held-out garments alike resized to the
classifier's 28x28 (docs/evaluation.md).
"""
from genjax.families.translation.config import (default_config, parse_variant_arg,
                                                shrink_translation_for_smoke)


def pix2pix_config(dataset, edge_op, *, num_steps, lambda_gan=1.0):
  """pix2pix from ``edge_op`` of each padded 32x32 image to the image."""
  c = default_config()
  c.model.update(name="pix2pix", image_shape=(32, 32, 1), source_shape=(32, 32, 1),
                 ngf=32, num_downs=5, ndf=32, n_layers=2, lambda_gan=lambda_gan)
  c.data.update(name=dataset, preprocess=("pad(2)", f"{edge_op[:-1]}, outkey='source')",
                                          "scale_pm1"))
  c.train.update(batch_size=32, num_steps=num_steps, log_every=100, ckpt_every=500,
                 sample_every=1_000, eval_every=1_000, eval_metrics=("l1", "psnr"),
                 eval_num_examples=500, eval_num_samples=500)
  c.eval.update(metrics=("l1", "psnr", "ssim", f"fid_{dataset}"), batch_size=250,
                sample_batch_size=250, num_examples=10_000, num_samples=10_000)
  return c


def get_config(arg=None):
  variant, smoke = parse_variant_arg(arg, ("l1",))
  c = pix2pix_config("fashion_mnist", "canny(sigma=1.0)", num_steps=3_000,
                     lambda_gan=0.0 if variant == "l1" else 1.0)
  if smoke:
    shrink_translation_for_smoke(c)
    c.train.eval_metrics = ("l1",)
    c.eval.metrics = ("l1", "psnr", "fid_fashion_mnist")
  return c
