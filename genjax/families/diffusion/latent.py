"""Latent diffusion (``model.name='ldm'``; Rombach et al. 2022): the denoiser
works in the latent space of a frozen first stage, conditioned through
cross-attention on the output of a domain encoder tau_theta(y).

The first stage is the KL autoencoder run ``config.deps.first_stage`` (its
exports ``sample_latent`` / ``decode`` / ``latent_stats``; parameters frozen,
a jit argument). Training (LDM eq. 2 with eq. 1's noise): an image x is
encoded to a posterior sample z ~ q(z|x) (LDM's ``get_first_stage_encoding``),
scaled to z0 = s z, with s = 1 / std of the training latents (LDM's
``scale_factor``, Stable Diffusion's 0.18215: appendix G "we rescale the
latents by the component-wise standard deviation"); ``model.ldm.latent_scale``
> 0 sets s by hand, 0 takes the first stage's measured 1/std (a function of
its pinned checkpoint, so a resumed run uses the same s). The denoiser is
then this family's DDPM (every schedule, prediction target, loss and
sampler) on z0 of shape ``latent_shape``; samples are decoded x = D(z0 / s).

The backbone (``model.ldm.backbone``): the U-Net with LDM's spatial
transformers (``model.ldm.transformer_depth`` > 0; unet.py) or DiT
(``model.ldm.dit``, a named size such as 'DiT-S/2'; dit.py).

Conditioning tau_theta:
  model.num_classes = K > 0   a class embedding (the U-Net's / DiT's table of
                              K + 1 rows, K the null class of classifier-free
                              guidance)
  model.ldm.text_encoder = 'minilm'   text: captions tokenised by the data
                              pipeline (``batch['tokens']``, ``tokenize`` op)
                              through the frozen all-MiniLM-L6-v2 (pretrained
                              weights, ``genjax.nn.minilm``): its token states
                              are the cross-attention context (padded tokens
                              masked), its normalised mean-pooled sentence
                              embedding is added to the time embedding
                              (``model.ldm.text_pooled``).
Classifier-free guidance drops the condition with probability
``model.label_dropout`` in training (the null class; for text the empty
prompt "") and combines the two predictions at sampling (samplers.py).
"""
import dataclasses
import functools
from typing import Any, Tuple

import jax
import jax.numpy as jnp

from genjax.config import require
from genjax.core.precision import read_compute_dtype
from genjax.core.state import create_train_state, eval_params
from genjax.core.step import make_train_step
from genjax.data import preprocess
from genjax.data import tokenizer as tokenizer_lib
from genjax.errors import ConfigError, check_choice
from genjax.families.base import (Family, check_same_data, cycle_to, require_dependency,
                                  sample_labels)
from genjax.families.diffusion import ddpm, dit, losses, samplers, schedules
from genjax.families.diffusion.settings import read_settings
from genjax.families.diffusion.unet import UNet, check_image_size
from genjax.nn import minilm

DEP, TEXT = "first_stage", "text_encoder"
USER = "model.name='ldm' (latent diffusion over a frozen first stage)"
BACKBONES = ("unet", "dit")
TEXT_ENCODERS = ("", "minilm")


@dataclasses.dataclass(frozen=True)
class LatentSettings:
  """Latent diffusion's settings: the denoiser's (over the latents) and the
  first stage's and conditioning's."""
  base: Any                      # settings.Settings with image_shape = the latent shape
  image_shape: Tuple[int, int, int]   # the images' (H, W, C)
  backbone: str                  # unet | dit
  dit: Any                       # the DiT's fields (dit.dit_kwargs of model.ldm.dit,
                                 # with the dit_hidden/depth/heads overrides)
  scale: float                   # s; 0: the first stage's measured 1/std
  text: str                      # '' | 'minilm'
  pooled: bool                   # the sentence embedding joins the time embedding
  prompt_tokens: Tuple[Tuple[int, ...], ...]   # config.sample.prompts, tokenised
  max_tokens: int                # the tokens' length L (the data's tokenize op)

  @property
  def conditional(self):
    return bool(self.base.num_classes or self.text)


