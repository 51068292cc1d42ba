"""The GAN family: two players, one pure ``train_step`` the shared loop jits.

Config read (``config.model`` unless said otherwise; defaults in config.py):
  arch, image_shape, z_dim, g_hidden, d_hidden, g_channels, d_channels,
  num_classes, g_cond, d_cond, spectral_norm, d_batch_norm   the networks (models.py)
  loss          losses.LOSSES: minimax | non_saturating | hinge | least_squares | wasserstein
  penalty       none | r1 | r2 | gp, weighted by penalty_weight (R1/R2: gamma/2;
                gp: lambda), applied every ``penalty_every`` D steps and then
                scaled by that k (lazy regularisation, Karras et al. 2020b sec. 4)
  n_critic      D steps per G step (WGAN: 5)
  augment       none | diffaugment (diffaugment_policy) | ada (ada_ops, ada_target,
                ada_interval, ada_kimg)
  config.optim  lr (G), d_lr (D; TTUR), b1, b2, grad_clip, ema_decay (G's EMA)
  config.sample truncation psi (0 = none), truncation_grid, grid_columns, use_ema

One ``train_step(state, batch)``:
  1. n_critic D steps (``lax.scan``). Each draws fresh z and uses the SAME real
     batch (the loop hands one batch per step; re-using it keeps the data
     stream a function of the step, so resume stays exact). D sees
     concat([real, fake]) in one call, augmented (DiffAugment / ADA) as one
     batch (every augmentation draws per image, so this equals augmenting real
     and fake separately); its BatchNorm and spectral-norm statistics update.
     Penalties: R1 on the augmented reals, R2 on the augmented fakes, GP on
     interpolates of the two (Gulrajani et al. 2017 Alg. 1).
  2. one G step on fresh z, through D's augmentation (D's stats not updated).
     G's BatchNorm running statistics update here only (the fakes of the D
     steps are drawn in training mode but their statistics are dropped).
  3. ADA: r_t = E[sign D(real)] (Karras et al. 2020 eq. 1) accumulated over D
     steps; every ``ada_interval`` steps p moves toward the target.
  4. G's EMA with the warm-started decay min(decay, (1+t)/(10+t)).
Fake images of a conditional model carry the real batch's labels.
Sampling uses G's EMA (``sample.use_ema``). G's BatchNorm running statistics
belong to the raw G, not to the averaged weights, so the EMA generator's are
recomputed from a fixed draw of latents (the "standing statistics" of BigGAN,
Brock et al. 2019): ``standing_stats``.
Data are 8-bit images in [-1, 1] (``scale_pm1``); samples come back in [0, 1].
"""
import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import optax

from genjax.errors import ConfigError, unknown_name
from genjax.families.base import Family, sample_labels
from genjax.families.gan import augment as aug_lib
from genjax.families.gan import losses, models, truncation
from genjax.families.gan.state import create_gan_state
from genjax.core.optim import ema_decay_warmup, ema_update, make_optimizer
from genjax.core.state import init_key, step_rng

PENALTIES = ("none", "r1", "r2", "gp")
AUGMENTS = ("none", "diffaugment", "ada")
STANDING_NUM = 512   # latent draws for the EMA generator's BatchNorm statistics
STANDING_SEED = 0


@dataclasses.dataclass(frozen=True)
class Settings:
  image_shape: Tuple[int, int, int]
  z_dim: int
  num_classes: int
  loss: str
  penalty: str
  penalty_weight: float
  penalty_every: int
  n_critic: int
  augment: str
  diffaugment_policy: tuple
  ada_ops: tuple
  ada_target: float
  ada_interval: int
  ada_kimg: float
  truncation: float
  truncation_grid: tuple
  grid_columns: int
  use_ema: bool


def _check(kind, value, valid):
  if value not in valid:
    raise unknown_name(kind, value, valid)
  return value


def _data_num_classes(data_cfg):
  from genjax import data as data_lib
  return data_lib.num_classes(data_cfg)


