"""The KL autoencoder (model.name='klae'): its maths against closed forms and
hand-computed gradients, its config errors, exact resume and its exports,
on tiny nets (8x8 images, f=2)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.autoencoder import klae, klae_losses, klae_steps, make_family
from genjax.families.autoencoder.config import default_config
from genjax.families.base import bundle_of, example_batch
from genjax.train.checkpoint import Checkpointer

SHAPE = (8, 8, 1)
LATENT = 2


def tiny_config(**klae_fields):
  c = default_config()
  c.model.update(name="klae", image_shape=SHAPE)
  c.model.klae.update(dict(dict(
      downsample=2, ch_mult=(1, 1), ch=4, num_res_blocks=1, mid_attention=False,
      latent_channels=LATENT, disc_layers=1, disc_channels=4, disc_start=2,
      disc_weight=0.5, kl_weight=1e-2), **klae_fields))
  c.optim.update(lr=1e-2, b1=0.5, b2=0.9, ema_decay=0.9)
  return c


@pytest.fixture(scope="module")
def family():
  return make_family(tiny_config())


def batch_of(seed=0, num=4):
  images = np.random.default_rng(seed).uniform(size=(num,) + SHAPE)
  return {"image": jnp.asarray(images, jnp.float32), "label": jnp.zeros((num,), jnp.int32)}


@pytest.fixture(scope="module")
def state(family):
  # committed to the device, as a restored state is: one compiled step serves both
  return jax.device_put(jax.jit(family.init)(jax.random.PRNGKey(0), example_batch(SHAPE)),
                        jax.devices()[0])


# -- maths against closed forms ------------------------------------------------


def test_hinge_d_loss_is_half_the_mean_hinges_over_every_patch():
  real = jnp.asarray([2.0, 0.5, -1.0, 0.0]).reshape(1, 2, 2, 1)
  fake = jnp.asarray([-2.0, 0.3, 1.5, 0.0]).reshape(1, 2, 2, 1)
  # relu(1 - r) = 0, 0.5, 2, 1 (mean 0.875); relu(1 + f) = 0, 1.3, 2.5, 1 (mean 1.2)
  np.testing.assert_allclose(klae_losses.hinge_d_loss(real, fake), 0.5 * (0.875 + 1.2),
                             rtol=1e-6)
  np.testing.assert_allclose(klae_losses.generator_adversarial_loss(fake), 0.05, rtol=1e-6)


def test_kl_is_the_closed_form_summed_over_latent_elements():
  rng = np.random.default_rng(0)
  mean, logvar = rng.normal(size=(3, 2, 2, 2)), rng.normal(size=(3, 2, 2, 2))
  want = 0.5 * (mean ** 2 + np.exp(logvar) - 1.0 - logvar).reshape(3, -1).sum(1)
  np.testing.assert_allclose(klae_losses.gaussian_kl(jnp.asarray(mean, jnp.float32),
                                                     jnp.asarray(logvar, jnp.float32)),
                             want, rtol=1e-5)


def test_reconstruction_losses_sum_over_pixels():
  x, y = jnp.zeros((2, 2, 2, 1)), jnp.full((2, 2, 2, 1), -0.5)
  for kind, per_pixel in (("l1", 0.5), ("l2", 0.25), ("l1+l2", 0.75)):
    np.testing.assert_allclose(klae_losses.reconstruction_loss(y, x, kind),
                               [4 * per_pixel] * 2, rtol=1e-6)


def test_latent_statistics_equal_numpy_mean_and_std_of_the_latents():
  rng = np.random.default_rng(1)
  batches = [rng.normal(loc=[1.0, -2.0], scale=[0.5, 3.0], size=(4, 3, 3, 2))
             for _ in range(3)]     # 3 batches < 1 / (1 - decay): a running mean
  moments = klae_losses.initial_latent_moments(2)
  for z in batches:
    moments = klae_losses.update_latent_moments(moments, jnp.asarray(z, jnp.float32), 0.9)
  stats = klae_losses.latent_statistics(moments)
  every = np.concatenate(batches).reshape(-1, 2)
  np.testing.assert_allclose(stats["mean"], every.mean(0), rtol=1e-5)
  np.testing.assert_allclose(stats["std"], every.std(0), rtol=1e-4)
  np.testing.assert_allclose(stats["scale"], 1.0 / every.std(), rtol=1e-4)


# -- the step's gradients ------------------------------------------------------
# Three jitted programs serve every test below (compiling dominates): the
# step's gradients, the references computed by plain autodiff, the train step.

AFTER, BEFORE = 5, 0          # steps after and before disc_start = 2


def rec_l1(recon, images):
  return jnp.sum(jnp.abs(recon - images)) / images.shape[0]


def references(settings, nets, state, images, step, weight, adversarial):
  """By plain autodiff at ``step``: the gradient of LDM's whole loss with the
  adaptive ``weight`` (``adversarial`` 1; 0: of L_rec + kl_weight KL alone),
  and the pieces the adaptive weight is computed from by hand."""
  rng = jax.random.fold_in(state.rng, step)
  forward = lambda p: klae_steps.autoencoder_forward(nets, p, images, rng)
  critic = lambda y: nets.discriminator.apply({"params": state.d_params}, y)

  def ldm_loss(params):     # LPIPSWithDiscriminator's optimizer_idx 0, no LPIPS
    (recon, kl), _ = forward(params)
    rec_kl = rec_l1(recon, images) + settings.kl_weight * kl
    return rec_kl + adversarial * settings.disc_weight * weight * -jnp.mean(critic(recon))

  (recon, _), (features, _) = forward(state.params)
  return dict(autodiff=jax.grad(ldm_loss)(state.params), features=features,
              recon=recon, adv_grad=jax.grad(lambda y: -jnp.mean(critic(y)))(recon))


@pytest.fixture(scope="module")
def probe(state):
  """The step's gradients and the references, after and before disc_start."""
  settings = klae.read_settings(tiny_config())
  nets = klae.build_networks(settings)
  gradients = jax.jit(lambda s, b: klae_steps.gradients(settings, nets, s, b))
  refs = jax.jit(lambda *args: references(settings, nets, *args))
  out = {}
  for step, seed in ((AFTER, 0), (BEFORE, 3)):
    batch = batch_of(seed)
    at = state.replace(step=jnp.asarray(step, jnp.int32))
    grads, d_grads, _, metrics = gradients(at, batch)
    images = klae_steps.to_pm1(batch["image"])
    out[step] = dict(grads=grads, d_grads=d_grads, metrics=metrics, batch=batch,
                     images=images, **refs(state, images, step, metrics["adaptive_weight"],
                                           float(step == AFTER)))
  return out


