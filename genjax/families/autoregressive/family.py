"""The autoregressive family: p(x) = prod_i p(x_i | x_<i), trained by exact likelihood.

Config read (defaults: ``config.py`` here and ``genjax/config.py``):
  model.name        pixelcnn | gated_pixelcnn | pixelcnnpp | row_lstm | diagonal_bilstm
  model.likelihood  bernoulli | categorical (logistic_mixture for pixelcnnpp) |
                    codes (a prior over a frozen VQ-VAE's codes: vq_prior.py)
  model.image_shape, model.num_classes (> 0: class-conditional)
  model.net         the network's own fields, by name (checked against the
                    module; a field left out keeps the module's default)
  model.remat       blocks rematerialised in the backward pass (PixelCNN++:
                    'GatedResnet'; genjax.core.precision)
  config.train.compute_dtype   the model's dtype in the train step
  sample.temperature, sample.cached (Gated PixelCNN's row-cached generator),
  sample.completion_rows, sample.use_ema; the optim block.
The loss is the exact negative log-likelihood per sub-pixel (nats/dim); the
evaluation metrics are ``nll`` (nats per image: binarised MNIST's unit) and
``bpd`` (bits per sub-pixel: 8-bit data's unit). Samples and completions are
drawn pixel by pixel inside one jitted ``fori_loop`` (sampling.py).
Exports (``family.exports``, for consumer models): ``log_prob(bundle, images,
labels=None) -> [B]`` nats, the exact log-likelihood.

Every function below the settings is a top-level pure function of
``(settings, nets, ...)``; ``make_family`` binds the first two.
"""
import dataclasses
import functools
import importlib
import math
from typing import Any, Dict, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from genjax.config import read_grid_rows, require
from genjax.core.optim import optimizer_from_config
from genjax.core.precision import read_compute_dtype, read_remat
from genjax.core.state import create_train_state, eval_params, init_key
from genjax.core.step import make_train_step
from genjax.errors import ConfigError, check_choice
from genjax.eval.likelihood import bits_per_dim
from genjax.families.autoregressive import likelihoods
from genjax.families.autoregressive import sampling
from genjax.families.base import Family, cycle_to, sample_labels

# model name -> (module path, class name)
NETWORKS = {
    "pixelcnn": ("genjax.families.autoregressive.pixelcnn", "PixelCNN"),
    "gated_pixelcnn": ("genjax.families.autoregressive.pixelcnn", "GatedPixelCNN"),
    "pixelcnnpp": ("genjax.families.autoregressive.pixelcnnpp", "PixelCNNPP"),
    "row_lstm": ("genjax.families.autoregressive.pixelrnn", "RowLSTM"),
    "diagonal_bilstm": ("genjax.families.autoregressive.pixelrnn", "DiagonalBiLSTM"),
}
COMPLETIONS_PER_ROW = 3
# Module fields the family sets itself (not config.model.net's).
_RESERVED = ("parent", "name", "num_outputs", "num_classes", "remat", "num_input_codes",
             "num_cond_codes")


def network_class(name):
  module, attr = NETWORKS[check_choice("autoregressive model", name, NETWORKS)]
  return getattr(importlib.import_module(module), attr)


def has_row_cache(network):
  """Whether ``network`` (a module class or instance) splits into the
  row-cached generator's halves (``vertical_features`` / ``horizontal_row``)."""
  return hasattr(network, "vertical_features")


def check_net_fields(name, net_fields):
  """``net_fields`` if model ``name`` takes each of them; else a ConfigError naming them."""
  valid = [f.name for f in dataclasses.fields(network_class(name))
           if f.name not in _RESERVED]
  unknown = sorted(set(net_fields) - set(valid))
  if unknown:
    raise ConfigError(
        f"config.model.net has field(s) {unknown} that model {name!r} does not "
        f"take. Its fields: {valid}.")
  return net_fields


def remat_kinds(name):
  """The block kinds model ``name`` can rematerialise (config.model.remat)."""
  return getattr(network_class(name), "REMAT_KINDS", ())


