"""VQ-VAE-2 (Razavi et al. 2019) on Fashion-MNIST in [0, 1]: a 7x7 top and a 14x14 bottom map of K=512 codes each.

  python launch.py --config experiments/autoencoder/vqvae2_fashion_mnist.py --workdir runs/vqvae2_fashion_mnist
  python launch.py --config experiments/autoencoder/vqvae2_fashion_mnist.py --workdir runs/vqvae2_fashion_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path.

Two levels (vqvae2.py, fig. 2a of the paper): one 4x4 stride-2 conv to a
14x14 bottom feature map, one more to the 7x7 top map; the bottom map is
quantised after seeing the decoded top codes, and the decoder reads both.
Each level has an EMA codebook of 512 codes of dimension 32 with dead-code
restarts (vqvae_mnist's best variant); squared error on grey images, so the
PSNR is the figure to read. The eval mode reports the PSNR from both maps
and from each map alone (the other zeroed: what each level carries, fig. 3),
and each level's code perplexity and share in use over the test split. A
two-level prior over its codes: experiments/autoregressive/vq2_prior_fashion_mnist.py.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config


def get_config(arg=None):
  arg = parse_arg(arg)
  c = default_config()
  c.model.update(name="vqvae2", architecture="conv", channels=(64,), recon_loss="mse")
  c.model.vq.update(num_codes=512, code_dim=32, codebook="ema", commitment=0.25,
                    res_blocks=2, res_hidden=32, restart_after=100)
  c.data.update(name="fashion_mnist", preprocess=["scale_01"])
  c.train.update(batch_size=64, num_steps=3_000, log_every=100, ckpt_every=1_000,
                 sample_every=1_000, eval_every=1_000,
                 eval_metrics=["psnr", "psnr_top", "code_usage_top",
                               "code_usage_bottom"],
                 eval_num_examples=2_000)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=100, decay_steps=3_000,
                 end_lr_fraction=0.05, ema_decay=0.0)
  c.eval.update(metrics=["recon", "recon_mse", "psnr", "psnr_top", "psnr_bottom",
                         "code_perplexity_top", "code_usage_top",
                         "code_perplexity_bottom", "code_usage_bottom"],
                batch_size=500)
  c.sample.num = 64
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.channels = (8,)
    c.model.vq.update(num_codes=16, code_dim=4, res_blocks=1, res_hidden=8,
                      restart_after=2)
    c.optim.update(decay_steps=6, warmup_steps=1)
    c.train.eval_metrics = ["psnr", "code_usage_top"]
  return c