@pytest.fixture(scope="module")
def jitted_step(family):
  return jax.jit(family.train_step)


def conv_kernel_gradient(features, output_gradient):
  """numpy: the gradient at a 3x3 'SAME' conv's kernel [3,3,Cin,Cout] of a
  loss whose gradient at its output is ``output_gradient``."""
  h, w = features.shape[1:3]
  padded = np.pad(features, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return np.stack([np.stack([
      np.einsum("byxc,byxo->co", padded[:, i:i + h, j:j + w], output_gradient)
      for j in range(3)]) for i in range(3)])


def assert_trees_close(got, want, rtol=1e-4, atol=1e-5):
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_adaptive_weight_is_the_ratio_of_last_layer_gradient_norms_by_hand(probe):
  run = probe[AFTER]
  features = np.asarray(run["features"], np.float64)
  recon, images = np.asarray(run["recon"], np.float64), np.asarray(run["images"])
  rec_grad = np.sign(recon - images) / len(images)       # of mean_b sum_pixels |.|
  rec_norm = np.linalg.norm(conv_kernel_gradient(features, rec_grad))
  adv_norm = np.linalg.norm(conv_kernel_gradient(
      features, np.asarray(run["adv_grad"], np.float64)))
  want = np.clip(rec_norm / (adv_norm + 1e-4), 0.0, 1e4)
  np.testing.assert_allclose(run["metrics"]["adaptive_weight"], want, rtol=1e-4)
  assert float(run["metrics"]["disc_factor"]) == 1.0


def test_autoencoder_gradient_is_autodiff_of_the_whole_ldm_loss(probe):
  assert_trees_close(probe[AFTER]["grads"], probe[AFTER]["autodiff"])
  assert any(np.any(np.asarray(g)) for g in jax.tree.leaves(probe[AFTER]["d_grads"]))


@pytest.mark.slow
def test_before_disc_start_gradients_are_those_of_rec_and_kl_alone(
    probe, state, jitted_step):
  run = probe[BEFORE]
  assert_trees_close(run["grads"], run["autodiff"])
  assert all(not np.any(np.asarray(g)) for g in jax.tree.leaves(run["d_grads"]))
  assert float(run["metrics"]["disc_factor"]) == 0.0
  assert float(run["metrics"]["adv_loss"]) == 0.0
  new = jitted_step(state, run["batch"])[0]
  for before, after in zip(jax.tree.leaves(state.d_params), jax.tree.leaves(new.d_params)):
    np.testing.assert_array_equal(before, after)


# -- config errors -------------------------------------------------------------


@pytest.mark.parametrize("fields, image_shape, match", [
    (dict(downsample=8, ch_mult=(1, 1, 1, 1)), (28, 28, 1), r"resize\(32\)"),
    (dict(downsample=3), SHAPE, "not a power of 2"),
    (dict(downsample=0), SHAPE, "not a power of 2"),
    (dict(downsample=4), SHAPE, r"ch_mult=\(1, 2, 2\)"),
    (dict(latent_channels=0), SHAPE, "latent_channels must be >= 1"),
    (dict(disc_layers=3), SHAPE, "takes 1 to 1 stride-2 layers"),
    (dict(recon_loss="l3"), SHAPE, "l1\\+l2"),
])
def test_bad_settings_are_config_errors_naming_the_fix(fields, image_shape, match):
  config = tiny_config(**fields)
  config.model.image_shape = image_shape
  with pytest.raises(ConfigError, match=match):
    klae.read_settings(config)


# -- resume, exports -----------------------------------------------------------


def test_checkpointed_and_resumed_steps_equal_uninterrupted_ones(state, jitted_step,
                                                                 tmp_path):
  step = jitted_step
  batches = [batch_of(10 + i) for i in range(4)]     # disc_start=2: both phases
  whole = state
  for batch in batches:
    whole = step(whole, batch)[0]
  part = state
  for batch in batches[:2]:
    part = step(part, batch)[0]
  ckpt = Checkpointer(str(tmp_path))
  ckpt.save(2, part)
  ckpt.wait()
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                         sharding=x.sharding), part)
  resumed = Checkpointer(str(tmp_path)).restore(abstract)
  for batch in batches[2:]:
    resumed = step(resumed, batch)[0]
  assert int(resumed.step) == 4
  assert float(jnp.abs(whole.d_params["conv_0"]["kernel"]
                       - state.d_params["conv_0"]["kernel"]).max()) > 0   # D trained
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(a, b)


