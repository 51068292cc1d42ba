"""Models built on a trained denoiser run ``config.deps.base`` (ControlNet,
LoRA): the base's settings rebuilt from its own config.json (never restated)
with the consumer's sampling fields, its locked parameters, and the map
between images and what the denoiser diffuses (the images themselves for
pixel diffusion, the first stage's scaled latents for latent diffusion)."""
import dataclasses

from genjax.errors import ConfigError
from genjax.families.base import image_ops, pm1_to_unit, require_dependency
from genjax.families.diffusion import latent, samplers
from genjax.families.diffusion.settings import read_sampling, read_settings

DEP = "base"
MODELS = ("ddpm", "ldm")


def base_dependency(deps, user):
  """The ``config.deps.base`` Dependency, a denoiser run (ddpm or ldm)."""
  dep = require_dependency(deps, DEP, "diffusion", None, user)
  if dep.family.model not in MODELS:
    raise ConfigError(f"config.deps.{DEP}.workdir={dep.workdir} holds a diffusion/"
                      f"{dep.family.model} run; {user} needs a denoiser run "
                      f"(model.name one of {MODELS}).")
  return dep


def read_base(config, dep, user, backbones=("unet", "dit")):
  """(the base's Settings -- a latent base's LatentSettings -- with this
  config's sampling fields, the base's first stage Dependency or None)."""
  if dep.family.model != "ldm":
    settings = read_settings(dep.config)
    sampling = read_sampling(config, settings.timesteps, bool(settings.num_classes))
    return dataclasses.replace(settings, **sampling), None
  settings, first_stage = latent.read_latent_settings(dep.config, dep.deps)
  if settings.backbone not in backbones:
    raise ConfigError(f"config.deps.{DEP}.workdir={dep.workdir} has the "
                      f"{settings.backbone} backbone; {user} works on "
                      f"{' or '.join(backbones)} bases.")
  if settings.text:
    raise ConfigError(f"config.deps.{DEP}.workdir={dep.workdir} is text-conditional; "
                      f"{user} builds on class-conditional or unconditional denoisers "
                      "(a text base's encoder is not carried into its consumers yet).")
  sampling = read_sampling(config, settings.base.timesteps, settings.conditional)
  return dataclasses.replace(settings, base=dataclasses.replace(
      settings.base, **sampling)), first_stage


def check_image_ops(config, dep, user):
  """The ops writing 'image' must be the base's, so the images reach the
  denoiser (or its first stage) in the range it was trained on."""
  mine, theirs = image_ops(config.data.preprocess), image_ops(dep.config.data.preprocess)
  if mine != theirs:
    raise ConfigError(
        f"{user} feeds its images to the base at config.deps.{DEP}.workdir="
        f"{dep.workdir}, trained with {theirs} writing 'image'; this config has "
        f"{mine}. Set the ops that write 'image' in config.data.preprocess to {theirs}.")


def diffusion_settings(settings):
  """The denoiser's ``Settings`` of what read_base gives (a latent base's ``.base``)."""
  return getattr(settings, "base", settings)


def base_params(frozen):
  """The locked denoiser's parameters (its EMA by default: config.deps.base.params)."""
  return frozen[DEP]["trained"]["params"]


def to_latent(settings, first_stage, frozen, images, rng):
  """What the denoiser diffuses: the images ([-1, 1]) or their scaled latents."""
  if first_stage is None:
    return images
  return latent.encode(settings, first_stage, frozen[DEP]["deps"], images, rng)


def data_to_unit(first_stage):
  """Pictures in [0, 1] of the data's images: [-1, 1] for a pixel base, the
  first stage's own range ([0, 1]) for a latent one."""
  return pm1_to_unit if first_stage is None else (lambda x: x)


def to_images(settings, first_stage, frozen, z):
  """Pictures in [0, 1] of what the denoiser produced."""
  if first_stage is None:
    return pm1_to_unit(z)
  return latent.decode(settings, first_stage, frozen[DEP]["deps"], z)


def draw(settings, first_stage, sample_schedule, model_fn, rng, num, frozen):
  """``num`` pictures in [0, 1] from the configured sampler over ``model_fn``
  (x0 clipped to [-1, 1] only in pixel space)."""
  d = diffusion_settings(settings)
  z = samplers.sample(d.sampler, sample_schedule, model_fn, rng, (num,) + d.image_shape,
                      d.prediction, d.variance, d.eta, d.clip_x0 and first_stage is None)
  return to_images(settings, first_stage, frozen, z)