def read_ldm_group(config):
  """The ``model.ldm`` fields, checked."""
  group = "model.ldm."
  backbone = check_choice("latent diffusion backbone",
                          require(config, group + "backbone"), BACKBONES)
  text = check_choice("text encoder", require(config, group + "text_encoder"),
                      TEXT_ENCODERS)
  scale = float(require(config, group + "latent_scale"))
  if scale < 0:
    raise ConfigError(f"model.ldm.latent_scale must be >= 0 (0: the first stage's "
                      f"measured 1/std), got {scale}.")
  return dict(backbone=backbone, dit=read_dit(config), scale=scale,
              text=text, pooled=bool(require(config, group + "text_pooled")),
              transformer_depth=int(require(config, group + "transformer_depth")))


def read_dit(config):
  """The DiT's fields: the named size's (``model.ldm.dit``), with the
  non-zero ``dit_hidden`` / ``dit_depth`` / ``dit_heads`` overrides."""
  kwargs = dit.dit_kwargs(require(config, "model.ldm.dit"))
  for field, key in (("hidden_size", "dit_hidden"), ("depth", "dit_depth"),
                     ("num_heads", "dit_heads")):
    value = int(require(config, "model.ldm." + key))
    if value < 0:
      raise ConfigError(f"model.ldm.{key} must be >= 0 (0: the named size's), got {value}.")
    kwargs[field] = value or kwargs[field]
  return kwargs


def check_latent_fit(latent, base, group, dep):
  """A ConfigError, at start-up, when the first stage's latents do not fit
  the backbone."""
  try:
    if group["backbone"] == "dit":
      dit.check_latent_size(latent, group["dit"]["patch_size"])
    else:
      check_image_size(latent, base.unet["ch_mult"])
  except ConfigError as e:
    raise ConfigError(
        f"The first stage at config.deps.{DEP}.workdir={dep.workdir} gives latents of "
        f"shape {latent}, which do not fit this denoiser: {e}") from None


def read_text_fields(config, text, num_classes):
  """(the prompts' tokens, max_tokens) of a text model, tokenised at start-up
  (a prompt longer than max_tokens is truncated with a warning); ConfigErrors
  for a mixed one."""
  prompts = tuple(str(p) for p in require(config, "sample.prompts"))
  if not text:
    if prompts:
      raise ConfigError("config.sample.prompts are for a text-conditional model "
                        "(model.ldm.text_encoder='minilm'); this one is not.")
    return prompts, 0
  if num_classes:
    raise ConfigError("A latent diffusion model is conditioned on classes "
                      "(model.num_classes) or on text (model.ldm.text_encoder), not "
                      "both: set model.num_classes=0 for a text model.")
  max_tokens = int(require(config, "model.ldm.max_tokens"))
  check_data_tokens(config, max_tokens)
  tokens = tokenizer_lib.tokenize(list(prompts), max_tokens) if prompts else ()
  return tuple(tuple(int(i) for i in row) for row in tokens), max_tokens


def check_data_tokens(config, max_tokens):
  """A text model's data must write ``tokens`` with a ``tokenize`` op of the
  model's ``max_tokens`` (prompts are tokenised to that length)."""
  ops = [op for op in preprocess.parse_ops(config.data.preprocess)
         if op.name == "tokenize" and "tokens" in op.outkeys]
  if not ops:
    raise ConfigError(
        "A text-conditional latent diffusion model trains on batch['tokens']: add "
        f"\"caption(...)\" and \"tokenize(max_tokens={max_tokens})\" to "
        "config.data.preprocess (docs/data.md, 'Captions and tokens').")
  theirs = ops[-1].args[0]
  if theirs != max_tokens:
    raise ConfigError(
        f"model.ldm.max_tokens={max_tokens}, but config.data.preprocess tokenises "
        f"captions to {theirs} tokens ({ops[-1].spec!r}): set both to one length.")


