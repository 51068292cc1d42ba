"""The diffusion family: DDPM/DDIM with classifier-free and classifier guidance.

Config read (defaults: ``config.py`` here and ``genjax/config.py``; read once
by ``settings.read_settings``), ``config.model`` unless said otherwise:
  name          'ddpm' (the denoiser) | 'classifier' (the time-conditioned noisy
                classifier of classifier guidance, Dhariwal & Nichol 2021) |
                'guided' (a denoiser run steered by a classifier run, both
                named in config.deps.{denoiser,classifier}: guidance.py) |
                'ldm' (latent diffusion over the frozen first stage
                config.deps.first_stage, model.ldm: latent.py) |
                'controlnet' (a ControlNet over the locked denoiser run
                config.deps.base, model.control: control.py) |
                'multi_controlnet' (trained ControlNet runs of one base summed
                at sampling time: multicontrol.py) | 'lora'
                (low-rank adapters of the locked denoiser run config.deps.base,
                model.lora: lora.py) | 'sr3' (super-resolution conditioned on
                a low-resolution copy, model.sr3: sr3.py)
  image_shape, ch, ch_mult, num_res_blocks, attn_resolutions, dropout,
  num_heads     the U-Net (unet.py)
  num_classes   0: unconditional; K > 0: labels embedded, with a learned null
                class K; training replaces a label by null with probability
                ``label_dropout`` (Ho & Salimans 2022)
  schedule, timesteps, prediction ('eps' | 'x0' | 'v'), loss ('simple' |
  'hybrid'), variance ('fixed_large' | 'fixed_small' | 'learned' with the
  hybrid loss), clip_x0
  config.sample sampler ('ddpm' | 'ddim'), steps (a respaced subsequence),
                eta, guidance_weight (CFG w), classifier_scale (classifier
                guidance, model.name='guided'),
                inversion_fixed_point_iters, use_ema
  config.optim  the optimiser and the EMA decay
Data are 8-bit images mapped to [-1, 1] (``scale_pm1``); samples come back in
[0, 1]. Every sampler runs as one ``fori_loop`` inside the loop's jit.

``make_family`` reads the settings, builds the networks and binds the
top-level functions of ``ddpm.py`` (the denoiser) or ``classifier.py`` (the
noisy classifier) into the Family.
"""
import functools

import jax.numpy as jnp

from genjax.config import require
from genjax.core.precision import read_compute_dtype
from genjax.core.step import make_train_step
from genjax.families.base import Family, pm1_to_unit
from genjax.families.diffusion import classifier, ddpm, guidance
from genjax.families.diffusion import control, exports, latent, lora, multicontrol
from genjax.families.diffusion import restore
from genjax.families.diffusion import sr3
from genjax.families.diffusion.settings import (  # noqa: F401
    Settings, guided_settings, read_settings)


def make_family(config, deps=None):
  """The family of ``config``; ``deps``: the resolved ``config.deps`` (the
  guided model's denoiser and classifier runs)."""
  if require(config, "model.name") == "ldm":
    return latent.make_ldm_family(config, deps)
  if require(config, "model.name") == "controlnet":
    return control.make_controlnet_family(config, deps)
  if require(config, "model.name") == "multi_controlnet":
    return multicontrol.make_multi_family(config, deps)
  if require(config, "model.name") == "lora":
    return lora.make_lora_family(config, deps)
  if require(config, "model.name") == "sr3":
    return sr3.make_sr3_family(config, deps)
  if require(config, "model.name") == "restore":
    return restore.make_restore_family(config, deps)
  settings = read_settings(config)
  dtype = read_compute_dtype(config)
  if settings.name == "classifier":
    return classifier_family(settings, dtype)
  if settings.name == "guided":
    return guided_family(config, deps)
  nets = ddpm.build_networks(settings)
  bind = lambda f: functools.partial(f, settings, nets)
  return Family(
      family="diffusion", model="ddpm", init=bind(ddpm.init),
      train_step=make_train_step(bind(ddpm.loss_fn), nets.optimizer, nets.ema_decay,
                                 compute_dtype=dtype),
      eval_metrics={"loss": bind(ddpm.eval_loss), "bpd": bind(ddpm.eval_bpd)},
      sample=bind(ddpm.sample), image_grids=bind(ddpm.image_grids),
      data_to_unit=pm1_to_unit,
      num_classes=ddpm.sampled_classes(settings, nets) or None,
      exports=exports.denoiser_exports(settings, nets))


def guided_sample(settings, nets, state, rng, num, cond, frozen):
  """Samples of the denoiser run steered by the classifier run (their bundles
  in ``frozen``); the guided model's own state is empty."""
  del state
  return ddpm.sample(settings, nets, guidance.denoiser_state(frozen["denoiser"]),
                     rng, num, cond, guide_bundle=frozen["classifier"])


def guided_family(config, deps):
  """Classifier guidance (Dhariwal & Nichol 2021, Alg. 2): a denoiser run and
  a classifier run joined at sampling time; nothing trains."""
  denoiser = guidance.denoiser_dependency(deps)
  settings = guided_settings(config, denoiser.config)
  nets = ddpm.build_networks(settings, guidance.classifier_guide(deps, settings))
  return Family(
      family="diffusion", model="guided", init=guidance.init, train_step=None,
      eval_metrics={}, sample=functools.partial(guided_sample, settings, nets),
      image_grids=None, data_to_unit=pm1_to_unit,
      num_classes=ddpm.sampled_classes(settings, nets) or None,
      deps=("classifier", "denoiser"), trains=False)


def classifier_family(settings, dtype=jnp.float32):
  """The noisy classifier p(y | x_t, t) of classifier guidance (its own
  experiment); ``dtype``: the train step's compute dtype."""
  nets = classifier.build_networks(settings)
  bind = lambda f: functools.partial(f, settings, nets)
  return Family(
      family="diffusion", model="classifier", init=bind(classifier.init),
      train_step=make_train_step(bind(classifier.loss_fn), nets.optimizer,
                                 nets.ema_decay, compute_dtype=dtype),
      eval_metrics={"loss": bind(classifier.eval_cross_entropy),
                    "accuracy": bind(classifier.eval_accuracy)},
      sample=None, image_grids=None, data_to_unit=pm1_to_unit, num_classes=None,
      exports=exports.classifier_exports(settings, nets))
