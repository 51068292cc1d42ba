"""A two-level prior over the codes of a frozen VQ-VAE-2: ``model.likelihood='codes'``
with the dependency ``config.deps.vqvae2``.

Razavi et al. 2019, sec. 3.2 and algorithm 2: p(z_top, z_bottom | y) =
p(z_top | y) p(z_bottom | z_top, y), each an autoregressive model over its
map. Here both are this family's Gated PixelCNN over codes (vq_prior.py's
code embedding and K-way softmax), class-conditional through
``model.num_classes``; the bottom one also takes the top codes as a spatial
condition of both stacks (``GatedPixelCNN.num_cond_codes``: embedded,
upsampled to the bottom map, a residual conv block, then V * s in every
layer). Both train in one run and one step on the same batch, with the sum
of their mean NLLs per code as the loss (their parameters are disjoint, so
each gets the gradient it would get alone). Sampling draws the top map,
then the bottom map given it (both row-cached), then decodes the pair.

Codes come from the frozen VQ-VAE-2 on the fly, as for vq_prior.py (same
reasons). Config: as vq_prior.py, and ``model.net`` (the top prior),
``model.net_bottom`` (the bottom prior's fields; absent or empty: the
top's; not a family default, so older runs' identities stay as they were);
``model.code_shape`` () or ((ht, wt), (hb, wb)). Metrics: ``nll`` (nats per
image: both maps), ``code_nll_top``, ``code_nll_bottom`` (nats per code),
``bpd`` (the whole model's bound, a Bernoulli decoder only).
"""
import dataclasses
import functools
import math
from typing import Any, Tuple

import jax
import jax.numpy as jnp

from genjax.config import require
from genjax.core.optim import optimizer_from_config
from genjax.core.state import create_train_state, eval_params, init_key
from genjax.errors import ConfigError
from genjax.families.autoregressive import family as ar
from genjax.families.autoregressive import likelihoods
from genjax.families.autoregressive.vq_prior import prior_family
from genjax.families.base import check_same_data, cycle_to, require_dependency, sample_labels

DEP = "vqvae2"
USER = "a two-level prior over VQ-VAE-2's codes (model.likelihood='codes')"
LEVELS = ("top", "bottom")


@dataclasses.dataclass(frozen=True)
class TwoLevelSettings:
  """Each level's family settings (image_shape = its code map's (h, w, 1))."""
  top: Any
  bottom: Any
  num_codes: int
  image_shape: Tuple[int, int, int]   # the images' (H, W, C)
  has_likelihood: bool

  def level(self, name):
    return getattr(self, name)


@dataclasses.dataclass(frozen=True)
class TwoLevelNetworks:
  top: ar.Networks
  bottom: ar.Networks
  optimizer: Any
  ema_decay: float

  def level(self, name):
    return getattr(self, name)


def vqvae2_codes_shape(config, dep):
  """(K, {"top": (ht, wt), "bottom": (hb, wb)}), checked against the config."""
  exports = dep.family.exports
  num_codes, shapes = int(exports["num_codes"]()), dict(exports["latent_shape"]())
  want_k = int(require(config, "model.num_codes"))
  want = tuple(tuple(int(d) for d in s) for s in require(config, "model.code_shape"))
  have = (tuple(shapes["top"]), tuple(shapes["bottom"]))
  if (want_k and want_k != num_codes) or (want and want != have):
    raise ConfigError(
        f"The prior is configured for K={want_k or num_codes} codes in maps "
        f"(top, bottom) of {want or have}, but the VQ-VAE-2 at config.deps.{DEP}."
        f"workdir={dep.workdir} has K={num_codes} and maps of {have}. Set "
        f"model.num_codes={num_codes} and model.code_shape={have} (or 0 and () to "
        "take the VQ-VAE-2's), or name the VQ-VAE-2 this prior was built for.")
  return num_codes, shapes