def every_export(family, state, images, rng):
  """Each export's output (one jitted program) and the grids and samples."""
  bundle = bundle_of(family, state)
  posterior = family.exports["encode"](bundle, images)
  z = family.exports["sample_latent"](bundle, images, rng)
  return dict(posterior=posterior, code=family.exports["code"](bundle, images), z=z,
              decoded=family.exports["decode"](bundle, z),
              stats=family.exports["latent_stats"](bundle),
              grids=family.image_grids(state, {"image": jnp.tile(images, (3, 1, 1, 1))},
                                       rng),
              samples=family.sample(state, rng, 3))


def test_exports_shapes_ranges_and_trained_holds_no_optimiser_or_critic(family, state):
  assert sorted(bundle_of(family, state)["trained"]) == ["model_state", "params"]
  assert family.exports["latent_shape"]() == (4, 4, LATENT)
  images, rng = batch_of(4, num=3)["image"], jax.random.PRNGKey(1)
  out = jax.jit(lambda s, x, r: every_export(family, s, x, r))(state, images, rng)
  posterior = out["posterior"]
  assert posterior["mean"].shape == posterior["logvar"].shape == (3, 4, 4, LATENT)
  np.testing.assert_array_equal(out["code"], posterior["mean"])
  want = posterior["mean"] + jnp.exp(0.5 * posterior["logvar"]) * jax.random.normal(
      rng, out["z"].shape)
  np.testing.assert_allclose(out["z"], want, rtol=1e-5, atol=1e-6)
  assert out["decoded"].shape == (3,) + SHAPE
  assert 0.0 <= float(out["decoded"].min()) and float(out["decoded"].max()) <= 1.0
  assert out["stats"]["mean"].shape == out["stats"]["std"].shape == (LATENT,)
  assert out["stats"]["scale"].shape == ()
  assert out["grids"]["reconstructions"].shape == (2, 8) + SHAPE
  assert out["samples"].shape == (3,) + SHAPE
