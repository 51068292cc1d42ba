"""StarGAN (Choi et al. 2018, "StarGAN: Unified Generative Adversarial
Networks for Multi-Domain Image-to-Image Translation"): ``model.name='stargan'``.

One generator for every domain: G(x, c) translates an image x
(batch[model.source_key]) into the domain c, given as K bits (one per
binary attribute of ``model.attributes``; batch[model.domain_key] holds
each real image's own bits) tiled over the image and concatenated to its
channels. D has two heads (genjax/nn/star_discriminator.py): D_src, a
PatchGAN map of Wasserstein critic scores, and D_cls, K attribute logits.

Objectives (sec. 3.1, eq. 8, with WGAN-GP, eq. 7 / app. 7.1):
  L_D = -E D_src(x) + E D_src(G(x, c)) + lambda_cls L_cls^r + lambda_gp L_gp
  L_G = -E D_src(G(x, c)) + lambda_cls L_cls^f + lambda_rec E ||x - G(G(x, c), c')||_1
where c' is x's own domain, L_cls^r classifies real images into their own
domains, L_cls^f translations into their targets (binary cross-entropy,
``losses.domain_classification_loss``), and L_gp = E (||grad D_src(x_hat)||_2
- 1)^2 on x_hat between real and fake (the per-image gradient of the summed
score map, as the reference's ``grad_outputs=ones``). Targets are the
batch's own domains shuffled (the reference's ``randperm``).

Steps. The reference trains D on every iteration and G on every
``n_critic``-th, each iteration on a fresh batch. One genjax step is
``n_critic`` such iterations: the batch (train.batch_size, a multiple of
n_critic) is cut into n_critic chunks; D takes one update per chunk
(``lax.scan``), then G one update on the last chunk with its targets, as
the reference's G step reuses the D step's batch. The learning-rate
schedule therefore counts G iterations (the reference's iterations / 5); D's
optimiser has it stretched by n_critic (optim.per_update_schedule).

Evaluation: ``target_acc``, the share of translations whose attributes,
measured on the generated image (genjax.data.domains, the same measure that
labelled the real images), equal the target's, each image translated into
every one of the 2^K domains; ``attribute_acc`` the same per attribute;
``rec_error``, mean |G(G(x, c), c') - x| on [0, 1]. ``sample`` translates
into ``sample.domain`` ('random': a uniform domain per image), so
``cond_acc_<net>`` is class preservation.
"""
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax.core.state import init_key, step_rng
from genjax.errors import ConfigError
from genjax.families.base import Family, cycle_to, pm1_to_unit
from genjax.families.gan import losses as gan_losses
from genjax.families.gan.models import apply_with_stats
from genjax.families.translation import losses, settings, star_domains
from genjax.families.translation.state import (apply_update, create_players_state,
                                               trained_players)
from genjax.nn.star_discriminator import StarDiscriminator, check_star_discriminator
from genjax.nn.translation_generators import ResNetTranslator

EVAL_METRICS = ("target_acc", "attribute_acc", "rec_error")


@dataclasses.dataclass(frozen=True)
class Networks:
  generator: Any
  discriminator: Any
  optimizer: Any      # G's
  d_optimizer: Any    # D's: its schedule counts n_critic updates per step
  domains: Any        # star_domains.AttributeDomains | ClassDomains


def build_networks(s):
  """The reference's G (the ResNet translator with zero padding, 4x4
  resampling, affine instance norm, no biases) and D."""
  domains = star_domains.domains_for(s)
  g = ResNetTranslator(s.image_shape[-1], s.n_blocks, s.ngf, s.norm, False,
                       padding="zeros", resample_kernel=4, head_bias=False)
  d = StarDiscriminator(domains.width, s.ndf, s.d_layers)
  return Networks(g, d, settings.make_optimizer(s),
                  settings.make_optimizer(s, updates_per_step=s.n_critic), domains)


def domain_code(nets, name, where="sample.domain"):
  """The code [K] of a domain's name; a ConfigError listing the trained
  domains for any other name."""
  names = nets.domains.names
  if name not in names:
    raise ConfigError(
        f"{where}={name!r} is not a domain this StarGAN translates into. Its domains "
        f"are {', '.join(names)}: {nets.domains.describe()}"
        + (", or 'random' (a uniform domain per image)." if where == "sample.domain"
           else "; or pass the codes [B, K] themselves."))
  return nets.domains.codes[names.index(name)]


def with_domain(x, bits):
  """G's input: x [B,H,W,C] and the bits [B,K] tiled over H, W: [B,H,W,C+K]."""
  tiled = jnp.broadcast_to(bits[:, None, None, :].astype(x.dtype),
                           x.shape[:3] + (bits.shape[-1],))
  return jnp.concatenate([x, tiled], axis=-1)


def generate(nets, g_params, g_stats, x, bits, train=False):
  """G(x, c) in [-1, 1], and G's (unchanged or updated) statistics."""
  return apply_with_stats(nets.generator, g_params, g_stats, with_domain(x, bits),
                          train=train)


