"""The family contract (docs/architecture.md): pure functions built from a config.

    family = make_family(config, runs=None)   # runs: the trainer's loader of other runs
    state = family.init(rng, example_batch)
    state, metrics = family.train_step(state, batch)        # the loop jits it
    values = family.eval_metrics[name](state, batch, rng)    # per-example [B], or a
                                     # dict {name: [B]}: names mapped to one function
                                     # (restorations' psnr/ssim/...) run it once
    family.split_metrics[name]      # SplitMetric: a metric of a whole split
    images = family.sample(state, rng, num, cond=None)       # [num,H,W,C] in [0,1]
                                     # cond: None or a dict of fields, [num, ...] each:
                                     # "label" int32 when num_classes is set, and
                                     # the eval-batch fields of family.cond_keys
    grids = family.image_grids(state, batch, rng)            # name -> [R,C,H,W,C] in [0,1]
    family.init_on_data    # True: a fresh run calls init(rng, first training
                           # batch) in place of init(rng, example batch)

Models built on trained models (docs/architecture.md, "Dependencies"):

    bundle = {"trained": family.trained(state, use_ema), "deps": {name: bundle}}
    out = family.exports[name](bundle, *args)   # pure functions a consumer calls
    family.deps            # names of config.deps this family's functions use;
                           # when non-empty, init, train_step, every eval
                           # metric, sample and image_grids take one more
                           # (last) argument: frozen = {name: bundle}

Batches are dicts of global ``jax.Array``s: ``image`` float32 [B,H,W,C] (as
the data pipeline's preprocessing left it), ``label`` int32 [B], and for
evaluation ``valid`` float32 [B] (0 for padding; any other field, e.g. an
inpainting ``mask``, as the pipeline wrote it: docs/data.md). Evaluation metrics return
one value per example; the loop takes the masked mean over the split. The
rng passed to evaluation is fixed, so an evaluation is reproducible.
"""
import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Optional, Tuple

import jax.numpy as jnp

from genjax.data import preprocess
from genjax.errors import ConfigError


