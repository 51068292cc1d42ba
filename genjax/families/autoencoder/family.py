"""The autoencoder family: AE, denoising AE and VAE behind the family contract.

Config read (``config.model`` unless said otherwise):
  name           'ae' | 'dae' | 'vae'
  architecture   'mlp' | 'conv';  image_shape (H, W, C);  latent_dim
  hidden         'mlp': widths of the hidden layers, encoder order; the decoder
                 mirrors them.  channels: 'conv': widths of the stride-2 stages
                 (each conv net has one dense layer between code and convs; it
                 ignores ``hidden``).  activation: genjax.nn.mlp.ACTIVATIONS
  likelihood     VAE: 'bernoulli' | 'gaussian' | 'discretized_logistic'
                 (see likelihoods.py);  beta: weight of the KL (default 1)
  recon_loss     AE/DAE: 'bce' | 'mse' (the decoder's image is sigmoid(logits))
  noise, noise_level   DAE: 'gaussian' (std) | 'masking' (fraction)
  config.optim   make_optimizer(**config.optim); ema_decay (default 0)
  config.eval    iwae_k (default 1000), iwae_chunk (samples decoded per step)
  config.sample  use_ema (default True): evaluate, sample and draw grids
                 with the EMA parameters.

Samples. VAE: z ~ p(z) = N(0, I) through the decoder; the mean image.
AE/DAE have no prior, so the family fits one: during training it keeps an
exponential moving average (decay ``CODE_STATS_DECAY``) of the mean and second
moment of the codes in ``state.model_state['code_stats']``, and ``sample``
decodes z ~ N(mean, cov) of that fit (the "ex-post density estimation" of
Ghosh et al. 2020, with one full-covariance Gaussian). A DAE's codes are those
of the corrupted training inputs, which is what its decoder was trained on.
``cond`` is accepted and ignored: the family is unconditional.
"""
import dataclasses
import math
from typing import Tuple

import jax
import jax.numpy as jnp

from genjax.errors import ConfigError, unknown_name
from genjax.families.autoencoder import likelihoods, losses
from genjax.families.autoencoder.model import ARCHITECTURES, make_model
from genjax.families.base import Family
from genjax.nn.conv import check_divisible
from genjax.nn.mlp import get_activation
from genjax.core.optim import make_optimizer
from genjax.core.state import create_train_state
from genjax.core.step import make_train_step

NAMES = ("ae", "dae", "vae")
CODE_STATS_DECAY = 0.99
GRID_COLS = 8
INTERP_ROWS, INTERP_STEPS = 8, 10


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

  @property
  def num_dims(self):
    return math.prod(self.image_shape)


def _block(config, name):
  return config.get(name) or {}


def _check(kind, value, valid):
  if value not in valid:
    raise unknown_name(kind, value, valid)
  return value


def _default_chunk(k, most=50):
  """The largest divisor of k that is at most ``most``."""
  return max(d for d in range(1, min(k, most) + 1) if k % d == 0)


def read_settings(config):
  """Validates the config and returns ``Settings``; ConfigError says what to change."""
  m = config.model
  name = _check("autoencoder name", m.name, NAMES)
  architecture = _check("architecture", m.get("architecture", "mlp"), ARCHITECTURES)
  activation = m.get("activation", "relu")
  get_activation(activation)
  image_shape = tuple(int(d) for d in m.image_shape)
  if len(image_shape) != 3:
    raise ConfigError(f"model.image_shape must be (H, W, C), got {image_shape}.")
  channels = tuple(m.get("channels", (32, 64)))
  if architecture == "conv":
    if not channels:
      raise ConfigError("model.channels is empty: a conv autoencoder needs at least "
                        "one stride-2 stage, e.g. channels=(32, 64).")
    check_divisible(image_shape, len(channels), "model.image_shape")
  if int(m.latent_dim) < 1:
    raise ConfigError(f"model.latent_dim must be >= 1, got {m.latent_dim}.")
  iwae_k = int(_block(config, "eval").get("iwae_k", 1000))
  if iwae_k < 1:
    raise ConfigError(f"eval.iwae_k must be >= 1, got {iwae_k}.")
  iwae_chunk = int(_block(config, "eval").get("iwae_chunk", 0) or _default_chunk(iwae_k))
  if iwae_chunk < 1 or iwae_k % iwae_chunk:
    raise ConfigError(f"eval.iwae_chunk={iwae_chunk} must divide eval.iwae_k={iwae_k}; "
                      f"e.g. iwae_chunk={_default_chunk(iwae_k)}.")
  noise = m.get("noise", "gaussian")
  return Settings(
      name=name, architecture=architecture, image_shape=image_shape,
      latent_dim=int(m.latent_dim), hidden=tuple(m.get("hidden", (512, 256))),
      channels=channels, activation=activation,
      likelihood=likelihoods.check_likelihood(m.get("likelihood", "bernoulli")),
      recon_loss=_check("recon_loss", m.get("recon_loss", "bce"), losses.RECON_LOSSES),
      beta=float(m.get("beta", 1.0)),
      noise=_check("noise", noise, losses.NOISES),
      noise_level=float(m.get("noise_level", 0.5 if noise == "masking" else 0.3)),
      iwae_k=iwae_k, iwae_chunk=iwae_chunk,
      use_ema=bool(_block(config, "sample").get("use_ema", True)))


