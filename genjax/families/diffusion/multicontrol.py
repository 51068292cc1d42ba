"""Multi-ControlNet (``model.name='multi_controlnet'``): several trained
ControlNet runs over one base, their residuals summed with weights at
sampling time (Zhang et al. 2023, sec. 4 "composition of multiple
conditions"; diffusers' ``MultiControlNetModel``). Nothing trains.

Every entry of ``config.deps`` is a ControlNet run (``controlnet_*``) over
the same base run (the same pinned fingerprint); ``model.control.keys``
names the batch field each one reads, in the sorted order of the deps'
names, and ``model.control.weights`` their conditioning scales. Sampling
fields (sampler, steps, eta, guidance weight) are this config's; classifier-
free guidance applies every control to both halves.
"""
import dataclasses
import functools
from typing import Any, Tuple

import jax.numpy as jnp

from genjax.config import require
from genjax.errors import ConfigError
from genjax.families.base import Family, require_dependency, sample_labels
from genjax.families.diffusion import control, ddpm, guidance, on_base
from genjax.families.diffusion.controlnet import summed

USER = "Multi-ControlNet (model.name='multi_controlnet')"


@dataclasses.dataclass(frozen=True)
class MultiSettings:
  names: Tuple[str, ...]        # the ControlNet deps, sorted
  controls: Tuple[Any, ...]     # their ControlSettings (this config's sampling)
  keys: Tuple[str, ...]         # the batch field each reads
  weights: Tuple[float, ...]
  first_stage: Any              # the base's first stage Dependency, or None

  @property
  def diffusion(self):
    return self.controls[0].diffusion


def read_multi_settings(config, deps):
  names = tuple(sorted(deps or {}))
  if len(names) < 2:
    raise ConfigError(f"{USER} joins two or more trained ControlNet runs: set "
                      "config.deps.<name> = dependency(workdir=...) for each.")
  runs = [require_dependency(deps, n, "diffusion", "controlnet", USER) for n in names]
  pins = {r.deps[on_base.DEP].fingerprint for r in runs}
  if len(pins) != 1:
    raise ConfigError(f"{USER}: the ControlNets {', '.join(names)} were trained over "
                      "different base runs; join ControlNets of one base.")
  keys = tuple(str(k) for k in require(config, "model.control.keys"))
  weights = tuple(float(w) for w in require(config, "model.control.weights"))
  if len(keys) != len(names) or len(weights) != len(names):
    raise ConfigError(f"{USER}: model.control.keys {keys} and weights {weights} need one "
                      f"entry per ControlNet ({', '.join(names)}, in that order).")
  controls, first_stage = [], None
  for run in runs:
    cs, base_dep, first_stage = control.read_control_settings(run.config, run.deps)
    base, _ = on_base.read_base(config, base_dep, USER, backbones=("unet",))
    controls.append(dataclasses.replace(cs, base=base, control_image=None))
  return MultiSettings(names, tuple(controls), keys, weights, first_stage), runs


def multi_output(ms, nets, frozen, z, t, y):
  """The locked U-Net with sum_k w_k ControlNet_k's residuals (y["controls"][k])."""
  d = ms.diffusion
  labels = y.get("label") if d.num_classes else None
  residuals = [n.control.apply({"params": frozen[name]["trained"]["params"]}, z, t, c,
                               labels)
               for name, n, c in zip(ms.names, nets, y["controls"])]
  base = frozen[ms.names[0]]["deps"]
  out = nets[0].base.model.apply({"params": on_base.base_params(base)}, z, t, labels,
                                 residuals=summed(residuals, ms.weights))
  return ddpm.split_learned(d, out)


def sample(ms, nets, state, rng, num, cond, frozen):
  """``num`` samples following every control map ``cond[key]`` at once."""
  del state
  d = ms.diffusion
  missing = [k for k in ms.keys if not cond or k not in cond]
  if missing:
    raise ConfigError(f"{USER} samples for the condition maps {ms.keys}: pass cond with "
                      f"{missing} ([num, H, W, C] each).")
  y = {"controls": tuple(control.control_of(dataclasses.replace(cs, key=k), cond)
                         for cs, k in zip(ms.controls, ms.keys))}
  if d.num_classes:
    y["label"] = sample_labels(num, d.num_classes, cond)
  conditional = lambda z, t, c: multi_output(ms, nets, frozen, z, t, c)
  return on_base.draw(ms.controls[0].base, ms.first_stage, nets[0].base.sample_schedule,
                      control.guided(d, conditional, y), rng, num,
                      frozen[ms.names[0]]["deps"])


def make_multi_family(config, deps):
  ms, runs = read_multi_settings(config, deps)
  nets = tuple(control.build_networks(cs, run.config) for cs, run in zip(ms.controls, runs))
  return Family(
      family="diffusion", model="multi_controlnet", init=guidance.init, train_step=None,
      eval_metrics={}, sample=functools.partial(sample, ms, nets), image_grids=None,
      data_to_unit=on_base.data_to_unit(ms.first_stage),
      num_classes=ms.diffusion.num_classes or None, deps=ms.names, trains=False,
      cond_keys=ms.keys)
