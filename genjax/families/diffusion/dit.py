"""DiT: the Diffusion Transformer (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers").

A second diffusion backbone beside the U-Net (``unet.py``), with its call
interface: ``DiT(...)(x, t, labels=None, train=False, context=None,
context_mask=None, pooled=None)`` -> [B, H, W, out_channels]. The pieces, as
the paper (sec. 3.2) and the reference code (facebookresearch/DiT,
``models.py``) have them, for x [B, H, W, C] (usually a VAE latent), patch
size p, hidden width D and T = (H/p)(W/p) tokens:

* **Patchify.** Non-overlapping p x p patches flattened in (row, column,
  channel) order, ``patchify`` -> [B, T, p*p*C], then a ``Dense`` to D
  (``x_embedder``). This is the reference's conv with kernel = stride = p,
  written as a reshape + Dense: the same linear map (the conv's HWIO kernel
  reshaped to [p*p*C, D]; a test checks it against ``genjax.nn.conv.Conv``),
  whose Xavier init is then naturally the reference's "initialise patch_embed
  like nn.Linear" (fan_in = p*p*C, fan_out = D).
* **Positional embedding** (fixed, not trained; MAE's
  ``get_2d_sincos_pos_embed``): for the token at grid row i, column j and
  omega_m = 10000^(-m / (D/4)), m < D/4,
      pos[i W' + j] = [sin(j omega), cos(j omega), sin(i omega), cos(i omega)]
  (the first half of the channels encodes the column: MAE's meshgrid puts w
  first). ``sincos_pos_embed_2d``.
* **Timestep embedder.** The 256-d frequency embedding of GLIDE/ADM,
      f(t) = [cos(t w_0..w_{127}), sin(t w_0..w_{127})],  w_i = 10000^(-i / 128),
  then Dense(D) - SiLU - Dense(D). ``timestep_embedding`` is written here
  because ``genjax.nn.embeddings.sinusoidal_embedding`` (DDPM's) differs: its
  exponent is i / (half - 1) (frequencies down to exactly 1/10000) and its
  order [sin, cos]; trained DiT weights expect this one.
* **Label embedder.** A table of num_classes + 1 rows, the last the learned
  null class of classifier-free guidance (labels in [0, num_classes]; None
  for a conditional net = null for the whole batch, as the U-Net). The label
  dropout of training is done by the family's loss, not here.
* **Conditioning vector** c = t_emb + y_emb (+ Dense(pooled) with
  ``pooled_dim``: a pooled text embedding [B, pooled_dim]). DiT has no
  cross-attention: ``context`` is refused (use ``pooled``, or the U-Net with
  spatial transformers).
* **DiT block with adaLN-Zero** (``DiTBlock``):
      (a1, b1, g1, a2, b2, g2) = Dense_{6D}(SiLU(c))     (shift, scale, gate)
      x = x + g1 * Attn(LN(x) (1 + b1) + a1)
      x = x + g2 * MLP(LN(x) (1 + b2) + a2)
  LN without affine parameters (eps 1e-6); Attn is multi-head self-attention
  with biased q, k, v and output projections (timm's ``Attention``); MLP is
  Dense(mlp_ratio D) - GELU (tanh approximation) - Dense(D).
* **Final layer**: (a, b) = Dense_{2D}(SiLU(c)); Dense_{p*p*out}(LN(x)(1+b)+a),
  then ``unpatchify`` back to [B, H, W, out_channels].

Initialisation (the reference's ``initialize_weights``): Xavier-uniform for
every Dense with zero biases, the timestep MLP's kernels N(0, 0.02^2), the
label table N(0, 0.02^2), and ZERO for every adaLN modulation Dense and for
the final Dense. So at init every block is exactly the identity and the
output is exactly zero.

Sizes (Table 1; ``DIT_SIZES``; a model is named "DiT-<size>/<p>", p in 1, 2, 4, 8; the paper has 2, 4, 8):

    size  depth  hidden  heads   params (Table 4, DiT-<size>/2)
    S     12      384     6      33M
    B     12      768    12      130M
    L     24     1024    16      458M
    XL    28     1152    16      675M

How the parameter figures were established: the count of the reference
architecture was worked out layer by layer (``tests/families/diffusion/
test_dit.py:reference_param_count``, a sum over the shapes of its
nn.Linear / nn.Embedding layers read off ``models.py``) for 32x32x4 latents,
1000 classes and a learned sigma (out_channels 8): 32,865,056 (S/2),
130,315,808 (B/2), 457,840,672 (L/2) and 674,834,720 (XL/2) trainable
parameters, which round to Table 4's figures. The reference's ``train.py``
prints ``sum(p.numel() for p in model.parameters())``, which also counts the
frozen positional-embedding Parameter (T x D; 294,912 for XL/2: 675,129,632),
but that would make B/2 131M, so the table counts trainable parameters.
``count_params`` (``jax.eval_shape``, no allocation) gives exactly the
trainable numbers (the positional embedding is a constant here, not a
parameter); the test checks S/2, B/2, L/2 and XL/2 against both.
"""
import math
import re
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.core.precision import rematerialised
from genjax.errors import ConfigError, unknown_name