def read_latent_settings(config, deps):
  """(LatentSettings, the first stage Dependency); ConfigErrors at start-up."""
  dep = require_dependency(deps, DEP, "autoencoder", "klae", USER)
  check_same_data(config, dep, DEP, USER)
  image_shape = tuple(int(d) for d in require(config, "model.image_shape"))
  theirs = tuple(int(d) for d in dep.config.model.image_shape)
  if image_shape != theirs:
    raise ConfigError(f"model.image_shape={image_shape}, but the first stage at "
                      f"config.deps.{DEP}.workdir={dep.workdir} takes {theirs}: "
                      f"set model.image_shape={theirs}.")
  group = read_ldm_group(config)
  num_classes = int(require(config, "model.num_classes"))
  prompt_tokens, max_tokens = read_text_fields(config, group["text"], num_classes)
  if group["text"] and group["backbone"] == "dit":
    raise ConfigError(
        "model.ldm.text_encoder='minilm' conditions through the U-Net's cross-attention; "
        "the DiT backbone takes class labels only (adaLN-Zero, Peebles & Xie 2023). Set "
        "model.ldm.backbone='unet' for a text model, or text_encoder='' with "
        "model.num_classes for a class-conditional DiT.")
  base = read_settings(config, conditional=bool(num_classes or group["text"]),
                       backbone=group["backbone"])
  latent = tuple(int(d) for d in dep.family.exports["latent_shape"]())
  check_latent_fit(latent, base, group, dep)
  pooled_dim = minilm.HIDDEN if group["text"] and group["pooled"] else None
  base = dataclasses.replace(base, image_shape=latent, unet=dict(
      base.unet, transformer_depth=group["transformer_depth"], pooled_dim=pooled_dim))
  return LatentSettings(
      base=base, image_shape=image_shape, backbone=group["backbone"], dit=group["dit"],
      scale=group["scale"], text=group["text"], pooled=group["pooled"],
      prompt_tokens=prompt_tokens, max_tokens=max_tokens), dep


def build_backbone(settings):
  """The U-Net or DiT over the latents (twice the channels for a learned variance)."""
  base = settings.base
  channels = base.image_shape[-1]
  out = 2 * channels if base.variance == "learned" else channels
  if settings.backbone == "dit":
    return dit.DiT(**settings.dit, num_classes=base.num_classes or None,
                   out_channels=out, pooled_dim=base.unet["pooled_dim"], remat=base.remat)
  return UNet(**base.unet, num_classes=base.num_classes or None, out_channels=out,
              remat=base.remat)


def build_networks(settings):
  return ddpm.build_networks(settings.base, model=build_backbone(settings))


# -- the first stage and the condition ----------------------------------------


def latent_scale(settings, dep, frozen):
  """s: the configured scale, else 1 / the first stage's measured latent std."""
  if settings.scale:
    return jnp.float32(settings.scale)
  return dep.family.exports["latent_stats"](frozen[DEP])["scale"]


def encode(settings, dep, frozen, images, rng):
  """z0 = s z, z ~ q(z | x): the scaled latents [B, h, w, c] of ``images``."""
  z = dep.family.exports["sample_latent"](frozen[DEP], images, rng)
  return latent_scale(settings, dep, frozen) * z


def decode(settings, dep, frozen, z0):
  """Images [N, H, W, C] in [0, 1] of scaled latents z0."""
  return dep.family.exports["decode"](frozen[DEP], z0 / latent_scale(settings, dep, frozen))


def text_condition(settings, frozen, tokens):
  """tau_theta(y) of a text model: {"context": MiniLM token states [B, L, 384],
  "mask": [B, L] (True = a real token), "pooled": [B, 384] if used}."""
  params = frozen[TEXT]["trained"]["params"]
  states = minilm.MiniLM().apply({"params": params}, tokens)
  cond = {"context": states, "mask": tokens != 0}
  if settings.pooled:
    cond["pooled"] = minilm.sentence_embedding(states, tokens)
  return cond


def empty_prompt(settings, length):
  """The tokens [1, length] of the empty prompt "": CFG's null condition."""
  return jnp.asarray(tokenizer_lib.tokenize([""], length))


def condition(settings, frozen, batch):
  """The denoiser's condition of a batch (or of sampling's labels/tokens):
  {"label": [B]} | the text condition | {} (unconditional)."""
  if settings.text:
    return text_condition(settings, frozen, batch["tokens"])
  if settings.base.num_classes:
    return {"label": batch["label"]}
  return {}


def null_condition(settings, frozen, length):
  """The condition classifier-free guidance drops to: the null class K, or
  the empty prompt's encoding [1, ...] (broadcast over the batch)."""
  if settings.text:
    return text_condition(settings, frozen, empty_prompt(settings, length))
  return {"label": settings.base.num_classes}


