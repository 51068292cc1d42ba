"""Likelihood units shared by every likelihood family (AE/VAE, autoregressive,
diffusion): nats per image, bits per dimension, and the change of variables
between a density on rescaled 8-bit data and the discrete 8-bit likelihood.

For 8-bit data mapped to a continuous interval by x = a*u + b (u in 0..255),
a density p on x with uniform dequantisation over bins of width a gives
-log P(u) <= -log p(x) - D log a (Theis et al. 2016, sec. 3.1; the convention
of RealNVP, PixelCNN++ and DDPM's bits/dim).
"""
import math

LN2 = math.log(2.0)


def bits_per_dim(nats, num_dims):
  """Negative log-likelihood per image in nats -> bits per dimension."""
  return nats / (num_dims * LN2)


def nats_from_bits_per_dim(bpd, num_dims):
  """Bits per dimension -> negative log-likelihood per image in nats."""
  return bpd * num_dims * LN2


def discrete_nll_from_density(nll_continuous, num_dims, bin_width):
  """Nats of the 8-bit image from the density's NLL on rescaled data.

  ``bin_width`` is a in x = a*u + b: 1/256 for data in [0,1] dequantised as
  (u + noise)/256, 2/256 for [-1,1].
  """
  return nll_continuous - num_dims * math.log(bin_width)
