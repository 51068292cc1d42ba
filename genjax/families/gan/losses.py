"""GAN objectives and gradient penalties, as pure functions.

Logits are the discriminator's raw outputs, shape [B] (or [B, 1], flattened);
every loss is a scalar, the mean over the batch. Where the paper's loss is
written with D(x) = sigmoid(logit) it is computed here in log-sigmoid form,
using -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l),
so large |logits| give finite values and finite gradients.

The penalties take ``d_fn``: images [B, ...] -> logits [B], a closure over the
discriminator's parameters (so the penalty can be differentiated w.r.t. them:
double backprop). Per-example input gradients are taken as grad_x sum_b D(x_b),
which is exact when examples do not interact inside D (no batch norm; a
minibatch-stddev layer would mix them).
"""
import jax
import jax.numpy as jnp

from genjax.errors import check_choice

LOSSES = ("minimax", "non_saturating", "hinge", "least_squares", "wasserstein")


def check_loss(kind):
  """``kind`` if it is in LOSSES; else a ConfigError listing the valid names."""
  return check_choice("GAN loss", kind, LOSSES)


def _flat(logits):
  logits = jnp.asarray(logits)
  return logits.reshape(logits.shape[0]) if logits.ndim > 1 else logits


def discriminator_loss(kind, real_logits, fake_logits):
  """The discriminator's loss for ``kind`` in LOSSES; r, f are logits on real / fake."""
  check_loss(kind)
  r, f = _flat(real_logits), _flat(fake_logits)
  if kind in ("minimax", "non_saturating"):
    # Goodfellow et al. (2014) eq. 1, D maximises log D(x) + log(1 - D(G(z))):
    # -log s(r) - log(1 - s(f)) = softplus(-r) + softplus(f).
    return jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(f))
  if kind == "hinge":
    # Lim & Ye (2017); Miyato et al. (2018): E relu(1 - r) + E relu(1 + f).
    return jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))
  if kind == "least_squares":
    # Mao et al. (2017) eq. 2 with a = 0 (fake), b = 1 (real): 1/2 E(r-1)^2 + 1/2 E f^2.
    return 0.5 * jnp.mean(jnp.square(r - 1.0)) + 0.5 * jnp.mean(jnp.square(f))
  # Wasserstein: Arjovsky et al. (2017) eq. 3, the critic maximises E r - E f.
  return jnp.mean(f) - jnp.mean(r)


def generator_loss(kind, fake_logits):
  """The generator's loss for ``kind`` in LOSSES; f are the discriminator's logits on fakes."""
  check_loss(kind)
  f = _flat(fake_logits)
  if kind == "minimax":
    # Goodfellow et al. (2014) eq. 1, G minimises log(1 - D(G(z))) = -softplus(f).
    # Saturates: its gradient sigmoid(f) vanishes where D rejects the fakes (f << 0).
    return -jnp.mean(jax.nn.softplus(f))
  if kind == "non_saturating":
    # Goodfellow et al. (2014) sec. 3: maximise log D(G(z)) instead, -log s(f) = softplus(-f).
    return jnp.mean(jax.nn.softplus(-f))
  if kind == "least_squares":
    # Mao et al. (2017) eq. 2 with c = 1: 1/2 E (f - 1)^2.
    return 0.5 * jnp.mean(jnp.square(f - 1.0))
  # hinge (Lim & Ye 2017; Miyato et al. 2018) and Wasserstein (Arjovsky et al. 2017): -E f.
  return -jnp.mean(f)


def _safe_norm(sq):
  """sqrt(sq) with a zero (not NaN) gradient at sq = 0."""
  pos = sq > 0
  return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def input_gradients(d_fn, x):
  """grad_x D(x) per example, same shape as ``x`` (d_fn: [B, ...] -> logits [B])."""
  return jax.grad(lambda x_: jnp.sum(_flat(d_fn(x_))))(x)


def squared_gradient_norms(d_fn, x):
  """||grad_x D(x_b)||_2^2 for each example b -> [B]."""
  g = input_gradients(d_fn, x)
  return jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=1)


def interpolate(rng, real, fake):
  """x_hat = eps real + (1 - eps) fake, eps ~ U[0, 1] per example (Gulrajani et al. 2017, Alg. 1).

  eps = jax.random.uniform(rng, [B]), broadcast over the other axes.
  """
  eps = jax.random.uniform(rng, (real.shape[0],), dtype=real.dtype)
  eps = eps.reshape((-1,) + (1,) * (real.ndim - 1))
  return eps * real + (1.0 - eps) * fake


def gradient_penalty(d_fn, real, fake, rng, target=1.0):
  """WGAN-GP: E[(||grad_xhat D(x_hat)||_2 - target)^2] (Gulrajani et al. 2017 eq. 3, without lambda).

  x_hat from ``interpolate(rng, real, fake)``; ``target`` = 1 is the paper's
  1-Lipschitz target (other values give Karras et al. 2018's variant).
  """
  x_hat = interpolate(rng, real, fake)
  norms = _safe_norm(squared_gradient_norms(d_fn, x_hat))
  return jnp.mean(jnp.square(norms - target))


def drift_penalty(real_logits):
  """E[D(x)^2] over real logits (Karras et al. 2018, "Progressive Growing of
  GANs", app. A.1: epsilon_drift times it joins the critic's loss, keeping its
  output near 0 without constraining the WGAN objective; epsilon 0.001)."""
  return jnp.mean(jnp.square(_flat(real_logits)))


def r1_penalty(d_fn, real):
  """R1 = E_real ||grad_x D(x)||^2 (Mescheder et al. 2018 eq. 9, without the factor gamma / 2)."""
  return jnp.mean(squared_gradient_norms(d_fn, real))


def r2_penalty(d_fn, fake):
  """R2 = E_fake ||grad_x D(x)||^2 (Mescheder et al. 2018 eq. 10, without gamma / 2)."""
  return jnp.mean(squared_gradient_norms(d_fn, fake))


def path_length_noise(rng, shape, dtype=jnp.float32):
  """y ~ N(0, I) / sqrt(H W) for images of ``shape`` [B, H, W, C] (StyleGAN2
  app. B: the normalisation makes the lengths independent of the resolution)."""
  return jax.random.normal(rng, shape, dtype) / jnp.sqrt(float(shape[1] * shape[2]))


def path_lengths(synthesize, ws, rng):
  """||J_w^T y||_2 per sample (StyleGAN2 eq. 4), y from ``path_length_noise(rng)``.

  ``synthesize``: ws [B, L, D] -> images [B, H, W, C], each sample's image a
  function of its own ws only. J^T y is one vector-Jacobian product; with the
  references (all three), its squared norm is summed over w's D coordinates
  and averaged over the L layers before the square root.
  """
  images, vjp = jax.vjp(synthesize, ws)
  (g,) = vjp(path_length_noise(rng, images.shape, images.dtype))
  return _safe_norm(jnp.mean(jnp.sum(jnp.square(g), axis=2), axis=1))


def path_length_penalty(lengths, pl_mean, decay):
  """(E (||J_w^T y|| - a)^2, a) with a = pl_mean + decay (E||J_w^T y|| - pl_mean),
  the running mean the state keeps (StyleGAN2 eq. 4; as the references, the
  penalty is taken against the updated a, and the returned a carries no gradient)."""
  a = pl_mean + decay * (jnp.mean(lengths) - pl_mean)
  return jnp.mean(jnp.square(lengths - a)), jax.lax.stop_gradient(a)
