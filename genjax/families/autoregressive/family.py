"""The autoregressive family: p(x) = prod_i p(x_i | x_<i), trained by exact likelihood.

Config read (``config.model`` unless said otherwise):
  name          pixelcnn | gated_pixelcnn | pixelcnnpp | row_lstm | diagonal_bilstm
  likelihood    bernoulli | categorical (logistic_mixture for pixelcnnpp)
  image_shape, num_classes (> 0: class-conditional)
  net           the network's own fields, by name (checked against the module)
  config.sample temperature, cached (Gated PixelCNN's row-cached generator),
                completion_rows, use_ema
The loss is the exact negative log-likelihood per sub-pixel (nats/dim); the
evaluation metrics are ``nll`` (nats per image: binarised MNIST's unit) and
``bpd`` (bits per sub-pixel: 8-bit data's unit). Samples and completions are
drawn pixel by pixel inside one jitted ``fori_loop`` (sampling.py).
"""
import dataclasses
import importlib
import math

import jax
import jax.numpy as jnp

from genjax.errors import ConfigError, unknown_name
from genjax.eval.likelihood import bits_per_dim
from genjax.families.autoregressive import likelihoods as lik
from genjax.families.autoregressive import sampling
from genjax.families.base import Family, sample_labels
from genjax.core.optim import make_optimizer
from genjax.core.state import create_train_state, eval_params, init_key
from genjax.core.step import make_train_step

# model name -> (module path, class name)
NETWORKS = {
    "pixelcnn": ("genjax.families.autoregressive.pixelcnn", "PixelCNN"),
    "gated_pixelcnn": ("genjax.families.autoregressive.pixelcnn", "GatedPixelCNN"),
    "pixelcnnpp": ("genjax.families.autoregressive.pixelcnnpp", "PixelCNNPP"),
    "row_lstm": ("genjax.families.autoregressive.pixelrnn", "RowLSTM"),
    "diagonal_bilstm": ("genjax.families.autoregressive.pixelrnn", "DiagonalBiLSTM"),
}
COMPLETIONS_PER_ROW, GRID_ROWS = 3, 8
_RESERVED = ("parent", "name", "num_outputs", "num_classes")


def network_class(name):
  if name not in NETWORKS:
    raise unknown_name("autoregressive model", name, NETWORKS)
  module, attr = NETWORKS[name]
  return getattr(importlib.import_module(module), attr)


def has_row_cache(network):
  """Whether ``network`` (a module class or instance) splits into the
  row-cached generator's halves (``vertical_features`` / ``horizontal_row``)."""
  return hasattr(network, "vertical_features")


def build_network(name, net_fields, num_outputs, num_classes):
  """The flax module with the config's fields; unknown fields are named."""
  cls = network_class(name)
  valid = [f.name for f in dataclasses.fields(cls) if f.name not in _RESERVED]
  bad = sorted(set(net_fields) - set(valid))
  if bad:
    raise ConfigError(
        f"config.model.net has field(s) {bad} that model {name!r} does not "
        f"take. Its fields: {valid}.")
  kwargs = dict(net_fields, num_classes=num_classes or None)
  if name != "pixelcnnpp":
    kwargs["num_outputs"] = num_outputs
  return cls(**kwargs)


def read_likelihood(config):
  m = config.model
  name = m.name
  if name not in NETWORKS:
    raise unknown_name("autoregressive model", name, NETWORKS)
  if name == "pixelcnnpp":
    if m.likelihood not in ("logistic_mixture",):
      raise ConfigError(
          f"model.name='pixelcnnpp' uses the discretised logistic mixture; set "
          f"model.likelihood='logistic_mixture' (got {m.likelihood!r}).")
    k = int(m.net.get("nr_logistic_mix", 10))
    return lik.make_likelihood("logistic_mixture", k)
  if m.likelihood not in ("bernoulli", "categorical"):
    raise ConfigError(
        f"model.likelihood={m.likelihood!r} is not available for {name!r}: "
        "it takes 'bernoulli' (binarised images) or 'categorical' (a 256-way "
        "softmax per sub-pixel); the logistic mixture is PixelCNN++'s.")
  return lik.make_likelihood(m.likelihood)