def dropped(settings, rng, batch):
  """The batch with each condition replaced by the null one with probability
  ``label_dropout`` (Ho & Salimans 2022, Algorithm 1): labels -> K, tokens ->
  the empty prompt's."""
  p = settings.base.label_dropout
  if settings.text:
    tokens = batch["tokens"]
    drop = jax.random.uniform(rng, tokens.shape[:1]) < p
    null = empty_prompt(settings, tokens.shape[1])
    return dict(batch, tokens=jnp.where(drop[:, None], null, tokens))
  if settings.base.num_classes:
    return dict(batch, label=ddpm.training_labels(settings.base, rng, batch["label"]))
  return batch


def backbone_kwargs(settings, cond):
  """The backbone's conditioning keywords of a condition dict."""
  kwargs = {"labels": cond.get("label")}
  if "pooled" in cond:
    kwargs["pooled"] = cond["pooled"]
  if "context" in cond:
    kwargs.update(context=cond["context"], context_mask=cond["mask"])
  return kwargs


def network_output(settings, nets, params, z, t, cond, train=False, rng=None):
  """The backbone at (z_t, t, cond): the prediction, or (prediction, v) for a
  learned variance."""
  out = nets.model.apply({"params": params}, z, t, train=train,
                         rngs={"dropout": rng} if train else None,
                         **backbone_kwargs(settings, cond))
  return ddpm.split_learned(settings.base, out)


# -- the family's functions (``frozen`` last) ---------------------------------


def init(settings, nets, dep, rng, example_batch, frozen):
  """A fresh train state (EMA kept); the condition's shapes from a blank batch."""
  del dep, example_batch
  init_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
  z = jnp.zeros((1,) + settings.base.image_shape, jnp.float32)
  blank = {"label": jnp.zeros((1,), jnp.int32),
           "tokens": empty_prompt(settings, max(settings.max_tokens, 2))}
  params = nets.model.init({"params": init_rng, "dropout": dropout_rng}, z,
                           jnp.zeros((1,), jnp.int32),
                           **backbone_kwargs(settings, condition(settings, frozen, blank)))
  return create_train_state(state_rng, params["params"], nets.optimizer, ema=True)


def loss_fn(settings, nets, dep, params, model_state, batch, rng, frozen):
  """L_simple (or L_hybrid) of the denoiser on the scaled latents (LDM eq. 2)."""
  encode_rng, drop_rng, draw_rng, dropout_rng = jax.random.split(rng, 4)
  z0 = encode(settings, dep, frozen, batch["image"], encode_rng)
  cond = condition(settings, frozen, dropped(settings, drop_rng, batch))
  t, noise = schedules.draw_t_and_noise(draw_rng, z0, settings.base.timesteps)
  zt = schedules.q_sample(nets.schedule, z0, t, noise)
  out = network_output(settings, nets, params, zt, t, cond, True, dropout_rng)
  per_example, mse = ddpm.denoising_loss(settings.base, nets, out, z0, t, noise)
  return jnp.mean(per_example), ({"mse": jnp.mean(mse)}, model_state)


def eval_loss(settings, nets, dep, state, batch, rng, frozen):
  """``loss``: L_simple in latent space at one uniform t per example, [B]."""
  encode_rng, draw_rng = jax.random.split(rng)
  z0 = encode(settings, dep, frozen, batch["image"], encode_rng)
  t, noise = schedules.draw_t_and_noise(draw_rng, z0, settings.base.timesteps)
  out = network_output(settings, nets, eval_params(state, settings.base.use_ema),
                       schedules.q_sample(nets.schedule, z0, t, noise), t,
                       condition(settings, frozen, batch))
  pred = schedules.split_output(out)[0]
  return losses.l_simple(nets.schedule, settings.base.prediction, pred, z0, t, noise)


def eval_latent_rms(settings, nets, dep, state, batch, rng, frozen):
  """``latent_rms``: the root mean square of each example's scaled latent z0
  (about 1 when s is 1/std of the training latents), [B]."""
  del nets, state
  z0 = encode(settings, dep, frozen, batch["image"], rng)
  return jnp.sqrt(jnp.mean(jnp.square(z0), axis=(1, 2, 3)))


