"""What a trained autoencoder offers consumer models (latent diffusion, priors
over codes): ``family.exports``, pure functions of ``(settings, nets, bundle,
...)`` that ``make_family`` binds to ``f(bundle, ...)``.

``bundle["trained"]`` is ``base.trained_params``'s {"params", "model_state"};
every export reads the parameters from the bundle alone, so one jitted
consumer step serves any trained run of the same architecture. Images are
as the data pipeline leaves them for this family: [B,H,W,C] in [0, 1]
(``scale_01``, or binarised to {0, 1}).

  encode(bundle, images)   VAE: {"mean", "logvar"} of q(z|x), each [B, d];
                           AE / DAE: the code [B, d]
  code(bundle, images)     the deterministic code [B, d] of every model (the
                           posterior mean for the VAE)
  decode(bundle, latents)  latents [N, d] -> images [N,H,W,C] in [0, 1]: the
                           likelihood's mean image (VAE), sigmoid(logits) (AE)
  latent_shape(bundle=None)  (d,) = (model.latent_dim,): a Python tuple,
                           the same for every bundle of the run's config

The VQ-VAE's exports (code maps, not vectors) are listed above ``vq_exports``.
"""
import functools

import jax

from genjax.families.autoencoder import (losses, networks, vq2_evaluation, vq_evaluation,
                                         vqvae2)
from genjax.families.autoencoder.vq_steps import codebook_of


def trained_params_of(bundle):
  """The autoencoder's parameters in a consumer's bundle."""
  return bundle["trained"]["params"]


def encode(settings, nets, bundle, images):
  """The encoder's output for ``images`` [B,H,W,C] in [0, 1]: for the VAE the
  parameters of q(z|x) = N(mean, exp(logvar)) (Kingma & Welling 2014, eq. 9)
  as {"mean", "logvar"}, each [B, d]; for an AE or DAE its code [B, d]."""
  outputs = networks.encode(nets, trained_params_of(bundle), images)
  if settings.variational:
    mean, logvar = outputs
    return {"mean": mean, "logvar": logvar}
  return outputs


def code(settings, nets, bundle, images):
  """The deterministic code [B, d] of ``images``: the VAE's posterior mean, an
  AE's code (what the family's grids and reconstructions decode)."""
  return networks.code_of(settings, nets, trained_params_of(bundle), images)


def decode(settings, nets, bundle, latents):
  """Images [N,H,W,C] in [0, 1] of ``latents`` [N, d]: E[x | z] under the VAE's
  likelihood (clipped to [0, 1]), sigmoid of an AE's logits."""
  return networks.decoded_image(settings, nets, trained_params_of(bundle), latents)


def latent_shape(settings, nets, bundle=None):
  """The shape of one code, (model.latent_dim,); needs no parameters."""
  del nets, bundle
  return (settings.latent_dim,)


def family_exports(settings, nets):
  """``Family.exports``: name -> f(bundle, ...), the functions above bound."""
  bind = lambda fn: functools.partial(fn, settings, nets)
  return {"encode": bind(encode), "code": bind(code), "decode": bind(decode),
          "latent_shape": bind(latent_shape)}


# -- VQ-VAE ---------------------------------------------------------------
# encode(bundle, images)    z_e [B,h,w,D], the encoder's map before quantising
# code(bundle, images)      the nearest codes, int32 [B,h,w]
# embed(bundle, codes)      z_q [N,h,w,D], the codebook vectors of code maps
# decode(bundle, codes)     code maps int [N,h,w] -> images [N,H,W,C] in [0, 1]
# log_likelihood(bundle, codes, images)   log p(x | z_q) [N] nats of binary
#                           images (model.recon_loss='bce': a Bernoulli decoder)
# latent_shape(), num_codes()   (h, w) and K: Python values of the config


def vq_model_state(bundle):
  return bundle["trained"]["model_state"]


def vq_encode(settings, nets, bundle, images):
  return vq_evaluation.encode_map(nets, trained_params_of(bundle), images)


def vq_code(settings, nets, bundle, images):
  return vq_evaluation.codes_of(settings, nets, trained_params_of(bundle),
                                vq_model_state(bundle), images)


