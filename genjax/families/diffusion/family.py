"""The diffusion family: DDPM/DDIM with classifier-free and classifier guidance.

Config read (``config.model`` unless said otherwise):
  name          'ddpm' (the denoiser) | 'classifier' (the time-conditioned noisy
                classifier of classifier guidance, Dhariwal & Nichol 2021)
  image_shape, ch, ch_mult, num_res_blocks, attn_resolutions, dropout,
  num_heads     the U-Net (unet.py)
  num_classes   0: unconditional; K > 0: labels embedded, with a learned null
                class K; training replaces a label by null with probability
                ``label_dropout`` (Ho & Salimans 2022)
  schedule, timesteps, prediction ('eps' | 'x0' | 'v'), loss ('simple' |
  'hybrid'), variance ('fixed_large' | 'fixed_small' | 'learned' with the
  hybrid loss), clip_x0
  config.sample sampler ('ddpm' | 'ddim'), steps (a respaced subsequence),
                eta, guidance_weight (CFG w), classifier_workdir and
                classifier_scale (classifier guidance), use_ema
Data are 8-bit images mapped to [-1, 1] (``scale_pm1``); samples come back in
[0, 1]. Every sampler runs as one ``fori_loop`` inside the loop's jit.
"""
import dataclasses
import math
from typing import Tuple

import jax
import jax.numpy as jnp
import optax

from genjax.errors import ConfigError, unknown_name
from genjax.families.base import Family, sample_labels
from genjax.families.diffusion import losses, samplers
from genjax.families.diffusion import schedules as sch
from genjax.families.diffusion.classifier import NoisyClassifier
from genjax.families.diffusion.unet import UNet, check_image_size
from genjax.core.optim import make_optimizer
from genjax.core.state import create_train_state, eval_params
from genjax.core.step import make_train_step

NAMES = ("ddpm", "classifier")
GRID_ROWS, INTERP_STEPS = 8, 8


@dataclasses.dataclass(frozen=True)
class Settings:
  name: str
  image_shape: Tuple[int, int, int]
  unet: dict
  num_classes: int
  label_dropout: float
  schedule: str
  timesteps: int
  prediction: str
  loss: str
  variance: str
  clip_x0: bool
  sampler: str
  steps: int
  eta: float
  guidance_weight: float
  classifier_workdir: str
  classifier_scale: float
  fixed_point_iters: int
  use_ema: bool

  @property
  def num_dims(self):
    return math.prod(self.image_shape)


def _check(kind, value, valid):
  if value not in valid:
    raise unknown_name(kind, value, valid)
  return value


def read_settings(config):
  """Validates the config; ConfigError says what to change."""
  m, smp = config.model, config.sample
  name = _check("diffusion model name", m.name, NAMES)
  image_shape = tuple(int(d) for d in m.image_shape)
  unet = dict(ch=int(m.ch), ch_mult=tuple(m.ch_mult),
              num_res_blocks=int(m.num_res_blocks),
              attn_resolutions=tuple(m.attn_resolutions),
              dropout=float(m.dropout), num_heads=int(m.num_heads))
  check_image_size(image_shape, unet["ch_mult"])
  T = int(m.timesteps)
  if T < 1:
    raise ConfigError(f"model.timesteps must be >= 1, got {T}.")
  loss = _check("diffusion loss", m.loss, ("simple", "hybrid"))
  variance = _check("diffusion variance", m.variance, sch.VARIANCES)
  if (loss == "hybrid") != (variance == "learned"):
    raise ConfigError(
        "model.loss='hybrid' trains the variance and needs model.variance="
        "'learned' (and a learned variance needs the hybrid loss); got loss="
        f"{loss!r}, variance={variance!r}.")
  _check("noise schedule", m.schedule, sch.SCHEDULES)
  sch.check_prediction(m.prediction)
  samplers.check_sampler(smp.sampler, float(smp.eta))
  steps = int(smp.steps)
  if not 1 <= steps <= T:
    raise ConfigError(
        f"config.sample.steps={steps}: sampling takes between 1 and "
        f"model.timesteps={T} steps (a subsequence of the training schedule).")
  k = int(m.get("num_classes", 0) or 0)
  w = float(smp.get("guidance_weight", 0.0))
  if w < 0:
    raise ConfigError(f"config.sample.guidance_weight must be >= 0, got {w}.")
  if w > 0 and k == 0:
    raise ConfigError(
        f"config.sample.guidance_weight={w}: classifier-free guidance needs a "
        "class-conditional model trained with label dropout (model.num_classes "
        "> 0), but this model is unconditional. Set guidance_weight=0, or use "
        "classifier guidance (config.sample.classifier_workdir).")
  return Settings(
      name=name, image_shape=image_shape, unet=unet, num_classes=k,
      label_dropout=float(m.get("label_dropout", 0.1)), schedule=m.schedule,
      timesteps=T, prediction=m.prediction, loss=loss, variance=variance,
      clip_x0=bool(m.get("clip_x0", True)), sampler=smp.sampler, steps=steps,
      eta=float(smp.eta), guidance_weight=w,
      classifier_workdir=str(smp.get("classifier_workdir", "") or ""),
      classifier_scale=float(smp.get("classifier_scale", 1.0)),
      fixed_point_iters=int(smp.get("inversion_fixed_point_iters", 5)),
      use_ema=bool(smp.get("use_ema", True)))