def build_network(name, net_fields, num_outputs, num_classes, remat=(), **fields):
  """The flax module of model ``name`` with the config's fields; pixelcnnpp
  sizes its own output (the mixture), the others get ``num_outputs``;
  ``remat``: its rematerialised block kinds (only a model with some);
  ``fields``: others the family sets (a prior's ``num_input_codes``)."""
  kwargs = dict(check_net_fields(name, net_fields), num_classes=num_classes or None,
                **fields)
  if remat:
    kwargs["remat"] = tuple(remat)
  if name != "pixelcnnpp":
    kwargs["num_outputs"] = num_outputs
  return network_class(name)(**kwargs)


def check_likelihood(name, likelihood):
  """``likelihood`` if model ``name`` can use it; else the ConfigError with the fix."""
  if name == "pixelcnnpp":
    if likelihood != "logistic_mixture":
      raise ConfigError(
          f"model.name='pixelcnnpp' uses the discretised logistic mixture; set "
          f"model.likelihood='logistic_mixture' (got {likelihood!r}).")
  elif likelihood not in ("bernoulli", "categorical"):
    raise ConfigError(
        f"model.likelihood={likelihood!r} is not available for {name!r}: "
        "it takes 'bernoulli' (binarised images) or 'categorical' (a 256-way "
        "softmax per sub-pixel); the logistic mixture is PixelCNN++'s.")
  return likelihood


@dataclasses.dataclass(frozen=True)
class Settings:
  """The validated plain values of an autoregressive config."""
  name: str
  likelihood: str
  image_shape: Tuple[int, int, int]
  num_classes: int              # 0: unconditional
  net: Dict[str, Any]           # config.model.net: the module's own fields
  remat: Tuple[str, ...]        # config.model.remat: rematerialised block kinds
  optim: Dict[str, Any]         # config.optim, for optimizer_from_config
  temperature: float
  use_ema: bool
  cached: bool                  # the row-cached generator (only where the net has one)
  completion_rows: int          # rows given in the completion grids
  grid_rows: int                # images (rows) of the completion grid

  @property
  def num_dims(self):
    return math.prod(self.image_shape)


def read_settings(config, image_shape=None):
  """The one place a config becomes Settings; a ConfigError says what to change.
  A prior over codes (vq_prior.py) passes its code map's ``image_shape``; its
  likelihood and data are checked against its VQ-VAE there."""
  name = check_choice("autoregressive model", require(config, "model.name"), NETWORKS)
  likelihood = require(config, "model.likelihood")
  if image_shape is None:
    likelihood = check_likelihood(name, likelihood)
    likelihoods.check_preprocess(likelihood, require(config, "data.preprocess"))
    image_shape = tuple(int(d) for d in require(config, "model.image_shape"))
  num_classes = int(require(config, "model.num_classes"))
  if num_classes < 0:
    raise ConfigError(f"config.model.num_classes must be >= 0 (0: unconditional), "
                      f"got {num_classes}.")
  temperature = float(require(config, "sample.temperature"))
  if temperature <= 0:
    raise ConfigError(f"config.sample.temperature must be > 0, got {temperature}.")
  completion_rows = int(require(config, "sample.completion_rows"))
  if completion_rows == -1:
    completion_rows = image_shape[0] // 2
  if not 0 <= completion_rows < image_shape[0]:
    raise ConfigError(f"config.sample.completion_rows={completion_rows} must be "
                      f"in [0, {image_shape[0]}) (the rows given), or -1 (half).")
  return Settings(
      name=name, likelihood=likelihood, image_shape=image_shape,
      num_classes=num_classes,
      net=check_net_fields(name, dict(require(config, "model.net"))),
      remat=read_remat(config, remat_kinds(name), f"model {name!r}"),
      optim=dict(require(config, "optim")), temperature=temperature,
      use_ema=bool(require(config, "sample.use_ema")),
      cached=bool(require(config, "sample.cached")) and has_row_cache(network_class(name)),
      completion_rows=completion_rows, grid_rows=read_grid_rows(config))


@dataclasses.dataclass(frozen=True)
class Networks:
  """What make_family builds from the settings."""
  model: nn.Module
  likelihood: likelihoods.Likelihood
  optimizer: optax.GradientTransformation
  ema_decay: float              # 0: no EMA of the parameters is kept


