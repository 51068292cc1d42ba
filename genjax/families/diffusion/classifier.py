"""The time-conditioned noisy classifier p(y | x_t, t) of classifier guidance.

Dhariwal & Nichol (2021), sec. 4 and appendix: the U-Net's encoder half
(time embedding, down path with attention) and its middle block, then
GroupNorm-SiLU, global average pooling and a linear layer to the class
logits. Trained on x_t ~ q(x_t | x_0) at uniform t with cross-entropy, as its
own experiment (``model.name='classifier'``): the module, then its family's
top-level pure functions of ``(settings, nets, ...)``.
"""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from genjax.core.optim import optimizer_from_config
from genjax.core.state import create_train_state, eval_params
from genjax.families.diffusion.schedules import (Schedule, draw_t_and_noise, make_schedule,
                                                 q_sample)
from genjax.families.diffusion.unet import UNet
from genjax.nn.norms import group_norm


class NoisyClassifier(UNet):
  """``__call__(x, t, train=False)`` -> [B, num_outputs] logits.

  The U-Net fields configure the encoder; ``num_classes`` stays None (the
  classifier is not label-conditioned) and ``num_outputs`` is the number of
  classes it predicts.
  """
  num_outputs: int = 10

  @nn.compact
  def __call__(self, x, t, labels=None, train=False):
    hs, emb = self.encode(x, t, None, train)
    h = self.res_block(hs[-1].shape[-1], "mid_block_0")(hs[-1], emb, train)
    h = self.attention("mid_attn", h, None)
    h = nn.silu(group_norm(h, name="norm_out")).mean(axis=(1, 2))
    return nn.Dense(self.num_outputs, name="head")(h)


@dataclasses.dataclass(frozen=True)
class ClassifierNetworks:
  """What make_family builds for the noisy classifier."""
  model: NoisyClassifier
  schedule: Schedule                    # the denoiser's training chain
  optimizer: optax.GradientTransformation
  ema_decay: float


def build_networks(settings):
  """The classifier over ``settings.num_classes`` classes, its schedule and optimiser."""
  optimizer, ema_decay = optimizer_from_config(settings.optim)
  return ClassifierNetworks(
      model=NoisyClassifier(**settings.unet, num_outputs=settings.num_classes,
                            remat=settings.remat),
      schedule=make_schedule(settings.schedule, settings.timesteps),
      optimizer=optimizer, ema_decay=ema_decay)


def init(settings, nets, rng, example_batch):
  """A fresh train state (EMA kept)."""
  del settings
  init_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
  images = jnp.asarray(example_batch["image"], jnp.float32)
  t = jnp.zeros((images.shape[0],), jnp.int32)
  params = nets.model.init({"params": init_rng, "dropout": dropout_rng}, images, t)["params"]
  return create_train_state(state_rng, params, nets.optimizer, ema=True)


def noisy_logits(settings, nets, params, batch, rng, train):
  """The logits of x_t ~ q(x_t | x_0) at one uniform t per example, [B, K]."""
  draw_rng, dropout_rng = jax.random.split(rng)
  x0 = batch["image"]
  t, noise = draw_t_and_noise(draw_rng, x0, settings.timesteps)
  xt = q_sample(nets.schedule, x0, t, noise)
  return nets.model.apply({"params": params}, xt, t, train=train,
                          rngs={"dropout": dropout_rng} if train else None)


def loss_fn(settings, nets, params, model_state, batch, rng):
  """Cross-entropy of the noisy images' labels (and the batch's accuracy)."""
  logits = noisy_logits(settings, nets, params, batch, rng, True)
  cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
  accuracy = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
  return jnp.mean(cross_entropy), ({"accuracy": accuracy}, model_state)


def eval_cross_entropy(settings, nets, state, batch, rng):
  """Evaluation metric ``loss``: -log p(y | x_t, t) at uniform t, nats [B]."""
  logits = noisy_logits(settings, nets, eval_params(state, settings.use_ema), batch,
                        rng, False)
  return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])


def eval_accuracy(settings, nets, state, batch, rng):
  """Evaluation metric ``accuracy``: 1 where argmax p(y | x_t, t) is the label, [B]."""
  logits = noisy_logits(settings, nets, eval_params(state, settings.use_ema), batch,
                        rng, False)
  return (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
