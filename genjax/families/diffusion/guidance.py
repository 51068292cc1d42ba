"""Classifier guidance: a trained noisy classifier (``model.name='classifier'``)
loaded from its workdir and checked against the denoiser it guides."""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from genjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Guide:
  num_classes: int
  log_prob: Callable[..., Any]   # (x_t, t, labels) -> [B] log p(y | x_t, t)
  step: int


def load_classifier(workdir, settings):
  """The classifier of ``workdir`` as a ``Guide`` for a denoiser with ``settings``."""
  from genjax.families.diffusion import family as fam
  from genjax.families.diffusion.classifier import NoisyClassifier
  from genjax.train.restore import load_run
  config, _, state, step = load_run(workdir, "classifier run (config.sample.classifier_workdir)")
  if config.get("family") != "diffusion" or config.model.get("name") != "classifier":
    raise ConfigError(
        f"config.sample.classifier_workdir={workdir!r} holds a "
        f"{config.get('family')!r}/{config.model.get('name')!r} run, not a diffusion "
        "noisy classifier (model.name='classifier').")
  cs = fam.read_settings(config)
  problems = []
  if cs.image_shape != settings.image_shape:
    problems.append(f"image shape {cs.image_shape} vs the model's {settings.image_shape}")
  if (cs.schedule, cs.timesteps) != (settings.schedule, settings.timesteps):
    problems.append(f"noise schedule {cs.schedule}/{cs.timesteps} vs the model's "
                    f"{settings.schedule}/{settings.timesteps}")
  if settings.num_classes and cs.num_classes != settings.num_classes:
    problems.append(f"{cs.num_classes} classes vs the model's {settings.num_classes}")
  if problems:
    raise ConfigError(
        f"The classifier in {workdir!r} does not fit this model: "
        f"{'; '.join(problems)}. Train a classifier with the same data, image "
        "shape, schedule and classes.")
  model = NoisyClassifier(**cs.unet, num_outputs=cs.num_classes)
  params = fam.eval_params(state, cs.use_ema)

  def log_prob(x, t, labels):
    logits = model.apply({"params": params}, x, t)
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]

  return Guide(cs.num_classes, log_prob, int(step))