class SplitMetric(NamedTuple):
  """An evaluation metric of a whole split that is not a mean of per-example
  values (e.g. the perplexity of a VQ-VAE's codes over the test set):
  ``stats(state, batch, rng[, frozen])`` gives per-example statistics
  [B, ...] that the loop sums over the split (padding masked out), and
  ``reduce(total, count)`` turns that sum (a numpy array) and the number of
  examples into the metric's float."""
  stats: Callable[..., Any]
  reduce: Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class Family:
  family: str            # the registry's name of the family: 'autoencoder', 'gan', ...
  model: str             # the model within it: 'vae', 'ddpm', 'pixelcnn', 'dcgan', ...
  init: Callable[..., Any]
  train_step: Callable[..., Any]
  eval_metrics: Mapping[str, Callable[..., Any]]
  sample: Optional[Callable[..., Any]] = None   # None: the model draws no samples
  image_grids: Optional[Callable[..., Any]] = None
  # How the loop turns the model's float images back into [0,1] for pictures
  # of *data* (e.g. the batch itself); models' own outputs are already [0,1].
  data_to_unit: Callable[..., Any] = lambda x: x
  # Class-conditional families: the number of classes ``sample`` takes as
  # ``cond`` (None: unconditional). Sample metrics then draw class-balanced
  # samples, and ``cond_acc`` becomes available.
  num_classes: Optional[int] = None
  # Data-dependent initialisation (weight normalisation, Salimans & Kingma
  # 2016): a fresh run calls ``init`` once with its first training batch (in
  # place of the example batch) before the first step; a resumed run restores
  # its state instead. Shapes never depend on the batch, so restoring still
  # traces ``init`` with the example batch.
  init_on_data: bool = False
  # What a trained run of this family offers consumers: name -> pure function
  # f(bundle, *args) (e.g. autoencoder 'encode'/'decode', diffusion 'denoise',
  # autoregressive 'log_prob', GAN 'generate', classifiers 'logits').
  exports: Mapping[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)
  # (state, use_ema) -> the parameters (and model state) the exports read:
  # ``bundle["trained"]``. Optimiser state is never part of it.
  trained: Callable[..., Any] = None
  # The config.deps names whose bundles this family's functions take as
  # their last argument ``frozen`` (a jit argument, never in the state).
  deps: Tuple[str, ...] = ()
  # False: a model with nothing of its own to train, made of frozen runs
  # (e.g. classifier guidance joining a denoiser and a classifier): eval and
  # sample start it in a fresh workdir; train refuses it.
  trains: bool = True
  # Fields of an example (a ``control`` map, a low-resolution copy, a
  # ``mask``...) that ``sample`` takes in ``cond``: sample metrics, grids and
  # --mode sample draw them from the eval split.
  cond_keys: Tuple[str, ...] = ()
  # The field of an eval example that holds the class of what ``sample``
  # draws for its ``cond_keys`` (``cond_acc`` checks it): 'label', or the
  # unpaired stream's 'target_label' for a translation from that stream.
  label_key: str = "label"
  # Metrics of a whole split (``SplitMetric``), named like eval_metrics.
  split_metrics: Mapping[str, SplitMetric] = dataclasses.field(default_factory=dict)
  # Pretrained weights from outside (a text encoder): name -> a loader of
  # {"params": ...}. The trainer puts {"trained": that, "deps": {}} under the
  # name in ``frozen``, beside the dependencies' bundles (a jit argument,
  # never in the state or checkpoints).
  pretrained: Mapping[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.trained is None:
      object.__setattr__(self, "trained", trained_params)


def trained_params(state, use_ema=True):
  """``bundle["trained"]`` of a TrainState family: the parameters evaluation
  uses (EMA when kept and asked for) and the model state (e.g. batch_stats)."""
  params = (state.ema_params if use_ema and state.ema_params is not None
            else state.params)
  return {"params": params, "model_state": state.model_state}


def bundle_of(family, state, use_ema=True, deps_bundles=None):
  """The bundle a consumer's ``frozen`` holds for a trained run of ``family``."""
  return {"trained": family.trained(state, use_ema), "deps": dict(deps_bundles or {})}


def require_dependency(deps, name, family, model, user):
  """``deps[name]``, checked to be a trained ``family``/``model`` run (model
  None: any model of the family); a ConfigError that says what to set
  otherwise (``user``: who needs it)."""
  deps = deps or {}
  if name not in deps:
    raise ConfigError(
        f"{user} builds on a trained {family}/{model} run named {name!r}: set "
        f"config.deps.{name} = genjax.config.dependency(workdir=...) in the "
        f"experiment and pass --config.deps.{name}.workdir=<its workdir>.")
  dep = deps[name]
  if dep.family.family != family or model not in (None, dep.family.model):
    raise ConfigError(
        f"config.deps.{name}.workdir={dep.workdir} holds a {dep.family.family}/"
        f"{dep.family.model} run; {user} needs a {family}/{model or '*'} run there.")
  return dep


def image_ops(specs):
  """The preprocessing op specs that write the ``image`` field (what a first
  stage's encoder sees); ops writing other fields (captions, tokens, control
  maps) are the consumer's own."""
  return [spec for spec in specs if "image" in preprocess.parse_op(spec).outkeys]


def check_same_data(config, dep, name, user):
  """A model that encodes its images with a first stage (``config.deps.<name>``:
  a VQ-VAE, a KL autoencoder) must read and preprocess them as it was
  trained; ``user`` names the model in the error."""
  mine = (config.data.name, image_ops(config.data.preprocess))
  theirs = (dep.config.data.name, image_ops(dep.config.data.preprocess))
  if mine != theirs:
    raise ConfigError(
        f"{user} encodes its images with the first stage at config.deps.{name}."
        f"workdir={dep.workdir}, trained on {theirs[0]!r} with preprocess "
        f"{theirs[1]} on its images; this config has {mine[0]!r} with {mine[1]}. "
        f"Set config.data.name={theirs[0]!r} and the ops that write 'image' in "
        f"config.data.preprocess to {theirs[1]}.")


def sample_labels(num, num_classes, cond=None):
  """Labels of a conditional ``sample``: ``cond["label"]`` (or ``cond`` itself,
  an int array) if given, else class-balanced (0, 1, ..., K-1, 0, 1, ...);
  None for an unconditional family (K falsy)."""
  if not num_classes:
    return None
  if isinstance(cond, Mapping):
    cond = cond.get("label")
  if cond is None:
    return jnp.arange(num, dtype=jnp.int32) % num_classes
  return jnp.asarray(cond, jnp.int32)


def pm1_to_unit(x):
  """[-1, 1] -> [0, 1] (clipped): data scaled by ``scale_pm1`` back to the
  family contract's picture range."""
  return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


def cycle_to(x, num):
  """The first ``num`` entries of ``x`` along axis 0, cycling when ``x`` has
  fewer (grids of a fixed size from batches of any size; static shapes)."""
  return jnp.take(x, jnp.arange(num) % x.shape[0], axis=0)


def example_batch(image_shape):
  """The batch ``family.init`` sees: parameter shapes never depend on its size."""
  return {"image": jnp.zeros((1,) + tuple(image_shape), jnp.float32),
          "label": jnp.zeros((1,), jnp.int32)}
