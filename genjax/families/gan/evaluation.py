"""The GAN family's per-example evaluation metrics: d_real, r_t, d_fake.

Each is ``metric(settings, nets, state, batch, rng) -> [B]``; D runs in
evaluation mode (running BatchNorm statistics, no augmentation).
"""
import jax.numpy as jnp

from genjax.families.gan.models import apply_with_stats
from genjax.families.gan.steps import batch_labels, sample_latents


def critic_logits(nets, d_params, d_stats, images, labels):
  """D's logits [B] with ``d_params`` and ``d_stats`` on ``images`` in
  evaluation mode (running BatchNorm statistics, spectral norms not updated)."""
  logits, _ = apply_with_stats(nets.discriminator, d_params, d_stats, images, labels,
                               train=False, update_stats=False)
  return logits


def discriminator_logits(nets, state, images, labels):
  """D's logits [B] on ``images`` in evaluation mode (statistics not updated)."""
  return critic_logits(nets, state.d_params, state.d_stats, images, labels)


def eval_d_real(settings, nets, state, batch, rng):
  """D's logit on each real test image (no augmentation): overfitting shows as
  a gap between train and test values."""
  del rng
  return discriminator_logits(nets, state, batch["image"].astype(jnp.float32),
                              batch_labels(settings, batch))


def eval_r_t(settings, nets, state, batch, rng):
  """sign(D(x)) per real test image; its mean is r_t (Karras et al. 2020 eq. 1)."""
  return jnp.sign(eval_d_real(settings, nets, state, batch, rng))


def eval_d_fake(settings, nets, state, batch, rng):
  """D's logit on a generated image per test example (the training G in
  evaluation mode, untruncated z, the batch's labels)."""
  labels = batch_labels(settings, batch)
  z = sample_latents(settings, rng, batch["image"].shape[0])
  fake, _ = apply_with_stats(nets.generator, state.g_params, state.g_stats, z, labels,
                             train=False)
  return discriminator_logits(nets, state, fake, labels)
