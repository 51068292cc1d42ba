"""The reconstruction terms of image translation, as means of absolute errors
(L1, as the references' ``nn.L1Loss``, a mean over every pixel and image).

  pix2pix (Isola et al. 2017, eq. 3 and 4):  G* = arg min_G max_D L_cGAN + lambda L_L1,
      L_L1 = E ||y - G(x)||_1, lambda = 100.
  CycleGAN (Zhu et al. 2017, eq. 2 and 3):  L_cyc = E ||F(G(x)) - x||_1 + E ||G(F(y)) - y||_1,
      weight lambda = 10; the identity term (sec. 5.2, after Taigman et al. 2017)
      L_id = E ||G(y) - y||_1 + E ||F(x) - x||_1 with weight 0.5 lambda.
  StarGAN (Choi et al. 2018, eq. 4):  L_rec = E ||x - G(G(x, c), c')||_1, lambda_rec = 10.
"""
import jax.numpy as jnp
import optax

from genjax.families.gan import losses as gan_losses


def l1(a, b):
  """mean |a - b| over every element."""
  return jnp.mean(jnp.abs(a - b))


def cycle_loss(real_a, rec_a, real_b, rec_b):
  """CycleGAN's eq. 2: ||F(G(a)) - a||_1 + ||G(F(b)) - b||_1 (unweighted)."""
  return l1(rec_a, real_a) + l1(rec_b, real_b)


def identity_loss(real_a, same_a, real_b, same_b):
  """CycleGAN's identity term: ||F(a) - a||_1 + ||G(b) - b||_1 (``same_a`` =
  F(a), the generator into A applied to an A image), unweighted."""
  return l1(same_a, real_a) + l1(same_b, real_b)


def cyclegan_reconstruction(terms, lambda_cycle=10.0, lambda_identity=0.5):
  """lambda (L_cyc + lambda_identity L_id) from ``terms`` = (cycle, identity):
  the reference's lambda_A = lambda_B = 10 and lambda_identity = 0.5, the
  identity weight being relative to the cycle weight."""
  cycle, identity = terms
  return lambda_cycle * (cycle + lambda_identity * identity)


def patch_discriminator_loss(mode, real_logits, fake_logits):
  """The reference's 0.5 (L(D(x,y), 1) + L(D(x,G(x)), 0)), over every patch."""
  r, f = real_logits.reshape(-1), fake_logits.reshape(-1)
  if mode == "vanilla":
    return 0.5 * gan_losses.discriminator_loss("non_saturating", r, f)
  return gan_losses.discriminator_loss("least_squares", r, f)   # already halves


def patch_generator_loss(mode, fake_logits):
  """L(D(x, G(x)), 1) over every patch: BCE, or the squared error to 1."""
  f = fake_logits.reshape(-1)
  if mode == "vanilla":
    return gan_losses.generator_loss("non_saturating", f)
  return 2.0 * gan_losses.generator_loss("least_squares", f)



def domain_classification_loss(logits, bits):
  """StarGAN's L_cls (eq. 2 and 3) for binary attributes: the binary
  cross-entropy of D_cls's logits [B, K] against the domain bits [B, K],
  summed over the attributes and averaged over the batch (the reference's
  ``binary_cross_entropy_with_logits(..., size_average=False) / B``)."""
  return jnp.sum(optax.sigmoid_binary_cross_entropy(logits, bits)) / logits.shape[0]


def critic_loss(real_scores, fake_scores):
  """-E D_src(x) + E D_src(G(x, c)) over every patch score (StarGAN eq. 8's
  adversarial part): the GAN family's Wasserstein loss on the flat maps."""
  return gan_losses.discriminator_loss("wasserstein", real_scores.reshape(-1),
                                       fake_scores.reshape(-1))


def critic_generator_loss(fake_scores):
  """-E D_src(G(x, c)) over every patch score."""
  return gan_losses.generator_loss("wasserstein", fake_scores.reshape(-1))