def read_settings(config, check_data=True):
  """Validates the config; ConfigError says what to change."""
  m, smp = config.model, config.sample
  _check("GAN architecture", m.arch, models.ARCHS)
  losses.check_loss(m.loss)
  penalty = _check("GAN penalty", m.penalty, PENALTIES)
  augment = _check("GAN augmentation", m.augment, AUGMENTS)
  k = int(m.get("num_classes", 0) or 0)
  models.check_cond(k, m.g_cond, m.d_cond)
  if k < 0:
    raise ConfigError(f"model.num_classes must be >= 0, got {k}.")
  if k and check_data:
    have = _data_num_classes(config.data)
    if not have:
      raise ConfigError(
          f"model.num_classes={k}: a conditional GAN needs class labels, but "
          f"the dataset {config.data.name!r} has none. Set model.num_classes=0 "
          "(unconditional) or use a labelled dataset (mnist, fashion_mnist).")
    if k > have:
      raise ConfigError(f"model.num_classes={k}, but the dataset "
                        f"{config.data.name!r} has only {have} classes.")
  if int(m.n_critic) < 1:
    raise ConfigError(f"model.n_critic must be >= 1, got {m.n_critic}.")
  if int(m.penalty_every) < 1:
    raise ConfigError(f"model.penalty_every must be >= 1, got {m.penalty_every}.")
  if float(m.penalty_weight) < 0:
    raise ConfigError(f"model.penalty_weight must be >= 0, got {m.penalty_weight}.")
  if penalty != "none" and m.d_batch_norm:
    raise ConfigError(
        f"model.penalty={penalty!r} with model.d_batch_norm=True: gradient "
        "penalties take per-example input gradients of D, which BatchNorm mixes "
        "across the batch (Gulrajani et al. 2017 sec. 4 drop it from the "
        "critic). Set d_batch_norm=False (spectral_norm=True is fine).")
  if m.loss == "wasserstein" and penalty == "none" and not m.spectral_norm:
    raise ConfigError(
        "model.loss='wasserstein' needs a Lipschitz constraint on D: set "
        "model.penalty='gp' with penalty_weight=10 (WGAN-GP) or "
        "model.spectral_norm=True.")
  d_lr = config.optim.get("d_lr", None)
  if d_lr is not None and float(d_lr) <= 0:
    raise ConfigError(f"config.optim.d_lr (D's learning rate) must be > 0, got {d_lr}.")
  target = float(m.ada_target)
  if augment == "ada":
    if not 0.0 < target < 1.0:
      raise ConfigError(f"model.ada_target must be in (0, 1) (r_t = E[sign D(real)] "
                        f"is steered toward it; the paper uses 0.6), got {target}.")
    if int(m.ada_interval) < 1 or float(m.ada_kimg) <= 0:
      raise ConfigError("model.ada_interval must be >= 1 and model.ada_kimg > 0, "
                        f"got {m.ada_interval} and {m.ada_kimg}.")
    for op in m.ada_ops:
      _check("ADA augmentation", op, aug_lib.ADA_OPS)
  if augment == "diffaugment":
    for op in m.diffaugment_policy:
      _check("DiffAugment policy", op, aug_lib.DIFFAUGMENT_POLICIES)
  return Settings(
      image_shape=tuple(int(d) for d in m.image_shape), z_dim=int(m.z_dim),
      num_classes=k, loss=m.loss, penalty=penalty,
      penalty_weight=float(m.penalty_weight), penalty_every=int(m.penalty_every),
      n_critic=int(m.n_critic), augment=augment,
      diffaugment_policy=tuple(m.diffaugment_policy), ada_ops=tuple(m.ada_ops),
      ada_target=target, ada_interval=int(m.ada_interval),
      ada_kimg=float(m.ada_kimg), truncation=float(smp.get("truncation", 0.0) or 0.0),
      truncation_grid=tuple(float(p) for p in smp.get("truncation_grid", ())),
      grid_columns=int(smp.get("grid_columns", 8)),
      use_ema=bool(smp.get("use_ema", True)))


