"""LoRA fine-tuning of a trained denoiser (``model.name='lora'``, Hu et al.
2021): the base run ``config.deps.base`` (pixel ``ddpm`` or latent ``ldm``)
is a frozen jit argument; only low-rank adapters of the kernels that
``model.lora.targets`` selects train (``genjax.core.lora``: A random, B zero,
so the adapted model starts as the base; W = W0 + (alpha / r) A B), on the
base's own loss over this experiment's data. The checkpoint holds the adapters
alone; ``genjax.load(workdir).export_safetensors(path)`` writes them with
their rank, alpha, targets and the base run's fingerprint.

Sampling merges the adapters into the base weights with ``sample.lora_weight``
(0: the base model exactly) plus any adapter files in ``sample.adapters``
("file.safetensors" or "file.safetensors@weight"), each checked against this
base (its fingerprint and shapes) at start-up.
"""
import dataclasses
import functools
from typing import Any, Callable, Tuple

import jax
import jax.numpy as jnp

from genjax.config import require
from genjax.core import lora as lora_lib
from genjax.core.optim import optimizer_from_config
from genjax.core.precision import read_compute_dtype
from genjax.core.state import TrainState, create_train_state, eval_params
from genjax.core.step import make_train_step
from genjax.errors import ConfigError
from genjax.families.base import Family
from genjax.families.diffusion import ddpm, latent, on_base

DEP = on_base.DEP
USER = "LoRA (model.name='lora')"


@dataclasses.dataclass(frozen=True)
class LoraSettings:
  base: Any                     # the base's Settings (or LatentSettings) + sampling fields
  targets: str                  # the regex over the base's parameter paths
  paths: Tuple[str, ...]        # the kernels it selects
  rank: int
  alpha: float
  weight: float                 # sample.lora_weight
  extra: Tuple[Any, ...]        # (adapters, alpha, weight) of sample.adapters' files
  fingerprint: str              # the base run's (config.deps.base, pinned)


@dataclasses.dataclass(frozen=True)
class BaseFunctions:
  """The base model's own functions, each taking its parameters' place in a
  state or loss and the base's dependency bundles last."""
  loss_fn: Callable
  eval_loss: Callable
  sample: Callable
  image_grids: Callable
  optimizer: Any
  ema_decay: float


def base_functions(settings, first_stage, config):
  """The base family's loss, eval loss, sampler and grids, bound to its
  settings and networks (this config's optimiser for the adapters)."""
  optimizer, ema_decay = optimizer_from_config(dict(require(config, "optim")))
  if first_stage is None:
    nets = ddpm.build_networks(settings)
    ignore = lambda fn: (lambda *a: functools.partial(fn, settings, nets)(*a[:-1]))
    fns = (ddpm.loss_fn, ddpm.eval_loss, ddpm.sample, ddpm.image_grids)
    return nets, BaseFunctions(*map(ignore, fns), optimizer, ema_decay)
  nets = latent.build_networks(settings)
  bind = lambda fn: functools.partial(fn, settings, nets, first_stage)
  fns = (latent.loss_fn, latent.eval_loss, latent.sample, latent.image_grids)
  return nets, BaseFunctions(*map(bind, fns), optimizer, ema_decay)


def base_param_shapes(settings, nets):
  """The base network's parameter tree as ShapeDtypeStructs (no allocation)."""
  d = on_base.diffusion_settings(settings)
  z = jnp.zeros((1,) + d.image_shape, jnp.float32)
  t = jnp.zeros((1,), jnp.int32)
  labels = jnp.zeros((1,), jnp.int32) if d.num_classes else None
  rngs = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}
  return jax.eval_shape(lambda: nets.model.init(rngs, z, t, labels=labels)["params"])


def read_adapter_files(specs, shapes, fingerprint):
  """(adapters, alpha, weight) of each "path[@weight]" in ``sample.adapters``,
  refused (ConfigError) when made for another base."""
  out = []
  for spec in specs:
    path, _, weight = str(spec).partition("@")
    try:
      weight = float(weight) if weight else 1.0
    except ValueError:
      raise ConfigError(f"config.sample.adapters entry {spec!r}: the weight after "
                        "'@' must be a number, e.g. 'style.safetensors@0.5'.") from None
    try:
      adapters, metadata = lora_lib.load_safetensors(path)
    except (OSError, FileNotFoundError) as e:
      raise ConfigError(f"config.sample.adapters entry {spec!r}: cannot read {path} "
                        f"({e}).") from None
    try:
      lora_lib.check_fingerprint(metadata, fingerprint)
      lora_lib.check_adapters(shapes, adapters)
    except ConfigError as e:
      raise ConfigError(f"config.sample.adapters entry {spec!r}: {e}") from None
    out.append((adapters, float(metadata["lora_alpha"]), weight))
  return tuple(out)


