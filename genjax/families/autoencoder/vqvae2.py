"""VQ-VAE-2 (Razavi et al. 2019, "Generating Diverse High-Fidelity Images with
VQ-VAE-2", sec. 3.1 and fig. 2a): a hierarchy of two code maps.

  h        = E_bottom(x)                  features at H/2^n (n = len(channels))
  z_e^top  = E_top(h)                     one more stride-2 stage: H/2^(n+1)
  z_q^top  = nearest code of z_e^top      (codebook ``vq_top``)
  z_e^bot  = 1x1(concat(h, D_top(z_q^top)))   the bottom is conditioned on the top
  z_q^bot  = nearest code of z_e^bot      (codebook ``vq_bottom``)
  x_hat    = D(concat(Up(z_q^top), z_q^bot))

Both levels are VQ-VAE quantisers (quantize.py) with the same settings
(``model.vq``: K, D, loss or EMA codebook, restarts), each with its own
codebook and state, ``model_state["vq_top"]`` / ``["vq_bottom"]``. The loss
is eq. 3 with the commitment (and codebook) terms of both levels summed.
"""
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.families.autoencoder import losses, quantize
from genjax.families.autoencoder.maps import MapDecoder, MapEncoder, codebook_init
from genjax.families.autoencoder.vq_steps import codebook_of, next_vq_state, quantize_map
from genjax.nn.conv import Conv, UpConv

LEVELS = ("top", "bottom")


def state_key(level):
  """The model-state key of a level's codebook: ``vq_top`` / ``vq_bottom``."""
  return f"vq_{level}"


class VQVAE2(nn.Module):
  """The encoders and decoders of fig. 2a; quantisation is between the calls."""
  channels: Sequence[int]
  image_channels: int
  num_codes: int
  code_dim: int
  res_blocks: int
  res_hidden: int
  learned_codebook: bool

  def setup(self):
    width, maps = self.channels[-1], dict(res_blocks=self.res_blocks,
                                          res_hidden=self.res_hidden)
    self.encoder_bottom = MapEncoder(tuple(self.channels), width, **maps)
    self.encoder_top = MapEncoder((width,), self.code_dim, **maps)
    self.decoder_top = MapDecoder((width,), self.code_dim, **maps)
    self.to_code_bottom = Conv(self.code_dim, (1, 1))
    self.upsample_top = UpConv(self.code_dim, (3, 3))
    self.decoder = MapDecoder(tuple(self.channels), self.image_channels, **maps)
    if self.learned_codebook:
      shape = (self.num_codes, self.code_dim)
      self.codebook_top = self.param("codebook_top", codebook_init, shape)
      self.codebook_bottom = self.param("codebook_bottom", codebook_init, shape)

  def features(self, x):
    return self.encoder_bottom(x)

  def encode_top(self, h):
    return self.encoder_top(h)

  def encode_bottom(self, h, z_q_top):
    return self.to_code_bottom(jnp.concatenate([h, self.decoder_top(z_q_top)], -1))

  def decode(self, z_q_top, z_q_bottom):
    return self.decoder(jnp.concatenate([self.upsample_top(z_q_top), z_q_bottom], -1))

  def __call__(self, x):
    h = self.features(x)
    z_top = self.encode_top(h)
    return self.decode(z_top, self.encode_bottom(h, z_top))


def make_vqvae2(image_shape, channels, vq):
  """The VQ-VAE-2 of ``vq`` (vq_steps.VQSettings) for images of ``image_shape``."""
  return VQVAE2(tuple(channels), image_shape[-1], vq.num_codes, vq.code_dim,
                vq.res_blocks, vq.res_hidden, vq.learned)


class Level(NamedTuple):
  """One level of a forward pass: the encoder's map, its codes and z_q."""
  z_e: jax.Array      # [B,h,w,D]
  z_q: jax.Array      # [B,h,w,D], the codebook vectors
  codes: jax.Array    # int32 [B,h,w]


def quantized_levels(settings, nets, params, model_state, images):
  """{"top": Level, "bottom": Level} of ``images``; the bottom encoder sees
  the top's straight-through z_q, so training reaches the top encoder
  through the bottom's path too (rosinality's ``dec_t(quant_t)``)."""
  apply = lambda method, *args: nets.model.apply({"params": params}, *args,
                                                 method=method)
  codebook = lambda level: codebook_of(settings.vq, params, model_state, state_key(level))
  h = apply("features", images)
  z_e_top = apply("encode_top", h)
  top = Level(z_e_top, *quantize_map(z_e_top, codebook("top")))
  z_e_bottom = apply("encode_bottom", h, quantize.straight_through(top.z_e, top.z_q))
  return {"top": top, "bottom": Level(z_e_bottom, *quantize_map(z_e_bottom,
                                                                codebook("bottom")))}


def decode_maps(nets, params, z_q_top, z_q_bottom):
  """The decoder's logits [N,H,W,C] of the two quantised maps."""
  return nets.model.apply({"params": params}, z_q_top, z_q_bottom, method="decode")


def next_states(settings, model_state, levels, rng):
  """Both levels' codebook states after a step (vq_steps.next_vq_state), the
  per-level code counts and the number of codes restarted in all."""
  states, counts, restarted = {}, {}, jnp.zeros((), jnp.int32)
  for level, key in zip(LEVELS, jax.random.split(rng)):
    lv = levels[level]
    counts[level] = quantize.code_counts(lv.codes.reshape(-1), settings.vq.num_codes)
    states[state_key(level)], n = next_vq_state(
        settings.vq, model_state[state_key(level)], lv.z_e, lv.codes, counts[level], key)
    restarted = restarted + n
  return states, counts, restarted


def vqvae2_loss(settings, nets, params, model_state, batch, rng):
  """eq. 3 over both levels: the reconstruction loss through both
  straight-through maps, beta x the sum of the levels' commitment losses,
  and with ``vq.codebook='loss'`` their codebook losses."""
  vq, images = settings.vq, batch["image"]
  levels = quantized_levels(settings, nets, params, model_state, images)
  through = {k: quantize.straight_through(lv.z_e, lv.z_q) for k, lv in levels.items()}
  logits = decode_maps(nets, params, through["top"], through["bottom"])
  recon = losses.reconstruction_loss(logits, images, settings.recon_loss)
  commitment = sum(quantize.commitment_loss(lv.z_e, lv.z_q) for lv in levels.values())
  loss = jnp.mean(recon) / settings.num_dims + vq.commitment * commitment
  if vq.learned:
    loss = loss + sum(quantize.codebook_loss(lv.z_e, lv.z_q) for lv in levels.values())
  states, counts, restarted = next_states(settings, model_state, levels, rng)
  image = jax.nn.sigmoid(logits)
  metrics = {"recon": jnp.mean(recon), "commitment": commitment,
             "recon_mse": jnp.mean(losses.mean_squared_error(image, images)),
             "psnr": jnp.mean(losses.psnr(image, images)), "restarted": restarted}
  for level in LEVELS:
    metrics[f"perplexity_{level}"] = quantize.perplexity(counts[level])
    metrics[f"codes_in_use_{level}"] = quantize.share_in_use(counts[level])
  return loss, (metrics, dict(model_state, **states))