def to_unit(x):
  """[-1, 1] -> [0, 1] (clipped): the family contract's sample range."""
  return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


def build_networks(config, s):
  m = config.model
  return models.make_networks(
      m.arch, s.image_shape, g_hidden=tuple(m.g_hidden), d_hidden=tuple(m.d_hidden),
      g_channels=tuple(m.g_channels), d_channels=tuple(m.d_channels),
      num_classes=s.num_classes, g_cond=m.g_cond, d_cond=m.d_cond,
      spectral_norm=bool(m.spectral_norm), d_batch_norm=bool(m.d_batch_norm))


def _apply(module, params, stats, *args, train, **kwargs):
  """(output, new stats); stats ({} or {'batch_stats': ...}) are mutable in training mode."""
  variables = {"params": params, **stats}
  if train and stats:
    out, new = module.apply(variables, *args, train=True, mutable=list(stats), **kwargs)
    return out, dict(new)
  return module.apply(variables, *args, train=train, **kwargs), stats


def standing_stats(G, params, stats, z, labels):
  """BatchNorm statistics of generator ``params`` on the batch ``z`` (+ labels).

  One training-mode pass from zeroed running statistics: flax updates them to
  momentum * 0 + (1 - momentum) * batch statistic, so dividing by
  (1 - momentum) leaves the batch's mean and (biased) variance, which are what
  training mode normalises with. ``stats`` only gives the tree's structure.
  """
  if not stats:
    return stats
  zero = jax.tree.map(jnp.zeros_like, stats)
  _, new = _apply(G, params, zero, z, labels, train=True)
  return jax.tree.map(lambda v: v / (1.0 - models.BN_MOMENTUM), new)