def read_lora_settings(config, deps):
  """(LoraSettings, the base's first stage Dependency or None, its functions);
  ConfigErrors at start-up."""
  dep = on_base.base_dependency(deps, USER)
  on_base.check_image_ops(config, dep, USER)
  settings, first_stage = on_base.read_base(config, dep, USER)
  nets, fns = base_functions(settings, first_stage, config)
  shapes = base_param_shapes(settings, nets)
  targets, rank = require(config, "model.lora.targets"), require(config, "model.lora.rank")
  if isinstance(rank, bool) or not isinstance(rank, int):
    raise ConfigError(f"model.lora.rank must be an integer, got {rank!r}.")
  paths = tuple(lora_lib.select_targets(shapes, targets, rank))
  alpha = float(require(config, "model.lora.alpha"))
  if alpha <= 0:
    raise ConfigError(f"model.lora.alpha must be > 0 (the scale is alpha / rank), "
                      f"got {alpha}.")
  extra = read_adapter_files(require(config, "sample.adapters"), shapes, dep.fingerprint)
  return LoraSettings(
      base=settings, targets=targets, paths=paths, rank=rank, alpha=alpha,
      weight=float(require(config, "sample.lora_weight")), extra=extra,
      fingerprint=dep.fingerprint), first_stage, fns


# -- the family's functions (``frozen`` last) ---------------------------------


def merged(ls, frozen, adapters, weight=1.0, extra=()):
  """The base's parameters with the adapters merged (W0 + weight (alpha/r) A B)."""
  entries = [(adapters, ls.alpha, weight)] + list(extra)
  return lora_lib.merge(on_base.base_params(frozen), entries)


def base_bundles(frozen):
  """The base run's own dependency bundles (a latent base's first stage)."""
  return frozen[DEP].get("deps", {})


def as_state(params):
  """A state the base's eval and sampling functions read (EMA or not: the same)."""
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=(),
                    ema_params=params, rng=jnp.zeros((2,), jnp.uint32))


def init(ls, fns, rng, example_batch, frozen):
  """Adapters for ``ls.paths``: A kaiming-uniform, B zero (the base exactly)."""
  del example_batch
  adapter_rng, state_rng = jax.random.split(rng)
  adapters = lora_lib.init_adapters(adapter_rng, on_base.base_params(frozen), ls.paths,
                                    ls.rank)
  return create_train_state(state_rng, adapters, fns.optimizer, ema=True)


def loss_fn(ls, fns, params, model_state, batch, rng, frozen):
  """The base's loss at the adapted weights; gradients reach the adapters only."""
  return fns.loss_fn(merged(ls, frozen, params), model_state, batch, rng,
                     base_bundles(frozen))


def use_ema(ls):
  return on_base.diffusion_settings(ls.base).use_ema


def eval_loss(ls, fns, state, batch, rng, frozen):
  weights = merged(ls, frozen, eval_params(state, use_ema(ls)))
  return fns.eval_loss(as_state(weights), batch, rng, base_bundles(frozen))


def sample(ls, fns, state, rng, num, cond, frozen):
  """Samples of the base with the adapters merged at ``sample.lora_weight``
  (and ``sample.adapters``' files at theirs)."""
  weights = merged(ls, frozen, eval_params(state, use_ema(ls)), ls.weight, ls.extra)
  return fns.sample(as_state(weights), rng, num, cond, base_bundles(frozen))


def image_grids(ls, fns, state, batch, rng, frozen):
  weights = merged(ls, frozen, eval_params(state, use_ema(ls)), ls.weight, ls.extra)
  return fns.image_grids(as_state(weights), batch, rng, base_bundles(frozen))


def file_metadata(ls, bundle=None):
  """The safetensors metadata of this run's adapters (export_safetensors)."""
  del bundle
  return lora_lib.lora_metadata(ls.rank, ls.alpha, ls.targets, ls.fingerprint)


def make_lora_family(config, deps):
  """The LoRA Family: functions take ``frozen`` (the base run's bundle) last."""
  ls, first_stage, fns = read_lora_settings(config, deps)
  bind = lambda fn: functools.partial(fn, ls, fns)
  d = on_base.diffusion_settings(ls.base)
  return Family(
      family="diffusion", model="lora", init=bind(init),
      train_step=make_train_step(bind(loss_fn), fns.optimizer, fns.ema_decay,
                                 compute_dtype=read_compute_dtype(config),
                                 with_frozen=True),
      eval_metrics={"loss": bind(eval_loss)}, sample=bind(sample),
      image_grids=bind(image_grids), data_to_unit=on_base.data_to_unit(first_stage),
      num_classes=d.num_classes or None, deps=(DEP,),
      exports={"file_metadata": functools.partial(file_metadata, ls)})
