"""LoRA (Hu et al. 2021): the MNIST DDPM (ddpm_mnist) adapted to Fashion-MNIST through low-rank adapters.

  python launch.py --config experiments/diffusion/ddpm_mnist.py --workdir runs/ddpm_mnist
  python launch.py --config experiments/diffusion/lora_fashion_mnist.py --workdir runs/lora_fashion_mnist
  # the adapters as a safetensors file (rank, alpha, targets, the base's fingerprint):
  python -c "import genjax; genjax.load('runs/lora_fashion_mnist').export_safetensors('fashion.safetensors')"
  # the base with these adapters at half strength, or with another adapter file:
  ... --mode sample --config.sample.lora_weight=0.5
  ... --mode sample --config.sample.adapters="('other.safetensors@0.7',)"

The locked ``ddpm_mnist`` U-Net (config.deps.base) gets rank-8 adapters
(alpha 8) on the attention projections and on both 3x3 convs of every
ResBlock; they alone train, on ddpm_mnist's L_simple over Fashion-MNIST, and
the checkpoint holds them alone. Sampling is ddpm_mnist's DDIM-20, eta = 1.
The comparison with full fine-tuning (``ddpm_finetune_fashion_mnist``) and
training from scratch (``ddpm_fashion_mnist``) at equal minutes is in
docs/results.md ("ControlNet and LoRA").
"""
from genjax.config import dependency, parse_arg, shrink_for_smoke
from genjax.families.diffusion.config import default_config

# Attention q/k/v/out and the ResBlocks' 3x3 convs of the diffusion U-Net.
ATTENTION_AND_CONVS = r"(.*attn[^/]*/(qkv|out)|.*block_\d+/conv_\d)/kernel"


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.deps.base = dependency(workdir="runs/ddpm_mnist",
                           experiment="experiments/diffusion/ddpm_mnist.py")
  c.model.update(name="lora", image_shape=(28, 28, 1))
  c.model.lora.update(targets=ATTENTION_AND_CONVS, rank=8, alpha=8.0)
  c.data.update(name="fashion_mnist", preprocess=("scale_pm1",))
  c.train.update(batch_size=64, num_steps=1_000, log_every=50, ckpt_every=500,
                 sample_every=500, eval_every=0, eval_metrics=("loss",),
                 eval_num_examples=1_000)
  c.optim.update(lr=2e-3, schedule="cosine", warmup_steps=50, decay_steps=1_000,
                 end_lr_fraction=0.05, ema_decay=0.995, grad_clip=1.0)
  c.sample.update(sampler="ddim", steps=20, eta=1.0)
  c.eval.update(metrics=("loss", "fid_fashion_mnist", "kid_fashion_mnist"),
                batch_size=250, sample_batch_size=250)
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.lora.rank = 2
    c.sample.update(steps=5, inversion_fixed_point_iters=1)
    c.optim.update(warmup_steps=1, decay_steps=6)
    c.eval.metrics = ("loss", "fid_fashion_mnist")
  return c
