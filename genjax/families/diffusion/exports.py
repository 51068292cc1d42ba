"""What a trained diffusion run offers consumer models (ControlNet, restoration,
classifier guidance): ``family.exports``, pure functions of ``(settings,
nets, bundle, ...)`` that ``family.make_family`` binds to ``f(bundle, ...)``.

``bundle["trained"]`` is ``base.trained_params``'s {"params", "model_state"}.
Every export reads parameters from the bundle alone. Shared conventions:
``x_t`` [B,H,W,C] is a noisy image of data in [-1, 1] (``scale_pm1``),
x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps; ``t`` int32 [B] in {0, ..., T-1}
indexes the training chain of T = ``model.timesteps`` steps (Ho et al.'s
t = 1..T), whose constants ``schedule`` gives.

The denoiser (``model.name='ddpm'``), unguided (neither classifier-free nor
classifier guidance is applied):
  denoise(bundle, x_t, t, labels=None)   the U-Net's prediction of its
        ``model.prediction`` target (eps, x0 or v), [B,H,W,C]; a learned
        variance's extra channels are left out (see ``log_variance``)
  eps(bundle, x_t, t, labels=None)       the eps-prediction whatever the target,
        derived with the schedule (Salimans & Ho 2022, appendix D)
  x0(bundle, x_t, t, labels=None)        the x0-prediction, unclipped
  log_variance(bundle, x_t, t, labels=None)   log sigma_t^2 of p(x_{t-1} | x_t)
        [B,H,W,C]: the schedule's for a fixed ``model.variance``, Nichol &
        Dhariwal's eq. 15 interpolation for a learned one
  schedule(bundle=None)                  the training chain's ``Schedule`` (no
        parameters needed)
``labels`` int32 [B] in {0..K-1} condition a class-conditional model (None, or
K, is its learned null class: the unconditional prediction); an
unconditional model ignores them.

The noisy classifier (``model.name='classifier'``):
  logits(bundle, x_t, t)                 [B, K] logits of p(y | x_t, t)
  log_prob(bundle, x_t, t, labels)       log p(y = labels | x_t, t), [B]
"""
import functools

import jax
import jax.numpy as jnp

from genjax.families.diffusion import ddpm, schedules


def trained_params_of(bundle):
  """The network's parameters in a consumer's bundle."""
  return bundle["trained"]["params"]


def denoiser_output(settings, nets, bundle, x_t, t, labels):
  """(prediction, v) of the U-Net at (x_t, t): v is None for a fixed variance."""
  return schedules.split_output(ddpm.network_output(
      settings, nets, trained_params_of(bundle), x_t, t, labels))


def denoise(settings, nets, bundle, x_t, t, labels=None):
  """The U-Net's prediction of ``settings.prediction``, [B,H,W,C]."""
  return denoiser_output(settings, nets, bundle, x_t, t, labels)[0]


def x0_and_eps(settings, nets, bundle, x_t, t, labels):
  """(x0, eps) predicted at (x_t, t) (Ho et al. 2020 eq. 15; Salimans & Ho
  2022 for v), unclipped."""
  prediction = denoise(settings, nets, bundle, x_t, t, labels)
  return schedules.predict_x0_eps(nets.schedule, settings.prediction, prediction, x_t, t)


def eps(settings, nets, bundle, x_t, t, labels=None):
  """The eps-prediction [B,H,W,C] whatever the network's target."""
  return x0_and_eps(settings, nets, bundle, x_t, t, labels)[1]


def x0(settings, nets, bundle, x_t, t, labels=None):
  """The x0-prediction [B,H,W,C] whatever the network's target (unclipped)."""
  return x0_and_eps(settings, nets, bundle, x_t, t, labels)[0]


def log_variance(settings, nets, bundle, x_t, t, labels=None):
  """log sigma_t^2 of the reverse step p(x_{t-1} | x_t), [B,H,W,C]; only a
  learned variance calls the network."""
  v = None
  if settings.variance == "learned":
    v = denoiser_output(settings, nets, bundle, x_t, t, labels)[1]
  return schedules.p_log_variance(nets.schedule, t, x_t, settings.variance, v)


def schedule(settings, nets, bundle=None):
  """The training chain's Schedule (T = model.timesteps steps, float32)."""
  del settings, bundle
  return nets.schedule


def logits(settings, nets, bundle, x_t, t):
  """The noisy classifier's logits [B, K] of p(y | x_t, t) (Dhariwal & Nichol 2021)."""
  del settings
  return nets.model.apply({"params": trained_params_of(bundle)}, x_t, t)


def log_prob(settings, nets, bundle, x_t, t, labels):
  """log p(y = labels | x_t, t) [B] under the classifier's softmax: the term
  whose gradient classifier guidance adds (Dhariwal & Nichol 2021, eq. 14)."""
  log_probs = jax.nn.log_softmax(logits(settings, nets, bundle, x_t, t), axis=-1)
  return jnp.take_along_axis(log_probs, jnp.asarray(labels)[:, None], axis=-1)[:, 0]


def bind_all(settings, nets, functions):
  """name -> f(bundle, ...): each of ``functions`` with its first two arguments bound."""
  return {fn.__name__: functools.partial(fn, settings, nets) for fn in functions}


def denoiser_exports(settings, nets):
  """``Family.exports`` of the denoiser."""
  return bind_all(settings, nets, (denoise, eps, x0, log_variance, schedule))


def classifier_exports(settings, nets):
  """``Family.exports`` of the noisy classifier."""
  return bind_all(settings, nets, (logits, log_prob))
