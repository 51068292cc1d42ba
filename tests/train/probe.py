"""A test-only consumer model: a linear probe trained to predict a frozen
autoencoder run's code of each image (``config.deps.teacher``).

It exercises what every model built on a trained run needs from the trainer
(a dependency resolved and pinned, its bundle passed to the jitted step as an
argument, exact resume) with the smallest possible model of its own. Tests
register it under the family name 'probe' (``register``); a subprocess test
calls ``run_main`` instead of launch.py.
"""
import functools

import flax.linen as nn
import jax.numpy as jnp

from genjax import registry
from genjax.config import base_config, dependency
from genjax.core.optim import optimizer_from_config
from genjax.core.state import create_train_state
from genjax.core.step import make_train_step
from genjax.families.base import Family, require_dependency

TEACHER = "experiments/autoencoder/ae_mnist.py"


def register(monkeypatch=None):
  entry = "tests.train.probe:make_family"
  if monkeypatch is not None:
    monkeypatch.setitem(registry.FAMILIES, "probe", entry)
  else:
    registry.FAMILIES["probe"] = entry


def probe_config(teacher_workdir, num_steps=6):
  c = base_config()
  c.family = "probe"
  c.model.image_shape = (28, 28, 1)
  c.data.update(name="mnist", preprocess=("scale_01",), shuffle_buffer=1_000)
  c.train.update(batch_size=16, num_steps=num_steps, log_every=2, ckpt_every=2,
                 sample_every=0, eval_every=0)
  c.optim.update(lr=1e-2, ema_decay=0.9)
  c.eval.update(metrics=("mse",), batch_size=16, num_examples=32)
  c.deps.teacher = dependency(workdir=teacher_workdir, experiment=TEACHER)
  return c


def teacher_code(deps, frozen, images):
  return deps["teacher"].family.exports["code"](frozen["teacher"], images)


def loss_fn(model, deps, params, model_state, batch, rng, frozen):
  del rng
  target = teacher_code(deps, frozen, batch["image"])
  pred = model.apply({"params": params}, batch["image"].reshape(len(target), -1))
  loss = jnp.mean(jnp.square(pred - target))
  return loss, ({"mse": loss}, model_state)


def init(model, optimizer, rng, batch, frozen):
  del frozen   # the probe's width is the teacher's code size (make_family)
  x = batch["image"].reshape(batch["image"].shape[0], -1)
  params = model.init(rng, x)["params"]
  return create_train_state(rng, params, optimizer)


def eval_mse(model, deps, state, batch, rng, frozen):
  del rng
  target = teacher_code(deps, frozen, batch["image"])
  pred = model.apply({"params": state.ema_params},
                     batch["image"].reshape(len(target), -1))
  return jnp.mean(jnp.square(pred - target), axis=-1)


def make_family(config, deps=None):
  teacher = require_dependency(deps, "teacher", "autoencoder", None, "the probe")
  features = int(teacher.config.model.latent_dim)
  model = nn.Dense(features)
  optimizer, ema_decay = optimizer_from_config(config.optim)
  bind = lambda f: functools.partial(f, model, deps)
  return Family(
      family="probe", model="probe",
      init=functools.partial(init, model, optimizer),
      train_step=make_train_step(bind(loss_fn), optimizer, ema_decay, with_frozen=True),
      eval_metrics={"mse": bind(eval_mse)}, sample=None, deps=("teacher",))


def teacher_config(hidden):
  """An MLP autoencoder teacher of width ``hidden`` (64: 0.1M parameters,
  6400: 10M), for the frozen-size comparison."""
  from genjax.families.autoencoder.config import default_config
  c = default_config()
  c.model.update(name="ae", architecture="mlp", hidden=(hidden,), latent_dim=32,
                 recon_loss="bce")
  c.data.update(name="mnist", preprocess=("scale_01",), shuffle_buffer=1_000)
  c.train.update(batch_size=16, num_steps=1, log_every=1, ckpt_every=1,
                 sample_every=0, eval_every=0)
  c.sample.num = 4
  return c


def step_costs(teacher_workdir, workdir, closed_over=False, repeats=1):
  """Compile time (s), serialized executable size and HLO text size (bytes) of the
  probe's jitted train step over the frozen teacher; ``closed_over``: the
  teacher's bundle baked into the program as constants (what genjax avoids)."""
  import time

  import jax
  import numpy as np

  from genjax.core import sharding
  from genjax.train import loop
  c = probe_config(teacher_workdir)
  c.lock()
  run = loop._Run(c, workdir, "train")
  state = run.fresh_state()
  batch = sharding.to_global({"image": np.zeros((16, 28, 28, 1), np.float32),
                              "label": np.zeros((16,), np.int32)}, run.mesh)
  step = loop.jit_train_step(run.fam, run.mesh)
  args = (state, batch, run.frozen)
  if closed_over:
    frozen = run.frozen
    step = jax.jit(lambda s, b: loop.jit_train_step(run.fam, run.mesh)(s, b, frozen))
    args = (state, batch)
  times = []
  for _ in range(repeats):   # the median of ``repeats`` lower + compile
    jax.clear_caches()       # (else the second lowering is served from memory)
    t0 = time.perf_counter()
    lowered = step.lower(*args)
    compiled = lowered.compile()
    times.append(time.perf_counter() - t0)
  seconds = float(np.median(times))
  from jax.experimental import serialize_executable
  executable = serialize_executable.serialize(compiled)[0]
  run.ckpt.close()
  frozen_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(run.frozen))
  return dict(frozen_params=frozen_params, compile_s=seconds,
              executable_bytes=len(executable),
              hlo_bytes=len(lowered.as_text()))
