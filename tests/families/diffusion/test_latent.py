"""Latent diffusion (model.name='ldm'): the scale factor, samplers in latent
space against their pixel-space twin, classifier-free guidance with an empty
prompt, and start-up errors -- over a toy linear first stage."""
import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.autoencoder import klae_losses
from genjax.families.diffusion import latent, samplers
from genjax.families.diffusion.config import default_config

SIDE, F = 8, 2


def space_to_depth(x):
  """[B, 8, 8, 1] -> [B, 4, 4, 4]: an orthogonal linear map (a permutation)."""
  b = x.shape[0]
  return x.reshape(b, SIDE // F, F, SIDE // F, F, 1).transpose(0, 1, 3, 2, 4, 5).reshape(
      b, SIDE // F, SIDE // F, F * F)


def depth_to_space(z):
  b = z.shape[0]
  return z.reshape(b, SIDE // F, SIDE // F, F, F, 1).transpose(0, 1, 3, 2, 4, 5).reshape(
      b, SIDE, SIDE, 1)


def toy_first_stage(shift=0.0, gain=1.0):
  """A 'klae' dependency whose latents are gain * space_to_depth(x) + shift
  (deterministic) and whose decoder inverts that; latent_stats reads the
  moments in its bundle."""
  exports = {
      "sample_latent": lambda bundle, x, rng: gain * space_to_depth(x) + shift,
      "decode": lambda bundle, z: depth_to_space((z - shift) / gain),
      "latent_stats": lambda bundle: klae_losses.latent_statistics(
          bundle["trained"]["moments"]),
      "latent_shape": lambda bundle=None: (SIDE // F, SIDE // F, F * F)}
  config = ml_collections.ConfigDict(dict(
      data=dict(name="mnist", preprocess=["scale_01"]),
      model=dict(image_shape=(SIDE, SIDE, 1))))
  family = types.SimpleNamespace(family="autoencoder", model="klae", exports=exports)
  return types.SimpleNamespace(workdir="/toy/klae", config=config, family=family)


def ldm_config(**model):
  c = default_config()
  c.model.update(dict(dict(
      name="ldm", image_shape=(SIDE, SIDE, 1), ch=8, ch_mult=(1,), num_res_blocks=1,
      attn_resolutions=(4,), num_heads=2, dropout=0.0, timesteps=10), **model))
  c.data.update(name="mnist", preprocess=("scale_01",))
  c.sample.update(sampler="ddim", steps=5, eta=0.0)
  return c


def make_text(c, max_tokens=8):
  """``c`` conditioned on captions' tokens through MiniLM."""
  c.model.ldm.update(text_encoder="minilm", max_tokens=max_tokens)
  c.data.preprocess = ("caption(dataset='mnist')", f"tokenize(max_tokens={max_tokens})",
                       "scale_01")
  return c


def bundle_with_moments(dep, images, decay=0.99):
  moments = klae_losses.initial_latent_moments(F * F)
  for batch in np.split(images, 4):
    z = dep.family.exports["sample_latent"](None, jnp.asarray(batch), None)
    moments = klae_losses.update_latent_moments(moments, z, decay)
  return {"first_stage": {"trained": {"moments": moments}, "deps": {}}}


def images(n=32, seed=0):
  return np.random.default_rng(seed).uniform(size=(n, SIDE, SIDE, 1)).astype(np.float32)


def test_measured_scale_gives_training_latents_of_unit_variance():
  dep, x = toy_first_stage(shift=3.0, gain=5.0), images()
  frozen = bundle_with_moments(dep, x)
  settings, _ = latent.read_latent_settings(ldm_config(), {"first_stage": dep})
  z0 = np.asarray(latent.encode(settings, dep, frozen, jnp.asarray(x), None))
  assert abs(z0.std() - 1.0) < 1e-4          # LDM: z / z.std() (no centring)
  assert abs(float(latent.latent_scale(settings, dep, frozen)) - 1 / (5.0 * x.std())) < 1e-4


def test_configured_scale_overrides_the_measured_one():
  dep = toy_first_stage()
  c = ldm_config()
  c.model.ldm.latent_scale = 0.5
  settings, _ = latent.read_latent_settings(c, {"first_stage": dep})
  assert float(latent.latent_scale(settings, dep, {})) == 0.5


def test_latent_ddim_equals_the_pixel_space_twin_through_a_linear_first_stage():
  # z = s g P x with P orthogonal: DDIM's update is linear in (x_t, eps), so
  # sampling z with eps_z and decoding equals sampling y = s g x in pixel
  # space with eps_y(y, t) = P^-1 eps_z(P y, t) from y_T = P^-1 z_T, then y / (s g).
  dep, x = toy_first_stage(gain=2.0), images()
  frozen = bundle_with_moments(dep, x)
  settings, _ = latent.read_latent_settings(ldm_config(), {"first_stage": dep})
  nets = latent.build_networks(settings)
  state = latent.init(settings, nets, dep, jax.random.PRNGKey(0), None, frozen)
  state = state.replace(ema_params=jax.tree.map(lambda a: a + 0.01, state.ema_params))
  z_T = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 4, 4))
  z0 = latent.generate_latents(settings, nets, dep, state, None, 3, None, frozen, x_T=z_T)
  got = latent.decode(settings, dep, frozen, z0)
  params = state.ema_params
  eps_z = lambda z, t: latent.network_output(settings, nets, params, z, t, {})
  eps_y = lambda y, t: depth_to_space(eps_z(space_to_depth(y), t))
  y0 = samplers.ddim_sample(nets.sample_schedule, eps_y, None, (3, SIDE, SIDE, 1),
                            "eps", 0.0, False, x_T=depth_to_space(z_T))
  s = float(latent.latent_scale(settings, dep, frozen))
  np.testing.assert_allclose(got, y0 / (s * 2.0), rtol=1e-4, atol=1e-4)
  assert float(jnp.abs(got).max()) > 0.1


@pytest.mark.slow
def test_cfg_with_the_empty_prompt_equals_the_unconditional_branch():
  from genjax.nn import minilm
  dep = toy_first_stage()
  c = ldm_config(label_dropout=0.1)
  make_text(c)
  c.sample.guidance_weight = 3.0
  settings, _ = latent.read_latent_settings(c, {"first_stage": dep})
  tokens = jnp.ones((1, 8), jnp.int32)
  text = minilm.MiniLM().init(jax.random.PRNGKey(0), tokens)
  frozen = {"text_encoder": {"trained": text, "deps": {}}}
  nets = latent.build_networks(settings)
  state = latent.init(settings, nets, dep, jax.random.PRNGKey(1), None, frozen)
  params = jax.tree.map(lambda a: a + 0.05, state.params)
  null = latent.null_condition(settings, frozen, 8)
  empty = latent.condition(settings, frozen, {"tokens": latent.empty_prompt(settings, 8)})
  guided = latent.guided_model_fn(settings, nets, params, empty, null)
  z = jax.random.normal(jax.random.PRNGKey(2), (1, 4, 4, 4))
  t = jnp.array([5])
  np.testing.assert_allclose(guided(z, t), latent.network_output(
      settings, nets, params, z, t, null), atol=1e-5)
  seven = latent.condition(settings, frozen, {"tokens": jnp.asarray(
      latent.tokenizer_lib.tokenize(["a thick seven"], 8))})
  assert not np.allclose(latent.guided_model_fn(settings, nets, params, seven, null)(z, t),
                         guided(z, t), atol=1e-4)


def test_latents_that_do_not_fit_the_denoiser_are_refused_at_start_up():
  with pytest.raises(ConfigError, match="first stage .* gives latents of shape"):
    latent.read_latent_settings(ldm_config(ch_mult=(1, 2, 2, 2)),
                                {"first_stage": toy_first_stage()})
  c = ldm_config()
  c.model.ldm.update(backbone="dit", dit="DiT-S/8")
  with pytest.raises(ConfigError, match="gives latents of shape"):
    latent.read_latent_settings(c, {"first_stage": toy_first_stage()})


def test_a_text_model_sampled_without_prompts_is_refused():
  c = ldm_config()
  make_text(c)
  settings, _ = latent.read_latent_settings(c, {"first_stage": toy_first_stage()})
  with pytest.raises(ConfigError, match="config.sample.prompts"):
    latent.sampling_batch(settings, 4, None)
  c.sample.prompts = ("a thin two",)
  settings, _ = latent.read_latent_settings(c, {"first_stage": toy_first_stage()})
  assert latent.sampling_batch(settings, 4, None)["tokens"].shape == (4, 8)


def test_a_long_prompt_is_truncated_with_a_warning_at_start_up():
  c = ldm_config()
  make_text(c)
  c.sample.prompts = ("a very thick and heavy handwritten seven leaning far to the right",)
  with pytest.warns(UserWarning, match="8"):
    latent.read_latent_settings(c, {"first_stage": toy_first_stage()})


def test_mismatched_data_image_shape_and_mixed_conditioning_are_config_errors():
  dep = toy_first_stage()
  c = ldm_config()
  c.data.preprocess = ("scale_pm1",)
  with pytest.raises(ConfigError, match="preprocess"):
    latent.read_latent_settings(c, {"first_stage": dep})
  c = ldm_config(image_shape=(16, 16, 1))
  with pytest.raises(ConfigError, match="takes"):
    latent.read_latent_settings(c, {"first_stage": dep})
  c = ldm_config(num_classes=10)
  c.model.ldm.text_encoder = "minilm"
  with pytest.raises(ConfigError, match="not both"):
    latent.read_latent_settings(c, {"first_stage": dep})
  with pytest.raises(ConfigError, match="first_stage"):
    latent.read_latent_settings(ldm_config(), {})


def test_text_conditioning_with_the_dit_backbone_is_refused_at_start_up():
  c = ldm_config()
  make_text(c)
  c.model.ldm.update(backbone="dit", dit="DiT-S/2")
  with pytest.raises(ConfigError, match="backbone='unet' for a text model"):
    latent.read_latent_settings(c, {"first_stage": toy_first_stage()})


def test_the_dit_backbone_ignores_the_unet_layout_and_takes_its_own_remat_kinds():
  # A U-Net layout that could not take 8x8 images (four halvings) and DiT's
  # block kind: both belong to the U-Net's checks, not the DiT's.
  c = ldm_config(ch_mult=(1, 2, 2, 2, 2), remat=("DiTBlock",))
  c.model.ldm.update(backbone="dit", dit="DiT-S/2")
  settings, _ = latent.read_latent_settings(c, {"first_stage": toy_first_stage()})
  assert settings.base.remat == ("DiTBlock",)
  c.model.ldm.backbone = "unet"
  with pytest.raises(ConfigError, match="divisible by 16"):
    latent.read_latent_settings(c, {"first_stage": toy_first_stage()})
  c.model.ch_mult = (1,)
  with pytest.raises(ConfigError, match="ResBlock"):   # lists the U-Net's kinds
    latent.read_latent_settings(c, {"first_stage": toy_first_stage()})


def test_a_text_model_needs_the_data_tokenised_to_its_length():
  c = make_text(ldm_config())
  c.data.preprocess = ("scale_01",)
  with pytest.raises(ConfigError, match="tokenize"):
    latent.read_latent_settings(c, {"first_stage": toy_first_stage()})
  c = make_text(ldm_config())
  c.model.ldm.max_tokens = 16
  with pytest.raises(ConfigError, match="max_tokens=16.*8 tokens"):
    latent.read_latent_settings(c, {"first_stage": toy_first_stage()})