def vq_embed(settings, nets, bundle, codes):
  return codebook_of(settings.vq, trained_params_of(bundle), vq_model_state(bundle))[codes]


def vq_decode(settings, nets, bundle, codes):
  return jax.nn.sigmoid(vq_evaluation.logits_of_codes(
      settings, nets, trained_params_of(bundle), vq_model_state(bundle), codes))


def vq_log_likelihood(settings, nets, bundle, codes, images):
  """log p(x | z_q) of binary images under the Bernoulli decoder, [N] nats."""
  check_bernoulli(settings)
  logits = vq_evaluation.logits_of_codes(settings, nets, trained_params_of(bundle),
                                         vq_model_state(bundle), codes)
  return -losses.reconstruction_loss(logits, images, "bce")


def check_bernoulli(settings):
  """ValueError unless the decoder is a Bernoulli likelihood of the images."""
  if settings.recon_loss != "bce":
    raise ValueError(
        f"log_likelihood needs a VQ-VAE with a Bernoulli decoder (model.recon_loss="
        f"'bce' on binarised images); this one has recon_loss={settings.recon_loss!r}, "
        "whose squared error is no likelihood of the images.")


def vq_exports(settings, nets):
  """``Family.exports`` of a VQ-VAE: the functions above bound."""
  return code_map_exports(settings, nets, (vq_encode, vq_code, vq_embed, vq_decode,
                                           vq_log_likelihood),
                          vq_evaluation.latent_map_shape(settings))


def code_map_exports(settings, nets, functions, latent_shape):
  """The exports of a model of code maps: ``functions`` (encode, code, embed,
  decode, log_likelihood) bound, and its Python ``latent_shape`` and K."""
  bound = [functools.partial(fn, settings, nets) for fn in functions]
  return {**dict(zip(("encode", "code", "embed", "decode", "log_likelihood"), bound)),
          "latent_shape": lambda bundle=None: latent_shape,
          "num_codes": lambda bundle=None: settings.vq.num_codes}


# -- VQ-VAE-2 -------------------------------------------------------------
# The VQ-VAE's exports with every map a dict {"top": ..., "bottom": ...}:
# encode -> z_e maps, code -> int32 code maps, embed(codes) -> z_q maps,
# decode(codes) -> images, log_likelihood(codes, images) (bce only),
# latent_shape() -> {"top": (ht, wt), "bottom": (hb, wb)}, num_codes() -> K.


def vq2_encode(settings, nets, bundle, images):
  levels = vqvae2.quantized_levels(settings, nets, trained_params_of(bundle),
                                   vq_model_state(bundle), images)
  return {level: levels[level].z_e for level in vqvae2.LEVELS}


def vq2_code(settings, nets, bundle, images):
  return vq2_evaluation.codes_of(settings, nets, trained_params_of(bundle),
                                 vq_model_state(bundle), images)


def vq2_embed(settings, nets, bundle, codes):
  return vq2_evaluation.embed(settings, trained_params_of(bundle),
                              vq_model_state(bundle), codes)


def vq2_logits(settings, nets, bundle, codes):
  return vq2_evaluation.logits_of_codes(settings, nets, trained_params_of(bundle),
                                        vq_model_state(bundle), codes)


def vq2_decode(settings, nets, bundle, codes):
  return jax.nn.sigmoid(vq2_logits(settings, nets, bundle, codes))


def vq2_log_likelihood(settings, nets, bundle, codes, images):
  """log p(x | z_q^top, z_q^bottom) [N] nats under the Bernoulli decoder."""
  check_bernoulli(settings)
  return -losses.reconstruction_loss(vq2_logits(settings, nets, bundle, codes), images,
                                     "bce")


def vq2_exports(settings, nets):
  """``Family.exports`` of a VQ-VAE-2: the functions above bound."""
  return code_map_exports(settings, nets, (vq2_encode, vq2_code, vq2_embed, vq2_decode,
                                           vq2_log_likelihood),
                          vq2_evaluation.code_map_shapes(settings))
