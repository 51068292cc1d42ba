"""VQ-VAE: the quantiser's maths against brute force and hand examples, the
codebook state through the family and the loop, and bad configs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax import main
from genjax.errors import ConfigError
from genjax.families.autoencoder import make_family, quantize
from genjax.families.autoencoder.config import default_config


def test_nearest_codes_match_a_brute_force_search():
  z = jax.random.normal(jax.random.PRNGKey(0), (50, 3))
  codebook = jax.random.normal(jax.random.PRNGKey(1), (7, 3))
  z_np, e_np = np.asarray(z, np.float64), np.asarray(codebook, np.float64)
  brute = [min(range(7), key=lambda k: sum((z_np[i] - e_np[k]) ** 2)) for i in range(50)]
  np.testing.assert_array_equal(quantize.nearest_codes(z, codebook), brute)


def test_straight_through_gradient_is_the_identity_on_the_encoder_output():
  z_e = jnp.array([[0.3, -1.2], [2.0, 0.5]])
  z_q = jnp.array([[1.0, -1.0], [1.5, 0.0]])
  weights = jnp.array([[1.0, 2.0], [-3.0, 4.0]])
  out, grad = jax.value_and_grad(
      lambda z: jnp.sum(weights * quantize.straight_through(z, z_q)))(z_e)
  np.testing.assert_allclose(grad, weights)                      # d/dz_e = identity
  np.testing.assert_allclose(out, jnp.sum(weights * z_q))        # the forward is z_q


def test_ema_update_equals_appendix_a1_on_a_hand_example():
  # K=2 codes in D=1, decay 0.5, eps 0: code 0 gets z = 1 and 3, code 1 nothing.
  ema = {"codebook": jnp.array([[0.0], [10.0]]), "ema_count": jnp.array([1.0, 1.0]),
         "ema_sum": jnp.array([[0.0], [10.0]])}
  z, codes = jnp.array([[1.0], [3.0]]), jnp.array([0, 0])
  new = quantize.ema_update(ema, z, codes, decay=0.5, eps=0.0)
  # N = 0.5 * [1, 1] + 0.5 * [2, 0] = [1.5, 0.5]; m = 0.5 * [0, 10] + 0.5 * [4, 0]
  np.testing.assert_allclose(new["ema_count"], [1.5, 0.5])
  np.testing.assert_allclose(new["ema_sum"], [[2.0], [5.0]])
  np.testing.assert_allclose(new["codebook"], [[2.0 / 1.5], [5.0 / 0.5]])


def test_laplace_smoothing_keeps_the_total_count_and_floors_empty_codes():
  ema = {"codebook": jnp.zeros((3, 1)), "ema_count": jnp.array([0.0, 0.0, 0.0]),
         "ema_sum": jnp.zeros((3, 1))}
  new = quantize.ema_update(ema, jnp.array([[6.0]] * 4), jnp.array([0] * 4),
                            decay=0.5, eps=0.1)
  # N = [2, 0, 0], n = 2: N' = (N + 0.1) / (2 + 0.3) * 2; e_0 = m_0 / N'_0.
  smoothed = (np.array([2.0, 0, 0]) + 0.1) / 2.3 * 2
  np.testing.assert_allclose(new["codebook"][:, 0], np.array([12.0, 0, 0]) / smoothed,
                             rtol=1e-6)


def test_a_restart_never_moves_a_code_that_was_used():
  rng = jax.random.PRNGKey(3)
  codebook = jax.random.normal(rng, (6, 2))
  ema = {"codebook": codebook, "ema_count": jnp.arange(6.0), "ema_sum": 2 * codebook}
  age = jnp.array([0, 5, 1, 9, 0, 4], jnp.int32)
  z = jax.random.normal(jax.random.PRNGKey(4), (20, 2))
  new, new_age, num = quantize.restart_dead_codes(rng, ema, age, z, restart_after=4)
  dead = np.array([False, True, False, True, False, True])
  assert int(num) == 3
  for key in ("codebook", "ema_sum", "ema_count"):
    np.testing.assert_array_equal(np.asarray(new[key])[~dead], np.asarray(ema[key])[~dead])
  z_rows = {tuple(np.asarray(r)) for r in z}
  assert all(tuple(np.asarray(new["codebook"][k])) in z_rows for k in np.flatnonzero(dead))
  np.testing.assert_array_equal(new["ema_count"][dead], 1.0)
  np.testing.assert_array_equal(new_age, np.where(dead, 0, age))


def test_perplexity_and_usage_in_closed_form():
  assert float(quantize.perplexity(jnp.ones(8))) == pytest.approx(8.0)
  assert float(quantize.perplexity(jnp.array([5.0, 0, 0, 0]))) == pytest.approx(1.0)
  p = np.array([0.5, 0.25, 0.25, 0.0])
  assert float(quantize.perplexity(jnp.array(p * 4))) == pytest.approx(
      np.exp(-np.sum(p[:3] * np.log(p[:3]))))
  assert float(quantize.share_in_use(jnp.array([3.0, 0, 1, 0]))) == 0.5


# -- the family -----------------------------------------------------------


def vq_config(num_steps=4, **vq):
  c = default_config()
  c.model.update(name="vqvae", architecture="conv", image_shape=(28, 28, 1),
                 channels=(4, 8), recon_loss="bce")
  c.model.vq.update(dict(num_codes=16, code_dim=3, res_blocks=1, res_hidden=4,
                         restart_after=2), **vq)
  c.data.update(name="mnist", preprocess=["binarize_dynamic"], shuffle_buffer=1_000)
  c.train.update(batch_size=8, num_steps=num_steps, log_every=1, ckpt_every=1,
                 sample_every=0, eval_metrics=())
  c.optim.update(lr=1e-2)
  c.sample.num = 4
  return c


def test_codebook_loss_trains_the_codebook_and_ema_moves_it_in_the_state():
  batch = {"image": (jax.random.uniform(jax.random.PRNGKey(0), (8, 28, 28, 1)) > 0.5
                     ).astype(jnp.float32), "label": jnp.zeros((8,), jnp.int32)}
  for codebook in ("loss", "ema"):
    fam = make_family(vq_config(codebook=codebook, restart_after=0))
    state = fam.init(jax.random.PRNGKey(1), batch)
    new, metrics = jax.jit(fam.train_step)(state, batch)
    if codebook == "loss":
      assert "codebook" in state.params and "codebook" not in state.model_state["vq"]
      assert float(jnp.abs(new.params["codebook"] - state.params["codebook"]).max()) > 0
    else:
      assert "codebook" not in state.params
      moved = jnp.abs(new.model_state["vq"]["codebook"] - state.model_state["vq"]["codebook"])
      assert float(moved.max()) > 0
    assert 1.0 <= float(metrics["perplexity"]) <= 16.0


@pytest.mark.slow
def test_codes_of_a_resumed_run_match_an_uninterrupted_run(tmp_path):
  whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
  config = lambda n: vq_config(n).lock()
  a = jax.device_get(main.run(config(3), whole, "train"))
  main.run(config(1), parts, "train")
  b = jax.device_get(main.run(config(3), parts, "train"))   # resumes 1 -> 3
  assert int(a.step) == int(b.step) == 3
  assert int(np.asarray(a.model_state["vq"]["age"]).max()) >= 1   # ages moved
  jax.tree.map(np.testing.assert_array_equal, a.model_state, b.model_state)
  jax.tree.map(np.testing.assert_array_equal, a.params, b.params)


@pytest.mark.parametrize("field, value, says", [
    ("num_codes", 0, "num_codes must be >= 1"),
    ("code_dim", -1, "code_dim must be >= 1"),
    ("codebook", "kmeans", "loss"),
    ("restart_after", 5, "vq.codebook='ema'"),   # restarts with the codebook loss
])
def test_bad_vq_settings_are_start_up_errors_naming_the_fix(field, value, says):
  c = vq_config(**{field: value})
  if field == "restart_after":
    c.model.vq.codebook = "loss"
  with pytest.raises(ConfigError, match=says):
    make_family(c)


def test_a_code_map_that_does_not_divide_the_image_is_refused():
  c = vq_config()
  c.model.channels = (4, 8, 8)        # 28 is not divisible by 8
  with pytest.raises(ConfigError, match="divisible by 8"):
    make_family(c)


def test_the_vq_group_is_identity_for_the_vqvae_only():
  from genjax import config as config_lib
  vae = default_config().to_dict()
  older_vae = default_config().to_dict()
  for group in config_lib.MODEL_GROUPS:
    older_vae["model"].pop(group, None)        # a config.json from before the groups
  assert config_lib.identity_diff(older_vae, vae) == []
  vq, other = vq_config().to_dict(), vq_config(num_codes=32).to_dict()
  assert config_lib.identity_diff(vq, other) == ["model.vq: " + repr(vq["model"]["vq"])
                                                 + " -> " + repr(other["model"]["vq"])]