def init(s, nets, rng, example_batch):
  """A fresh PlayersState with players 'G' and 'D'."""
  field = example_batch.get(s.domain_key) if example_batch else None
  if field is not None:
    check_domain_field(s, nets, field)
  g_rng, d_rng, state_rng = jax.random.split(rng, 3)
  x = jnp.zeros((1,) + s.image_shape, jnp.float32)
  code = jnp.zeros((1, nets.domains.width), jnp.float32)
  variables = {"G": nets.generator.init(init_key(g_rng), with_domain(x, code)),
               "D": nets.discriminator.init(init_key(d_rng), x)}
  return create_players_state(state_rng, variables,
                              {"G": nets.optimizer, "D": nets.d_optimizer})


def check_domain_field(s, nets, field):
  """ConfigError unless the data's domain field fits ``model.domain_kind``:
  bits [B, K] for attributes, class indices [B] for classes."""
  shape = tuple(np.shape(field))
  if s.domain_kind == "attributes" and (len(shape) != 2 or shape[-1] != nets.domains.width):
    raise ConfigError(
        f"The data's {s.domain_key!r} field has shape {shape}: StarGAN's attribute "
        f"domains need {nets.domains.width} bits per image ([B, {nets.domains.width}]), "
        f"one per entry of model.attributes {s.attributes}. Make them agree.")
  if s.domain_kind == "classes" and len(shape) != 1:
    raise ConfigError(
        f"The data's {s.domain_key!r} field has shape {shape}: StarGAN's class domains "
        "need one class index per image ([B], e.g. model.domain_key='label').")


def summed_scores(nets, d_params, x):
  """D_src's score map summed per image [B] (the penalty's d_fn)."""
  return jnp.sum(nets.discriminator.apply({"params": d_params}, x)[0], axis=(1, 2, 3))


def critic_objective(s, nets, d_params, x, bits, fake, rng):
  """L_D of one chunk (module doc): (loss, its terms)."""
  real_src, real_cls = nets.discriminator.apply({"params": d_params}, x)
  fake_src, _ = nets.discriminator.apply({"params": d_params}, fake)
  adversarial = losses.critic_loss(real_src, fake_src)
  classification = nets.domains.classification_loss(real_cls, bits)
  penalty = gan_losses.gradient_penalty(
      functools.partial(summed_scores, nets, d_params), x, fake, rng)
  loss = adversarial + s.lambda_cls * classification + s.lambda_gp * penalty
  return loss, dict(d_loss=loss, d_adv=adversarial, d_cls=classification, gp=penalty)


def generator_objective(s, nets, d_params, g_stats, x, bits, target, g_params):
  """L_G of one chunk: (loss, (G's statistics, its terms))."""
  fake, g_stats = generate(nets, g_params, g_stats, x, target, train=True)
  src, cls = nets.discriminator.apply({"params": d_params}, fake)
  rec, g_stats = generate(nets, g_params, g_stats, fake, bits, train=True)
  adversarial = losses.critic_generator_loss(src)
  classification = nets.domains.classification_loss(cls, target)
  reconstruction = losses.l1(rec, x)
  loss = adversarial + s.lambda_cls * classification + s.lambda_rec * reconstruction
  return loss, (g_stats, dict(loss=loss, g_adv=adversarial, g_cls=classification,
                              rec=reconstruction))


