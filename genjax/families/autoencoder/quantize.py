"""Vector quantisation (VQ-VAE) as pure functions of arrays.

van den Oord et al. 2017, "Neural Discrete Representation Learning":
  * nearest-code quantisation, z_q(x) = e_k with k = argmin_j ||z_e(x) - e_j||
    (eq. 1-2);
  * the straight-through gradient: the decoder's gradient at z_q is copied to
    z_e (sec. 3.2);
  * the loss terms ||sg[z_e] - e||^2 (codebook) and beta ||z_e - sg[e]||^2
    (commitment, beta = 0.25) of eq. 3;
  * the EMA codebook of appendix A.1 in place of the codebook term:
    N_k <- g N_k + (1 - g) n_k,  m_k <- g m_k + (1 - g) sum_{i: k_i = k} z_i,
    e_k = m_k / N_k (eq. 6-8, decay g = 0.99), with the counts
    Laplace-smoothed, N'_k = (N_k + eps) / (n + K eps) * n, n = sum_k N_k
    (sonnet's VectorQuantizerEMA), so a code that is never chosen has no 0/0;
  * dead-code restarts (Dhariwal et al. 2020, Jukebox, sec. 3.1; Zeghidour et
    al. 2021): a code unused for ``restart_after`` steps is re-seeded with an
    encoder output of the current batch.

Every function takes flat encoder outputs z [N, D] and a codebook [K, D].
"""
import jax
import jax.numpy as jnp

COMMITMENT_BETA = 0.25     # van den Oord et al. 2017, sec. 4.1
EMA_DECAY = 0.99           # appendix A.1
LAPLACE_EPS = 1e-5


def squared_distances(z, codebook):
  """||z_i - e_k||^2 for every row of z [N, D] and code [K, D]: [N, K]."""
  return (jnp.sum(z * z, axis=1, keepdims=True) - 2.0 * z @ codebook.T
          + jnp.sum(codebook * codebook, axis=1)[None, :])


def nearest_codes(z, codebook):
  """k_i = argmin_k ||z_i - e_k||^2 (eq. 1): int32 [N]."""
  return jnp.argmin(squared_distances(z, codebook), axis=1).astype(jnp.int32)


def straight_through(z_e, z_q):
  """z_q in the forward pass, the identity's gradient to z_e in the backward
  pass (sec. 3.2): z_e + sg[z_q - z_e]."""
  return z_e + jax.lax.stop_gradient(z_q - z_e)


def codebook_loss(z_e, z_q):
  """||sg[z_e] - e||^2 of eq. 3, the mean over every element: moves the codes."""
  return jnp.mean(jnp.square(jax.lax.stop_gradient(z_e) - z_q))


def commitment_loss(z_e, z_q):
  """||z_e - sg[e]||^2 of eq. 3 (before beta), the mean over every element:
  keeps the encoder's outputs near their codes."""
  return jnp.mean(jnp.square(z_e - jax.lax.stop_gradient(z_q)))


def code_counts(codes, num_codes):
  """n_k: how many of ``codes`` [N] are code k, float32 [K]."""
  return jnp.zeros((num_codes,), jnp.float32).at[codes].add(1.0)


def perplexity(counts):
  """exp(H(p)) of the code frequencies p = counts / sum(counts): K when every
  code is used equally, 1 when one code takes everything."""
  p = counts / jnp.maximum(jnp.sum(counts), 1e-12)
  return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


def share_in_use(counts):
  """The share of the K codes with a count above 0."""
  return jnp.mean((counts > 0).astype(jnp.float32))


def initial_ema(codebook):
  """The EMA state of a fresh codebook: counts N_k = 1 and sums m_k = e_k, as
  if each code had been chosen once by itself. So e_k = m_k / N'_k is the
  initial code, and an unused code stays where it is until its count decays
  (g^t) to the Laplace eps; from then on it shrinks towards 0, the failure
  zalandoresearch/pytorch-vq-vae#10 reports, which restarts prevent."""
  num_codes = codebook.shape[0]
  return {"codebook": codebook, "ema_count": jnp.ones((num_codes,), jnp.float32),
          "ema_sum": codebook}


def ema_update(ema, z, codes, decay=EMA_DECAY, eps=LAPLACE_EPS):
  """One step of appendix A.1 (eq. 6-8) with Laplace-smoothed counts: the new
  {"codebook", "ema_count", "ema_sum"} from the batch's z [N, D] and codes [N]."""
  z = jax.lax.stop_gradient(z)
  num_codes = ema["ema_count"].shape[0]
  one_hot = jax.nn.one_hot(codes, num_codes, dtype=z.dtype)
  count = decay * ema["ema_count"] + (1.0 - decay) * jnp.sum(one_hot, axis=0)
  total = decay * ema["ema_sum"] + (1.0 - decay) * one_hot.T @ z
  n = jnp.sum(count)
  smoothed = (count + eps) / (n + num_codes * eps) * n
  return {"codebook": total / smoothed[:, None], "ema_count": count, "ema_sum": total}


def candidate_outputs(rng, z, num_codes):
  """``num_codes`` rows of z [N, D] drawn at random (distinct rows when N >= K)."""
  n = z.shape[0]
  if n >= num_codes:
    rows = jax.random.permutation(rng, n)[:num_codes]
  else:
    rows = jax.random.randint(rng, (num_codes,), 0, n)
  return jax.lax.stop_gradient(z[rows])


def next_age(age, counts):
  """Steps since each code was last chosen: 0 where the batch used it."""
  return jnp.where(counts > 0, 0, age + 1).astype(jnp.int32)


def restart_dead_codes(rng, ema, age, z, restart_after):
  """Re-seed every code unused for ``restart_after`` steps (``age`` is already
  this step's) with an encoder output of this batch: e_k = m_k = z_j, N_k = 1,
  age 0. Codes in use are never moved. Returns (ema, age, number restarted)."""
  dead = age >= restart_after
  fresh = candidate_outputs(rng, z, age.shape[0])
  pick = lambda new, old: jnp.where(dead[:, None], new, old)
  ema = {"codebook": pick(fresh, ema["codebook"]), "ema_sum": pick(fresh, ema["ema_sum"]),
         "ema_count": jnp.where(dead, 1.0, ema["ema_count"])}
  return ema, jnp.where(dead, 0, age).astype(jnp.int32), jnp.sum(dead)
