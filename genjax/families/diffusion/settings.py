"""The diffusion family's Settings: the one place a config becomes plain values.

Every field is read with ``genjax.config.require`` (no fallbacks): the
defaults live in ``genjax/families/diffusion/config.py`` and
``genjax/config.py``, and a config missing a field is a ConfigError naming
them. ``family.py`` (the denoiser and the classifier) and ``guidance.py``
(which checks a classifier run against the denoiser it guides) both read
configs through ``read_settings``.
"""
import dataclasses
import math
from typing import Any, Dict, Tuple

from genjax.config import read_grid_rows, require
from genjax.core.precision import read_remat
from genjax.errors import ConfigError, check_choice
from genjax.families.diffusion import dit, samplers
from genjax.families.diffusion import schedules
from genjax.families.diffusion.unet import REMAT_KINDS, check_image_size

NAMES = ("ddpm", "classifier", "guided", "ldm", "sr3")


@dataclasses.dataclass(frozen=True)
class Settings:
  """The validated plain values of a diffusion config."""
  name: str                     # 'ddpm' (the denoiser) | 'classifier' (noisy
                                # classifier) | 'guided' (a denoiser run steered
                                # by a classifier run: config.deps)
  image_shape: Tuple[int, int, int]
  unet: Dict[str, Any]          # the U-Net's (and the classifier's encoder's) fields
  num_classes: int              # 0: unconditional; K: labels 0..K-1 and the null class K
  label_dropout: float          # P(label -> null) in training (classifier-free guidance)
  schedule: str                 # the noise schedule's name: linear | cosine
  timesteps: int                # T of the training chain
  prediction: str               # eps | x0 | v
  loss: str                     # simple | hybrid
  variance: str                 # fixed_large | fixed_small | learned
  clip_x0: bool
  sampler: str                  # ddpm | ddim
  steps: int                    # sampling steps (a respaced subsequence of the T)
  eta: float
  guidance_weight: float        # classifier-free guidance w
  classifier_scale: float       # s of classifier guidance (model.name='guided')
  fixed_point_iters: int        # of DDIM inversion (the image grids)
  grid_rows: int                # rows of the inversion / interpolation grids
  use_ema: bool
  optim: Dict[str, Any]         # config.optim, for optimizer_from_config
  remat: Tuple[str, ...]        # the U-Net's rematerialised block kinds (config.model.remat)

  @property
  def num_dims(self):
    return math.prod(self.image_shape)


def read_unet(config):
  """The U-Net fields of ``config.model`` as the module's keyword arguments."""
  return dict(ch=int(require(config, "model.ch")),
              ch_mult=tuple(require(config, "model.ch_mult")),
              num_res_blocks=int(require(config, "model.num_res_blocks")),
              attn_resolutions=tuple(require(config, "model.attn_resolutions")),
              dropout=float(require(config, "model.dropout")),
              num_heads=int(require(config, "model.num_heads")))


def check_loss_and_variance(loss, variance):
  """The hybrid loss trains the variance: one goes with the other."""
  check_choice("diffusion loss", loss, ("simple", "hybrid"))
  check_choice("diffusion variance", variance, schedules.VARIANCES)
  if (loss == "hybrid") != (variance == "learned"):
    raise ConfigError(
        "model.loss='hybrid' trains the variance and needs model.variance="
        "'learned' (and a learned variance needs the hybrid loss); got loss="
        f"{loss!r}, variance={variance!r}.")


def check_sampling(steps, timesteps, guidance_weight, conditional):
  """Sampling steps within the chain; classifier-free guidance only for a
  conditional model (classes, or a latent diffusion model's text)."""
  if not 1 <= steps <= timesteps:
    raise ConfigError(
        f"config.sample.steps={steps}: sampling takes between 1 and "
        f"model.timesteps={timesteps} steps (a subsequence of the training schedule).")
  if guidance_weight < 0:
    raise ConfigError(
        f"config.sample.guidance_weight must be >= 0, got {guidance_weight}.")
  if guidance_weight > 0 and not conditional:
    raise ConfigError(
        f"config.sample.guidance_weight={guidance_weight}: classifier-free guidance "
        "needs a class-conditional model trained with label dropout (model.num_classes "
        "> 0), but this model is unconditional. Set guidance_weight=0, or use "
        "classifier guidance (model.name='guided', experiments/diffusion/guided_mnist.py).")


def read_settings(config, conditional=None, backbone="unet"):
  """The config's Settings; a ConfigError says what to change. ``conditional``:
  whether the model takes a condition (default: model.num_classes > 0);
  ``backbone``: 'dit' for latent diffusion's DiT (no U-Net size check, the
  DiT's remat kinds; latent.py checks the latents against either backbone)."""
  name = check_choice("diffusion model name", require(config, "model.name"), NAMES)
  image_shape = tuple(int(d) for d in require(config, "model.image_shape"))
  unet = read_unet(config)
  if backbone == "unet":
    check_image_size(image_shape, unet["ch_mult"])
  timesteps = int(require(config, "model.timesteps"))
  if timesteps < 1:
    raise ConfigError(f"model.timesteps must be >= 1, got {timesteps}.")
  loss, variance = require(config, "model.loss"), require(config, "model.variance")
  check_loss_and_variance(loss, variance)
  schedule = check_choice("noise schedule", require(config, "model.schedule"),
                          schedules.SCHEDULES)
  prediction = require(config, "model.prediction")
  schedules.check_prediction(prediction)
  num_classes = int(require(config, "model.num_classes"))
  sampling = read_sampling(config, timesteps,
                           bool(num_classes) if conditional is None else conditional)
  if name == "classifier" and not num_classes:
    raise ConfigError("model.name='classifier' needs model.num_classes > 0 (the "
                      "classes it predicts, e.g. 10 for MNIST).")
  return Settings(
      name=name, image_shape=image_shape, unet=unet, num_classes=num_classes,
      label_dropout=float(require(config, "model.label_dropout")), schedule=schedule,
      timesteps=timesteps, prediction=prediction, loss=loss, variance=variance,
      clip_x0=bool(require(config, "model.clip_x0")),
      optim=dict(require(config, "optim")),
      remat=(read_remat(config, REMAT_KINDS, "the diffusion U-Net") if backbone == "unet"
             else read_remat(config, dit.REMAT_KINDS, "DiT")), **sampling)


def read_sampling(config, timesteps, conditional):
  """The sampler's fields of ``config.sample`` (checked against a chain of
  ``timesteps`` and a model that is ``conditional`` or not), as Settings keywords."""
  sampler, eta = require(config, "sample.sampler"), float(require(config, "sample.eta"))
  samplers.check_sampler(sampler, eta)
  steps = int(require(config, "sample.steps"))
  guidance_weight = float(require(config, "sample.guidance_weight"))
  check_sampling(steps, timesteps, guidance_weight, conditional)
  return dict(
      sampler=sampler, steps=steps, eta=eta, guidance_weight=guidance_weight,
      classifier_scale=float(require(config, "sample.classifier_scale")),
      fixed_point_iters=int(require(config, "sample.inversion_fixed_point_iters")),
      grid_rows=read_grid_rows(config), use_ema=bool(require(config, "sample.use_ema")))


def guided_settings(config, denoiser_config):
  """A guided sampler's Settings: the denoiser run's model (never restated)
  with this config's sampling fields."""
  denoiser = read_settings(denoiser_config)
  sampling = read_sampling(config, denoiser.timesteps, bool(denoiser.num_classes))
  return dataclasses.replace(denoiser, name="guided", **sampling)
