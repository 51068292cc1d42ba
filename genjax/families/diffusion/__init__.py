"""Diffusion models (DDPM, improved DDPM, DDIM, guidance): the maths as pure functions."""