DIT_SIZES = {
    "S": dict(depth=12, hidden_size=384, num_heads=6),
    "B": dict(depth=12, hidden_size=768, num_heads=12),
    "L": dict(depth=24, hidden_size=1024, num_heads=16),
    "XL": dict(depth=28, hidden_size=1152, num_heads=16),
}
# The paper's 2, 4, 8, and 1 for latents of odd side (7x7 KL-f4 MNIST latents).
PATCH_SIZES = (1, 2, 4, 8)
DIT_NAMES = tuple(f"DiT-{size}/{p}" for size in DIT_SIZES for p in PATCH_SIZES)
# Blocks ``DiT.remat`` can rematerialise (config.model.remat).
REMAT_KINDS = ("DiTBlock",)
FREQUENCY_DIM = 256          # the timestep embedder's frequency embedding width
LN_EPSILON = 1e-6
XAVIER = nn.initializers.xavier_uniform()
ZERO_INIT = nn.initializers.zeros
EMBED_INIT = nn.initializers.normal(0.02)


def dit_kwargs(name):
  """The DiT fields of a named model, e.g. "DiT-XL/2" -> dict(depth=28,
  hidden_size=1152, num_heads=16, patch_size=2); a ConfigError lists the names."""
  match = re.fullmatch(r"DiT-(S|B|L|XL)/(\d+)", str(name))
  if not match or int(match.group(2)) not in PATCH_SIZES:
    raise unknown_name("DiT model", name, DIT_NAMES)
  return dict(DIT_SIZES[match.group(1)], patch_size=int(match.group(2)))


def check_latent_size(shape, patch_size):
  """ConfigError unless H and W of ``shape`` ([H, W, ...]) are multiples of ``patch_size``."""
  h, w = shape[:2]
  if patch_size < 1 or h % patch_size or w % patch_size:
    raise ConfigError(
        f"DiT: latent size {h}x{w} is not divisible by patch_size={patch_size}. "
        f"Use a patch size that divides both (DiT-*/2 for 2, /4 or /8 where they "
        f"divide), or resize/pad the inputs to a multiple of {patch_size}.")


def patchify(x, p):
  """[B, H, W, C] -> [B, (H/p)(W/p), p*p*C]: tokens in row-major grid order,
  each patch flattened in (row, column, channel) order."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(tokens, p, grid_h, grid_w):
  """The inverse of ``patchify``: [B, grid_h * grid_w, p*p*C] -> [B, p grid_h, p grid_w, C]."""
  b, _, d = tokens.shape
  c = d // (p * p)
  x = tokens.reshape(b, grid_h, grid_w, p, p, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, grid_h * p, grid_w * p, c)


def _sincos_1d(dim, pos):
  """MAE's 1-D embedding of positions [M]: [M, dim] = [sin(pos omega), cos(pos omega)]."""
  omega = 1.0 / 10000.0 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
  args = np.outer(pos.astype(np.float64), omega)
  return np.concatenate([np.sin(args), np.cos(args)], axis=1)


