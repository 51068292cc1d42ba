"""VQ-VAE (van den Oord et al. 2017) on dynamically binarised MNIST: 7x7 maps of K=512 codes.

  python launch.py --config experiments/autoencoder/vqvae_mnist.py --workdir runs/vqvae_mnist
  python launch.py --config experiments/autoencoder/vqvae_mnist.py --workdir runs/vqvae_mnist --mode eval

Smoke run (seconds): append ``:smoke`` to the config path. The codebook
variants of the codebook-health comparison: ``:loss`` (eq. 3's codebook term),
``:ema`` (the EMA codebook, appendix A.1) and the default, ``:restarts``
(EMA with dead-code restarts after 100 unused steps), which used every code
and reconstructed best of the three (docs/results.md).

Two 4x4 stride-2 convs to a 7x7 map, two residual blocks, a 1x1 conv to D=32;
nearest-code quantisation with the straight-through gradient; a Bernoulli
decoder (``recon_loss='bce'``), so the first stage has a likelihood and a
prior over its codes (``experiments/autoregressive/vq_prior_mnist.py``) gives
the whole model's bits/dim. The eval mode reports the reconstruction error,
PSNR, and the codes' perplexity and share in use over the test split.
Measured figures are in docs/results.md.
"""
from genjax.config import parse_arg, shrink_for_smoke
from genjax.families.autoencoder.config import default_config

VARIANTS = ("loss", "ema", "restarts")


def get_config(arg=None):
  arg = parse_arg(arg, VARIANTS)
  c = default_config()
  c.model.update(name="vqvae", architecture="conv", channels=(32, 64),
                 recon_loss="bce")
  c.model.vq.update(num_codes=512, code_dim=32, codebook="ema", commitment=0.25,
                    res_blocks=2, res_hidden=32, restart_after=100)
  if arg == "loss":
    c.model.vq.update(codebook="loss", restart_after=0)
  if arg == "ema":
    c.model.vq.restart_after = 0
  c.data.update(name="mnist", preprocess=["binarize_dynamic"])
  c.train.update(batch_size=128, num_steps=3_000, log_every=100, ckpt_every=1_000,
                 sample_every=1_000, eval_every=1_000,
                 eval_metrics=["recon", "psnr", "code_perplexity", "code_usage"],
                 eval_num_examples=2_000)
  c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=100, decay_steps=3_000,
                 end_lr_fraction=0.05, ema_decay=0.0)
  c.eval.update(metrics=["recon", "recon_mse", "psnr", "code_perplexity",
                         "code_usage"], batch_size=500)
  c.sample.num = 64
  if arg == "smoke":
    shrink_for_smoke(c)
    c.model.channels = (8, 16)
    c.model.vq.update(num_codes=16, code_dim=4, res_blocks=1, res_hidden=8,
                      restart_after=2)
    c.optim.update(decay_steps=6, warmup_steps=1)
    c.train.eval_metrics = ["recon", "code_usage"]
  return c
