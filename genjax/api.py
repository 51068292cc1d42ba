"""Trained runs from Python: ``genjax.load(workdir)``.

    import genjax
    run = genjax.load("runs/vae_mnist")
    images = run.sample(16, seed=0)          # numpy [16, H, W, C] in [0, 1]
    z = run.exports["encode"](batch_images)  # the family's exports, bound
    run.config.model, run.step

``run.sample(num, seed=s)`` gives the images ``--mode sample`` draws with
``--config.sample.seed=s --config.sample.num=num`` from the same checkpoint.
"""
import functools

import jax
import numpy as np

from genjax.core import sharding
from genjax.families.base import bundle_of
from genjax.train import restore


class Run:
  """A trained run: its config, step, state and functions bound to them."""

  def __init__(self, loaded):
    self._loaded = loaded
    self.workdir, self.config, self.step = loaded.workdir, loaded.config, loaded.step
    self.family, self.state = loaded.family, loaded.state
    self.deps = loaded.deps
    self.bundle = bundle_of(loaded.family, loaded.state,
                            bool(loaded.config.sample.use_ema), loaded.frozen)
    self.exports = {name: jax.jit(functools.partial(f, self.bundle))
                    for name, f in loaded.family.exports.items()}

  def __repr__(self):
    return (f"genjax.Run({self.family.family}/{self.family.model}, step "
            f"{self.step}, {self.workdir})")

  @functools.cached_property
  def _sample_fn(self):
    # The very program --mode sample compiles (same shardings), so XLA's
    # persistent cache serves it when the run was sampled before.
    return jax.jit(self._loaded.fam.sample, static_argnums=2,
                   out_shardings=sharding.replicated(self._loaded.mesh))

  def sample(self, num, seed=None, cond=None):
    """``num`` samples as numpy [num, H, W, C] in [0, 1]. ``seed`` defaults to
    the run's ``sample.seed``; ``cond``: int labels [num] of a conditional
    model (class-balanced when None), or a dict of fields ({"label": ...,
    and the ``family.cond_keys`` fields the model samples for})."""
    if self.family.sample is None:
      raise ValueError(f"The {self.family.family}/{self.family.model} model "
                       "draws no samples; see run.exports for what it offers.")
    if cond is None and self.family.cond_keys:
      raise ValueError(
          f"The {self.family.family}/{self.family.model} model samples for given "
          f"{', '.join(self.family.cond_keys)}: pass cond={{name: array [num, ...]}}.")
    seed = int(self.config.sample.seed if seed is None else seed)
    rng = jax.random.fold_in(jax.random.PRNGKey(seed), self.step)
    if cond is not None and not isinstance(cond, dict):
      cond = {"label": np.asarray(cond, np.int32)}
    out = self._sample_fn(self.state, rng, int(num), cond, self._loaded.frozen)
    return np.asarray(jax.device_get(out))

  def export_safetensors(self, path):
    """Writes the run's trained parameters (EMA if ``sample.use_ema``) to a
    safetensors file, keyed by their '/'-joined paths; a LoRA run's adapters
    carry their rank, alpha, targets and base fingerprint as metadata (the
    ``file_metadata`` export). Returns the metadata written."""
    from genjax.core import lora
    metadata = {"genjax_family": self.family.family, "genjax_model": self.family.model,
                "genjax_step": str(self.step)}
    if "file_metadata" in self.family.exports:
      metadata.update(self.family.exports["file_metadata"]())
    lora.export_params(path, jax.device_get(self.bundle["trained"]["params"]), metadata)
    return metadata


def load(workdir, step=None):
  """The run in ``workdir`` at checkpoint ``step`` (None: the latest)."""
  return Run(restore.load_run(workdir, step))
