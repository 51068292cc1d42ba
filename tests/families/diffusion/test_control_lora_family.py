"""ControlNet and LoRA as models built on a trained denoiser run (ddpm_mnist's
smoke run): exactness against the base (scale 0, weight 0), the base left
bitwise unchanged by training, only the new parameters in the state, and
start-up errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from genjax.core import lora as lora_lib
from genjax.core import sharding
from genjax.core.params import flat_leaves
from genjax.errors import ConfigError
from genjax.families.base import example_batch
from genjax.train import deps as deps_lib
from genjax import registry
from tests.helpers import load_config, program_group, with_smoke_deps

# With ddpm_mnist's smoke test and its consumers: one worker trains the base
# smoke runs once and serves them all.
pytestmark = pytest.mark.xdist_group(program_group("experiments/diffusion/ddpm_mnist.py"))
CONTROL = "experiments/diffusion/controlnet_skeleton_fashion_mnist.py"
LORA = "experiments/diffusion/lora_fashion_mnist.py"


def built(config):
  """(family, frozen bundles, the base's own family) of ``config``."""
  mesh = sharding.make_mesh()
  resolved, frozen = deps_lib.resolve(config, mesh)
  return registry.make_family(config, deps=resolved), frozen, resolved["base"]


def smoke_config(path, smoke_root, **sample):
  config = with_smoke_deps(load_config(path), smoke_root)
  config.sample.update(sample)
  return config


def batch_of(config, n=4, seed=0):
  rng = np.random.default_rng(seed)
  batch = {"image": jnp.asarray(rng.uniform(-1, 1, (n, 28, 28, 1)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 10, n), jnp.int32)}
  if config.model.name == "controlnet":
    batch["control"] = jnp.asarray(rng.integers(0, 2, (n, 28, 28, 1)), jnp.float32)
  return batch


def trained_state(family, frozen, config, steps=2):
  state = jax.jit(family.init)(jax.random.PRNGKey(0), example_batch((28, 28, 1)), frozen)
  step = jax.jit(family.train_step)
  for i in range(steps):
    state, _ = step(state, batch_of(config, seed=i), frozen)
  return state


def base_sample(dep, frozen, num, rng):
  """The base run's own samples (its family, its trained parameters)."""
  from genjax.families.diffusion.guidance import denoiser_state
  return dep.family.sample(denoiser_state(frozen["base"]), rng, num)


@pytest.mark.parametrize("path", [CONTROL, LORA])
@pytest.mark.slow
def test_training_changes_only_the_new_parameters_and_the_base_stays_bitwise(
    path, smoke_root):
  config = smoke_config(path, smoke_root)
  family, frozen, _ = built(config)
  before = {p: np.array(v) for p, v in flat_leaves(frozen).items()}
  # (the copy's gradients are zero until the zero convs have moved: 4 steps)
  state = trained_state(family, frozen, config, steps=4)
  after = flat_leaves(frozen)
  assert sorted(before) == sorted(after)
  assert all(np.array_equal(before[p], after[p]) for p in before)
  mine = flat_leaves(state.params)
  base = flat_leaves(frozen["base"]["trained"]["params"])
  if config.model.name == "lora":   # adapters only, B moved off zero
    assert all(p.endswith(("/lora_A", "/lora_B")) for p in mine)
    assert any(np.any(np.asarray(v)) for p, v in mine.items() if p.endswith("lora_B"))
  else:   # the encoder copy trained away from the base; no decoder copied
    assert not any(p.startswith(("up_", "conv_out")) for p in mine)
    assert np.any(mine["zero_mid/kernel"])
    assert not np.array_equal(mine["conv_in/kernel"], base["conv_in/kernel"])


def test_controlnet_at_scale_zero_samples_the_base_model_bitwise(smoke_root):
  config = smoke_config(CONTROL, smoke_root, control_scale=0.0)
  family, frozen, dep = built(config)
  state = trained_state(family, frozen, config)
  rng = jax.random.PRNGKey(3)
  cond = {"control": batch_of(config)["control"]}
  np.testing.assert_array_equal(family.sample(state, rng, 4, cond, frozen),
                                base_sample(dep, frozen, 4, rng))
  controlled = smoke_config(CONTROL, smoke_root, control_scale=1.0)
  family1, _, _ = built(controlled)
  assert not np.array_equal(family1.sample(state, rng, 4, cond, frozen),
                            base_sample(dep, frozen, 4, rng))


def test_lora_at_weight_zero_samples_the_base_model_bitwise(smoke_root):
  config = smoke_config(LORA, smoke_root, lora_weight=0.0)
  family, frozen, dep = built(config)
  state = trained_state(family, frozen, config)
  rng = jax.random.PRNGKey(3)
  np.testing.assert_array_equal(family.sample(state, rng, 4, None, frozen),
                                base_sample(dep, frozen, 4, rng))


def test_an_adapter_file_for_another_base_is_refused(smoke_root, tmp_path):
  config = smoke_config(LORA, smoke_root)
  family, frozen, dep = built(config)
  adapters = trained_state(family, frozen, config).params
  good = str(tmp_path / "good.safetensors")
  lora_lib.save_safetensors(good, adapters, family.exports["file_metadata"]())
  built(smoke_config(LORA, smoke_root, adapters=(good + "@0.5",)))   # accepted
  other = str(tmp_path / "other.safetensors")
  lora_lib.save_safetensors(other, adapters, lora_lib.lora_metadata(
      2, 2.0, ".*", "sha256:another-run"))
  with pytest.raises(ConfigError, match="different base model"):
    built(smoke_config(LORA, smoke_root, adapters=(other,)))
  wrong = jax.tree.map(lambda a: jnp.zeros((a.shape[0] + 1,) + a.shape[1:]), adapters)
  misfit = str(tmp_path / "misfit.safetensors")
  lora_lib.save_safetensors(misfit, wrong, family.exports["file_metadata"]())
  with pytest.raises(ConfigError, match="do not fit the kernel"):
    built(smoke_config(LORA, smoke_root, adapters=(misfit,)))


def test_lora_start_up_errors(smoke_root):
  config = smoke_config(LORA, smoke_root)
  config.model.lora.targets = "no_such_layer/kernel"
  with pytest.raises(ConfigError, match="selects no"):
    built(config)
  config = smoke_config(LORA, smoke_root)
  config.model.lora.rank = 10_000
  with pytest.raises(ConfigError, match="rank"):
    built(config)


@pytest.mark.parametrize("size,mode,match", [((27, 27), "L", "resize it"),
                                             ((28, 28), "RGB", "grey")])
def test_a_control_image_of_the_wrong_size_or_channels_is_refused(
    size, mode, match, smoke_root, tmp_path):
  path = str(tmp_path / "control.png")
  Image.new(mode, size[::-1]).save(path)
  with pytest.raises(ConfigError, match=match):
    built(smoke_config(CONTROL, smoke_root, control_image=path))


def test_a_control_map_the_denoiser_cannot_take_is_refused(smoke_root):
  config = smoke_config(CONTROL, smoke_root)
  config.model.control.shape = (21, 21, 1)
  with pytest.raises(ConfigError, match="power-of-2 multiple"):
    built(config)


def test_a_lora_runs_export_holds_its_adapters_with_rank_alpha_and_base(
    smoke_root, tmp_path):
  import genjax
  from tests.helpers import smoke_run
  run = genjax.load(smoke_run(LORA, smoke_root))
  out = str(tmp_path / "adapters.safetensors")
  run.export_safetensors(out)
  adapters, metadata = lora_lib.load_safetensors(out)
  assert metadata["base_fingerprint"] == run.deps["base"].fingerprint
  assert (metadata["lora_rank"], float(metadata["lora_alpha"])) == (
      str(run.config.model.lora.rank), run.config.model.lora.alpha)
  mine = flat_leaves(run.state.ema_params)
  theirs = flat_leaves(adapters)
  assert sorted(mine) == sorted(theirs)
  assert all(np.array_equal(np.asarray(mine[p]), theirs[p]) for p in mine)
  built(smoke_config(LORA, smoke_root, adapters=(out,)))   # this base accepts it


@pytest.mark.parametrize("path", [CONTROL, LORA])
def test_images_in_another_range_than_the_base_was_trained_on_are_refused(
    path, smoke_root):
  config = smoke_config(path, smoke_root)
  config.data.preprocess = tuple(op.replace("scale_pm1", "scale_01")
                                 for op in config.data.preprocess)
  with pytest.raises(ConfigError, match="ops that write 'image'"):
    built(config)
