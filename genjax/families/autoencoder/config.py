"""Defaults of the autoencoder family; experiments override a few fields."""
import ml_collections

from genjax.config import base_config


def default_config():
  c = base_config()
  c.family = "autoencoder"
  c.model.update(dict(
      name="vae",                 # ae | dae | vae | vqvae | vqvae2 | klae
      architecture="conv",        # mlp | conv
      image_shape=(28, 28, 1),
      latent_dim=32,
      hidden=(512, 256),          # MLP widths (encoder order; decoder mirrors)
      channels=(32, 64),          # conv widths per stride-2 stage
      activation="relu",
      likelihood="bernoulli",     # VAE: bernoulli | gaussian | discretized_logistic
      recon_loss="bce",           # AE/DAE/VQ-VAE: mse | bce
      beta=1.0,                   # weight of the KL term (beta-VAE)
      noise="gaussian",           # DAE: gaussian | masking
      noise_level=0.5,            # DAE: noise std or masked fraction
  ))
  # VQ-VAE (model.name='vqvae', quantize.py; each level of 'vqvae2'): K codes
  # of dimension D, 4x4 stride-2 stages of model.channels, then residual
  # blocks (maps.py).
  c.model.vq = ml_collections.ConfigDict(dict(
      num_codes=512,              # K
      code_dim=64,                # D
      codebook="ema",             # loss (eq. 3's codebook term) | ema (appendix A.1)
      commitment=0.25,            # beta of eq. 3
      decay=0.99,                 # the EMA codebook's decay
      restart_after=0,            # > 0: re-seed codes unused for this many steps (EMA)
      res_blocks=2,               # residual blocks after the strided stages
      res_hidden=32,              # their 3x3 convs' width
  ))
  # KL autoencoder (model.name='klae'): klae.py. Defaults: LDM's KL-f4
  # (Rombach et al. 2022, Appendix G) with taming's PatchGAN and loss.
  c.model.klae = ml_collections.ConfigDict(dict(
      downsample=4,               # f: latents are [H/f, W/f, latent_channels]
      latent_channels=3,          # c
      ch=128,                     # base width; level i has ch * ch_mult[i]
      ch_mult=(1, 2, 4),          # log2(f) + 1 levels
      num_res_blocks=2,           # per level (the decoder has one more)
      mid_attention=True,         # self-attention in the middle
      recon_loss="l1",            # l1 | l2 | l1+l2 (summed over pixels)
      kl_weight=1e-6,
      disc_weight=0.5,            # times the adaptive weight (Esser et al. eq. 7)
      disc_start=50_001,          # adversarial terms are 0 before this step
      disc_layers=3,              # the PatchGAN's stride-2 4x4 convs
      disc_channels=64,           # its first width (ndf)
      stats_decay=0.99,           # EMA of the latents' moments (latent_stats)
  ))
  # VAE: IWAE samples per example, and how many are decoded per step
  # (a divisor of iwae_k; 0: the largest divisor of iwae_k up to 50).
  c.eval.update(iwae_k=1000, iwae_chunk=100)
  return c
