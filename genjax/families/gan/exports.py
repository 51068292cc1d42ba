"""What a trained GAN offers consumer models: ``family.trained`` (the bundle's
parameters) and ``family.exports``, pure functions of ``(settings, nets,
...)`` that ``make_family`` binds.

``trained(state, use_ema)`` -> {"g_params", "g_stats", "d_params", "d_stats"}:
G's EMA parameters with their standing BatchNorm statistics (sampling.py)
when ``use_ema`` (and an EMA is kept), else the raw G's parameters and
statistics; D's parameters and statistics (BatchNorm, spectral-norm u / sigma).
No optimiser state and no ADA state.

  generate(bundle, z, labels=None)   z [N, z_dim] -> images [N,H,W,C] in [0, 1]
                                     (G in evaluation mode; family.sample is
                                     this at its truncated z ~ N(0, I))
  discriminate(bundle, images, labels=None)   images [B,H,W,C] in [-1, 1] (as
                                     ``scale_pm1`` leaves data) -> D's logits [B]
                                     (evaluation mode, statistics not updated)
  z_dim(bundle=None)                 model.z_dim, a Python int
``labels`` (int32 [N]) are needed by a class-conditional model and ignored
by an unconditional one.
"""
import functools

from genjax.families.gan import evaluation, sampling


def trained(settings, nets, state, use_ema=True):
  """``bundle["trained"]`` of a GANState: both players' parameters and
  statistics, G's EMA (with standing statistics) when ``use_ema``."""
  g_params, g_stats = sampling.trained_generator(settings, nets, state, use_ema)
  return {"g_params": g_params, "g_stats": g_stats, "d_params": state.d_params,
          "d_stats": state.d_stats}


def conditioning(settings, labels, export):
  """The labels a network takes: ``labels`` for a conditional model (an error
  without them), None for an unconditional one."""
  if not settings.num_classes:
    return None
  if labels is None:
    raise ValueError(
        f"GAN export {export!r} of a class-conditional model (model.num_classes="
        f"{settings.num_classes}) needs labels: {export}(bundle, inputs, labels).")
  return labels


def generate(settings, nets, bundle, z, labels=None):
  """G's images [N,H,W,C] in [0, 1] of latents ``z`` [N, z_dim] (+ labels)."""
  params = bundle["trained"]
  return sampling.generator_images(nets, params["g_params"], params["g_stats"], z,
                                   conditioning(settings, labels, "generate"))


def discriminate(settings, nets, bundle, images, labels=None):
  """D's logits [B] of ``images`` [B,H,W,C] in [-1, 1] (+ labels)."""
  params = bundle["trained"]
  return evaluation.critic_logits(nets, params["d_params"], params["d_stats"], images,
                                  conditioning(settings, labels, "discriminate"))


def z_dim(settings, nets, bundle=None):
  """The latent size G takes, model.z_dim; needs no parameters."""
  del nets, bundle
  return settings.z_dim


def family_exports(settings, nets):
  """``Family.exports``: name -> f(bundle, ...), the functions above bound."""
  bind = lambda fn: functools.partial(fn, settings, nets)
  return {"generate": bind(generate), "discriminate": bind(discriminate),
          "z_dim": bind(z_dim)}
