"""The GAN train step as top-level pure functions of ``(settings, nets, ...)``.

``train_step(settings, nets, state, batch)`` (``make_family`` binds the first
two) is, with ``rng = fold_in(state.rng, state.step)``:
  1. ``discriminator_steps``: n_critic D updates (``lax.scan``), D step i with
     the key fold_in(rng, i). Each draws fresh z and uses the SAME real batch
     (the loop hands one batch per step; re-using it keeps the data stream a
     function of the step, so resume stays exact). D sees concat([real, fake])
     in one call, augmented (DiffAugment / ADA) as one batch (every
     augmentation draws per image, so this equals augmenting real and fake
     separately); its BatchNorm and spectral-norm statistics update.
     Penalties: R1 on the augmented reals, R2 on the augmented fakes, GP on
     interpolates of the two (Gulrajani et al. 2017 Alg. 1).
  2. ``generator_step``: one G update on fresh z (key fold_in(rng, n_critic)),
     through D's augmentation (D's statistics not updated); G's BatchNorm
     running statistics update here only (the fakes of the D steps are drawn
     in training mode but their statistics are dropped); then G's EMA with the
     warm-started decay min(decay, (1+t)/(10+t)).
  3. ``ada_step``: r_t = E[sign D(real)] (Karras et al. 2020 eq. 1) accumulated
     over the D steps; every ``ada_interval`` steps p moves toward the target.
Fake images of a conditional model carry the real batch's labels.
"""
import functools

import jax
import jax.numpy as jnp
import optax

from genjax.core.optim import ema_decay_warmup, ema_update
from genjax.core.state import step_rng
from genjax.families.gan import augment as augment_lib
from genjax.families.gan import losses, truncation
from genjax.families.gan.models import apply_with_stats


def sample_latents(settings, rng, num, psi=0.0):
  """z ~ N(0, I), [num, z_dim], truncated to [-psi, psi] when psi > 0."""
  return truncation.truncated_normal(rng, (num, settings.z_dim), psi)


def batch_labels(settings, batch):
  """The batch's int32 labels for a class-conditional model; None otherwise."""
  return batch["label"].astype(jnp.int32) if settings.num_classes else None


def augment_images(settings, rng, images, ada_p):
  """D's input augmentation: DiffAugment's policy, ADA's ops with probability
  ``ada_p``, or the images unchanged."""
  if settings.augment == "diffaugment":
    return augment_lib.diffaugment(rng, images, settings.diffaugment_policy)
  if settings.augment == "ada":
    return augment_lib.ada_augment(rng, images, ada_p, settings.ada_ops)
  return images


def penalty_value(settings, d_fn, real, fake, rng):
  """The unweighted penalty ``settings.penalty`` (r1 | r2 | gp) of D's ``d_fn``."""
  if settings.penalty == "r1":
    return losses.r1_penalty(d_fn, real)    # Mescheder et al. 2018 eq. 9
  if settings.penalty == "r2":
    return losses.r2_penalty(d_fn, fake)    # eq. 10
  return losses.gradient_penalty(d_fn, real, fake, rng)  # Gulrajani et al. 2017 eq. 3


def drift_weight(settings):
  """ProGAN's epsilon_drift (model.progan.epsilon_drift); 0 for the other architectures."""
  return settings.progan.epsilon_drift if settings.progan is not None else 0.0


