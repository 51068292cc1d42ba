"""The KL autoencoder's maths as pure functions: LDM's ``LPIPSWithDiscriminator``
without LPIPS (Rombach et al. 2022, Sec. 3.1 and Appendix G; its adversarial
part is the VQGAN loss of Esser et al. 2021, Sec. 3.2), and the statistics
of the latents that a latent diffusion model rescales by.

Images are in [-1, 1] here, as in LDM; per-example losses are sums over the
pixels or latent elements and the batch loss is their mean over the batch
(LDM's ``torch.sum(loss) / loss.shape[0]``), which is what makes LDM's
kl_weight = 1e-6 mean what it does. LPIPS is left out: its VGG weights are
not available offline. LDM's learned scalar output log-variance (logvar_init
= 0) is left out too: the reconstruction term is the plain L1 (or L2) sum.
"""
import jax
import jax.numpy as jnp

from genjax.errors import unknown_name
from genjax.families.autoencoder.losses import sum_per_example
from genjax.families.gan import losses as gan_losses
from genjax.nn.distributions import normal_kl_standard

RECON_LOSSES = ("l1", "l2", "l1+l2")
ADAPTIVE_EPS = 1e-4            # Esser et al. 2021 eq. 7's delta
ADAPTIVE_MAX = 1e4             # taming clamps lambda to [0, 1e4]


def reconstruction_loss(recon, x, kind):
  """Per-example sum over pixels of |x - x_rec| ('l1'), (x - x_rec)^2 ('l2')
  or both ('l1+l2'): [B]."""
  diff = recon - x
  if kind == "l1":
    return sum_per_example(jnp.abs(diff))
  if kind == "l2":
    return sum_per_example(jnp.square(diff))
  if kind == "l1+l2":
    return sum_per_example(jnp.abs(diff) + jnp.square(diff))
  raise unknown_name("KL-AE recon_loss", kind, RECON_LOSSES)


def gaussian_kl(mean, logvar):
  """KL(N(mean, exp(logvar)) || N(0, I)) summed over each example's latent
  elements: [B] (LDM's ``DiagonalGaussianDistribution.kl``)."""
  return sum_per_example(normal_kl_standard(mean, logvar))


def adopt_weight(step, start):
  """1.0 from step ``start`` on, 0.0 before (taming's ``adopt_weight``: the
  adversarial part is off for the first ``disc_start`` steps)."""
  return jnp.where(jnp.asarray(step) >= start, 1.0, 0.0).astype(jnp.float32)


def adaptive_weight(rec_grad, adv_grad):
  """lambda = ||grad_{G_L} L_rec|| / (||grad_{G_L} L_GAN|| + 1e-4) (Esser et
  al. 2021, eq. 7), clipped to [0, 1e4], under stop_gradient. The arguments
  are the two losses' gradients at the decoder's last layer G_L."""
  norm = lambda g: jnp.sqrt(jnp.sum(jnp.square(g)))
  weight = norm(rec_grad) / (norm(adv_grad) + ADAPTIVE_EPS)
  return jax.lax.stop_gradient(jnp.clip(weight, 0.0, ADAPTIVE_MAX))


def generator_adversarial_loss(fake_logits):
  """L_GAN of the autoencoder: -mean D(x_rec) over every patch logit."""
  return gan_losses.generator_loss("hinge", jnp.reshape(fake_logits, (-1,)))


def hinge_d_loss(real_logits, fake_logits):
  """taming's ``hinge_d_loss``: 0.5 (E relu(1 - D(x)) + E relu(1 + D(x_rec)))
  over every patch logit (Lim & Ye 2017's hinge, halved)."""
  return 0.5 * gan_losses.discriminator_loss(
      "hinge", jnp.reshape(real_logits, (-1,)), jnp.reshape(fake_logits, (-1,)))


# -- latent statistics ---------------------------------------------------------


def initial_latent_moments(channels):
  """Per-channel first and second moments before any latent is seen (those
  of N(0, I)), and the number of batches averaged so far."""
  return {"mean": jnp.zeros(channels, jnp.float32),
          "second_moment": jnp.ones(channels, jnp.float32),
          "count": jnp.zeros((), jnp.float32)}


def update_latent_moments(moments, z, decay):
  """The moments after the batch of latents ``z`` [B, h, w, c] (per channel,
  over batch and positions): a running mean for the first 1 / (1 - decay)
  batches (weight 1 / (n + 1) on the n+1-th), an EMA of ``decay`` after."""
  z = jax.lax.stop_gradient(z).reshape(-1, z.shape[-1])
  keep = jnp.minimum(decay, moments["count"] / (moments["count"] + 1.0))
  mix = lambda old, new: keep * old + (1.0 - keep) * new
  return {"mean": mix(moments["mean"], z.mean(0)),
          "second_moment": mix(moments["second_moment"], jnp.square(z).mean(0)),
          "count": moments["count"] + 1.0}


def latent_statistics(moments):
  """{"mean": [c], "std": [c], "scale": 1 / std of all latent elements} of the
  moments: the scale is Stable Diffusion's scale_factor (0.18215 there; LDM
  sets it to 1 / z.std() of posterior samples so latents have unit variance).
  Every channel has as many elements, so the pooled moments are the means of
  the channels'."""
  mean, second = moments["mean"], moments["second_moment"]
  pooled_var = jnp.mean(second) - jnp.square(jnp.mean(mean))
  return {"mean": mean, "std": jnp.sqrt(jnp.maximum(second - jnp.square(mean), 0.0)),
          "scale": jax.lax.rsqrt(jnp.maximum(pooled_var, 1e-12))}
