"""The autoencoder family: AE, DAE, VAE, VQ-VAE and VQ-VAE-2 behind the family contract.

Config read (defaults: ``config.py`` here and ``genjax/config.py``):
  model.name           'ae' | 'dae' | 'vae' | 'vqvae' (vq_steps.py) | 'vqvae2'
                       (vqvae2.py) | 'klae' (klae.py)
  model.architecture   'mlp' | 'conv';  model.image_shape (H, W, C);  model.latent_dim
  model.hidden         'mlp': widths of the hidden layers, encoder order; the
                       decoder mirrors them.
  model.channels       'conv': widths of the stride-2 stages (each conv net has
                       one dense layer between code and convs).
  model.activation     genjax.nn.mlp.ACTIVATIONS
  model.likelihood     VAE: 'bernoulli' | 'gaussian' | 'discretized_logistic'
                       (likelihoods.py);  model.beta: weight of the KL
  model.recon_loss     AE/DAE: 'bce' | 'mse' (the decoder's image is sigmoid(logits))
  model.noise, model.noise_level   DAE: 'gaussian' (std) | 'masking' (fraction)
  model.vq             VQ-VAE (each level of VQ-VAE-2): num_codes, code_dim,
                       codebook ('loss' | 'ema'), commitment, decay,
                       restart_after, res_blocks, res_hidden
  optim                optimizer_from_config: the optimiser and the EMA's decay
  eval.iwae_k, eval.iwae_chunk     IWAE samples, and how many are decoded per
                       step (0: the largest divisor of iwae_k up to 50)
  sample.use_ema       evaluate, sample and draw grids with the EMA parameters

What differs between the three models (the loss, the metrics, the sampler and
the grids) is the table ``MODELS``; each entry is a top-level pure function of
``(settings, nets, ...)`` in steps.py, evaluation.py or sampling.py, and
``make_family`` binds the first two. What a trained run offers consumer
models (``encode``, ``code``, ``decode``, ``latent_shape``) is exports.py.
"""
import dataclasses
import functools
import math
from typing import Any, Callable, Dict, Mapping, NamedTuple, Tuple

from genjax.config import require
from genjax.core.precision import read_compute_dtype
from genjax.core.step import make_train_step
from genjax.errors import ConfigError, check_choice
from genjax.families.autoencoder import (evaluation, exports, likelihoods, losses,
                                         sampling, steps, vq2_evaluation, vq_evaluation,
                                         vq_steps, vqvae2)
from genjax.families.autoencoder.model import ARCHITECTURES
from genjax.families.autoencoder.networks import Networks, build_networks  # noqa: F401
from genjax.families.base import Family
from genjax.nn.conv import check_divisible
from genjax.nn.mlp import get_activation

MOST_IWAE_CHUNK = 50   # eval.iwae_chunk=0: the largest divisor of iwae_k up to this


class ModelFunctions(NamedTuple):
  """The functions of one model, each of ``(settings, nets, ...)``."""
  loss: Callable[..., Any]
  eval_metrics: Mapping[str, Callable[..., Any]]
  sample: Callable[..., Any]
  image_grids: Callable[..., Any]


AE_METRICS = {"recon": evaluation.eval_recon,
              "anomaly_score": evaluation.eval_anomaly_score}
MODELS = {
    "ae": ModelFunctions(steps.ae_loss, AE_METRICS, sampling.fitted_prior_sample,
                         sampling.image_grids),
    "dae": ModelFunctions(steps.dae_loss,
                          dict(AE_METRICS, denoise_mse=evaluation.eval_denoise_mse),
                          sampling.fitted_prior_sample, sampling.dae_image_grids),
    "vae": ModelFunctions(
        steps.vae_loss,
        {"nelbo": evaluation.eval_nelbo, "recon": evaluation.eval_vae_recon,
         "kl": evaluation.eval_kl, "iwae_nll": evaluation.eval_iwae_nll,
         "iwae_bpd": evaluation.eval_iwae_bpd},
        sampling.prior_sample, sampling.image_grids),
    "vqvae": ModelFunctions(
        vq_steps.vqvae_loss,
        {"recon": vq_evaluation.eval_recon, "recon_mse": vq_evaluation.eval_recon_mse,
         "psnr": vq_evaluation.eval_psnr},
        vq_evaluation.unigram_sample, vq_evaluation.image_grids),
    "vqvae2": ModelFunctions(vqvae2.vqvae2_loss, vq2_evaluation.EVAL_METRICS,
                             vq2_evaluation.unigram_sample, vq2_evaluation.image_grids),
}
NO_SPLIT_METRICS = lambda settings, nets: {}
SPLIT_METRICS = {"ae": NO_SPLIT_METRICS, "dae": NO_SPLIT_METRICS, "vae": NO_SPLIT_METRICS,
                 "vqvae": vq_evaluation.split_metrics,
                 "vqvae2": vq2_evaluation.split_metrics}
EXPORTS = {"ae": exports.family_exports, "dae": exports.family_exports,
           "vae": exports.family_exports, "vqvae": exports.vq_exports,
           "vqvae2": exports.vq2_exports}
NAMES = tuple(MODELS) + ("klae",)   # klae: klae.py's own family


