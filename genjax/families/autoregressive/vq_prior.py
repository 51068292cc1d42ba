"""A prior over the codes of a frozen VQ-VAE: ``model.likelihood='codes'``.

van den Oord et al. 2017, sec. 3.2 and 4.1: after the VQ-VAE is trained, an
autoregressive prior p(z) is fitted to its code maps; samples are code maps
drawn from the prior and decoded. Here the prior is this family's Gated
PixelCNN (class-conditional through ``model.num_classes``) with a learned
embedding of the codes as its input and a K-way softmax per position, over
the codes of the VQ-VAE run ``config.deps.vqvae`` (parameters frozen: a jit
argument).

Codes are computed on the fly: every step encodes its own batch with the
frozen encoder (the first stage's exports ``code`` / ``decode``). So the
prior sees the same data stream as any run (dynamic binarisation draws new
binary images each epoch, and their codes with them), a resumed run is exact,
and there is no cache to invalidate when the dependency changes. The price
is one forward pass of the frozen encoder per step (no backward pass).

Config: model.likelihood='codes', model.name='gated_pixelcnn';
model.num_codes and model.code_shape (0 and (): the VQ-VAE's K and (h, w);
set, they must match it); model.image_shape and data.preprocess are the
images' and must be the VQ-VAE's. Metrics: ``nll`` (nats per code map),
``code_nll`` (nats per code) and ``bpd``, the whole model's bits per image
dimension, -log2 p(x) <= (-log p(x | z_q(x)) - log p(z_q(x))) / (HWC ln 2)
(the ELBO of a point-mass posterior: sec. 4.1), which needs the VQ-VAE's
Bernoulli decoder.
"""
import dataclasses
import functools
import math
from typing import Any, Tuple

import jax.numpy as jnp

from genjax.config import require
from genjax.core.optim import optimizer_from_config
from genjax.core.precision import read_compute_dtype
from genjax.core.state import eval_params
from genjax.core.step import make_train_step
from genjax.errors import ConfigError
from genjax.families.autoregressive import family as ar
from genjax.families.autoregressive import likelihoods
from genjax.families.base import (Family, check_same_data, cycle_to, require_dependency,
                                  sample_labels)

DEP = "vqvae"
USER = "model.likelihood='codes' (a prior over a VQ-VAE's codes)"


@dataclasses.dataclass(frozen=True)
class PriorSettings:
  """The prior's settings: the family's, over the code map, and the VQ-VAE's."""
  base: Any                      # family.Settings with image_shape = (h, w, 1)
  num_codes: int                 # K
  image_shape: Tuple[int, int, int]   # the images' (H, W, C)
  has_likelihood: bool           # the VQ-VAE's decoder is Bernoulli: bpd exists

  @property
  def num_image_dims(self):
    return math.prod(self.image_shape)


def vqvae_codes_shape(config, dep):
  """(K, (h, w)) of the VQ-VAE ``dep``, checked against the prior's config."""
  exports = dep.family.exports
  num_codes, shape = int(exports["num_codes"]()), tuple(exports["latent_shape"]())
  want_k = int(require(config, "model.num_codes"))
  want_shape = tuple(int(d) for d in require(config, "model.code_shape"))
  if (want_k and want_k != num_codes) or (want_shape and want_shape != shape):
    raise ConfigError(
        f"The prior is configured for K={want_k or num_codes} codes in maps of "
        f"{want_shape or shape}, but the VQ-VAE at config.deps.{DEP}.workdir="
        f"{dep.workdir} has K={num_codes} and maps of {shape}. Set "
        f"model.num_codes={num_codes} and model.code_shape={shape} (or 0 and () to "
        "take the VQ-VAE's), or name the VQ-VAE this prior was built for.")
  return num_codes, shape


def read_prior_settings(config, deps):
  """PriorSettings; ConfigErrors for a missing or mismatched VQ-VAE."""
  dep = require_dependency(deps, DEP, "autoencoder", "vqvae", USER)
  if require(config, "model.name") != "gated_pixelcnn":
    raise ConfigError(f"{USER} uses the Gated PixelCNN (its code embedding and "
                      f"row-cached sampler): set model.name='gated_pixelcnn'.")
  num_codes, shape = vqvae_codes_shape(config, dep)
  check_same_data(config, dep, DEP, USER)
  base = ar.read_settings(config, image_shape=shape + (1,))
  return PriorSettings(base=base, num_codes=num_codes,
                       image_shape=tuple(int(d) for d in require(config, "model.image_shape")),
                       has_likelihood=dep.config.model.recon_loss == "bce"), dep


def build_prior_networks(settings):
  base = settings.base
  model = ar.build_network(base.name, base.net, settings.num_codes, base.num_classes,
                           num_input_codes=settings.num_codes)
  optimizer, ema_decay = optimizer_from_config(base.optim)
  return ar.Networks(model, likelihoods.codes_likelihood(settings.num_codes),
                     optimizer, ema_decay)


def batch_codes(dep, frozen, images):
  """The VQ-VAE's codes of ``images`` as the prior's data: float [B,h,w,1]."""
  codes = dep.family.exports["code"](frozen[DEP], images)
  return codes[..., None].astype(jnp.float32)


def code_batch(dep, frozen, batch):
  return dict(batch, image=batch_codes(dep, frozen, batch["image"]))


