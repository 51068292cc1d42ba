"""The genjax side of benchmarks/peers.py: the experiments' own families, jitted as the loop jits them.

Each case is built from an experiment file, so what is timed is what users
train (``genjax.train.loop.resolve`` + ``loop.jit_train_step``, as
benchmarks/throughput.py times it) with batches already on the device:

  unet   experiments/diffusion/ddpm_mnist.py with the U-Net of UNET_MODEL
         (1,112,801 parameters): L_simple, Adam (cosine schedule, warm-up),
         global-norm clip 1.0, EMA 0.995; batch 64
  ddim   the same family's ``sample`` with config.sample sampler='ddim',
         steps=50, eta=0 (one jitted fori_loop); 64 samples per call
  dcgan  experiments/gan/dcgan_mnist.py: one D and one G step, EMA of G;
         batch 32 (G 996,577, D 36,513 parameters)
  vae    experiments/autoencoder/vae_mnist.py: -ELBO, Adam, EMA; batch 128
         (397,985 parameters)

``param_counts`` needs no compilation (``jax.eval_shape``) and no TensorFlow;
``build`` imports the trainer (and with it TensorFlow) for ``loop.resolve``.
"""
import importlib.util
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from peer_inputs import BATCH, CHECK_SEED, check_inputs, train_batch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENTS = {"unet": "experiments/diffusion/ddpm_mnist.py",
               "ddim": "experiments/diffusion/ddpm_mnist.py",
               "dcgan": "experiments/gan/dcgan_mnist.py",
               "vae": "experiments/autoencoder/vae_mnist.py"}
UNET_MODEL = dict(ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(7,),
                  dropout=0.0)
DDIM_SAMPLE = dict(sampler="ddim", steps=50, eta=0.0)
# What param_counts gives (tests/benchmarks/test_peers.py checks it); the
# torch twins have the same counts.
PARAM_COUNTS = {"unet": {"unet": 1_112_801}, "ddim": {"unet": 1_112_801},
                "dcgan": {"generator": 996_577, "discriminator": 36_513},
                "vae": {"vae": 397_985}}


