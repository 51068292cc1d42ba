"""Autoencoders: AE, denoising AE (Vincent et al. 2008) and VAE (Kingma & Welling 2014)."""
from genjax.families.autoencoder.family import make_family

__all__ = ["make_family"]