@dataclasses.dataclass(frozen=True)
class Settings:
  """The validated plain values the family reads from its config."""
  name: str
  architecture: str
  image_shape: Tuple[int, int, int]
  latent_dim: int
  hidden: Tuple[int, ...]
  channels: Tuple[int, ...]
  activation: str
  likelihood: str
  recon_loss: str
  beta: float
  noise: str
  noise_level: float
  iwae_k: int
  iwae_chunk: int
  use_ema: bool
  optim: Dict[str, Any]         # config.optim, for optimizer_from_config
  vq: vq_steps.VQSettings       # config.model.vq (read by the VQ-VAE only)

  @property
  def num_dims(self):
    return math.prod(self.image_shape)

  @property
  def variational(self):
    """Whether the model is the VAE (a Gaussian code and a prior N(0, I))."""
    return self.name == "vae"


def largest_divisor_at_most(number, most):
  """The largest divisor of ``number`` that is at most ``most``."""
  return max(d for d in range(1, min(number, most) + 1) if number % d == 0)


def read_image_shape(config, architecture):
  """``model.image_shape`` as (H, W, C), checked against a conv net's stages."""
  image_shape = tuple(int(d) for d in require(config, "model.image_shape"))
  if len(image_shape) != 3:
    raise ConfigError(f"model.image_shape must be (H, W, C), got {image_shape}.")
  channels = tuple(require(config, "model.channels"))
  if architecture == "conv":
    if not channels:
      raise ConfigError("model.channels is empty: a conv autoencoder needs at least "
                        "one stride-2 stage, e.g. channels=(32, 64).")
    check_divisible(image_shape, len(channels), "model.image_shape")
  return image_shape


def read_iwae(config):
  """(eval.iwae_k, eval.iwae_chunk), the chunk dividing k (0: chosen here)."""
  iwae_k = int(require(config, "eval.iwae_k"))
  if iwae_k < 1:
    raise ConfigError(f"eval.iwae_k must be >= 1, got {iwae_k}.")
  suggested = largest_divisor_at_most(iwae_k, MOST_IWAE_CHUNK)
  iwae_chunk = int(require(config, "eval.iwae_chunk")) or suggested
  if iwae_chunk < 1 or iwae_k % iwae_chunk:
    raise ConfigError(f"eval.iwae_chunk={iwae_chunk} must divide eval.iwae_k={iwae_k}; "
                      f"e.g. iwae_chunk={suggested}.")
  return iwae_k, iwae_chunk


def read_settings(config):
  """The one place a config becomes Settings; a ConfigError says what to change."""
  name = check_choice("autoencoder name", require(config, "model.name"), NAMES)
  architecture = check_choice("architecture", require(config, "model.architecture"),
                              ARCHITECTURES)
  activation = require(config, "model.activation")
  get_activation(activation)
  image_shape = read_image_shape(config, architecture)
  latent_dim = int(require(config, "model.latent_dim"))
  if latent_dim < 1:
    raise ConfigError(f"model.latent_dim must be >= 1, got {latent_dim}.")
  iwae_k, iwae_chunk = read_iwae(config)
  if name in ("vqvae", "vqvae2") and architecture != "conv":
    raise ConfigError(f"model.name={name!r} quantises spatial code maps: set "
                      "model.architecture='conv' (got 'mlp').")
  if name == "vqvae2":
    check_divisible(image_shape, len(require(config, "model.channels")) + 1,
                    "model.image_shape (VQ-VAE-2's top map is one stride-2 stage "
                    "below its bottom map)")
  return Settings(
      name=name, architecture=architecture, image_shape=image_shape,
      latent_dim=latent_dim, hidden=tuple(require(config, "model.hidden")),
      channels=tuple(require(config, "model.channels")), activation=activation,
      likelihood=likelihoods.check_likelihood(require(config, "model.likelihood")),
      recon_loss=check_choice("recon_loss", require(config, "model.recon_loss"),
                              losses.RECON_LOSSES),
      beta=float(require(config, "model.beta")),
      noise=check_choice("noise", require(config, "model.noise"), losses.NOISES),
      noise_level=float(require(config, "model.noise_level")),
      iwae_k=iwae_k, iwae_chunk=iwae_chunk,
      use_ema=bool(require(config, "sample.use_ema")),
      optim=dict(require(config, "optim")), vq=vq_steps.read_vq_settings(config))


def make_family(config, deps=None):
  """The autoencoder Family of ``config.model.name``: reads the settings,
  builds the networks and binds the model's functions (``MODELS``) to them.
  The KL autoencoder (``model.name='klae'``, a two-player step with its patch
  discriminator) is klae.py's."""
  if require(config, "model.name") == "klae":
    from genjax.families.autoencoder.klae import make_klae_family
    return make_klae_family(config, deps)
  del deps  # builds on no other run
  settings = read_settings(config)
  nets = build_networks(settings)
  functions = MODELS[settings.name]
  bind = lambda fn: functools.partial(fn, settings, nets)
  return Family(
      family="autoencoder", model=settings.name, init=bind(steps.init),
      train_step=make_train_step(bind(functions.loss), nets.optimizer, nets.ema_decay,
                                 compute_dtype=read_compute_dtype(config)),
      eval_metrics={name: bind(fn) for name, fn in functions.eval_metrics.items()},
      sample=bind(functions.sample), image_grids=bind(functions.image_grids),
      split_metrics=SPLIT_METRICS[settings.name](settings, nets),
      exports=EXPORTS[settings.name](settings, nets))