def chunks(s, nets, batch):
  """(images, domain codes) each cut into n_critic chunks [n_critic, B / n_critic, ...]."""
  cut = lambda v: v.reshape((s.n_critic, v.shape[0] // s.n_critic) + v.shape[1:])
  return cut(batch[s.source_key]), cut(nets.domains.of_batch(batch[s.domain_key]))


def train_step(s, nets, state, batch):
  """n_critic StarGAN iterations (module doc): (new state, metrics)."""
  rng = step_rng(state.rng, state.step)
  xs, bits = chunks(s, nets, batch)
  g_params, g_stats = state.params["G"], state.stats["G"]

  def critic_iteration(carry, inputs):
    d_params, d_opt = carry
    x, c, key = inputs
    target = c[jax.random.permutation(jax.random.fold_in(key, 0), c.shape[0])]
    fake = jax.lax.stop_gradient(generate(nets, g_params, g_stats, x, target, train=True)[0])
    grads, terms = jax.grad(
        lambda p: critic_objective(s, nets, p, x, c, fake, jax.random.fold_in(key, 1)),
        has_aux=True)(d_params)
    d_params, d_opt = apply_update(nets.d_optimizer, grads, d_opt, d_params)
    return (d_params, d_opt), (target, terms)

  keys = jax.random.split(rng, s.n_critic)
  (d_params, d_opt), (targets, d_terms) = jax.lax.scan(
      critic_iteration, (state.params["D"], state.opt_state["D"]), (xs, bits, keys))
  g_grads, (g_stats, g_terms) = jax.grad(
      functools.partial(generator_objective, s, nets, d_params, g_stats, xs[-1], bits[-1],
                        targets[-1]), has_aux=True)(g_params)
  g_params, g_opt = apply_update(nets.optimizer, g_grads, state.opt_state["G"], g_params)
  metrics = dict(g_terms, **{k: jnp.mean(v) for k, v in d_terms.items()})
  return state.replace(
      step=state.step + 1, params={"G": g_params, "D": d_params},
      opt_state={"G": g_opt, "D": d_opt}, stats=dict(state.stats, G=g_stats)), metrics


def translate_with(nets, t, x, bits):
  """G at test time, images in [-1, 1]."""
  return generate(nets, t["params"]["G"], t["stats"]["G"], x, bits)[0]


def eval_translations(s, nets, state, batch, rng):
  """``target_acc`` (and ``attribute_acc`` for attributes) and ``rec_error``
  per example, over translations into every domain (module doc)."""
  del rng
  t = trained_players(state)
  x, own = batch[s.source_key], nets.domains.of_batch(batch[s.domain_key])
  out = {name: [] for name in EVAL_METRICS}
  for target in nets.domains.codes:
    target = jnp.broadcast_to(target, own.shape)
    fake = translate_with(nets, t, x, target)
    rec = translate_with(nets, t, fake, own)
    out["rec_error"].append(jnp.mean(jnp.abs(pm1_to_unit(rec) - pm1_to_unit(x)),
                                     axis=(1, 2, 3)))
    if s.domain_measure:
      hit, share = nets.domains.hits(pm1_to_unit(fake), batch["label"], target)
      out["target_acc"].append(hit)
      out["attribute_acc"].append(share)
  return {name: jnp.mean(jnp.stack(v).astype(jnp.float32), axis=0)
          for name, v in out.items() if v}


def sample_targets(s, nets, rng, num):
  """The codes [num, K] of ``sample.domain``: uniform domains, or the named one."""
  if s.domain == "random":
    return nets.domains.random_codes(rng, num)
  return jnp.broadcast_to(domain_code(nets, s.domain), (num, nets.domains.width))


def sample(s, nets, state, rng, num, cond=None):
  """Translations of ``num`` images of cond[source_key] into ``sample.domain``,
  in [0, 1] (``cond_acc_<net>`` against their labels: class preservation)."""
  x = cycle_to(settings.sources_of(s, cond), num)
  return pm1_to_unit(translate_with(nets, trained_players(state), x,
                                    sample_targets(s, nets, rng, num)))


def image_grids(s, nets, state, batch, rng):
  """``domains``: per eval image, the input | its translation into each
  domain, in the order of ``nets.domains.names``."""
  del rng
  t = trained_players(state)
  x = cycle_to(batch[s.source_key], s.grid_rows)
  rows = [x] + [translate_with(nets, t, x, jnp.broadcast_to(c, (x.shape[0], c.shape[0])))
                for c in nets.domains.codes]
  return {"domains": jnp.stack([pm1_to_unit(r) for r in rows], axis=1)}


def translate(s, nets, bundle, x, domain):
  """Export: G's translations in [0, 1] of images ``x`` [B,H,W,C] in [-1, 1]
  into ``domain``, a domain's name (``nets.domains.names``) or codes [B, K]."""
  del s
  width = nets.domains.width
  code = (domain_code(nets, domain, "translate's domain") if isinstance(domain, str)
          else jnp.asarray(domain, jnp.float32))
  if code.ndim not in (1, 2) or code.shape[-1] != width:
    raise ConfigError(
        f"translate's domain codes have shape {tuple(code.shape)}, but this StarGAN "
        f"was trained on codes of width {width}: pass [{width}] or [B, {width}] codes "
        f"({nets.domains.describe_codes()}), or a domain's name.")
  code = jnp.broadcast_to(code, (x.shape[0], width))
  return pm1_to_unit(translate_with(nets, bundle["trained"], x, code))


def check_stargan(s, config_batch_size):
  """Start-up errors: chunks and the critic's shape."""
  if s.n_critic < 1 or config_batch_size % s.n_critic:
    raise ConfigError(
        f"StarGAN cuts each batch into model.n_critic={s.n_critic} chunks (one per "
        f"critic iteration), so train.batch_size={config_batch_size} must be a positive "
        f"multiple of it (e.g. {max(s.n_critic, 1) * 16} for the reference's 16 images "
        "per iteration).")
  check_star_discriminator(s.d_layers, s.image_shape)


def make_stargan_family(config, deps=None):
  del deps
  s = settings.read_settings(config)
  nets = build_networks(s)
  check_stargan(s, int(config.train.batch_size))
  if s.domain != "random":
    domain_code(nets, s.domain)
  bind = lambda fn: functools.partial(fn, s, nets)
  measured = bind(eval_translations)
  names = (EVAL_METRICS if s.domain_measure and s.domain_kind == "attributes"
           else ("target_acc", "rec_error") if s.domain_measure else ("rec_error",))
  return Family(
      family="translation", model="stargan", init=bind(init), train_step=bind(train_step),
      eval_metrics={name: measured for name in names}, sample=bind(sample),
      image_grids=bind(image_grids), data_to_unit=pm1_to_unit, cond_keys=(s.source_key,),
      trained=lambda state, use_ema=True: trained_players(state),
      exports={"translate": bind(translate)})