def guided_model_fn(settings, nets, params, cond, null):
  """model_fn(z, t) of the samplers: classifier-free guided (w > 0, Ho &
  Salimans 2022 eq. 6) with ``null`` the dropped condition, else plain."""
  conditional = functools.partial(network_output, settings, nets, params)
  w = settings.base.guidance_weight
  if settings.conditional and w > 0:
    return samplers.classifier_free_guidance(conditional, cond, w, null)
  return lambda z, t: conditional(z, t, cond)


def sampling_batch(settings, num, cond):
  """The labels or tokens ``sample`` conditions on: labels from ``cond``, else
  class-balanced; for text, the configured ``sample.prompts`` (cycled) when
  there are any -- they win over ``cond`` so that ``--mode sample`` draws the
  prompts asked for rather than the eval captions -- else ``cond``'s tokens."""
  if not settings.text:
    return {"label": sample_labels(num, settings.base.num_classes, cond)}
  if settings.prompt_tokens:
    return {"tokens": cycle_to(jnp.asarray(settings.prompt_tokens, jnp.int32), num)}
  if cond and "tokens" in cond:
    return {"tokens": jnp.asarray(cond["tokens"], jnp.int32)}
  raise ConfigError(
      "A text-conditional latent diffusion model samples for prompts: set "
      "config.sample.prompts=('a thick seven', ...) or pass cond={'tokens': "
      "int32 [num, L]} (genjax.data.tokenizer.tokenize).")


def generate_latents(settings, nets, dep, state, rng, num, cond, frozen, x_T=None):
  """``num`` scaled latents from the configured sampler (from ``x_T`` if given)."""
  del dep
  base = settings.base
  batch = sampling_batch(settings, num, cond)
  length = batch["tokens"].shape[1] if settings.text else 0
  model_fn = guided_model_fn(settings, nets, eval_params(state, base.use_ema),
                             condition(settings, frozen, batch),
                             null_condition(settings, frozen, length))
  return samplers.sample(base.sampler, nets.sample_schedule, model_fn, rng,
                         (num,) + base.image_shape, base.prediction, base.variance,
                         base.eta, False, x_T)


def sample(settings, nets, dep, state, rng, num, cond, frozen):
  """``num`` images in [0, 1]: latents sampled, then decoded by the first stage."""
  return decode(settings, dep, frozen,
                generate_latents(settings, nets, dep, state, rng, num, cond, frozen))


def image_grids(settings, nets, dep, state, batch, rng, frozen):
  """``inversion``: per test image, the image | the first stage's
  reconstruction | its latent DDIM-inverted to z_T and regenerated (Song et
  al. 2021 sec. 5.4), each decoded."""
  num = settings.base.grid_rows
  images = cycle_to(batch["image"], num)
  rows = {k: cycle_to(batch[k], num) for k in ("label", "tokens") if k in batch}
  z0 = encode(settings, dep, frozen, images, rng)
  cond = condition(settings, frozen, rows)
  params = eval_params(state, settings.base.use_ema)
  model_fn = lambda z, t: network_output(settings, nets, params, z, t, cond)
  sched, kind = nets.sample_schedule, settings.base.prediction
  z_T = samplers.ddim_invert(sched, model_fn, z0, kind, settings.base.fixed_point_iters)
  regenerated = samplers.ddim_sample(sched, model_fn, None, z0.shape, kind, 0.0, False,
                                     x_T=z_T)
  decoded = functools.partial(decode, settings, dep, frozen)
  return {"inversion": jnp.stack([images, decoded(z0), decoded(regenerated)], axis=1)}


def make_ldm_family(config, deps):
  """The latent diffusion Family: functions take ``frozen`` (the first
  stage's bundle, and the text encoder's weights) last."""
  settings, dep = read_latent_settings(config, deps)
  nets = build_networks(settings)
  bind = lambda fn: functools.partial(fn, settings, nets, dep)
  return Family(
      family="diffusion", model="ldm", init=bind(init),
      train_step=make_train_step(bind(loss_fn), nets.optimizer, nets.ema_decay,
                                 compute_dtype=read_compute_dtype(config),
                                 with_frozen=True),
      eval_metrics={"loss": bind(eval_loss), "latent_rms": bind(eval_latent_rms)},
      sample=bind(sample), image_grids=bind(image_grids),
      num_classes=settings.base.num_classes or None, deps=(DEP,),
      pretrained={TEXT: minilm.load_params} if settings.text else {},
      cond_keys=("tokens",) if settings.text else ())
