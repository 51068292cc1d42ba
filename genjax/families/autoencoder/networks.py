"""The family's networks, and the encoder and decoder applied to parameters.

``Networks`` is what ``make_family`` builds from the settings; the functions
below are the model's two halves as pure functions of ``(nets, params, ...)``
(and of the settings where the model's kind changes what a code or an image
is). The networks themselves are in ``model.py``.
"""
import dataclasses

import flax.linen as nn
import jax
import optax

from genjax.core.optim import optimizer_from_config
from genjax.families.autoencoder import likelihoods, losses
from genjax.families.autoencoder.maps import make_vqvae
from genjax.families.autoencoder.model import make_model
from genjax.families.autoencoder.vqvae2 import make_vqvae2


@dataclasses.dataclass(frozen=True)
class Networks:
  """What make_family builds from the settings."""
  model: nn.Module              # model.{Autoencoder,VAE}, maps.VQVAE, vqvae2.VQVAE2
  optimizer: optax.GradientTransformation
  ema_decay: float              # decay of the parameters' EMA (0: a copy)


def build_networks(settings):
  """The model and the optimiser. A VAE's decoder emits the likelihood's
  ``num_params`` numbers per sub-pixel; an AE's, one logit."""
  optimizer, ema_decay = optimizer_from_config(settings.optim)
  if settings.name == "vqvae":
    return Networks(make_vqvae(settings.image_shape, settings.channels, settings.vq),
                    optimizer, ema_decay)
  if settings.name == "vqvae2":
    return Networks(make_vqvae2(settings.image_shape, settings.channels, settings.vq),
                    optimizer, ema_decay)
  per_channel = (likelihoods.num_params(settings.likelihood)
                 if settings.variational else 1)
  model = make_model(settings.name, settings.architecture, settings.image_shape,
                     settings.latent_dim, settings.image_shape[-1] * per_channel,
                     settings.hidden, settings.channels, settings.activation)
  return Networks(model, optimizer, ema_decay)


def encode(nets, params, images):
  """The encoder's output: the code z (AE), or (mean, logvar) of q(z|x) (VAE)."""
  return nets.model.apply({"params": params}, images, method="encode")


def decode(nets, params, codes):
  """The decoder's per-pixel outputs of codes [N, latent_dim]."""
  return nets.model.apply({"params": params}, codes, method="decode")


def code_of(settings, nets, params, images):
  """The deterministic code of images: the posterior mean for the VAE."""
  codes = encode(nets, params, images)
  return codes[0] if settings.variational else codes


def decoded_image(settings, nets, params, codes):
  """The images [N,H,W,C] in [0, 1] of codes: the likelihood's mean image for
  the VAE, sigmoid(logits) for an AE."""
  outputs = decode(nets, params, codes)
  if settings.variational:
    return likelihoods.mean_image(outputs, settings.likelihood)
  return jax.nn.sigmoid(outputs)


def log_likelihood(settings, nets, params, codes, images):
  """log p(x|z) of the VAE's decoder, summed per example: [N]."""
  return losses.sum_per_example(
      likelihoods.log_prob(decode(nets, params, codes), images, settings.likelihood))