# ----------------------------------------------------------------------------
# The AE/DAE prior fitted to the codes (see the module doc).


def code_gaussian(stats, jitter=1e-5):
  """Mean and Cholesky factor of the Gaussian fitted to the AE's codes."""
  mean = stats["mean"]
  cov = stats["second_moment"] - jnp.outer(mean, mean)
  cov = 0.5 * (cov + cov.T) + jitter * jnp.eye(mean.shape[0])
  return mean, jnp.linalg.cholesky(cov)


def update_code_stats(stats, z, decay=CODE_STATS_DECAY):
  """EMA of the batch mean and second moment E[z z^T] of the codes."""
  z = jax.lax.stop_gradient(z)
  batch_mean = z.mean(0)
  batch_second = z.T @ z / z.shape[0]
  return {"mean": decay * stats["mean"] + (1 - decay) * batch_mean,
          "second_moment": decay * stats["second_moment"] + (1 - decay) * batch_second}


# ----------------------------------------------------------------------------
# Grids: static shapes from the batch size alone.


def _take(x, n):
  """The first n examples of x, cycling when the batch is smaller."""
  return jnp.take(x, jnp.arange(n) % x.shape[0], axis=0)


def _num_groups(batch, most=4):
  return max(1, min(most, batch // GRID_COLS))


def interleave_rows(*images):
  """Arrays [g*8, H,W,C] -> grid [len(images)*g, 8, H,W,C]: a row of each in turn."""
  g = images[0].shape[0] // GRID_COLS
  rows = jnp.stack([im.reshape(g, GRID_COLS, *im.shape[1:]) for im in images], axis=1)
  return rows.reshape(len(images) * g, GRID_COLS, *images[0].shape[1:])


def make_family(config, runs=None):
  """``Family`` for ``config.model.name`` in ('ae', 'dae', 'vae')."""
  s = read_settings(config)
  out_channels = s.image_shape[-1] * (likelihoods.num_params(s.likelihood)
                                      if s.name == "vae" else 1)
  model = make_model(s.name, s.architecture, s.image_shape, s.latent_dim, out_channels,
                     s.hidden, s.channels, s.activation)
  optim = dict(_block(config, "optim"))
  optimizer = make_optimizer(**optim)
  ema_decay = float(optim.get("ema_decay", 0.0))
  is_vae = s.name == "vae"

  def encode(params, x):
    return model.apply({"params": params}, x, method="encode")

  def decode(params, z):
    return model.apply({"params": params}, z, method="decode")

  def log_likelihood(params):
    """log p(x|z) summed per example, for the VAE losses."""
    return lambda z, x: losses.sum_per_example(
        likelihoods.log_prob(decode(params, z), x, s.likelihood))

  def image_of(params, z):
    out = decode(params, z)
    return likelihoods.mean_image(out, s.likelihood) if is_vae else jax.nn.sigmoid(out)

  def code_of(params, x):
    """The deterministic code: the posterior mean for the VAE."""
    z = encode(params, x)
    return z[0] if is_vae else z

  def eval_params(state):
    return state.ema_params if s.use_ema and state.ema_params is not None else state.params

  # -- training ---------------------------------------------------------------

  def init(rng, example_batch):
    init_rng, state_rng = jax.random.split(rng)
    x = jnp.asarray(example_batch["image"], jnp.float32)
    params = model.init(init_rng, x)["params"]
    model_state = {}
    if not is_vae:
      model_state = {"code_stats": {"mean": jnp.zeros(s.latent_dim),
                                    "second_moment": jnp.eye(s.latent_dim)}}
    return create_train_state(state_rng, params, optimizer, ema=True,
                              model_state=model_state)

  def vae_terms(params, x, rng, beta):
    """Per-example (loss, -log p(x|z), KL), one z ~ q(z|x)."""
    mean, logvar = encode(params, x)
    bound, log_px_z, kl = losses.elbo(rng, x, mean, logvar, log_likelihood(params), beta)
    return -bound, -log_px_z, kl

  def vae_loss(params, model_state, batch, rng):
    loss, recon, kl = vae_terms(params, batch["image"], rng, s.beta)
    metrics = {"nelbo": jnp.mean(recon + kl), "recon": jnp.mean(recon),
               "kl": jnp.mean(kl)}
    return jnp.mean(loss), (metrics, model_state)

  def ae_loss(params, model_state, batch, rng):
    x = batch["image"]
    x_in = losses.corrupt(rng, x, s.noise, s.noise_level) if s.name == "dae" else x
    z = encode(params, x_in)
    recon = jnp.mean(losses.reconstruction_loss(decode(params, z), x, s.recon_loss))
    model_state = dict(model_state,
                       code_stats=update_code_stats(model_state["code_stats"], z))
    return recon, ({"recon": recon}, model_state)

  train_step = make_train_step(vae_loss if is_vae else ae_loss, optimizer, ema_decay)

  # -- evaluation: per-example values [B] --------------------------------------

  def vae_metric(index):
    """Term ``index`` of (-ELBO, -log p(x|z), KL), with beta = 1."""
    def metric(state, batch, rng):
      return vae_terms(eval_params(state), batch["image"], rng, 1.0)[index]
    return metric

  def iwae_nll(state, batch, rng):
    params, x = eval_params(state), batch["image"]
    mean, logvar = encode(params, x)
    log_w = losses.iwae_log_weights(rng, x, mean, logvar, log_likelihood(params),
                                    s.iwae_k, s.iwae_chunk)
    return -losses.iwae_bound(log_w)

  def iwae_bpd(state, batch, rng):
    return losses.bits_per_dim(iwae_nll(state, batch, rng), s.num_dims)

  def restore(params, x):
    return decode(params, encode(params, x))

  def ae_recon(state, batch, rng):
    del rng
    x = batch["image"]
    return losses.reconstruction_loss(restore(eval_params(state), x), x, s.recon_loss)

  def ae_anomaly(state, batch, rng):
    del rng
    x = batch["image"]
    return losses.anomaly_score(jax.nn.sigmoid(restore(eval_params(state), x)), x)

  def denoise_mse(state, batch, rng):
    x = batch["image"]
    noisy = losses.corrupt(rng, x, s.noise, s.noise_level)
    restored = jax.nn.sigmoid(restore(eval_params(state), noisy))
    return losses.anomaly_score(restored, x) / s.num_dims

  if is_vae:
    eval_metrics = {"nelbo": vae_metric(0), "recon": vae_metric(1), "kl": vae_metric(2),
                    "iwae_nll": iwae_nll, "iwae_bpd": iwae_bpd}
  else:
    eval_metrics = {"recon": ae_recon, "anomaly_score": ae_anomaly}
    if s.name == "dae":
      eval_metrics["denoise_mse"] = denoise_mse

  # -- samples and grids ------------------------------------------------------

  def sample(state, rng, num, cond=None):
    del cond  # unconditional
    eps = jax.random.normal(rng, (num, s.latent_dim))
    if is_vae:
      z = eps                                           # z ~ p(z) = N(0, I)
    else:
      mean, chol = code_gaussian(state.model_state["code_stats"])
      z = mean + eps @ chol.T                           # z ~ N(mean, L L^T)
    return image_of(eval_params(state), z)

  def image_grids(state, batch, rng):
    params, x = eval_params(state), batch["image"]
    n = GRID_COLS * _num_groups(x.shape[0])
    x = _take(x, n)
    grids = {"reconstructions": interleave_rows(x, image_of(params, code_of(params, x)))}
    # Interpolation: row r goes linearly from the code of example r to that of
    # example r + 8 in INTERP_STEPS steps.
    z = code_of(params, _take(batch["image"], 2 * INTERP_ROWS))
    t = jnp.linspace(0.0, 1.0, INTERP_STEPS)[None, :, None]
    z_path = (1 - t) * z[:INTERP_ROWS, None] + t * z[INTERP_ROWS:, None]
    frames = image_of(params, z_path.reshape(-1, z.shape[-1]))
    grids["interpolation"] = frames.reshape(INTERP_ROWS, INTERP_STEPS, *s.image_shape)
    if s.name == "dae":
      noisy = losses.corrupt(rng, x, s.noise, s.noise_level)
      grids["restoration"] = interleave_rows(noisy, image_of(params, code_of(params, noisy)), x)
    return grids

  del runs  # builds on no other run
  return Family(family="autoencoder", model=s.name, init=init, train_step=train_step,
                eval_metrics=eval_metrics, sample=sample, image_grids=image_grids)
