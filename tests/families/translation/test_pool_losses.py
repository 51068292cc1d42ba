"""The fake-image pool against the reference's ImagePool.query written as a
Python loop over the same random draws, and the translation losses against
hand computations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.families.translation import losses, pool as pool_lib


def reference_query(stored, count, images, u, slot):
  """junyanz's ImagePool.query, image by image (pool_size = len(stored))."""
  stored, returned = [s.copy() for s in stored], []
  for image, p, k in zip(images, u, slot):
    if count < len(stored):
      stored[count] = image.copy()
      count += 1
      returned.append(image)
    elif p > 0.5:
      returned.append(stored[k].copy())
      stored[k] = image.copy()
    else:
      returned.append(image)
  return np.stack(stored), count, np.stack(returned)


@pytest.mark.parametrize("pool_size,batches", [(5, (3, 3, 4, 6)), (1, (2, 2)), (4, (8,))])
def test_query_equals_the_reference_loop_on_the_same_draws(pool_size, batches):
  rng = np.random.default_rng(0)
  pool, count = pool_lib.empty_pool(pool_size, (2, 2, 1))
  ref_pool, ref_count = np.zeros((pool_size, 2, 2, 1), np.float32), 0
  key = jax.random.PRNGKey(0)
  for i, n in enumerate(batches):
    images = rng.normal(size=(n, 2, 2, 1)).astype(np.float32)
    draws = pool_lib.pool_draws(jax.random.fold_in(key, i), n, pool_size)
    (pool, count), returned = jax.jit(pool_lib.query)(pool, count, jnp.asarray(images), draws)
    ref_pool, ref_count, ref_returned = reference_query(
        ref_pool, ref_count, images, np.asarray(draws[0]), np.asarray(draws[1]))
    np.testing.assert_array_equal(returned, ref_returned)
    np.testing.assert_array_equal(pool, ref_pool)
    assert int(count) == ref_count


def test_a_full_pool_returns_history_half_the_time():
  pool, count = pool_lib.empty_pool(50, (1,))
  (pool, count), _ = pool_lib.query(pool, count, jnp.arange(50.0)[:, None],
                                    pool_lib.pool_draws(jax.random.PRNGKey(0), 50, 50))
  fresh = 1000.0 + jnp.arange(4000.0)[:, None]
  _, returned = pool_lib.query(pool, count, fresh,
                               pool_lib.pool_draws(jax.random.PRNGKey(1), 4000, 50))
  from_history = float(jnp.mean(returned[:, 0] != fresh[:, 0]))
  assert abs(from_history - 0.5) < 0.03   # 4000 Bernoulli(1/2): sd 0.008


def test_pool_size_zero_returns_the_images():
  pool, count = pool_lib.empty_pool(0, (2,))
  images = jnp.ones((3, 2))
  (_, count), returned = pool_lib.query(pool, count, images,
                                        pool_lib.pool_draws(jax.random.PRNGKey(0), 3, 0))
  np.testing.assert_array_equal(returned, images)


def test_cycle_and_identity_losses_by_hand():
  a, b = jnp.zeros((1, 2, 2, 1)), jnp.ones((1, 2, 2, 1))
  rec_a = jnp.array([0.0, 1.0, 2.0, 3.0]).reshape(1, 2, 2, 1)   # |.| mean 1.5
  rec_b = jnp.full((1, 2, 2, 1), 0.5)                            # |.| mean 0.5
  assert float(losses.cycle_loss(a, rec_a, b, rec_b)) == 2.0
  same_a, same_b = jnp.full((1, 2, 2, 1), -0.25), jnp.full((1, 2, 2, 1), 1.5)
  assert float(losses.identity_loss(a, same_a, b, same_b)) == 0.75
  # the reference's weights: 10 * cycle + 10 * 0.5 * identity
  assert float(losses.cyclegan_reconstruction((2.0, 0.75))) == 10 * 2.0 + 5 * 0.75