def _random_t_and_noise(rng, x0, T):
  r_t, r_n = jax.random.split(rng)
  t = jax.random.randint(r_t, (x0.shape[0],), 0, T)
  return t, jax.random.normal(r_n, x0.shape, x0.dtype)


def to_unit(x):
  """[-1, 1] -> [0, 1] (clipped): the family contract's sample range."""
  return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


def make_family(config, runs=None):
  s = read_settings(config)
  if s.name == "classifier":
    return _classifier_family(config, s)
  return _ddpm_family(config, s)


def _ddpm_family(config, s):
  C = s.image_shape[-1]
  learned = s.variance == "learned"
  model = UNet(**s.unet, num_classes=s.num_classes or None,
               out_channels=2 * C if learned else C)
  base = sch.make_schedule(s.schedule, s.timesteps)
  sample_sched = sch.make_schedule(s.schedule, s.timesteps, s.steps)
  optim = dict(config.optim)
  optimizer = make_optimizer(**optim)
  K = s.num_classes
  guide = None
  if s.classifier_workdir:
    from genjax.families.diffusion import guidance
    guide = guidance.load_classifier(s.classifier_workdir, s)
  sample_classes = K or (guide.num_classes if guide else 0)

  def net(params, x, t, labels=None, train=False, rng=None):
    out = model.apply({"params": params}, x, t, labels, train=train,
                      rngs={"dropout": rng} if train else None)
    return (out[..., :C], out[..., C:]) if learned else out

  def init(rng, example_batch):
    r_init, r_drop, r_state = jax.random.split(rng, 3)
    x = jnp.asarray(example_batch["image"], jnp.float32)
    t = jnp.zeros((x.shape[0],), jnp.int32)
    labels = jnp.zeros((x.shape[0],), jnp.int32) if K else None
    params = model.init({"params": r_init, "dropout": r_drop}, x, t, labels)["params"]
    return create_train_state(r_state, params, optimizer, ema=True)

  def labels_for_training(rng, batch):
    if not K:
      return None
    drop = jax.random.uniform(rng, batch["label"].shape) < s.label_dropout
    return jnp.where(drop, K, batch["label"]).astype(jnp.int32)

  def loss_fn(params, model_state, batch, rng):
    x0 = batch["image"]
    r_tn, r_lab, r_drop = jax.random.split(rng, 3)
    t, noise = _random_t_and_noise(r_tn, x0, s.timesteps)
    xt = sch.q_sample(base, x0, t, noise)
    out = net(params, xt, t, labels_for_training(r_lab, batch), True, r_drop)
    if learned:
      pred, v = out
      per = losses.hybrid_loss(base, s.prediction, pred, v, x0, t, noise)
      mse = losses.l_simple(base, s.prediction, pred, x0, t, noise)
    else:
      per = mse = losses.l_simple(base, s.prediction, out, x0, t, noise)
    return jnp.mean(per), ({"mse": jnp.mean(mse)}, model_state)

  train_step = make_train_step(loss_fn, optimizer, float(optim.get("ema_decay", 0.0)))

  def eval_model_fn(state, labels):
    params = eval_params(state, s.use_ema)
    return lambda x, t: net(params, x, t, labels if K else None)

  def eval_loss(state, batch, rng):
    x0 = batch["image"]
    t, noise = _random_t_and_noise(rng, x0, s.timesteps)
    out = eval_model_fn(state, batch["label"])(sch.q_sample(base, x0, t, noise), t)
    pred = out[0] if learned else out
    return losses.l_simple(base, s.prediction, pred, x0, t, noise)

  def bpd(state, batch, rng):
    """Test NLL from the full variational bound (T terms + prior), bits/dim."""
    fn = eval_model_fn(state, batch["label"])
    return losses.nll_bits_per_dim(base, fn, batch["image"], rng, s.prediction,
                                   s.variance, s.clip_x0)["bpd"]

  def guided_model_fn(state, labels):
    """(model_fn(x, t), prediction kind) of the sampler, guidance applied."""
    params = eval_params(state, s.use_ema)
    kind = s.prediction
    if K and s.guidance_weight > 0:
      fn = samplers.classifier_free_guidance(
          lambda x, t, y: net(params, x, t, y), labels, s.guidance_weight, K)
    else:
      fn = lambda x, t: net(params, x, t, labels if K else None)
    if guide is not None:
      fn = samplers.classifier_guidance(base, fn, guide.log_prob, labels,
                                        s.classifier_scale, kind)
      kind = "eps"
    return fn, kind

  def generate(state, rng, num, cond=None, x_T=None):
    fn, kind = guided_model_fn(state, sample_labels(num, sample_classes, cond))
    return samplers.sample(s.sampler, sample_sched, fn, rng,
                           (num,) + s.image_shape, kind, s.variance, s.eta,
                           s.clip_x0, x_T)

  def sample(state, rng, num, cond=None):
    return to_unit(generate(state, rng, num, cond))

  def image_grids(state, batch, rng):
    """DDIM inversion (data | x_T | regenerated) and slerp paths between inverted pairs."""
    del rng
    x = jnp.take(batch["image"], jnp.arange(2 * GRID_ROWS) % batch["image"].shape[0], axis=0)
    labels = jnp.take(batch["label"], jnp.arange(2 * GRID_ROWS) % batch["label"].shape[0])
    params = eval_params(state, s.use_ema)
    fn = lambda x_, t: net(params, x_, t, labels if K else None)
    lat = samplers.ddim_invert(sample_sched, fn, x, s.prediction, s.fixed_point_iters)
    alphas = jnp.linspace(0.0, 1.0, INTERP_STEPS)
    path = jax.vmap(lambda a, b: samplers.slerp(a, b, alphas))(
        lat[:GRID_ROWS], lat[GRID_ROWS:])                  # [R, S, H, W, C]
    flat = path.reshape((-1,) + s.image_shape)
    # One sampler call regenerates the inverted images and the slerp frames.
    lab = jnp.concatenate([labels, jnp.repeat(labels[:GRID_ROWS], INTERP_STEPS)])
    fn_all = lambda x_, t: net(params, x_, t, lab if K else None)
    out = samplers.ddim_sample(sample_sched, fn_all, None, (len(lab),) + s.image_shape,
                               s.prediction, 0.0, s.clip_x0,
                               x_T=jnp.concatenate([lat, flat]))
    back, frames = out[:len(x)], out[len(x):]
    noise_img = jnp.clip(lat / 6.0 + 0.5, 0.0, 1.0)   # x_T shown at +-3 sigma
    rows = jnp.stack([to_unit(x[:GRID_ROWS]), noise_img[:GRID_ROWS],
                      to_unit(back[:GRID_ROWS])], axis=1)
    return {"inversion": rows,
            "interpolation": to_unit(frames).reshape(GRID_ROWS, INTERP_STEPS, *s.image_shape)}

  return Family(family="diffusion", model="ddpm", init=init, train_step=train_step,
                eval_metrics={"loss": eval_loss, "bpd": bpd}, sample=sample,
                image_grids=image_grids, data_to_unit=to_unit,
                num_classes=sample_classes or None)