def build_networks(settings):
  """The network, its likelihood and the optimiser. PixelCNN++'s mixture
  has the network's own ``nr_logistic_mix`` (the config's, else the module's
  default)."""
  if settings.name == "pixelcnnpp":
    model = build_network(settings.name, settings.net, None, settings.num_classes,
                          settings.remat)
    likelihood = likelihoods.make_likelihood("logistic_mixture", model.nr_logistic_mix)
  else:
    likelihood = likelihoods.make_likelihood(settings.likelihood)
    model = build_network(settings.name, settings.net, likelihood.num_outputs,
                          settings.num_classes)
  optimizer, ema_decay = optimizer_from_config(settings.optim)
  return Networks(model, likelihood, optimizer, ema_decay)


def init(settings, nets, rng, example_batch):
  """A fresh train state; parameter shapes never depend on the batch."""
  params_rng, state_rng = jax.random.split(rng)
  init_rng, dropout_rng = jax.random.split(params_rng)
  images = jnp.asarray(example_batch["image"], jnp.float32)
  labels = (jnp.zeros((images.shape[0],), jnp.int32) if settings.num_classes
            else None)
  params = nets.model.init({"params": init_key(init_rng), "dropout": dropout_rng},
                           images, labels)["params"]
  return create_train_state(state_rng, params, nets.optimizer,
                            ema=bool(nets.ema_decay))


def condition_kwargs(cond):
  """The spatial condition as the network's keyword (only a model with one
  takes it: the two-level prior's bottom, vq2_prior.py)."""
  return {} if cond is None else {"cond": cond}


def network_outputs(settings, nets, params, images, labels, train=False, rng=None,
                    cond=None):
  """The distribution parameters at every position ([B,H,W,C,P] or [B,H,W,K]);
  ``labels`` are used only by a class-conditional model, ``cond`` only by a
  spatially conditioned one."""
  return nets.model.apply({"params": params}, images,
                          labels if settings.num_classes else None, train=train,
                          rngs={"dropout": rng} if train else None,
                          **condition_kwargs(cond))


def negative_log_likelihood(settings, nets, params, batch, train=False, rng=None,
                            cond=None):
  """-log p(x) of each image of the batch, [B] nats (exact)."""
  outputs = network_outputs(settings, nets, params, batch["image"], batch["label"],
                            train, rng, cond)
  return -nets.likelihood.log_prob(outputs, batch["image"])


def loss_fn(settings, nets, params, model_state, batch, rng):
  """The training loss: the mean NLL per sub-pixel (nats/dim), with dropout."""
  nll = negative_log_likelihood(settings, nets, params, batch, True, rng)
  metrics = {"nll": jnp.mean(nll),
             "bpd": jnp.mean(bits_per_dim(nll, settings.num_dims))}
  return jnp.mean(nll) / settings.num_dims, (metrics, model_state)


def eval_nll(settings, nets, state, batch, rng):
  """Evaluation metric ``nll``: nats per image, [B]."""
  del rng
  return negative_log_likelihood(settings, nets,
                                 eval_params(state, settings.use_ema), batch)


def eval_bpd(settings, nets, state, batch, rng):
  """Evaluation metric ``bpd``: bits per sub-pixel, [B]."""
  return bits_per_dim(eval_nll(settings, nets, state, batch, rng), settings.num_dims)


def log_prob(settings, nets, bundle, images, labels=None):
  """Export ``log_prob``: log p(x) of each image [B], nats (exact; the
  negative of the ``nll`` metric, before bpd's per-dimension conversion).

  ``images`` [B,H,W,C] in the likelihood's space, as the data pipeline leaves
  them: {0, 1} (bernoulli), or [-1, 1] on the 256-level grid (categorical,
  logistic_mixture); ``labels`` int32 [B], needed by a class-conditional model.
  """
  if settings.num_classes and labels is None:
    raise ValueError(
        f"log_prob of the class-conditional {settings.name!r} (model.num_classes="
        f"{settings.num_classes}) needs the images' labels: log_prob(bundle, "
        "images, labels).")
  batch = {"image": images, "label": labels}
  return -negative_log_likelihood(settings, nets, bundle["trained"]["params"], batch)


