"""The VQ-VAE's settings, state and training loss (van den Oord et al. 2017):
pure functions of ``(settings, nets, ...)``; the maths is quantize.py.

The state's ``model_state["vq"]`` holds everything about the codebook that
changes in training, so a resumed run continues exactly:
  age        int32 [K]: steps since each code was last chosen (restarts)
  usage      [K]: an EMA of the codes' frequencies (the unigram sampler)
  codebook, ema_count, ema_sum   the EMA codebook (``vq.codebook='ema'``);
             with ``'loss'`` the codebook is the parameter ``codebook``.
"""
import dataclasses

import jax
import jax.numpy as jnp

from genjax.config import require
from genjax.errors import ConfigError, check_choice
from genjax.families.autoencoder import losses, quantize
from genjax.families.autoencoder.maps import codebook_init

CODEBOOKS = ("loss", "ema")


@dataclasses.dataclass(frozen=True)
class VQSettings:
  """``config.model.vq``, validated."""
  num_codes: int
  code_dim: int
  codebook: str
  commitment: float
  decay: float
  restart_after: int
  res_blocks: int
  res_hidden: int

  @property
  def learned(self):
    """Whether the codebook is a parameter trained by eq. 3's codebook term."""
    return self.codebook == "loss"


def read_vq_settings(config):
  """``config.model.vq`` as VQSettings; a ConfigError names the field to fix."""
  values = {k: require(config, f"model.vq.{k}") for k in
            ("num_codes", "code_dim", "res_blocks", "res_hidden", "restart_after")}
  values = {k: int(v) for k, v in values.items()}
  for k in ("num_codes", "code_dim", "res_hidden"):
    if values[k] < 1:
      raise ConfigError(f"config.model.vq.{k} must be >= 1 (K codes of dimension "
                        f"D), got {values[k]}.")
  codebook = check_choice("vq.codebook", require(config, "model.vq.codebook"), CODEBOOKS)
  if values["restart_after"] < 0 or (values["restart_after"] and codebook != "ema"):
    raise ConfigError(
        f"config.model.vq.restart_after={values['restart_after']}: dead-code "
        "restarts re-seed the EMA codebook; use vq.codebook='ema' with "
        "restart_after > 0, or restart_after=0 (off).")
  decay = float(require(config, "model.vq.decay"))
  if not 0.0 < decay < 1.0:
    raise ConfigError(f"config.model.vq.decay must be in (0, 1), got {decay}.")
  return VQSettings(codebook=codebook, decay=decay,
                    commitment=float(require(config, "model.vq.commitment")), **values)


def initial_vq_state(vq, rng):
  """``model_state["vq"]`` of a fresh run (the EMA codebook: quantize.initial_ema)."""
  state = {"age": jnp.zeros((vq.num_codes,), jnp.int32),
           "usage": jnp.full((vq.num_codes,), 1.0 / vq.num_codes, jnp.float32)}
  if not vq.learned:
    state.update(quantize.initial_ema(codebook_init(rng, (vq.num_codes, vq.code_dim))))
  return state


def codebook_of(vq, params, model_state, level="vq"):
  """The codebook [K, D] in use: the parameter, or the EMA codebook.
  ``level``: the key of its state, ``"vq"`` (a VQ-VAE) or VQ-VAE-2's
  ``"vq_top"`` / ``"vq_bottom"``, whose parameters are ``codebook_top`` /
  ``codebook_bottom``."""
  if vq.learned:
    return params["codebook" + level[len("vq"):]]
  return model_state[level]["codebook"]


def quantize_map(z_e, codebook):
  """Nearest codes of a map z_e [B,h,w,D]: (z_q [B,h,w,D], codes int32 [B,h,w])."""
  flat = z_e.reshape(-1, z_e.shape[-1])
  codes = quantize.nearest_codes(jax.lax.stop_gradient(flat), codebook)
  return codebook[codes].reshape(z_e.shape), codes.reshape(z_e.shape[:-1])


def next_vq_state(vq, vq_state, z_e, codes, counts, rng):
  """The codebook state after a step on encoder outputs z_e [B,h,w,D], their
  ``codes`` and the codes' ``counts`` [K]: ages, the usage EMA, the EMA
  codebook and its restarts. Returns (state, number of codes restarted)."""
  flat, codes = z_e.reshape(-1, z_e.shape[-1]), codes.reshape(-1)
  state = dict(vq_state, age=quantize.next_age(vq_state["age"], counts),
               usage=vq.decay * vq_state["usage"]
               + (1.0 - vq.decay) * counts / codes.shape[0])
  restarted = jnp.zeros((), jnp.int32)
  if not vq.learned:
    ema = quantize.ema_update({k: vq_state[k] for k in ("codebook", "ema_count", "ema_sum")},
                              flat, codes, vq.decay)
    if vq.restart_after:
      ema, age, restarted = quantize.restart_dead_codes(rng, ema, state["age"], flat,
                                                        vq.restart_after)
      state["age"] = age
    state.update(ema)
  return state, restarted


def vqvae_loss(settings, nets, params, model_state, batch, rng):
  """eq. 3: the reconstruction loss (``model.recon_loss``, per sub-pixel)
  through the straight-through z_q, beta x the commitment loss, and with
  ``vq.codebook='loss'`` the codebook loss; the EMA codebook instead moves
  by ``next_vq_state``. Both VQ terms are means over elements (sonnet)."""
  vq, images = settings.vq, batch["image"]
  z_e = nets.model.apply({"params": params}, images, method="encode")
  z_q, codes = quantize_map(z_e, codebook_of(vq, params, model_state))
  logits = nets.model.apply({"params": params}, quantize.straight_through(z_e, z_q),
                            method="decode")
  recon = losses.reconstruction_loss(logits, images, settings.recon_loss)
  commitment = quantize.commitment_loss(z_e, z_q)
  loss = jnp.mean(recon) / settings.num_dims + vq.commitment * commitment
  if vq.learned:
    loss = loss + quantize.codebook_loss(z_e, z_q)
  counts = quantize.code_counts(codes.reshape(-1), vq.num_codes)
  vq_state, restarted = next_vq_state(vq, model_state["vq"], z_e, codes, counts, rng)
  image = jax.nn.sigmoid(logits)
  metrics = {"recon": jnp.mean(recon), "commitment": commitment,
             "recon_mse": jnp.mean(losses.mean_squared_error(image, images)),
             "psnr": jnp.mean(losses.psnr(image, images)),
             "perplexity": quantize.perplexity(counts),
             "codes_in_use": quantize.share_in_use(counts), "restarted": restarted}
  return loss, (metrics, dict(model_state, vq=vq_state))