def _classifier_family(config, s):
  """The noisy classifier p(y | x_t, t) of classifier guidance (its own experiment)."""
  K = s.num_classes
  if not K:
    raise ConfigError("model.name='classifier' needs model.num_classes > 0 (the "
                      "classes it predicts, e.g. 10 for MNIST).")
  model = NoisyClassifier(**s.unet, num_outputs=K)
  base = sch.make_schedule(s.schedule, s.timesteps)
  optim = dict(config.optim)
  optimizer = make_optimizer(**optim)

  def init(rng, example_batch):
    r_init, r_drop, r_state = jax.random.split(rng, 3)
    x = jnp.asarray(example_batch["image"], jnp.float32)
    t = jnp.zeros((x.shape[0],), jnp.int32)
    params = model.init({"params": r_init, "dropout": r_drop}, x, t)["params"]
    return create_train_state(r_state, params, optimizer, ema=True)

  def logits_at_random_t(params, batch, rng, train):
    r_tn, r_drop = jax.random.split(rng)
    x0 = batch["image"]
    t, noise = _random_t_and_noise(r_tn, x0, s.timesteps)
    xt = sch.q_sample(base, x0, t, noise)
    return model.apply({"params": params}, xt, t, train=train,
                       rngs={"dropout": r_drop} if train else None)

  def loss_fn(params, model_state, batch, rng):
    logits = logits_at_random_t(params, batch, rng, True)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
    return jnp.mean(ce), ({"accuracy": acc}, model_state)

  def eval_ce(state, batch, rng):
    logits = logits_at_random_t(eval_params(state, s.use_ema), batch, rng, False)
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])

  def eval_acc(state, batch, rng):
    logits = logits_at_random_t(eval_params(state, s.use_ema), batch, rng, False)
    return (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)

  return Family(family="diffusion", model="classifier", init=init,
                train_step=make_train_step(loss_fn, optimizer,
                                           float(optim.get("ema_decay", 0.0))),
                eval_metrics={"loss": eval_ce, "accuracy": eval_acc},
                sample=None, image_grids=None, data_to_unit=to_unit,
                num_classes=None)
