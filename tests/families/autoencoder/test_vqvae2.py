"""VQ-VAE-2: the two code maps' shapes, the bottom map conditioned on the
top, each level's nearest codes against brute force, both codebooks in the
state (or the parameters), and the start-up errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import config as config_lib
from genjax.errors import ConfigError
from genjax.families.autoencoder import make_family
from genjax.families.autoencoder.family import build_networks, read_settings
from genjax.families.autoencoder.vqvae2 import quantized_levels


def vq2_config(**vq):
  from experiments.autoencoder.vqvae2_fashion_mnist import get_config
  c = get_config("smoke")
  c.unlock()
  c.model.vq.update(vq)
  return c


def batch(n=4, seed=0):
  return {"image": jax.random.uniform(jax.random.PRNGKey(seed), (n, 28, 28, 1)),
          "label": jnp.zeros((n,), jnp.int32)}


@pytest.fixture(scope="module")
def trained():
  fam = make_family(vq2_config())
  state = fam.init(jax.random.PRNGKey(1), batch())
  for _ in range(2):
    state, _ = jax.jit(fam.train_step)(state, batch())
  return fam, state, {"trained": {"params": state.params, "model_state": state.model_state}}


def test_the_top_map_is_one_stride_two_stage_below_the_bottom(trained):
  fam, _, bundle = trained
  # channels=(8,): one stride-2 stage, 28 -> 14 (bottom), one more -> 7 (top).
  assert fam.exports["latent_shape"]() == {"top": (7, 7), "bottom": (14, 14)}
  codes = fam.exports["code"](bundle, batch()["image"])
  assert codes["top"].shape == (4, 7, 7) and codes["bottom"].shape == (4, 14, 14)
  assert codes["top"].dtype == jnp.int32


def test_each_level_picks_its_nearest_code_by_brute_force(trained):
  fam, state, bundle = trained
  z_e = jax.device_get(fam.exports["encode"](bundle, batch()["image"]))
  codes = jax.device_get(fam.exports["code"](bundle, batch()["image"]))
  for level in ("top", "bottom"):
    book = np.asarray(state.model_state[f"vq_{level}"]["codebook"], np.float64)
    flat = np.asarray(z_e[level], np.float64).reshape(-1, book.shape[1])
    brute = ((flat[:, None, :] - book[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(codes[level].reshape(-1), brute, err_msg=level)


def test_the_bottom_encoder_output_depends_on_the_top_codes(trained):
  _, state, _ = trained
  settings = read_settings(vq2_config())
  nets = build_networks(settings)
  images = batch()["image"]
  levels = quantized_levels(settings, nets, state.params, state.model_state, images)
  apply = lambda method, *a: nets.model.apply({"params": state.params}, *a,
                                              method=method)
  h = apply("features", images)
  again = apply("encode_bottom", h, levels["top"].z_q)
  np.testing.assert_allclose(again, levels["bottom"].z_e, rtol=1e-5, atol=1e-6)
  shuffled = apply("encode_bottom", h, levels["top"].z_q[::-1])   # other images' tops
  assert float(jnp.abs(shuffled - levels["bottom"].z_e).max()) > 1e-4


def test_zeroing_a_level_changes_the_reconstruction(trained):
  fam, state, bundle = trained
  metrics = {k: np.asarray(f(state, batch(), None)) for k, f in fam.eval_metrics.items()
             if k.startswith("psnr")}
  assert set(metrics) == {"psnr", "psnr_top", "psnr_bottom"}
  assert not np.allclose(metrics["psnr"], metrics["psnr_top"])
  assert not np.allclose(metrics["psnr"], metrics["psnr_bottom"])


def test_the_codebook_loss_puts_both_codebooks_in_the_parameters():
  fam = make_family(vq2_config(codebook="loss", restart_after=0))
  state = fam.init(jax.random.PRNGKey(1), batch())
  assert {"codebook_top", "codebook_bottom"} <= set(state.params)
  assert all("codebook" not in state.model_state[k] for k in ("vq_top", "vq_bottom"))
  step = jax.jit(fam.train_step)
  new = step(step(state, batch())[0], batch())[0]   # (the warm-up's first lr is 0)
  for level in ("top", "bottom"):
    key = f"codebook_{level}"
    assert float(jnp.abs(new.params[key] - state.params[key]).max()) > 0, key


def test_ema_moves_both_codebooks_in_the_state(trained):
  fam, state, _ = trained
  fresh = fam.init(jax.random.PRNGKey(1), batch())
  for level in ("top", "bottom"):
    moved = (state.model_state[f"vq_{level}"]["codebook"]
             - fresh.model_state[f"vq_{level}"]["codebook"])
    assert float(jnp.abs(moved).max()) > 0, level


def test_a_top_map_that_does_not_divide_the_image_is_refused():
  c = vq2_config()
  c.model.channels = (8, 8)          # bottom 7x7; a top of 3.5 x 3.5 does not exist
  with pytest.raises(ConfigError, match="top map is one stride-2 stage"):
    make_family(c)


def test_vqvae2_needs_the_conv_architecture():
  c = vq2_config()
  c.model.architecture = "mlp"
  with pytest.raises(ConfigError, match="architecture='conv'"):
    make_family(c)


def test_the_vq_group_is_identity_for_vqvae2_too():
  a, b = vq2_config().to_dict(), vq2_config(num_codes=32).to_dict()
  assert [d.split(":")[0] for d in config_lib.identity_diff(a, b)] == ["model.vq"]