def discriminator_objective(settings, nets, d_params, d_stats, images, labels,
                            penalty_rng, d_iter):
  """D's loss on ``images`` = concat([real, fake]) (both halves' ``labels``)
  (ProGAN: plus epsilon_drift * E[D(real)^2]), plus, on every
  ``penalty_every``-th D step ``d_iter``, penalty_weight * k *
  penalty (lazy regularisation, Karras et al. 2020b sec. 4).
  Returns (loss, (new D statistics, real logits, fake logits, penalty))."""
  num = images.shape[0] // 2
  both_labels = None if labels is None else jnp.concatenate([labels, labels])
  logits, new_stats = apply_with_stats(nets.discriminator, d_params, d_stats, images,
                                       both_labels, train=True, update_stats=True)
  real_logits, fake_logits = logits[:num], logits[num:]
  loss = losses.discriminator_loss(settings.loss, real_logits, fake_logits)
  if drift_weight(settings):   # ProGAN's drift term on the reals
    loss = loss + drift_weight(settings) * losses.drift_penalty(real_logits)
  penalty = jnp.zeros((), loss.dtype)
  if settings.penalty != "none":
    d_fn = lambda x: apply_with_stats(nets.discriminator, d_params, d_stats, x, labels,
                                      train=True, update_stats=False)[0]
    k = settings.penalty_every
    penalty = jax.lax.cond(
        d_iter % k == 0,
        lambda: penalty_value(settings, d_fn, images[:num], images[num:], penalty_rng),
        lambda: jnp.zeros((), loss.dtype))
    loss = loss + settings.penalty_weight * k * penalty
  return loss, (new_stats, real_logits, fake_logits, penalty)


def generator_rngs(rng):
  """The rng streams of G's training passes: StyleGAN2's noise inputs and
  style mixing (the other generators draw nothing)."""
  noise, mixing = jax.random.split(rng)
  return {"noise": noise, "mixing": mixing}


def discriminator_step(settings, nets, state, real, labels, rng, d_iter, d_vars):
  """One D update of ``d_vars`` = (d_params, d_opt_state, d_stats) against
  fakes of the state's G; returns (new d_vars, this D step's metrics)."""
  d_params, d_opt_state, d_stats = d_vars
  z_rng, augment_rng, penalty_rng = jax.random.split(rng, 3)
  z = sample_latents(settings, z_rng, real.shape[0])
  fake, _ = apply_with_stats(nets.generator, state.g_params, state.g_stats, z, labels,
                             train=True, rngs=generator_rngs(jax.random.fold_in(rng, 3)))
  fake = jax.lax.stop_gradient(fake)
  images = augment_images(settings, augment_rng, jnp.concatenate([real, fake]),
                          state.ada_p)
  objective = functools.partial(discriminator_objective, settings, nets)
  (loss, (new_stats, real_logits, fake_logits, penalty)), grads = jax.value_and_grad(
      objective, has_aux=True)(d_params, d_stats, images, labels, penalty_rng, d_iter)
  updates, d_opt_state = nets.d_optimizer.update(grads, d_opt_state, d_params)
  d_params = optax.apply_updates(d_params, updates)
  metrics = dict(d_loss=loss, d_real=jnp.mean(real_logits),
                 d_fake=jnp.mean(fake_logits), penalty=penalty,
                 r_t=augment_lib.overfitting_heuristic(real_logits),
                 d_grad_norm=optax.global_norm(grads))
  return (d_params, d_opt_state, new_stats), metrics


def discriminator_steps(settings, nets, state, real, labels, rng):
  """``n_critic`` D updates on the same real batch (``lax.scan``), D step i
  with the key fold_in(rng, i); returns ((d_params, d_opt_state, d_stats),
  metrics stacked over the D steps)."""

  def one_step(d_vars, i):
    d_iter = state.step * settings.n_critic + i   # D steps since the start
    return discriminator_step(settings, nets, state, real, labels,
                              jax.random.fold_in(rng, i), d_iter, d_vars)

  d_vars = (state.d_params, state.d_opt_state, state.d_stats)
  return jax.lax.scan(one_step, d_vars, jnp.arange(settings.n_critic))


def generator_objective(settings, nets, g_params, g_stats, d_params, d_stats, z,
                        labels, augment_rng, ada_p, rngs=None):
  """G's loss on D's logits of its augmented fakes; returns (loss, G's new
  statistics). ``rngs``: G's rng streams (``generator_rngs``)."""
  fake, new_g_stats = apply_with_stats(nets.generator, g_params, g_stats, z, labels,
                                       train=True, rngs=rngs)
  fake_logits, _ = apply_with_stats(
      nets.discriminator, d_params, d_stats,
      augment_images(settings, augment_rng, fake, ada_p), labels, train=True,
      update_stats=False)
  return losses.generator_loss(settings.loss, fake_logits), new_g_stats


