"""The DDPM U-Net: the paper's parameter count, shapes, conditioning, dropout, sizes."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import ConfigError
from genjax.families.diffusion.unet import UNet, count_params

# Ho et al. (2020), Appendix B: "Our CIFAR10 model has 35.7 million parameters".
PAPER_CIFAR10_PARAMS = 35.7e6
SMALL = dict(ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(7,),
             num_heads=2)


def test_cifar10_config_has_the_papers_parameter_count():
  model = UNet(ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,),
               dropout=0.1)
  n = count_params(model, (32, 32, 3))
  assert abs(n - PAPER_CIFAR10_PARAMS) / PAPER_CIFAR10_PARAMS < 0.01, n
  # Attention at 16x16 only: 2 blocks down, 3 up, plus the middle one.
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)),
                          jnp.zeros((1,), jnp.int32))["params"]
  assert sorted(k for k in shapes if "attn" in k) == [
      "down_1_attn_0", "down_1_attn_1", "mid_attn", "up_1_attn_0", "up_1_attn_1",
      "up_1_attn_2"]


def random_params(model, *args, seed=0):
  """Random parameters of ``model`` for inputs ``args``, none zero (unlike its init).

  Drawn with numpy on the shapes from ``jax.eval_shape``, so no init is compiled:
  kernels N(0, 1/fan_in), GroupNorm scales 1 + N(0, 0.1^2), the rest N(0, 0.1^2).
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), *args)

  def draw(path, leaf):
    name = jax.tree_util.keystr(path[-1:])
    if "kernel" in name:
      return rng.normal(0, np.prod(leaf.shape[:-1]) ** -0.5, leaf.shape).astype(np.float32)
    return (("scale" in name) + rng.normal(0, 0.1, leaf.shape)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, shapes)


# (labels, t, dropout key) of the eval-mode outputs; 10 is the null class.
EVAL_SETTINGS = [([0, 0], [3, 500], 4), ([1, 1], [3, 500], 4), ([10, 10], [3, 500], 4),
                 ([0, 1], [3, 500], 4), ([0, 0], [700, 1], 4), ([0, 0], [3, 500], 5)]
TRAIN_KEYS = [4, 5]   # train-mode outputs for labels [0, 0], t [3, 500]


@pytest.fixture(scope="module")
def outputs():
  """A small class-conditional MNIST-sized net with random params: (eval, train) outputs.

  Everything in one compile: ``eval[i]`` for ``EVAL_SETTINGS[i]``, ``train[i]``
  with dropout key ``TRAIN_KEYS[i]``.
  """
  model = UNet(**SMALL, num_classes=10, dropout=0.5, out_channels=2)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 28, 28, 1))
  labels, times, keys = (jnp.array(a) for a in zip(*EVAL_SETTINGS))
  params = random_params(model, x, times[0], labels[0])
  key = jax.vmap(jax.random.PRNGKey)

  @jax.jit
  def run(labels, times, eval_keys, train_keys):
    apply = lambda labels, t, key, train: model.apply(
        params, x, t, labels, train=train, rngs={"dropout": key})
    return (jax.vmap(lambda l, t, k: apply(l, t, k, False))(labels, times, eval_keys),
            jax.vmap(lambda k: apply(labels[0], times[0], k, True))(train_keys))

  return jax.device_get(run(labels, times, key(keys), key(jnp.array(TRAIN_KEYS))))


def test_conditional_output_depends_on_label_and_time(outputs):
  y0, y1, y_null, y01, y0_late, _ = outputs[0]
  assert y0.shape == (2, 28, 28, 2)
  assert np.abs(y0 - y1).max() > 1e-3
  assert np.abs(y0 - y_null).max() > 1e-3
  # Labels act per example: changing one example's label leaves the other's output.
  np.testing.assert_allclose(y01[0], y0[0], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(y01[1], y1[1], rtol=1e-5, atol=1e-5)
  # The time conditions it too (at this width GroupNorm has few channels a group).
  assert np.abs(y0 - y0_late).max() > 1e-3


def test_dropout_only_in_train_mode(outputs):
  (eval_a, *_, eval_b), (train_a, train_b) = outputs
  np.testing.assert_array_equal(eval_a, eval_b)
  assert np.abs(train_a - train_b).max() > 1e-3
  assert np.abs(train_a - eval_a).max() > 1e-3


def test_labels_none_means_the_null_class():
  model = UNet(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), num_classes=3)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
  params = random_params(model, x, jnp.array([1, 2]), jnp.array([0, 1]))
  run = jax.jit(lambda: (model.apply(params, x, jnp.array([1, 2])),
                         model.apply(params, x, jnp.array([1, 2]), jnp.array([3, 3]))))
  y_none, y_null = run()
  np.testing.assert_allclose(y_none, y_null, rtol=1e-6, atol=1e-6)


def test_unconditional_net_rejects_labels_and_scalar_t_broadcasts():
  model = UNet(**SMALL, dropout=0.0)
  x = jnp.zeros((2, 28, 28, 1))
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, 5)
  assert jax.eval_shape(model.apply, shapes, x, 5).shape == x.shape
  with pytest.raises(ValueError, match="unconditional"):
    jax.eval_shape(model.apply, shapes, x, 5, jnp.zeros((2,), jnp.int32))


def test_resample_without_conv_has_no_resampling_params():
  model = UNet(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(),
               resample_with_conv=False, out_channels=3)
  x = jnp.zeros((1, 16, 16, 3))
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, jnp.zeros((1,)))["params"]
  assert not [k for k in params if "sample" in k]
  assert jax.eval_shape(model.apply, {"params": params}, x,
                        jnp.zeros((1,))).shape == (1, 16, 16, 3)


@pytest.mark.parametrize("size,ch_mult", [((30, 30), (1, 2, 2)), ((28, 28), (1, 2, 2, 2)),
                                          ((32, 20), (1, 2, 2, 2))])
def test_bad_image_size_is_a_config_error(size, ch_mult):
  model = UNet(ch=8, ch_mult=ch_mult, num_res_blocks=1, attn_resolutions=())
  x = jnp.zeros((1, *size, 1))
  with pytest.raises(ConfigError, match=f"divisible by {2 ** (len(ch_mult) - 1)}"):
    jax.eval_shape(model.init, jax.random.PRNGKey(0), x, jnp.zeros((1,)))
