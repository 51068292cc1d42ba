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
"""
import functools

from genjax.families.autoencoder import networks


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