def update_generator(nets, state, grads, g_stats):
  """G's optimiser step on ``grads``, then its EMA; the state with G's
  parameters, optimiser state, EMA and statistics (``g_stats``) replaced."""
  updates, g_opt_state = nets.g_optimizer.update(grads, state.g_opt_state,
                                                 state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  ema = ema_update(state.g_ema_params, g_params,
                   ema_decay_warmup(state.step, nets.ema_decay))
  return state.replace(g_params=g_params, g_opt_state=g_opt_state,
                       g_ema_params=ema, g_stats=g_stats)


def generator_step(settings, nets, state, labels, rng, num):
  """One G update on ``num`` fresh latents against the state's D, then G's EMA;
  returns (the state with G's parameters, optimiser state, EMA and statistics
  replaced, metrics)."""
  z_rng, augment_rng = jax.random.split(rng)
  z = sample_latents(settings, z_rng, num)
  objective = functools.partial(generator_objective, settings, nets)
  (g_loss, g_stats), grads = jax.value_and_grad(objective, has_aux=True)(
      state.g_params, state.g_stats, state.d_params, state.d_stats, z, labels,
      augment_rng, state.ada_p, generator_rngs(jax.random.fold_in(rng, 2)))
  new_state = update_generator(nets, state, grads, g_stats)
  return new_state, dict(g_loss=g_loss, g_grad_norm=optax.global_norm(grads))


def ada_step(settings, state, r_t_per_d_step, batch_size):
  """ADA's fields after this step (Karras et al. 2020 sec. 3): the r_t of its
  D steps added to the running sum; on every ``ada_interval``-th step p moves
  toward ``ada_target`` by the mean r_t since the last move and the sum
  restarts. Unchanged without ADA. Returns {ada_p, ada_rt_sum, ada_rt_count}."""
  p, rt_sum, rt_count = state.ada_p, state.ada_rt_sum, state.ada_rt_count
  if settings.augment == "ada":
    rt_sum = rt_sum + jnp.sum(r_t_per_d_step)
    rt_count = rt_count + jnp.float32(settings.n_critic)
    due = (state.step + 1) % settings.ada_interval == 0
    new_p = augment_lib.ada_update(
        p, rt_sum / jnp.maximum(rt_count, 1.0), target=settings.ada_target,
        batch_size=batch_size * settings.n_critic, interval=settings.ada_interval,
        speed_kimg=settings.ada_kimg)
    p = jnp.where(due, new_p, p)
    rt_sum = jnp.where(due, 0.0, rt_sum)
    rt_count = jnp.where(due, 0.0, rt_count)
  return dict(ada_p=p, ada_rt_sum=rt_sum, ada_rt_count=rt_count)


def step_metrics(d_metrics, g_metrics, ada_p):
  """A step's metrics: the last D step's, r_t averaged over the D steps, the
  penalty where it was computed (0 on steps lazy regularisation skips), G's,
  ``loss`` = D's loss and ADA's new p."""
  last = {name: values[-1] for name, values in d_metrics.items()}
  return dict(last, r_t=jnp.mean(d_metrics["r_t"]),
              penalty=jnp.max(d_metrics["penalty"]), loss=last["d_loss"],
              ada_p=ada_p, **g_metrics)


def train_step(settings, nets, state, batch, g_step=generator_step):
  """One GAN step (the module docstring): n_critic D steps, one G step
  (``g_step``, with generator_step's arguments; StyleGAN2's adds its
  path-length regulariser), ADA."""
  rng = step_rng(state.rng, state.step)
  real = batch["image"].astype(jnp.float32)
  labels = batch_labels(settings, batch)
  (d_params, d_opt_state, d_stats), d_metrics = discriminator_steps(
      settings, nets, state, real, labels, rng)
  trained_d = state.replace(d_params=d_params, d_opt_state=d_opt_state,
                            d_stats=d_stats)
  trained, g_metrics = g_step(settings, nets, trained_d, labels,
                              jax.random.fold_in(rng, settings.n_critic), real.shape[0])
  ada = ada_step(settings, state, d_metrics["r_t"], real.shape[0])
  new_state = trained.replace(step=state.step + 1, **ada)
  return new_state, step_metrics(d_metrics, g_metrics, ada["ada_p"])