def read_two_level_settings(config, deps):
  """TwoLevelSettings; ConfigErrors for a missing or mismatched VQ-VAE-2."""
  dep = require_dependency(deps, DEP, "autoencoder", "vqvae2", USER)
  if require(config, "model.name") != "gated_pixelcnn":
    raise ConfigError(f"{USER} uses the Gated PixelCNN (its code embedding, spatial "
                      "condition and row-cached sampler): set model.name='gated_pixelcnn'.")
  num_codes, shapes = vqvae2_codes_shape(config, dep)
  check_same_data(config, dep, DEP, USER)
  top = ar.read_settings(config, image_shape=tuple(shapes["top"]) + (1,))
  bottom_net = dict(config.model.get("net_bottom") or {}) or top.net
  bottom = dataclasses.replace(
      ar.read_settings(config, image_shape=tuple(shapes["bottom"]) + (1,)),
      net=ar.check_net_fields(top.name, bottom_net))
  return TwoLevelSettings(
      top=top, bottom=bottom, num_codes=num_codes,
      image_shape=tuple(int(d) for d in require(config, "model.image_shape")),
      has_likelihood=dep.config.model.recon_loss == "bce"), dep


def build_two_level_networks(settings):
  """Two Gated PixelCNNs over codes, the bottom one spatially conditioned."""
  k = settings.num_codes
  optimizer, ema_decay = optimizer_from_config(settings.top.optim)
  def level(base, **fields):
    model = ar.build_network(base.name, base.net, k, base.num_classes,
                             num_input_codes=k, **fields)
    return ar.Networks(model, likelihoods.codes_likelihood(k), optimizer, ema_decay)
  return TwoLevelNetworks(level(settings.top), level(settings.bottom, num_cond_codes=k),
                          optimizer, ema_decay)


def level_state(state, level):
  """The train state seen by one level's functions (its parameters only)."""
  pick = lambda tree: None if tree is None else tree[level]
  return state.replace(params=state.params[level], ema_params=pick(state.ema_params))


def batch_codes(dep, frozen, images):
  """{"top", "bottom"}: the VQ-VAE-2's code maps of ``images``, int32 [B,h,w]."""
  return dep.family.exports["code"](frozen[DEP], images)


def as_map(codes):
  """int codes [B,h,w] as a prior's data, float [B,h,w,1]."""
  return codes[..., None].astype(jnp.float32)


def init(settings, nets, dep, rng, example_batch, frozen):
  """A fresh state: both levels' parameters from blank code maps."""
  del dep, frozen
  params_rng, state_rng = jax.random.split(rng)
  labels = jnp.zeros((1,), jnp.int32) if settings.top.num_classes else None
  blank = lambda level: jnp.zeros((1,) + settings.level(level).image_shape, jnp.float32)
  keys = dict(zip(LEVELS, jax.random.split(params_rng)))
  cond = {"top": {}, "bottom": {"cond": blank("top")[..., 0].astype(jnp.int32)}}
  params = {}
  for level in LEVELS:
    init_rng, dropout_rng = jax.random.split(keys[level])
    params[level] = nets.level(level).model.init(
        {"params": init_key(init_rng), "dropout": dropout_rng}, blank(level), labels,
        **cond[level])["params"]
  return create_train_state(state_rng, params, nets.optimizer, ema=bool(nets.ema_decay))


def level_nlls(settings, nets, params, codes, labels, train=False, rng=None,
               levels=LEVELS):
  """{level: nats [B]} for ``levels``: -log p(z_top | y) and
  -log p(z_bottom | z_top, y)."""
  rngs = dict(zip(LEVELS, jax.random.split(rng))) if train else {}
  cond = {"top": None, "bottom": codes["top"]}
  return {level: ar.negative_log_likelihood(
      settings.level(level), nets.level(level), params[level],
      {"image": as_map(codes[level]), "label": labels}, train, rngs.get(level),
      cond[level]) for level in levels}


def codes_per_map(settings, level):
  return settings.level(level).num_dims


def prior_loss(settings, nets, dep, params, model_state, batch, rng, frozen):
  """The sum over levels of the mean NLL per code (nats), with dropout."""
  codes = batch_codes(dep, frozen, batch["image"])
  nll = level_nlls(settings, nets, params, codes, batch["label"], True, rng)
  per_code = {lv: jnp.mean(nll[lv]) / codes_per_map(settings, lv) for lv in LEVELS}
  metrics = {"nll": jnp.mean(nll["top"] + nll["bottom"]),
             **{f"code_nll_{lv}": per_code[lv] for lv in LEVELS}}
  return per_code["top"] + per_code["bottom"], (metrics, model_state)


def eval_level_nlls(settings, nets, state, codes, labels, levels=LEVELS):
  """``level_nlls`` of given code maps with the evaluation parameters."""
  return level_nlls(settings, nets, eval_params(state, settings.top.use_ema), codes,
                    labels, levels=levels)


