"""Defaults of the autoencoder family; experiments override a few fields."""
from genjax.config import base_config


def default_config():
  c = base_config()
  c.family = "autoencoder"
  c.model.update(dict(
      name="vae",                 # ae | dae | vae
      architecture="conv",        # mlp | conv
      image_shape=(28, 28, 1),
      latent_dim=32,
      hidden=(512, 256),          # MLP widths (encoder order; decoder mirrors)
      channels=(32, 64),          # conv widths per stride-2 stage
      activation="relu",
      likelihood="bernoulli",     # VAE: bernoulli | gaussian | discretized_logistic
      recon_loss="bce",           # AE/DAE: mse | bce
      beta=1.0,                   # weight of the KL term (beta-VAE)
      noise="gaussian",           # DAE: gaussian | masking
      noise_level=0.5,            # DAE: noise std or masked fraction
  ))
  # VAE: IWAE samples per example, and how many are decoded per step
  # (a divisor of iwae_k; 0: the largest divisor of iwae_k up to 50).
  c.eval.update(iwae_k=1000, iwae_chunk=100)
  return c
