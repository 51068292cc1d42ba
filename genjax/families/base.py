"""The family contract (docs/architecture.md): pure functions built from a config.

    family = make_family(config, runs=None)   # runs: the trainer's loader of other runs
    state = family.init(rng, example_batch)
    state, metrics = family.train_step(state, batch)        # the loop jits it
    values = family.eval_metrics[name](state, batch, rng)    # per-example [B]
    images = family.sample(state, rng, num, cond=None)       # [num,H,W,C] in [0,1]
                                     # cond: int32 [num] labels when num_classes is set
    grids = family.image_grids(state, batch, rng)            # name -> [R,C,H,W,C] in [0,1]
    family.init_on_data    # True: a fresh run calls init(rng, first training
                           # batch) in place of init(rng, example batch)

Batches are dicts of global ``jax.Array``s: ``image`` float32 [B,H,W,C] (as
the data pipeline's preprocessing left it), ``label`` int32 [B], and for
evaluation ``mask`` float32 [B] (0 for padding). Evaluation metrics return
one value per example; the loop takes the masked mean over the split. The
rng passed to evaluation is fixed, so an evaluation is reproducible.
"""
import dataclasses
from typing import Any, Callable, Mapping, Optional

import jax.numpy as jnp


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


def sample_labels(num, num_classes, cond=None):
  """Labels of a conditional ``sample``: ``cond`` if given, else class-balanced
  (0, 1, ..., K-1, 0, 1, ...); None for an unconditional family (K falsy)."""
  if not num_classes:
    return None
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
