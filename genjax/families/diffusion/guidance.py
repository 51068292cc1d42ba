"""Classifier guidance: a trained noisy classifier (``model.name='classifier'``)
loaded from its workdir and checked against the denoiser it guides.

The run is loaded by the ``runs`` loader the trainer hands to ``make_family``
(``genjax.train.restore.load_run``), so this family never imports the trainer.
"""
import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from genjax.core.state import eval_params
from genjax.errors import ConfigError
from genjax.families.diffusion.classifier import NoisyClassifier
from genjax.families.diffusion.settings import read_settings


@dataclasses.dataclass(frozen=True)
class Guide:
  num_classes: int
  log_prob: Callable[..., Any]   # (x_t, t, labels) -> [B] log p(y | x_t, t)
  step: int                      # the classifier run's checkpoint step


def classifier_log_prob(model, params, x, t, labels):
  """log p(y = labels | x_t, t) under the classifier's softmax, [B]."""
  logits = model.apply({"params": params}, x, t)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]


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


def load_classifier(workdir, settings, runs):
  """The classifier of ``workdir`` as a ``Guide`` for a denoiser with ``settings``.

  ``runs(workdir, what) -> (config, family, state, step)`` is the trainer's
  loader of other runs (None when the family was built without one).
  """
  if runs is None:
    raise ConfigError(
        f"config.sample.classifier_workdir={workdir!r}: classifier guidance loads "
        "another run and needs the trainer's loader of runs. Build the family with "
        "genjax.registry.make_family(config, runs=genjax.train.restore.load_run), "
        "as launch.py does.")
  config, _, state, step = runs(workdir, "classifier run (config.sample.classifier_workdir)")
  if config.get("family") != "diffusion" or config.model.get("name") != "classifier":
    raise ConfigError(
        f"config.sample.classifier_workdir={workdir!r} holds a "
        f"{config.get('family')!r}/{config.model.get('name')!r} run, not a diffusion "
        "noisy classifier (model.name='classifier').")
  classifier_settings = read_settings(config)
  problems = misfits(classifier_settings, settings)
  if problems:
    raise ConfigError(
        f"The classifier in {workdir!r} does not fit this model: "
        f"{'; '.join(problems)}. Train a classifier with the same data, image "
        "shape, schedule and classes.")
  model = NoisyClassifier(**classifier_settings.unet,
                          num_outputs=classifier_settings.num_classes)
  params = eval_params(state, classifier_settings.use_ema)
  return Guide(classifier_settings.num_classes,
               functools.partial(classifier_log_prob, model, params), int(step))
