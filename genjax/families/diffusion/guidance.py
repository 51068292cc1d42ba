"""Classifier guidance (Dhariwal & Nichol 2021, Algorithm 2) as a model built
on two trained runs: ``model.name='guided'`` joins a denoiser run
(``config.deps.denoiser``, model 'ddpm') and a noisy-classifier run
(``config.deps.classifier``, model 'classifier').

Nothing here is trained: the denoiser's architecture and schedule come from
its own config (never restated), the classifier is reached only through its
exported ``log_prob``, and both runs' parameters arrive at sampling time as
the ``frozen`` bundles the trainer passes (a jit argument).
"""
import dataclasses
from typing import Any, Callable

import jax.numpy as jnp

from genjax.core.state import TrainState
from genjax.errors import ConfigError
from genjax.families.base import require_dependency
from genjax.families.diffusion.settings import read_settings

USER = "classifier guidance (model.name='guided')"


@dataclasses.dataclass(frozen=True)
class Guide:
  num_classes: int
  log_prob: Callable[..., Any]   # (bundle, x_t, t, labels) -> [B] log p(y | x_t, t)


def misfits(classifier_settings, settings):
  """How a classifier's Settings disagree with the denoiser's (empty: it fits)."""
  problems = []
  if classifier_settings.image_shape != settings.image_shape:
    problems.append(f"image shape {classifier_settings.image_shape} vs the model's "
                    f"{settings.image_shape}")
  if ((classifier_settings.schedule, classifier_settings.timesteps)
      != (settings.schedule, settings.timesteps)):
    problems.append(f"noise schedule {classifier_settings.schedule}/"
                    f"{classifier_settings.timesteps} vs the model's "
                    f"{settings.schedule}/{settings.timesteps}")
  if settings.num_classes and classifier_settings.num_classes != settings.num_classes:
    problems.append(f"{classifier_settings.num_classes} classes vs the model's "
                    f"{settings.num_classes}")
  return problems


def denoiser_dependency(deps):
  return require_dependency(deps, "denoiser", "diffusion", "ddpm", USER)


def classifier_guide(deps, settings):
  """The ``Guide`` of ``config.deps.classifier`` for a denoiser with ``settings``."""
  dep = require_dependency(deps, "classifier", "diffusion", "classifier", USER)
  classifier_settings = read_settings(dep.config)
  problems = misfits(classifier_settings, settings)
  if problems:
    raise ConfigError(
        f"The classifier in {dep.workdir} does not fit the denoiser in "
        f"{deps['denoiser'].workdir}: {'; '.join(problems)}. Train a classifier "
        "with the same data, image shape, schedule and classes.")
  return Guide(classifier_settings.num_classes, dep.family.exports["log_prob"])


def init(rng, example_batch, frozen):
  """The guided model's state: nothing of its own (an empty parameter tree)."""
  del example_batch, frozen
  return TrainState(step=jnp.zeros((), jnp.int32), params={}, opt_state=(),
                    ema_params=None, rng=jnp.asarray(rng, jnp.uint32))


def denoiser_state(bundle):
  """The denoiser run's bundle as the state the ddpm samplers read."""
  trained = bundle["trained"]
  return TrainState(step=jnp.zeros((), jnp.int32), params=trained["params"],
                    opt_state=(), ema_params=None,
                    rng=jnp.zeros((2,), jnp.uint32), model_state=trained["model_state"])
