"""Pixel-by-pixel sampling and image completion, each one jitted loop.

x_i ~ p(x_i | x_<i) in raster order (and R -> G -> B within a pixel for
per-channel likelihoods): a ``lax.fori_loop`` over positions, the network
re-run on the partly drawn batch at each step (the *naive* sampler: H*W*C
network calls, the cost the autoregressive family is known for).

Completion starts the same loop at a raster position ``start`` with the
pixels before it taken from real images: any raster prefix (``start = r *
W`` keeps the top r rows).

``sample_rows_cached`` is the fast generator for the Gated PixelCNN, after
Ramachandran et al. (2017), "Fast Generation for Convolutional Autoregressive
Models": the vertical stack of row i sees only rows < i, so it is computed
once per row (H calls), and only the horizontal stack - which is local to
the row being drawn - is re-run per pixel, on that single row (H*W calls of
1/H of the work). Same distribution as the naive sampler (tested equal for
the same random draws). With vertical and horizontal stacks of similar cost
it does HW(v + h) / (Hv + Wh) ~ W times fewer FLOPs for square images (the
measured speed-up: ``benchmarks/ar_sampling.py``). It is the row/column
caching of Ramachandran et al. at the granularity of a row rather than of
each layer's individual activations.
"""
import jax
import jax.numpy as jnp


def _positions(likelihood, shape):
  """Number of sequential steps and the draws per step."""
  _, H, W, C = shape
  return H * W * C if likelihood.per_channel else H * W


def _write(likelihood, x, p, rng, out_at_fn, temperature):
  """Draws position p (sub-pixel or pixel) from the net output and writes it."""
  B, H, W, C = x.shape
  if likelihood.per_channel:
    i, j, c = p // (W * C), (p // C) % W, p % C
    out_at = out_at_fn(i, j, c)                          # [B, P]
    v = likelihood.draw(rng, out_at, temperature)        # [B]
    return jax.lax.dynamic_update_slice(x, v.reshape(B, 1, 1, 1).astype(x.dtype),
                                        (0, i, j, c))
  i, j = p // W, p % W
  out_at = out_at_fn(i, j, None)                         # [B, K]
  v = likelihood.draw(rng, out_at, temperature)          # [B, C]
  return jax.lax.dynamic_update_slice(x, v.reshape(B, 1, 1, C).astype(x.dtype),
                                      (0, i, j, 0))


def _pick(out, i, j, c):
  """out[:, i, j, c] ([B, P]) or out[:, i, j] ([B, K]) with traced indices."""
  B = out.shape[0]
  if c is None:
    return jax.lax.dynamic_slice(out, (0, i, j, 0), (B, 1, 1, out.shape[3]))[:, 0, 0]
  return jax.lax.dynamic_slice(out, (0, i, j, c, 0),
                               (B, 1, 1, 1, out.shape[4]))[:, 0, 0, 0]


def complete(net_fn, likelihood, x_init, rng, start=0, temperature=1.0):
  """Draws every position from raster index ``start`` on; earlier ones are kept.

  net_fn(x) -> per-position outputs for the whole batch; x_init [B,H,W,C]
  holds the given prefix (what it holds after ``start`` is ignored: the
  model cannot see it before it is overwritten).
  """
  n = _positions(likelihood, x_init.shape)

  def body(p, x):
    out = net_fn(x)
    return _write(likelihood, x, p, jax.random.fold_in(rng, p),
                  lambda i, j, c: _pick(out, i, j, c), temperature)

  return jax.lax.fori_loop(start, n, body, x_init)


def sample(net_fn, likelihood, shape, rng, temperature=1.0):
  """Unconditional draws of ``shape`` [B,H,W,C] (position 0 onwards)."""
  return complete(net_fn, likelihood, jnp.zeros(shape, jnp.float32), rng, 0,
                  temperature)


def complete_rows_cached(vertical_fn, row_fn, likelihood, x_init, rng, start=0,
                         temperature=1.0):
  """``complete`` for a net split into a row-wise vertical part and a per-row part.

  vertical_fn(x) -> features whose row i depends on rows < i of x only,
  shaped [L, B, H, W, F]; row_fn(x_row [B,1,W,C], feats_row [L,B,1,W,F]) ->
  the outputs of that row ([B,1,W,C,P] or [B,1,W,K]). Uses the same random
  draw per position as ``complete`` (fold_in(rng, raster position)), so both
  give identical samples from the same network.
  """
  B, H, W, C = x_init.shape
  per_row = W * C if likelihood.per_channel else W
  first_row = start // per_row

  def row_body(i, x):
    feats = vertical_fn(x)
    f_row = jax.lax.dynamic_slice_in_dim(feats, i, 1, axis=2)

    def pixel_body(q, x):
      p = i * per_row + q
      x_row = jax.lax.dynamic_slice_in_dim(x, i, 1, axis=1)
      out = row_fn(x_row, f_row)
      new = _write(likelihood, x, p, jax.random.fold_in(rng, p),
                   lambda _, j, c: _pick(out, 0, j, c), temperature)
      return jnp.where(p >= start, new, x)

    return jax.lax.fori_loop(0, per_row, pixel_body, x)

  return jax.lax.fori_loop(first_row, H, row_body, x_init)