def load_experiment(path):
  """The module of an experiment file (relative to the repo root)."""
  spec = importlib.util.spec_from_file_location(
      "peers_experiment", os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def case_config(case, batch=None):
  """The experiment config of ``case`` with the benchmark's overrides."""
  config = load_experiment(EXPERIMENTS[case]).get_config()
  if case in ("unet", "ddim"):
    config.model.update(UNET_MODEL)
  if case == "ddim":
    config.sample.update(DDIM_SAMPLE)
  config.train.batch_size = batch or BATCH[case]
  return config


def family_of(config):
  from genjax import registry
  return registry.make_family(config)


def trainable_trees(case, state):
  """name -> the trained parameter tree of ``state`` (G and D for the GAN)."""
  if case == "dcgan":
    return {"generator": state.g_params, "discriminator": state.d_params}
  return {"vae" if case == "vae" else "unet": state.params}


def param_counts(case, family=None):
  """name -> parameter count of ``case``'s networks, without allocating them."""
  family = family or family_of(case_config(case))
  from genjax.families.base import example_batch
  state = jax.eval_shape(family.init, jax.random.PRNGKey(0), example_batch((28, 28, 1)))
  return {name: int(sum(leaf.size for leaf in jax.tree.leaves(tree)))
          for name, tree in trainable_trees(case, state).items()}


def glorot_everywhere(params, seed=CHECK_SEED):
  """``params`` with every all-zero kernel (DDPM's zero-initialised output
  layers) redrawn Glorot-uniform, so a forward check sees a non-zero output."""
  from genjax.nn.attention import DEFAULT_INIT
  leaves, treedef = jax.tree.flatten(params)
  key = jax.random.PRNGKey(seed)
  redrawn = [DEFAULT_INIT(jax.random.fold_in(key, i), x.shape, x.dtype)
             if x.ndim >= 2 and not np.any(np.asarray(x)) else x
             for i, x in enumerate(leaves)]
  return jax.tree.unflatten(treedef, redrawn)


def std(a):
  return float(np.std(np.asarray(a)))


def forward_check(case, family, state, batch):
  """{'shape': NHWC output shape, 'std': {name: value}} at init on
  ``peer_inputs.check_inputs`` (the numbers the torch twin's check also sees)."""
  inputs = check_inputs(case, batch)
  bundle = {"trained": family.trained(state, False), "deps": {}}
  if case == "unet":
    bundle["trained"] = dict(bundle["trained"],
                             params=glorot_everywhere(bundle["trained"]["params"]))
    out = family.exports["denoise"](bundle, inputs["x"], inputs["t"])
    return {"shape": list(out.shape), "std": {"eps": std(out)}}
  if case == "dcgan":
    images = family.exports["generate"](bundle, inputs["z"])
    logits = family.exports["discriminate"](bundle, inputs["x"])
    return {"shape": list(images.shape),
            "std": {"g_images": std(images), "d_logits": std(logits)}}
  code = family.exports["code"](bundle, inputs["x"])
  images = family.exports["decode"](bundle, code)
  return {"shape": list(images.shape), "std": {"code_mean": std(code), "images": std(images)}}


class TrainCase:
  """The jitted train step of ``case``; ``run(n)`` times n steps."""

  def __init__(self, case, batch=None):
    from genjax.core import sharding
    from genjax.families.base import example_batch
    from genjax.train import loop
    from genjax.train.deps import frozen_last
    config = case_config(case, batch)
    self.batch_size = config.train.batch_size
    family, shape = loop.resolve(config)
    mesh = sharding.make_mesh()
    sharding.check_batch_size(self.batch_size, mesh)
    self.state = jax.jit(family.init, out_shardings=sharding.replicated(mesh))(
        jax.random.PRNGKey(0), example_batch(shape))
    self.params = param_counts(case, family)
    self.check = forward_check(case, family, self.state, self.batch_size)
    self.batch = sharding.to_global(train_batch(case, self.batch_size), mesh)
    step = loop.jit_train_step(frozen_last(family), mesh)
    t0 = time.perf_counter()
    self.compiled = step.lower(self.state, self.batch, {}).compile()
    self.compile_s = time.perf_counter() - t0
    # The loop's rule: several CPU devices block on every step.
    self.sync_each = jax.default_backend() == "cpu" and jax.device_count() > 1

  def run(self, steps):
    """Seconds for ``steps`` train steps, blocking on the last one's results."""
    t0 = time.perf_counter()
    metrics = None
    for _ in range(steps):
      self.state, metrics = self.compiled(self.state, self.batch, {})
      if self.sync_each:
        jax.block_until_ready(metrics)
    jax.block_until_ready((self.state, metrics))
    return time.perf_counter() - t0


class SampleCase:
  """The family's jitted ``sample`` of ``batch`` images; ``run(n)`` times n calls."""

  def __init__(self, case="ddim", batch=None):
    from genjax.core import sharding
    from genjax.families.base import example_batch
    from genjax.train import loop
    config = case_config(case, batch)
    self.batch_size = config.train.batch_size
    family, shape = loop.resolve(config)
    rep = sharding.replicated(sharding.make_mesh())
    self.state = jax.jit(family.init, out_shardings=rep)(
        jax.random.PRNGKey(0), example_batch(shape))
    self.params = param_counts(case, family)
    self.sample = jax.jit(family.sample, static_argnums=2, out_shardings=rep)
    t0 = time.perf_counter()
    images = jax.block_until_ready(self.sample(self.state, jax.random.PRNGKey(1),
                                               self.batch_size))
    self.compile_s = time.perf_counter() - t0   # compile + one call
    self.check = {"shape": list(images.shape), "std": {"images": std(images)}}
    self.calls = 0

  def run(self, steps):
    """Seconds for ``steps`` sampler calls of ``batch_size`` images each."""
    t0 = time.perf_counter()
    for _ in range(steps):
      self.calls += 1
      images = self.sample(self.state, jax.random.PRNGKey(1 + self.calls), self.batch_size)
      jax.block_until_ready(images)
    return time.perf_counter() - t0


def build(case, batch=None):
  """The genjax side of ``case``: a TrainCase, or the SampleCase of 'ddim'."""
  if case == "ddim":
    return SampleCase(case, batch)
  return TrainCase(case, batch)