def sincos_pos_embed_2d(dim, grid_h, grid_w):
  """The fixed 2-D sin-cos positional embedding (MAE): [grid_h * grid_w, dim] float32.

  Token i * grid_w + j (row i, column j) gets the column's 1-D embedding in
  its first dim/2 channels and the row's in the last dim/2 (module doc).
  """
  if dim % 4:
    raise ConfigError(f"DiT: hidden_size={dim} must be divisible by 4 for the 2-D "
                      "sin-cos positional embedding.")
  rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
  emb = np.concatenate([_sincos_1d(dim // 2, cols.reshape(-1)),
                        _sincos_1d(dim // 2, rows.reshape(-1))], axis=1)
  return emb.astype(np.float32)


def timestep_embedding(t, dim=FREQUENCY_DIM, max_period=10000.0):
  """DiT's (GLIDE's) frequency embedding of timesteps [B]: [B, dim] =
  [cos(t w), sin(t w)] with w_i = max_period^(-i / half), half = dim // 2
  (an odd ``dim`` gets a zero last column)."""
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
  args = jnp.asarray(t, jnp.float32)[:, None] * freqs[None]
  emb = jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)
  if dim % 2:
    emb = jnp.concatenate([emb, jnp.zeros_like(emb[:, :1])], axis=-1)
  return emb


def modulate(x, shift, scale):
  """adaLN's x (1 + scale) + shift, with [B, D] shift/scale broadcast over the tokens."""
  return x * (1 + scale[:, None, :]) + shift[:, None, :]


def layer_norm(x):
  """LayerNorm over the channels without affine parameters (eps 1e-6), as DiT."""
  return nn.LayerNorm(epsilon=LN_EPSILON, use_bias=False, use_scale=False)(x)


def adaln_modulation(c, chunks, width, name):
  """The adaLN-Zero regression of ``chunks`` [B, width] vectors from c: Dense(SiLU(c)), zero-initialised."""
  out = nn.Dense(chunks * width, kernel_init=ZERO_INIT, name=name)(nn.silu(c))
  return jnp.split(out, chunks, axis=-1)


class Attention(nn.Module):
  """Multi-head self-attention of tokens [B, T, D] with biased projections (timm's ``Attention``)."""
  num_heads: int

  @nn.compact
  def __call__(self, x):
    b, n, d = x.shape
    qkv = nn.Dense(3 * d, kernel_init=XAVIER, name="qkv")(x)
    q, k, v = jnp.split(qkv.reshape(b, n, 3 * self.num_heads, d // self.num_heads), 3, axis=2)
    out = jax.nn.dot_product_attention(q, k, v)       # [B, T, heads, d/heads], scale 1/sqrt
    return nn.Dense(d, kernel_init=XAVIER, name="proj")(out.reshape(b, n, d))


class DiTBlock(nn.Module):
  """A DiT block with adaLN-Zero conditioning (module doc): (x [B, T, D], c [B, D]) -> [B, T, D]."""
  hidden_size: int
  num_heads: int
  mlp_ratio: float = 4.0

  @nn.compact
  def __call__(self, x, c):
    d = self.hidden_size
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = adaln_modulation(
        c, 6, d, "adaLN_modulation")
    h = Attention(self.num_heads, name="attn")(modulate(layer_norm(x), shift_msa, scale_msa))
    x = x + gate_msa[:, None, :] * h
    h = modulate(layer_norm(x), shift_mlp, scale_mlp)
    h = nn.Dense(int(d * self.mlp_ratio), kernel_init=XAVIER, name="fc1")(h)
    h = nn.Dense(d, kernel_init=XAVIER, name="fc2")(nn.gelu(h, approximate=True))
    return x + gate_mlp[:, None, :] * h


class FinalLayer(nn.Module):
  """adaLN (shift, scale) LayerNorm then a zero-initialised Dense to p*p*out_channels per token."""
  hidden_size: int
  features: int

  @nn.compact
  def __call__(self, x, c):
    shift, scale = adaln_modulation(c, 2, self.hidden_size, "adaLN_modulation")
    return nn.Dense(self.features, kernel_init=ZERO_INIT, name="linear")(
        modulate(layer_norm(x), shift, scale))


class DiT(nn.Module):
  """The Diffusion Transformer: ``__call__(x, t, labels=None, train=False,
  context=None, context_mask=None, pooled=None)`` -> [B, H, W, out_channels].

  x: [B, H, W, C] with H, W multiples of ``patch_size``; t: [B] (or scalar)
  timesteps; labels: [B] ints in [0, num_classes] (``num_classes`` = the null
  class; None on a conditional net = null for all), refused (ValueError) on
  an unconditional net; ``pooled`` [B, pooled_dim] exactly when ``pooled_dim``
  is set; ``context`` is refused (DiT conditions through adaLN only).
  ``train`` is accepted for the U-Net's interface (DiT has no dropout).
  ``out_channels`` None = C; 2C for a learned variance. ``remat``: block
  kinds (``REMAT_KINDS``) recomputed in the backward pass (same parameters).
  """
  patch_size: int
  hidden_size: int
  depth: int
  num_heads: int
  mlp_ratio: float = 4.0
  num_classes: Optional[int] = None
  out_channels: Optional[int] = None
  pooled_dim: Optional[int] = None
  remat: Sequence[str] = ()

  def condition(self, t, labels, pooled, batch):
    """c = t_emb + y_emb (+ Dense(pooled)): [B, hidden_size]."""
    d = self.hidden_size
    t = jnp.broadcast_to(jnp.asarray(t), (batch,))
    c = nn.Dense(d, kernel_init=EMBED_INIT, name="t_embedder_0")(timestep_embedding(t))
    c = nn.Dense(d, kernel_init=EMBED_INIT, name="t_embedder_1")(nn.silu(c))
    if self.num_classes is None and labels is not None:
      raise ValueError("DiT: labels given to an unconditional net (num_classes=None).")
    if self.num_classes is not None:
      labels = (jnp.full((batch,), self.num_classes, jnp.int32) if labels is None
                else jnp.broadcast_to(jnp.asarray(labels, jnp.int32), (batch,)))
      c = c + nn.Embed(self.num_classes + 1, d, embedding_init=EMBED_INIT,
                       name="y_embedder")(labels)
    if (pooled is None) != (self.pooled_dim is None):
      raise ValueError(f"DiT: pooled_dim={self.pooled_dim} but pooled "
                       f"{'missing' if pooled is None else 'given'}.")
    if pooled is not None:
      if pooled.shape != (batch, self.pooled_dim):
        raise ValueError(f"DiT: pooled must be [{batch}, {self.pooled_dim}], got "
                         f"{pooled.shape}.")
      c = c + nn.Dense(d, kernel_init=XAVIER, name="pooled_proj")(pooled)
    return c

  def check_inputs(self, x, context, context_mask):
    """ValueError for a context or non-NHWC x; ConfigError for sizes the net cannot take."""
    if context is not None or context_mask is not None:
      raise ValueError("DiT conditions through adaLN only: it takes no context= "
                       "(cross-attention) sequence. Pass a pooled embedding with "
                       "pooled= (and pooled_dim), or use the U-Net with spatial "
                       "transformers (transformer_depth > 0).")
    if x.ndim != 4:
      raise ValueError(f"DiT wants NHWC inputs, got shape {x.shape}.")
    check_latent_size(x.shape[1:], self.patch_size)
    if self.num_heads < 1 or self.hidden_size % self.num_heads:
      raise ConfigError(f"DiT: hidden_size={self.hidden_size} cannot be split into "
                        f"num_heads={self.num_heads} heads; use one that divides it.")

  @nn.compact
  def __call__(self, x, t, labels=None, train=False, context=None, context_mask=None,
               pooled=None):
    del train                                     # no dropout in DiT
    self.check_inputs(x, context, context_mask)
    p, (b, h, w, channels) = self.patch_size, x.shape
    grid_h, grid_w = h // p, w // p
    tokens = nn.Dense(self.hidden_size, kernel_init=XAVIER, name="x_embedder")(
        patchify(x, p))
    pos = sincos_pos_embed_2d(self.hidden_size, grid_h, grid_w)
    tokens = tokens + jnp.asarray(pos, tokens.dtype)
    c = self.condition(t, labels, pooled, b).astype(tokens.dtype)
    block = rematerialised(DiTBlock, tuple(self.remat))
    for i in range(self.depth):
      tokens = block(self.hidden_size, self.num_heads, self.mlp_ratio,
                     name=f"block_{i}")(tokens, c)
    out_channels = self.out_channels or channels
    out = FinalLayer(self.hidden_size, p * p * out_channels, name="final_layer")(tokens, c)
    return unpatchify(out, p, grid_h, grid_w)


def count_params(model, latent_shape, batch=1):
  """The number of parameters of ``model`` for [H, W, C] latents, without allocating them."""
  x = jax.ShapeDtypeStruct((batch, *latent_shape), jnp.float32)
  t = jax.ShapeDtypeStruct((batch,), jnp.int32)
  labels = None if model.num_classes is None else jax.ShapeDtypeStruct((batch,), jnp.int32)
  pooled = (None if model.pooled_dim is None
            else jax.ShapeDtypeStruct((batch, model.pooled_dim), jnp.float32))
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), x, t, labels, pooled=pooled)
  return sum(leaf.size for leaf in jax.tree.leaves(shapes["params"]))