def eval_nll(settings, nets, dep, state, batch, rng, frozen):
  """``nll``: -log p(z_top, z_bottom | y) of each image's two maps, nats [B]."""
  del rng
  nll = eval_level_nlls(settings, nets, state, batch_codes(dep, frozen, batch["image"]),
                        batch["label"])
  return nll["top"] + nll["bottom"]


def code_nll_metric(level):
  """``code_nll_<level>``: that level's NLL per code, nats [B] (only that
  level's network runs)."""
  def metric(settings, nets, dep, state, batch, rng, frozen):
    del rng
    codes = batch_codes(dep, frozen, batch["image"])
    nll = eval_level_nlls(settings, nets, state, codes, batch["label"], (level,))
    return nll[level] / codes_per_map(settings, level)
  return metric


def eval_bpd(settings, nets, dep, state, batch, rng, frozen):
  """``bpd``: (-log p(x | z) - log p(z)) / (HWC ln 2), bits per image dimension [B]."""
  del rng
  codes = batch_codes(dep, frozen, batch["image"])
  decoder_nll = -dep.family.exports["log_likelihood"](frozen[DEP], codes, batch["image"])
  prior_nll = sum(eval_level_nlls(settings, nets, state, codes, batch["label"]).values())
  return (decoder_nll + prior_nll) / (math.prod(settings.image_shape) * math.log(2.0))


def draw_bottom(settings, nets, state, rng, top, labels, num):
  """Bottom code maps int32 [num,hb,wb] drawn given top maps int32 [num,ht,wt]."""
  blank = jnp.zeros((num,) + settings.bottom.image_shape, jnp.float32)
  bottom = ar.draw(settings.bottom, nets.bottom, level_state(state, "bottom"), rng,
                   blank, labels, 0, cond=top)
  return bottom[..., 0].astype(jnp.int32)


def sample_codes(settings, nets, state, rng, num, labels):
  """{"top", "bottom"} code maps drawn by algorithm 2: the top, then the bottom."""
  top_rng, bottom_rng = jax.random.split(rng)
  blank = jnp.zeros((num,) + settings.top.image_shape, jnp.float32)
  top = ar.draw(settings.top, nets.top, level_state(state, "top"), top_rng, blank,
                labels, 0)[..., 0].astype(jnp.int32)
  return {"top": top,
          "bottom": draw_bottom(settings, nets, state, bottom_rng, top, labels, num)}


def sample(settings, nets, dep, state, rng, num, cond, frozen):
  """``num`` images: both maps drawn (labels from ``cond``, class-balanced
  when None), decoded by the VQ-VAE-2."""
  labels = sample_labels(num, settings.top.num_classes, cond)
  return dep.family.exports["decode"](
      frozen[DEP], sample_codes(settings, nets, state, rng, num, labels))


def image_grids(settings, nets, dep, state, batch, rng, frozen):
  """``bottom_given_top``: per test image, its reconstruction | three decodings
  of its top codes with bottom codes drawn by the bottom prior."""
  rows, repeats = settings.top.grid_rows, ar.COMPLETIONS_PER_ROW
  codes = batch_codes(dep, frozen, cycle_to(batch["image"], rows))
  labels = (jnp.repeat(cycle_to(batch["label"], rows), repeats)
            if settings.top.num_classes else None)
  top = jnp.repeat(codes["top"], repeats, axis=0)
  drawn = {"top": top, "bottom": draw_bottom(settings, nets, state, rng, top, labels,
                                             rows * repeats)}
  decode = functools.partial(dep.family.exports["decode"], frozen[DEP])
  grid = jnp.concatenate(
      [decode(codes)[:, None],
       decode(drawn).reshape((rows, repeats) + settings.image_shape)], axis=1)
  return {"bottom_given_top": grid}


def make_two_level_family(config, deps):
  """The two-level prior's Family; its functions take ``frozen`` (the
  VQ-VAE-2's bundle) last."""
  settings, dep = read_two_level_settings(config, deps)
  nets = build_two_level_networks(settings)
  bind = lambda fn: functools.partial(fn, settings, nets, dep)
  metrics = {"nll": bind(eval_nll),
             **{f"code_nll_{lv}": bind(code_nll_metric(lv)) for lv in LEVELS}}
  if settings.has_likelihood:
    metrics["bpd"] = bind(eval_bpd)
  return prior_family(config, settings.top, nets, DEP, metrics,
                      *map(bind, (init, prior_loss, sample, image_grids)))