def init(settings, nets, dep, rng, example_batch, frozen):
  del frozen   # shapes only: a blank code map
  blank = jnp.zeros((1,) + settings.base.image_shape, jnp.float32)
  return ar.init(settings.base, nets, rng, dict(example_batch, image=blank,
                                                label=example_batch["label"][:1]))


def prior_loss(settings, nets, dep, params, model_state, batch, rng, frozen):
  """The mean NLL per code (nats) of the batch's code maps, with dropout."""
  nll = ar.negative_log_likelihood(settings.base, nets, params,
                                   code_batch(dep, frozen, batch), True, rng)
  codes_per_map = settings.base.num_dims
  metrics = {"nll": jnp.mean(nll), "code_nll": jnp.mean(nll) / codes_per_map}
  return jnp.mean(nll) / codes_per_map, (metrics, model_state)


def eval_nll(settings, nets, dep, state, batch, rng, frozen):
  """``nll``: -log p(z_q(x)) of each image's code map, nats [B]."""
  del rng
  return ar.negative_log_likelihood(settings.base, nets,
                                    eval_params(state, settings.base.use_ema),
                                    code_batch(dep, frozen, batch))


def eval_code_nll(settings, nets, dep, state, batch, rng, frozen):
  """``code_nll``: ``nll`` per code, nats [B]."""
  return eval_nll(settings, nets, dep, state, batch, rng, frozen) / settings.base.num_dims


def eval_bpd(settings, nets, dep, state, batch, rng, frozen):
  """``bpd``: (-log p(x|z_q) - log p(z_q)) / (HWC ln 2) of each image, the
  whole model's bound in bits per image dimension [B]."""
  codes = batch_codes(dep, frozen, batch["image"])
  decoder_nll = -dep.family.exports["log_likelihood"](
      frozen[DEP], codes[..., 0].astype(jnp.int32), batch["image"])
  prior_nll = eval_nll(settings, nets, dep, state, batch, rng, frozen)
  return (decoder_nll + prior_nll) / (settings.num_image_dims * math.log(2.0))


def decoded(dep, frozen, codes):
  """Images [N,H,W,C] in [0, 1] of code maps float [N,h,w,1]."""
  return dep.family.exports["decode"](frozen[DEP], codes[..., 0].astype(jnp.int32))


def sample(settings, nets, dep, state, rng, num, cond, frozen):
  """``num`` images: code maps drawn by the row-cached Gated PixelCNN (labels
  from ``cond``, class-balanced when None), decoded by the VQ-VAE."""
  base = settings.base
  blank = jnp.zeros((num,) + base.image_shape, jnp.float32)
  codes = ar.draw(base, nets, state, rng, blank,
                  sample_labels(num, base.num_classes, cond), 0)
  return decoded(dep, frozen, codes)


def image_grids(settings, nets, dep, state, batch, rng, frozen):
  """``completion``: per test image, the decoded code rows given (the rest
  grey) | COMPLETIONS_PER_ROW decoded completions | its reconstruction."""
  base = settings.base
  rows = base.grid_rows
  images = cycle_to(batch["image"], rows)
  codes = batch_codes(dep, frozen, images)
  labels = cycle_to(batch["label"], rows) if base.num_classes else None
  repeats = ar.COMPLETIONS_PER_ROW
  completed = ar.draw(base, nets, state, rng, jnp.repeat(codes, repeats, axis=0),
                      None if labels is None else jnp.repeat(labels, repeats),
                      ar.completion_start(base, nets))
  recon = decoded(dep, frozen, codes)
  scale = settings.image_shape[0] // base.image_shape[0]
  given = jnp.arange(settings.image_shape[0])[None, :, None, None] < (
      base.completion_rows * scale)
  grid = jnp.concatenate(
      [jnp.where(given, recon, 0.5)[:, None],
       decoded(dep, frozen, completed).reshape((rows, repeats) + settings.image_shape),
       recon[:, None]], axis=1)
  return {"completion": grid}


def make_prior_family(config, deps):
  """The prior's Family: its functions take ``frozen`` (the VQ-VAE's bundle)
  last; ``bpd`` only where the VQ-VAE's decoder is a likelihood."""
  settings, dep = read_prior_settings(config, deps)
  nets = build_prior_networks(settings)
  bind = lambda fn: functools.partial(fn, settings, nets, dep)
  metrics = {"nll": bind(eval_nll), "code_nll": bind(eval_code_nll)}
  if settings.has_likelihood:
    metrics["bpd"] = bind(eval_bpd)
  return prior_family(config, settings.base, nets, DEP, metrics,
                      *map(bind, (init, prior_loss, sample, image_grids)))


def prior_family(config, base, nets, dep_name, metrics, init_fn, loss, sample_fn,
                 grids):
  """The Family of a prior over the frozen first stage ``config.deps.<dep_name>``
  (its functions bound, each taking ``frozen`` last); ``base``: the family
  settings of its (top) network."""
  return Family(
      family="autoregressive", model=base.name, init=init_fn,
      train_step=make_train_step(loss, nets.optimizer, nets.ema_decay,
                                 compute_dtype=read_compute_dtype(config),
                                 with_frozen=True),
      eval_metrics=metrics, sample=sample_fn, image_grids=grids,
      num_classes=base.num_classes or None, deps=(dep_name,))
