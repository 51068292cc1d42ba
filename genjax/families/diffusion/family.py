"""The diffusion family: DDPM/DDIM with classifier-free and classifier guidance.

Config read (defaults: ``config.py`` here and ``genjax/config.py``; read once
by ``settings.read_settings``), ``config.model`` unless said otherwise:
  name          'ddpm' (the denoiser) | 'classifier' (the time-conditioned noisy
                classifier of classifier guidance, Dhariwal & Nichol 2021)
  image_shape, ch, ch_mult, num_res_blocks, attn_resolutions, dropout,
  num_heads     the U-Net (unet.py)
  num_classes   0: unconditional; K > 0: labels embedded, with a learned null
                class K; training replaces a label by null with probability
                ``label_dropout`` (Ho & Salimans 2022)
  schedule, timesteps, prediction ('eps' | 'x0' | 'v'), loss ('simple' |
  'hybrid'), variance ('fixed_large' | 'fixed_small' | 'learned' with the
  hybrid loss), clip_x0
  config.sample sampler ('ddpm' | 'ddim'), steps (a respaced subsequence),
                eta, guidance_weight (CFG w), classifier_workdir and
                classifier_scale (classifier guidance),
                inversion_fixed_point_iters, use_ema
  config.optim  the optimiser and the EMA decay
Data are 8-bit images mapped to [-1, 1] (``scale_pm1``); samples come back in
[0, 1]. Every sampler runs as one ``fori_loop`` inside the loop's jit.

``make_family`` reads the settings, builds the networks and binds the
top-level functions of ``ddpm.py`` (the denoiser) or ``classifier.py`` (the
noisy classifier) into the Family.
"""
import functools

from genjax.core.step import make_train_step
from genjax.families.base import Family, pm1_to_unit
from genjax.families.diffusion import classifier, ddpm, guidance
from genjax.families.diffusion.settings import Settings, read_settings  # noqa: F401


def make_family(config, runs=None):
  """The family of ``config``; ``runs``: the trainer's loader of other runs
  (classifier guidance loads its classifier run with it)."""
  settings = read_settings(config)
  if settings.name == "classifier":
    return classifier_family(settings)
  guide = None
  if settings.classifier_workdir:
    guide = guidance.load_classifier(settings.classifier_workdir, settings, runs)
  nets = ddpm.build_networks(settings, guide)
  bind = lambda f: functools.partial(f, settings, nets)
  return Family(
      family="diffusion", model="ddpm", init=bind(ddpm.init),
      train_step=make_train_step(bind(ddpm.loss_fn), nets.optimizer, nets.ema_decay),
      eval_metrics={"loss": bind(ddpm.eval_loss), "bpd": bind(ddpm.eval_bpd)},
      sample=bind(ddpm.sample), image_grids=bind(ddpm.image_grids),
      data_to_unit=pm1_to_unit,
      num_classes=ddpm.sampled_classes(settings, nets) or None)


def classifier_family(settings):
  """The noisy classifier p(y | x_t, t) of classifier guidance (its own experiment)."""
  nets = classifier.build_networks(settings)
  bind = lambda f: functools.partial(f, settings, nets)
  return Family(
      family="diffusion", model="classifier", init=bind(classifier.init),
      train_step=make_train_step(bind(classifier.loss_fn), nets.optimizer,
                                 nets.ema_decay),
      eval_metrics={"loss": bind(classifier.eval_cross_entropy),
                    "accuracy": bind(classifier.eval_accuracy)},
      sample=None, image_grids=None, data_to_unit=pm1_to_unit, num_classes=None)
