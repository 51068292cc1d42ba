"""The history of generated images D trains on (Shrivastava et al. 2017,
sec. 2.3; CycleGAN, Zhu et al. 2017, sec. 4: "a buffer that stores the 50
previously created images").

The reference's ``ImagePool.query`` goes through the batch image by image:
while the pool holds fewer than ``pool_size`` images the image is stored and
returned; once it is full, with probability 1/2 (u > 0.5, u ~ U[0, 1)) a
uniformly chosen stored image is returned and replaced by the new one, and
otherwise the new image is returned and the pool is unchanged. Here the pool
is arrays in the training state (``images`` [pool_size, H, W, C] and
``count``), so a resumed run continues with the same history, and the random
draws are one key's: ``pool_draws`` makes them, ``query`` consumes them in
the reference's order (a ``lax.scan`` over the batch).
"""
import jax
import jax.numpy as jnp


def empty_pool(pool_size, image_shape, dtype=jnp.float32):
  """(images [pool_size, *image_shape] of zeros, count 0)."""
  return jnp.zeros((pool_size, *image_shape), dtype), jnp.zeros((), jnp.int32)


def pool_draws(rng, num, pool_size):
  """Per image: u ~ U[0, 1) (swap when u > 0.5) and a slot uniform in
  {0, ..., pool_size - 1}."""
  u_rng, slot_rng = jax.random.split(rng)
  return (jax.random.uniform(u_rng, (num,)),
          jax.random.randint(slot_rng, (num,), 0, max(pool_size, 1)))


def query_one(carry, inputs):
  """One image through the pool: (pool, count), (image, u, slot) ->
  (pool, count), returned image."""
  pool, count = carry
  image, u, slot = inputs
  filling = count < pool.shape[0]
  swap = jnp.logical_and(jnp.logical_not(filling), u > 0.5)
  target = jnp.where(filling, count, slot)
  returned = jnp.where(swap, pool[slot], image)
  stored = jnp.where(jnp.logical_or(filling, swap), image, pool[target])
  pool = pool.at[target].set(stored)
  return (pool, count + filling.astype(count.dtype)), returned


def query(pool, count, images, draws):
  """The images D sees for the fakes ``images`` and the updated pool:
  ((pool, count), returned [N, H, W, C]); ``draws`` from ``pool_draws``.
  A pool of size 0 returns the images (the reference's pool_size = 0)."""
  if pool.shape[0] == 0:
    return (pool, count), images
  u, slot = draws
  return jax.lax.scan(query_one, (pool, count), (images, u, slot))