def make_family(config, runs=None):
  m, smp = config.model, config.sample
  likelihood = read_likelihood(config)
  lik.check_preprocess(likelihood.name, config.data.preprocess)
  image_shape = tuple(int(d) for d in m.image_shape)
  num_dims = math.prod(image_shape)
  K = int(m.get("num_classes", 0) or 0)
  model = build_network(m.name, dict(m.net), likelihood.num_outputs, K)
  optim = dict(config.optim)
  optimizer = make_optimizer(**optim)
  temperature = float(smp.get("temperature", 1.0))
  if temperature <= 0:
    raise ConfigError(f"config.sample.temperature must be > 0, got {temperature}.")
  use_ema = bool(smp.get("use_ema", True))
  cached = bool(smp.get("cached", True)) and has_row_cache(model)
  completion_rows = int(smp.get("completion_rows", -1))
  if completion_rows == -1:
    completion_rows = image_shape[0] // 2
  if not 0 <= completion_rows < image_shape[0]:
    raise ConfigError(f"config.sample.completion_rows={completion_rows} must be "
                      f"in [0, {image_shape[0]}) (the rows given).")

  def apply(params, x, labels, train=False, rng=None):
    return model.apply({"params": params}, x, labels if K else None, train=train,
                       rngs={"dropout": rng} if train else None)

  def fresh_params(rng, images):
    r_init, r_drop = jax.random.split(rng)
    labels = jnp.zeros((images.shape[0],), jnp.int32) if K else None
    return model.init({"params": init_key(r_init), "dropout": r_drop}, images,
                      labels)["params"]

  def init(rng, example_batch):
    r_params, r_state = jax.random.split(rng)
    params = fresh_params(r_params, jnp.asarray(example_batch["image"], jnp.float32))
    return create_train_state(r_state, params, optimizer, ema=bool(optim.get("ema_decay")))

  def nll(params, batch, train=False, rng=None):
    out = apply(params, batch["image"], batch["label"], train, rng)
    return -likelihood.log_prob(out, batch["image"])         # [B] nats

  def loss_fn(params, model_state, batch, rng):
    per = nll(params, batch, True, rng)
    return jnp.mean(per) / num_dims, ({"nll": jnp.mean(per),
                                       "bpd": jnp.mean(bits_per_dim(per, num_dims))},
                                      model_state)

  def eval_nll(state, batch, rng):
    del rng
    return nll(eval_params(state, use_ema), batch)

  def eval_bpd(state, batch, rng):
    return bits_per_dim(eval_nll(state, batch, rng), num_dims)

  def draw(state, rng, x_init, labels, start):
    params = eval_params(state, use_ema)
    if cached:
      vertical = lambda x: model.apply({"params": params}, x, labels,
                                       method=type(model).vertical_features)
      row = lambda xr, fr: model.apply({"params": params}, xr, fr, labels,
                                       method=type(model).horizontal_row)
      return sampling.complete_rows_cached(vertical, row, likelihood, x_init, rng,
                                           start, temperature)
    return sampling.complete(lambda x: apply(params, x, labels), likelihood, x_init,
                             rng, start, temperature)

  def sample(state, rng, num, cond=None):
    x = draw(state, rng, jnp.zeros((num,) + image_shape, jnp.float32),
             sample_labels(num, K, cond), 0)
    return jnp.clip(likelihood.to_unit(x), 0.0, 1.0)

  def image_grids(state, batch, rng):
    """Completion: masked | COMPLETIONS_PER_ROW completions | original."""
    n = GRID_ROWS
    idx = jnp.arange(n) % batch["image"].shape[0]
    x = jnp.take(batch["image"], idx, axis=0)
    labels = jnp.take(batch["label"], idx) if K else None
    start = completion_rows * image_shape[1] * (image_shape[2] if likelihood.per_channel else 1)
    reps = jnp.repeat(x, COMPLETIONS_PER_ROW, axis=0)
    lab = jnp.repeat(labels, COMPLETIONS_PER_ROW) if K else None
    done = draw(state, rng, reps, lab, start)
    unit = lambda a: jnp.clip(likelihood.to_unit(a), 0.0, 1.0)
    rows = jnp.arange(image_shape[0])[None, :, None, None]
    masked = jnp.where(rows < completion_rows, unit(x), 0.5)
    grid = jnp.concatenate([
        masked[:, None], unit(done).reshape((n, COMPLETIONS_PER_ROW) + image_shape),
        unit(x)[:, None]], axis=1)
    return {"completion": grid}

  return Family(
      family="autoregressive", model=m.name, init=init,
      train_step=make_train_step(loss_fn, optimizer, float(optim.get("ema_decay", 0.0))),
      eval_metrics={"nll": eval_nll, "bpd": eval_bpd}, sample=sample,
      image_grids=image_grids, data_to_unit=lambda x: jnp.clip(likelihood.to_unit(x), 0, 1),
      num_classes=K or None,
      init_on_data=m.name == "pixelcnnpp")   # weight norm's data-dependent init