def images_to_unit(settings, nets, images):
  """Model-space images -> [0, 1] (clipped) for pictures."""
  del settings
  return jnp.clip(nets.likelihood.to_unit(images), 0.0, 1.0)


def draw(settings, nets, state, rng, images, labels, start, cond=None):
  """``images`` with every raster position from ``start`` on drawn from the
  model (the row-cached generator when ``settings.cached``), in model space;
  ``cond``: a spatially conditioned model's condition."""
  params = eval_params(state, settings.use_ema)
  model = nets.model
  if settings.cached:
    vertical = lambda x: model.apply({"params": params}, x, labels,
                                     method=type(model).vertical_features,
                                     **condition_kwargs(cond))
    row = lambda x_row, features_row: model.apply(
        {"params": params}, x_row, features_row, labels,
        method=type(model).horizontal_row)
    return sampling.complete_rows_cached(vertical, row, nets.likelihood, images, rng,
                                         start, settings.temperature)
  net_fn = lambda x: network_outputs(settings, nets, params, x, labels, cond=cond)
  return sampling.complete(net_fn, nets.likelihood, images, rng, start,
                           settings.temperature)


def sample(settings, nets, state, rng, num, cond=None):
  """``num`` images drawn from the model, [num,H,W,C] in [0, 1]; ``cond``:
  their labels (class-balanced when None) for a class-conditional model."""
  blank = jnp.zeros((num,) + settings.image_shape, jnp.float32)
  drawn = draw(settings, nets, state, rng, blank,
               sample_labels(num, settings.num_classes, cond), 0)
  return images_to_unit(settings, nets, drawn)


def completion_start(settings, nets):
  """The raster position after the given ``completion_rows`` (sub-pixels
  for a per-channel likelihood, pixels for a joint one)."""
  _, width, channels = settings.image_shape
  per_pixel = channels if nets.likelihood.per_channel else 1
  return settings.completion_rows * width * per_pixel


def image_grids(settings, nets, state, batch, rng):
  """``completion``: per image, the given rows (the rest grey) |
  COMPLETIONS_PER_ROW completions | the original; [grid_rows, 5, H, W, C]."""
  images = cycle_to(batch["image"], settings.grid_rows)
  labels = cycle_to(batch["label"], settings.grid_rows) if settings.num_classes else None
  repeated_labels = (jnp.repeat(labels, COMPLETIONS_PER_ROW)
                     if settings.num_classes else None)
  completed = draw(settings, nets, state, rng,
                   jnp.repeat(images, COMPLETIONS_PER_ROW, axis=0), repeated_labels,
                   completion_start(settings, nets))
  to_unit = functools.partial(images_to_unit, settings, nets)
  rows = jnp.arange(settings.image_shape[0])[None, :, None, None]
  masked = jnp.where(rows < settings.completion_rows, to_unit(images), 0.5)
  completions = to_unit(completed).reshape(
      (settings.grid_rows, COMPLETIONS_PER_ROW) + settings.image_shape)
  grid = jnp.concatenate([masked[:, None], completions, to_unit(images)[:, None]],
                         axis=1)
  return {"completion": grid}


def make_family(config, deps=None):
  """The autoregressive Family of a pixel model: reads the settings, builds
  the networks and binds the functions above to them (no dependencies; the
  prior over codes is vq_prior.py's, picked by factory.py)."""
  del deps
  settings = read_settings(config)
  nets = build_networks(settings)
  bind = lambda fn: functools.partial(fn, settings, nets)
  return Family(
      family="autoregressive", model=settings.name, init=bind(init),
      train_step=make_train_step(bind(loss_fn), nets.optimizer, nets.ema_decay,
                                 compute_dtype=read_compute_dtype(config)),
      eval_metrics={"nll": bind(eval_nll), "bpd": bind(eval_bpd)},
      sample=bind(sample), image_grids=bind(image_grids),
      data_to_unit=bind(images_to_unit),
      num_classes=settings.num_classes or None,
      init_on_data=settings.name == "pixelcnnpp",   # weight norm's data-dependent init
      exports={"log_prob": bind(log_prob)})