def make_family(config, runs=None):
  s = read_settings(config)
  G, D = build_networks(config, s)
  optim = dict(config.optim)
  d_lr = optim.pop("d_lr", None) or optim["lr"]
  g_opt = make_optimizer(**optim)
  d_opt = make_optimizer(**dict(optim, lr=d_lr))
  ema_decay = float(optim.get("ema_decay", 0.0))
  K = s.num_classes

  def sample_z(rng, n, psi=0.0):
    return truncation.truncated_normal(rng, (n, s.z_dim), psi)

  def labels_of(batch):
    return batch["label"].astype(jnp.int32) if K else None

  def augment(rng, x, p):
    if s.augment == "diffaugment":
      return aug_lib.diffaugment(rng, x, s.diffaugment_policy)
    if s.augment == "ada":
      return aug_lib.ada_augment(rng, x, p, s.ada_ops)
    return x

  def init(rng, example_batch):
    r_g, r_d, r_state = jax.random.split(rng, 3)
    r_g, r_d = init_key(r_g), init_key(r_d)   # fast-compiling initialisers
    x = jnp.asarray(example_batch["image"], jnp.float32)
    y = jnp.zeros((x.shape[0],), jnp.int32) if K else None
    z = jnp.zeros((x.shape[0], s.z_dim), jnp.float32)
    g_vars = G.init(r_g, z, y, train=False)
    d_vars = D.init(r_d, x, y, train=False)
    return create_gan_state(r_state, g_vars, d_vars, g_opt, d_opt)

  def penalty_value(d_fn, real, fake, rng):
    if s.penalty == "r1":
      return losses.r1_penalty(d_fn, real)    # Mescheder et al. 2018 eq. 9
    if s.penalty == "r2":
      return losses.r2_penalty(d_fn, fake)    # eq. 10
    return losses.gradient_penalty(d_fn, real, fake, rng)  # Gulrajani et al. 2017 eq. 3

  def d_step(state, real, y, rng, d_iter, carry):
    """One discriminator update; carry = (d_params, d_opt_state, d_stats)."""
    d_params, d_opt_state, d_stats = carry
    r_z, r_aug, r_pen = jax.random.split(rng, 3)
    b = real.shape[0]
    fake, _ = _apply(G, state.g_params, state.g_stats, sample_z(r_z, b), y, train=True)
    fake = jax.lax.stop_gradient(fake)
    x = augment(r_aug, jnp.concatenate([real, fake]), state.ada_p)
    yy = None if y is None else jnp.concatenate([y, y])

    def loss_fn(dp):
      logits, new_stats = _apply(D, dp, d_stats, x, yy, train=True, update_stats=True)
      r, f = logits[:b], logits[b:]
      loss = losses.discriminator_loss(s.loss, r, f)
      pen = jnp.zeros((), jnp.float32)
      if s.penalty != "none":
        d_fn = lambda xs: _apply(D, dp, d_stats, xs, y, train=True,
                                 update_stats=False)[0]
        k = s.penalty_every
        # Lazy regularisation: the penalty on every k-th D step, times k.
        pen = jax.lax.cond(d_iter % k == 0,
                           lambda: penalty_value(d_fn, x[:b], x[b:], r_pen),
                           lambda: jnp.zeros((), jnp.float32))
        loss = loss + s.penalty_weight * k * pen
      return loss, (new_stats, r, f, pen)

    (loss, (new_stats, r, f, pen)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(d_params)
    updates, d_opt_state = d_opt.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    metrics = dict(d_loss=loss, d_real=jnp.mean(r), d_fake=jnp.mean(f), penalty=pen,
                   r_t=aug_lib.overfitting_heuristic(r),
                   d_grad_norm=optax.global_norm(grads))
    return (d_params, d_opt_state, new_stats), metrics

  def train_step(state, batch):
    rng = step_rng(state.rng, state.step)
    real = batch["image"].astype(jnp.float32)
    y = labels_of(batch)
    b = real.shape[0]

    def scan_body(carry, i):
      d_iter = state.step * s.n_critic + i
      return d_step(state, real, y, jax.random.fold_in(rng, i), d_iter, carry)

    carry = (state.d_params, state.d_opt_state, state.d_stats)
    (d_params, d_opt_state, d_stats), dm = jax.lax.scan(
        scan_body, carry, jnp.arange(s.n_critic))
    rt_all = dm["r_t"]                 # r_t of each of the n_critic D steps

    # Generator step (non-saturating etc.: G's loss on D's logits of augmented fakes).
    r_z, r_aug = jax.random.split(jax.random.fold_in(rng, s.n_critic))
    z = sample_z(r_z, b)

    def g_loss_fn(gp):
      fake, g_stats = _apply(G, gp, state.g_stats, z, y, train=True)
      f, _ = _apply(D, d_params, d_stats, augment(r_aug, fake, state.ada_p), y,
                    train=True, update_stats=False)
      return losses.generator_loss(s.loss, f), g_stats

    (g_loss, g_stats), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        state.g_params)
    updates, g_opt_state = g_opt.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, updates)
    ema = ema_update(state.g_ema_params, g_params,
                     ema_decay_warmup(state.step, ema_decay))

    # ADA (Karras et al. 2020 sec. 3): r_t over the last `interval` steps steers p.
    rt_sum, rt_count, p = state.ada_rt_sum, state.ada_rt_count, state.ada_p
    if s.augment == "ada":
      rt_sum = rt_sum + jnp.sum(rt_all)
      rt_count = rt_count + jnp.float32(s.n_critic)
      due = (state.step + 1) % s.ada_interval == 0
      new_p = aug_lib.ada_update(p, rt_sum / jnp.maximum(rt_count, 1.0),
                                 target=s.ada_target, batch_size=b * s.n_critic,
                                 interval=s.ada_interval, speed_kimg=s.ada_kimg)
      p = jnp.where(due, new_p, p)
      rt_sum = jnp.where(due, 0.0, rt_sum)
      rt_count = jnp.where(due, 0.0, rt_count)

    last = {k: v[-1] for k, v in dm.items()}   # the last D step's
    # penalty: its value where it was computed (0 on steps lazy regularisation skips)
    metrics = dict(last, r_t=jnp.mean(rt_all), penalty=jnp.max(dm["penalty"]),
                   g_loss=g_loss, loss=last["d_loss"],
                   ada_p=p, g_grad_norm=optax.global_norm(g_grads))
    new_state = state.replace(
        step=state.step + 1, g_params=g_params, d_params=d_params,
        g_opt_state=g_opt_state, d_opt_state=d_opt_state, g_ema_params=ema,
        g_stats=g_stats, d_stats=d_stats, ada_p=p, ada_rt_sum=rt_sum,
        ada_rt_count=rt_count)
    return new_state, metrics

  def generator_variables(state):
    """(params, BatchNorm statistics) of the sampling generator."""
    if not s.use_ema:
      return state.g_params, state.g_stats
    # Standing statistics of the EMA weights on a fixed, untruncated draw.
    n = STANDING_NUM
    z = sample_z(jax.random.PRNGKey(STANDING_SEED), n)
    return state.g_ema_params, standing_stats(G, state.g_ema_params, state.g_stats,
                                              z, sample_labels(n, K))

  def generate(state, z, labels):
    params, stats = generator_variables(state)
    x, _ = _apply(G, params, stats, z, labels, train=False)
    return to_unit(x)

  def sample(state, rng, num, cond=None):
    return generate(state, sample_z(rng, num, s.truncation), sample_labels(num, K, cond))

  def image_grids(state, batch, rng):
    """'truncation': the same z at each psi of sample.truncation_grid (one row each);
    'classes' (conditional models): one row per class, the same z in each column."""
    del batch
    c = s.grid_columns
    zs, labels, shapes = [], [], {}
    if s.truncation_grid:   # the same key at every psi: the same draw, truncated more or less
      zs += [sample_z(rng, c, psi) for psi in s.truncation_grid]
      labels += [sample_labels(c, K)] * len(s.truncation_grid)
      shapes["truncation"] = len(s.truncation_grid)
    if K:
      z = sample_z(jax.random.fold_in(rng, 1), c, s.truncation)
      zs += [z] * K
      labels += [jnp.full((c,), k, jnp.int32) for k in range(K)]
      shapes["classes"] = K
    if not zs:
      return {}
    # One generator call for every grid (one compiled program).
    images = generate(state, jnp.concatenate(zs),
                      jnp.concatenate(labels) if K else None)
    images = images.reshape((-1, c) + s.image_shape)
    grids, start = {}, 0
    for name, rows in shapes.items():
      grids[name] = images[start:start + rows]
      start += rows
    return grids

  def d_logits(state, images, labels):
    out, _ = _apply(D, state.d_params, state.d_stats, images, labels, train=False,
                    update_stats=False)
    return out

  def eval_d_real(state, batch, rng):
    """D's logit on each real test image (no augmentation): overfitting shows as a
    gap between train and test values."""
    del rng
    return d_logits(state, batch["image"].astype(jnp.float32), labels_of(batch))

  def eval_r_t(state, batch, rng):
    """sign(D(x)) per real test image; its mean is r_t (Karras et al. 2020 eq. 1)."""
    return jnp.sign(eval_d_real(state, batch, rng))

  def eval_d_fake(state, batch, rng):
    """D's logit on a generated image (training G, the real batch's labels)."""
    n = batch["image"].shape[0]
    y = labels_of(batch)
    fake, _ = _apply(G, state.g_params, state.g_stats, sample_z(rng, n), y, train=False)
    return d_logits(state, fake, y)

  del runs  # builds on no other run
  return Family(family="gan", model=config.model.arch, init=init, train_step=train_step,
                eval_metrics={"d_real": eval_d_real, "r_t": eval_r_t,
                              "d_fake": eval_d_fake},
                sample=sample, image_grids=image_grids, data_to_unit=to_unit,
                num_classes=K or None)

